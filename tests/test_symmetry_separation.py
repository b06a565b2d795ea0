"""The collision-aware step of the projection (crystal_lab.symmetry.separation): atoms that the
site projection alone leaves on top of each other (one orbit on a special position, two orbits on
one free line) are pushed apart along the sites' free directions, the template's group kept."""
from __future__ import annotations

import numpy as np
import pytest
import spglib
import torch
from ase.data import atomic_numbers

from crystal_lab.symmetry import projection
from crystal_lab.symmetry.projection import projector
from crystal_lab.symmetry.separation import MIN_SEPARATION, shortest_vectors
from crystal_lab.symmetry.sites import realise
from crystal_lab.symmetry.templates import Orbit, Template


def _t(sg, *orbits):
    return Template(sg, tuple(Orbit(letter, m, el) for letter, m, el in orbits))


def _numbers(template):
    return [atomic_numbers[o.element] for o in template.orbits for _ in range(o.multiplicity)]


def _shortest(frac, lattice):
    d = shortest_vectors(frac.double(), lattice.double()).norm(dim=-1)[0]
    return float((d + torch.eye(len(d), dtype=d.dtype) * 1e9).min())


def _on_sites_near(template, shift):
    """The stand-in crystal's positions with every free representative moved by ``shift``
    (fractional, then projected onto its site): a way to put orbits where we want them."""
    s = realise(template)
    ref = s.ref + np.einsum("oij,oj->oi", s.P, np.asarray(shift, dtype=float))
    x = (np.einsum("aij,aj->ai", s.W, ref[s.orbit]) + s.w) % 1.0
    return torch.as_tensor(x)[None]


def _group(lattice, frac, numbers, symprec=1e-3):
    data = spglib.get_symmetry_dataset((lattice[0].numpy(), frac[0].numpy(), numbers),
                                       symprec=symprec)
    return None if data is None else data.number


# a cell of the lattice's metric: any lattice with the group's symmetry (the stand-in's)
def _cell(template, volume_per_atom=15.0):
    lat = realise(template).lattice
    n = realise(template).n_atoms
    lat = lat * (volume_per_atom * n / abs(np.linalg.det(lat))) ** (1 / 3)
    return torch.as_tensor(lat)[None]


CASES = [
    # I4/mmm 4e (0, 0, +-z): z -> 0 puts the orbit's two atoms on one point (one orbit)
    (_t(139, ("a", 1, "Nd"), ("d", 2, "Au"), ("e", 2, "Ge")), 2, "special"),
    # R-3m two 6c orbits on the same (z, z, z) line, z' = z: two orbits meet
    (_t(166, ("a", 1, "Ce"), ("c", 2, "O"), ("c", 2, "Pr")), 2, 1),
    # Pm-3m 8g (x, x, x) sliding onto 1b (1/2, 1/2, 1/2): a free orbit meets a pinned one
    (_t(221, ("a", 1, "Ga"), ("b", 1, "Ni"), ("g", 8, "Ni")), 2, 1),
]


def _collide(template, k, onto):
    """Positions with orbit ``k``'s representative moved (within its site) onto orbit ``onto``'s
    representative, or onto the special point of its own line ("special"), give or take 1e-4."""
    s = realise(template)
    target = (np.eye(3) - s.P[k]) @ s.ref[k] if onto == "special" else s.ref[onto]
    shift = np.zeros((len(template.orbits), 3))
    shift[k] = target - s.ref[k] + 1e-4
    return _on_sites_near(template, shift)


@pytest.mark.parametrize("template, k, onto", CASES)
def test_projection_alone_collides_and_separation_pulls_apart(template, k, onto):
    frac = _collide(template, k, onto)
    lattice = _cell(template)
    proj = projector([template])
    plain = proj.coords(frac)
    assert _shortest(plain, lattice) < 0.5            # the collision the sampler used to make
    apart = proj.separate(plain, lattice)
    assert _shortest(apart, lattice) >= MIN_SEPARATION - 1e-6
    # still exactly on the template's sites: its group, and a second projection changes nothing
    assert _group(lattice, apart, _numbers(template)) == template.space_group
    again = proj.coords(apart)
    assert torch.allclose(torch.remainder(again - apart + 0.5, 1.0) - 0.5,
                          torch.zeros_like(apart), atol=1e-9)


def test_pinned_atoms_do_not_move_and_apart_crystals_are_untouched():
    template = CASES[2][0]
    frac, lattice = _collide(*CASES[2]), _cell(template)
    proj = projector([template])
    apart = proj.separate(proj.coords(frac), lattice)
    assert torch.allclose(apart[0, :2], proj.coords(frac)[0, :2], atol=1e-12)   # 1a and 1b
    assert torch.equal(proj.separate(apart, lattice), apart)                    # nothing to do
    assert torch.equal(proj.separate(proj.coords(frac), lattice, d_min=0), proj.coords(frac))


def test_free_rows_are_untouched_and_the_switch_turns_it_off(monkeypatch):
    template = CASES[0][0]
    frac = torch.cat([_collide(*CASES[0]), torch.zeros(1, 5, 3, dtype=torch.float64)])
    lattice = torch.cat([_cell(template), torch.eye(3, dtype=torch.float64)[None] * 1.0])
    proj = projector([template, None])
    out = proj.separate(proj.coords(frac), lattice)
    assert torch.equal(out[1], frac[1])                 # the free crystal's atoms all on one point
    assert _shortest(out[:1], lattice[:1]) >= MIN_SEPARATION - 1e-6
    monkeypatch.setattr(projection, "SEPARATION", 0.0)
    assert torch.equal(proj.separate(proj.coords(frac), lattice), proj.coords(frac))
