"""CHGNet stability on small known cases (offline: the weights ship in the chgnet wheel)."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Structure

from crystal_lab import evaluate as ev
from crystal_lab.evaluate._convert import to_structure

pytest.importorskip("chgnet")


def rocksalt(a: float = 5.64) -> Atoms:
    return bulk("NaCl", "rocksalt", a=a)


def test_compressed_nacl_is_higher_in_energy_than_equilibrium():
    e_eq, e_compressed, e_expanded = ev.chgnet_energy(
        [rocksalt(5.64), rocksalt(5.0), rocksalt(6.3)], progress=False)
    assert e_compressed > e_eq + 0.1
    assert e_expanded > e_eq
    assert -4.5 < e_eq < -3.0  # CHGNet / MP scale for NaCl: about -3.67 eV/atom
    assert isinstance(ev.chgnet_energy(rocksalt(), progress=False), float)


def test_relaxation_is_bounded_lowers_energy_and_keeps_the_input_type():
    squeezed = rocksalt(5.2)
    relaxed = ev.relax(squeezed, steps=30, progress=False)
    assert isinstance(relaxed, Atoms)
    assert relaxed.info["relax_steps"] <= 30
    assert relaxed.info["chgnet_energy"] < ev.chgnet_energy(squeezed, progress=False) - 0.05
    assert relaxed.get_volume() > squeezed.get_volume()
    as_structure = ev.relax(to_structure(squeezed), steps=3, progress=False)
    assert isinstance(as_structure, Structure)
    assert as_structure.properties["relax_steps"] <= 3


def test_cells_above_the_memory_cap_are_refused_with_a_clear_error():
    big = rocksalt().repeat((5, 5, 2))  # 100 atoms > MAX_ATOMS = 64
    with pytest.raises(ev.CellTooLargeError, match="100-atom cell is above the CHGNet cap"):
        ev.chgnet_energy(big, progress=False)
    with pytest.raises(ev.CellTooLargeError):
        ev.relax(big, progress=False)
    energies = ev.chgnet_energy([big, rocksalt()], skip_too_large=True, progress=False)
    assert np.isnan(energies[0]) and np.isfinite(energies[1])
    result = ev.stability(big, reference=[rocksalt()], progress=False)
    assert np.isnan(result.e_above_hull) and "CellTooLargeError" in result.reason


def test_rock_salt_nacl_is_on_its_chgnet_hull_and_the_cscl_polymorph_is_above():
    cscl = bulk("NaCl", "cesiumchloride", a=3.4)
    reference = [rocksalt(), cscl]
    hull = ev.hull_reference(reference, steps=60, progress=False)
    refs = hull.elemental_references(["Na", "Cl"])
    assert set(refs) == {"Na", "Cl"} and all(np.isfinite(r.energy_per_atom) for r in refs.values())
    rs, cs = ev.stability([rocksalt(5.7), cscl], reference=hull, progress=False)
    assert rs.formation_energy_per_atom < -1.0  # DFT (MP): about -2.0 eV/atom
    assert abs(rs.e_above_hull) < 0.02           # on the hull
    assert cs.e_above_hull > rs.e_above_hull + 0.01
    diagram = hull.phase_diagram(["Na", "Cl"])
    assert {e.composition.reduced_formula for e in diagram.stable_entries} >= {"NaCl"}
