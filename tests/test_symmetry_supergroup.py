"""Moving a finished crystal off a higher symmetry that spglib reads at 0.1 A
(crystal_lab.symmetry.supergroup), its template's group kept exactly."""
from __future__ import annotations

import numpy as np
from ase import Atoms

from crystal_lab.symmetry import supergroup
from crystal_lab.symmetry.supergroup import off_supergroup, off_supergroups, space_group
from crystal_lab.symmetry.templates import Orbit, Template


def _near_cubic():
    """CsCl in P4/mmm (1a, 1d) with c only 0.04 A longer than a: Pm-3m at 0.1 A, P4/mmm exactly."""
    lattice = np.diag([4.0, 4.0, 4.04])
    return lattice, np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]), np.array([55, 17])


def test_a_crystal_near_a_supergroup_is_moved_off_it_and_keeps_its_group():
    lattice, frac, numbers = _near_cubic()
    assert space_group(lattice, frac, numbers, 0.1) == 221
    assert space_group(lattice, frac, numbers, 1e-3) == 123
    cell, x, moved = off_supergroup(lattice, frac, numbers, 123)
    assert moved == 221
    assert space_group(cell, x, numbers, 0.1) == 123 and space_group(cell, x, numbers, 1e-3) == 123
    lengths = np.sort(np.linalg.norm(cell, axis=1))
    assert 0.1 < lengths[2] - lengths[0] < 0.5                    # moved a little, not rebuilt
    assert np.allclose(np.linalg.det(cell), np.linalg.det(lattice), rtol=0.05)


def test_exact_extra_symmetry_and_the_right_group_are_left_alone():
    lattice, frac, numbers = _near_cubic()
    same = np.array([11, 11])                      # one element on both sites: a bcc cell, Im-3m
    out = off_supergroup(lattice, frac, same, 123)
    assert out[2] is None and np.array_equal(out[0], lattice)
    assert space_group(*out[:2], same, 0.1) != 123
    cubic = np.eye(3) * 4.0
    assert off_supergroup(cubic, frac, numbers, 221)[2] is None


def test_structures_are_moved_in_place_and_record_it(monkeypatch):
    lattice, frac, numbers = _near_cubic()
    template = Template(123, (Orbit("a", 1, "Cs"), Orbit("d", 1, "Cl")))
    atoms = [Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True)
             for _ in range(3)]
    monkeypatch.setattr(supergroup, "SYMPREC", 0.0)                  # switched off: untouched
    off_supergroups(atoms, [template, None, template])
    assert all("off_supergroup" not in a.info for a in atoms)
    monkeypatch.setattr(supergroup, "SYMPREC", 0.1)
    off_supergroups(atoms, [template, None, template])
    assert [a.info.get("off_supergroup") for a in atoms] == [221, None, 221]
    assert np.array_equal(atoms[1].cell[:], lattice)                # no template: the free model
    assert space_group(atoms[0].cell[:], atoms[0].get_scaled_positions(), numbers) == 123
