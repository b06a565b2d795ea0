"""The projection of noisy crystals onto space-group templates (crystal_lab.symmetry.sites and
.projection): exact groups after one projection, idempotence, free rows untouched, bad templates."""
from __future__ import annotations

import numpy as np
import pytest
import spglib
import torch
from ase.data import atomic_numbers

from crystal_lab.model.noise.lattice import LatticeDDPM
from crystal_lab.symmetry.projection import Projector, projector
from crystal_lab.symmetry.sites import realise
from crystal_lab.symmetry.templates import Orbit, Template


def _t(sg, *orbits):
    return Template(sg, tuple(Orbit(letter, m, el) for letter, m, el in orbits))


TEMPLATES = [
    _t(225, ("a", 1, "Na"), ("b", 1, "Cl")),                      # F-centred, all pinned
    _t(227, ("a", 2, "Zn"), ("d", 4, "Sc"), ("e", 8, "S")),        # F-centred, (x,x,x)
    _t(229, ("a", 1, "W"),),                                      # I-centred cubic
    _t(194, ("c", 2, "Mg"),),                                     # hexagonal
    _t(186, ("b", 2, "Zn"), ("b", 2, "O")),                       # hexagonal polar, free z
    _t(166, ("a", 1, "Bi"), ("c", 2, "Se")),                      # rhombohedral
    _t(148, ("a", 1, "Br"), ("b", 1, "Cs"), ("f", 6, "F")),        # rhombohedral, general position
    _t(160, ("a", 1, "Ga"), ("a", 1, "N")),                       # trigonal polar
    _t(12, ("a", 1, "Fe"), ("i", 2, "O")),                        # C-centred monoclinic
    _t(14, ("e", 4, "Ge"), ("e", 4, "Br")),                       # monoclinic, general positions
    _t(38, ("a", 1, "Al"), ("b", 1, "N"), ("d", 2, "O")),         # A-centred orthorhombic
    _t(62, ("c", 4, "Ca"), ("c", 4, "Ti"), ("c", 4, "O")),        # Pnma
    _t(139, ("a", 1, "Sr"), ("d", 2, "Ru"), ("e", 2, "O")),        # I-centred tetragonal
    _t(2, ("i", 2, "Cu"), ("i", 2, "O")),                         # triclinic
]


def _noisy(templates, seed=0):
    """Uniform noise in every coordinate, standard-normal lattice parameters."""
    g = torch.Generator().manual_seed(seed)
    n = max(realise(t).n_atoms for t in templates)
    return torch.rand(len(templates), n, 3,
                      generator=g), torch.randn(len(templates), 6, generator=g)


def _numbers(template):
    return [atomic_numbers[o.element] for o in template.orbits for _ in range(o.multiplicity)]


def _project(templates, seed=0):
    frac, params = _noisy(templates, seed)
    n = torch.tensor([realise(t).n_atoms for t in templates])
    proj, lattice = projector(templates), LatticeDDPM()
    return proj.coords(frac), proj.lattice(params, n, lattice), n, lattice


def _group(lattice, frac, numbers, symprec):
    data = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec)
    return None if data is None else data.number


@pytest.mark.parametrize("symprec", [0.1, 1e-3])
def test_projected_noise_has_exactly_the_templates_group(symprec):
    frac, params, n, process = _project(TEMPLATES)
    cells = process.to_lattice(params, n).double().numpy()
    found = [_group(cells[b], frac[b, : int(n[b])].double().numpy(), _numbers(t), symprec)
             for b, t in enumerate(TEMPLATES)]
    assert found == [t.space_group for t in TEMPLATES]


def test_projection_is_idempotent_and_keeps_a_symmetric_crystal():
    frac, params, n, process = _project(TEMPLATES, seed=1)
    proj = projector(TEMPLATES)
    again = proj.coords(frac)
    assert torch.allclose(torch.remainder(again - frac + 0.5, 1.0) - 0.5, torch.zeros_like(frac),
                          atol=1e-5)
    assert torch.allclose(proj.lattice(params, n, process), params, atol=1e-4)
    sites = realise(TEMPLATES[1])       # the stand-in crystal pyxtal built is already on its sites
    x = torch.as_tensor((np.einsum("aij,aj->ai", sites.W,
                                   sites.ref[sites.orbit]) + sites.w) % 1.0)[None]
    assert torch.allclose(projector([TEMPLATES[1]]).coords(x), x, atol=1e-9)


def test_special_positions_are_pinned_and_free_ones_move():
    sites = realise(_t(227, ("a", 2, "Zn"), ("d", 4, "Sc"), ("e", 8, "S")))
    assert sites.free_coordinates == 1                 # only the x of 32e (x, x, x)
    frac_a, _, _, _ = _project([sites.template], seed=2)
    frac_b, _, _, _ = _project([sites.template], seed=3)
    pinned = slice(0, 6)                               # 8a and 16d: fixed wherever the noise was
    assert torch.allclose(frac_a[0, pinned], frac_b[0, pinned], atol=1e-6)
    assert not torch.allclose(frac_a[0, 6:], frac_b[0, 6:], atol=1e-3)


def test_two_atoms_heading_for_one_place_do_not_collapse_onto_a_special_position():
    # P-1 2i: two atoms at x and -x; both at one point would average (x - x) / 2 = 0, the inversion
    # centre, where they coincide; matched as a set, they stay at x and -x
    t = _t(2, ("i", 2, "Cu"),)
    frac = torch.tensor([[[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]], dtype=torch.float64)
    out = projector([t]).coords(frac)[0]
    d = torch.remainder(out[0] - out[1] + 0.5, 1.0) - 0.5
    assert torch.allclose(d.abs(), torch.tensor([0.2, 0.4, 0.4], dtype=torch.float64), atol=1e-9)


def test_metric_is_invariant_under_every_rotation():
    t = TEMPLATES[5]
    proj = projector([t])
    lattice = torch.randn(1, 3, 3, dtype=torch.float64) + 3 * torch.eye(3, dtype=torch.float64)
    g = proj.metric(lattice)[0]
    for w in realise(t).rotations:
        w = torch.as_tensor(w, dtype=torch.float64)
        assert torch.allclose(w.T @ g @ w, g, atol=1e-9)


def test_free_rows_are_untouched_bit_for_bit():
    frac, params = _noisy([TEMPLATES[0], TEMPLATES[6]], seed=4)
    logits, tokens = torch.randn(2, frac.shape[1], 5), torch.randint(0, 5, (2, frac.shape[1]))
    proj = projector([None, TEMPLATES[6]])
    n = torch.tensor([3, 8])
    assert torch.equal(proj.coords(frac)[0], frac[0])
    assert torch.equal(proj.lattice(params, n, LatticeDDPM())[0], params[0])
    assert torch.equal(proj.logits(logits)[0], logits[0])
    assert torch.equal(proj.types(tokens)[0], tokens[0])
    none = projector([None, None])
    assert not none and none.coords(frac) is frac and none.types(tokens) is tokens


def test_one_element_per_orbit():
    t = _t(148, ("a", 1, None), ("b", 1, None), ("f", 6, None))
    proj = projector([t])
    logits = torch.randn(1, 8, 4)
    avg = proj.logits(logits)[0]
    assert torch.allclose(avg[2:], avg[2:].mean(0, keepdim=True).expand(6, 4), atol=1e-6)
    assert torch.allclose(avg[:2], logits[0, :2], atol=1e-6)
    tokens = torch.tensor([[3, 0, 1, 2, 0, 2, 3, 1]])
    assert proj.types(tokens).tolist() == [[3, 0, 1, 1, 1, 1, 1, 1]]


def test_projector_batches_mixed_sizes():
    templates = [TEMPLATES[2], None, TEMPLATES[1]]
    frac = torch.rand(3, 14, 3, generator=torch.Generator().manual_seed(5))
    out = projector(templates).coords(frac)
    assert torch.equal(out[0, 1:], frac[0, 1:])        # padding beyond a row's atoms is left alone
    assert torch.equal(out[1], frac[1])
    assert isinstance(projector(templates), Projector)


@pytest.mark.parametrize("template, message", [
    (_t(225, ("z", 1, "Na"),), "Fm-3m has no Wyckoff letter 'z'"),
    (_t(225, ("a", 4, "Na"),), "Fm-3m a puts 1 atom(s) in the primitive cell, not 4"),
    (_t(200, ("a", 1, "Na"),), "symmetry of space group 221, not 200"),
    (_t(231, ("a", 1, "Na"),), "space group 231 is not one of 1-230"),
])
def test_bad_templates_get_one_line(template, message):
    with pytest.raises(ValueError, match="cannot be realised|Wyckoff|primitive cell|1-230") as err:
        realise(template)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_templates_are_realised_in_a_niggli_reduced_cell():
    """MP-20's cells are Niggli-reduced primitive cells, the basis the network learned lattices
    in; a template's working cell is one too (spglib's standard primitive cell of a centred or
    rhombohedral lattice is not, and there the network pulled lattices towards equal lengths)."""
    for t in TEMPLATES:
        lattice = realise(t).lattice
        assert np.allclose(spglib.niggli_reduce(lattice, eps=1e-5), lattice, atol=1e-8), t
