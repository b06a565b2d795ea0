"""crystal_lab.structures: conversion, formulas and descriptors shared by every module."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from broken_inputs import inf_cell, masked_atom, nan_position
from pymatgen.core import IStructure, Structure

from crystal_lab.structures import (
    as_list,
    formula,
    formula_text,
    is_finite,
    is_metal,
    is_single,
    like_input,
    reduced_formula,
    space_group,
    symbols_of,
    to_atoms,
    to_structure,
)


@pytest.fixture
def nacl() -> Atoms:
    return bulk("NaCl", "rocksalt", a=5.64)


@pytest.fixture
def masked() -> Atoms:
    return Atoms(numbers=[17, 0], scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[3, 3, 3],
                 pbc=True)


def test_round_trip_keeps_cell_species_and_positions(nacl):
    s = to_structure(nacl)
    assert isinstance(s, Structure) and s.composition.reduced_formula == "NaCl"
    back = to_atoms(s)
    assert back.pbc.all() and list(back.numbers) == list(nacl.numbers)
    assert np.allclose(back.cell[:], nacl.cell[:]) and np.allclose(back.positions, nacl.positions)


def test_same_type_passes_through_and_istructure_counts(nacl):
    s = to_structure(nacl)
    assert to_atoms(nacl) is nacl and to_structure(s) is s
    frozen = IStructure.from_sites(s)
    assert is_single(frozen) and to_atoms(frozen).get_chemical_formula() == "ClNa"
    assert like_input(nacl, s).__class__ is Structure and like_input(nacl, nacl) is nacl


def test_masked_atoms_survive_conversion(masked):
    s = to_structure(masked)
    assert symbols_of(s) == ["Cl", "X"]
    assert list(to_atoms(s).numbers) == [17, 0]


def test_zero_volume_cell_says_so(nacl):
    flat = nacl.copy()
    flat.cell[2] = flat.cell[0]
    with pytest.raises(np.linalg.LinAlgError):
        to_structure(flat)


def test_one_or_many():
    atoms = bulk("Si")
    assert as_list(atoms) == [atoms] and as_list((atoms, atoms)) == [atoms, atoms]
    assert not is_single([atoms])
    with pytest.raises(TypeError, match="expected ase.Atoms"):
        as_list("Si")
    with pytest.raises(TypeError, match="expected ase.Atoms"):
        to_structure(42)


def test_formulas(nacl, masked):
    assert reduced_formula(nacl) == reduced_formula(to_structure(nacl)) == "NaCl"
    assert reduced_formula("Cl") == "Cl2" and reduced_formula(Atoms()) == ""
    assert formula(["Cl"]) == "Cl"                        # a label, not pymatgen's diatomic "Cl2"
    assert formula(["O", "Ti", "O", "Ba", "O"] * 2) == "BaTiO3"
    assert formula(["O", "Ti", "O", "Ba", "O"] * 2, reduce=False) == "Ba2Ti2O6"
    assert formula(masked) == "Cl + 1 X" and formula(Atoms("X")) == "1 X" and formula([]) == ""
    assert formula_text({"P": 1, "S": 2, "Cl": 2}) == "PS2Cl2"   # given order, no groups
    assert formula_text({"Li": 3.0, "P": 1.0, "S": 4.0}) == "Li3PS4"


def test_space_group(nacl, masked):
    assert space_group(nacl) == space_group(to_structure(nacl)) == ("Fm-3m", 225)
    assert space_group(masked) == ("", None)
    nan = nacl.copy()
    nan.positions[0, 0] = np.nan
    assert not is_finite(nan) and is_finite(nacl)
    assert space_group(nan) == ("", None)   # spglib would crash the process on NaN


def test_is_metal_is_pymatgens():
    assert is_metal("Fe") and is_metal(26) and is_metal("Pm")
    assert not is_metal("O") and not is_metal("Ge") and not is_metal(0)


# --------------------------------------------------------------------------- the CIF writer

def test_write_cif_round_trips_atoms_and_structures(nacl, tmp_path):
    from crystal_lab.structures import write_cif

    for i, x in enumerate([nacl, to_structure(nacl)]):
        path = write_cif(x, tmp_path / f"sub/{i}.cif")
        back = Structure.from_file(path)
        assert back.composition.reduced_formula == "NaCl"
        np.testing.assert_allclose(back.lattice.parameters, nacl.cell.cellpar(), atol=1e-6)
        assert back.volume == pytest.approx(nacl.get_volume(), rel=1e-6)


def test_write_cif_keeps_partial_occupancy(tmp_path):
    from pymatgen.core import Lattice

    from crystal_lab.structures import write_cif

    alloy = Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]])
    back = Structure.from_file(write_cif(alloy, tmp_path / "alloy.cif"))
    assert not back.is_ordered and back.composition.as_dict() == {"Na": 0.5, "K": 0.5}


@pytest.mark.parametrize("make,words", [
    (lambda a: nan_position(a, 1), "NaN"), (inf_cell, "NaN/inf"),
    (lambda a: masked_atom(a, 1), "masked or unknown atom"),
    (lambda a: to_structure(masked_atom(a, 1)), "masked or unknown atom"),
    (lambda a: Atoms(cell=[3, 3, 3], pbc=True), "no atoms"),
    (lambda a: "NaCl", "not a structure")])
def test_write_cif_refuses_what_a_cif_cannot_hold(nacl, tmp_path, make, words):
    from crystal_lab.structures import write_cif

    with pytest.raises(ValueError, match=f"cannot write a CIF: .*{words}"):
        write_cif(make(nacl), tmp_path / "x.cif")
    assert not (tmp_path / "x.cif").exists()


@pytest.mark.parametrize("given,reduced,whole", [
    (Atoms("O3TiBa"), "BaTiO3", "BaTiO3"),              # ASE's Hill order would say BaO3Ti
    (Atoms("ClNa"), "NaCl", "NaCl"),                    # ASE: ClNa
    (Atoms("O4Ti2"), "TiO2", "Ti2O4"),                  # ASE: O4Ti2
    (Atoms("OTi2"), "Ti2O", "Ti2O"),
    (Atoms("Cl2S2PLi3"), "Li3PS2Cl2", "Li3PS2Cl2"),     # pymatgen's reduced_formula: Li3P(SCl)2
    ("Li6P2S4Cl4", "Li3PS2Cl2", "Li6P2S4Cl4"),
    ({"O": 3, "Ti": 1, "Sr": 1}, "SrTiO3", "SrTiO3"),
    (["Cl", "Na", "Cl", "Na"], "NaCl", "Na2Cl2"),
])
def test_formulas_as_chemists_write_them(given, reduced, whole):
    """Issue 30.6: the one formula function writes cations first (pymatgen's electronegativity
    order), never ASE's Hill order nor pymatgen's grouped polyanions."""
    from pymatgen.core import Composition

    assert formula(given) == reduced
    assert formula(given, reduce=False) == whole
    assert formula(Composition(whole)) == reduced              # a Composition reads the same
    if isinstance(given, Atoms):
        given.cell, given.pbc = [6, 6, 6], True
        given.positions = np.random.default_rng(0).uniform(0, 6, (len(given), 3))
        assert formula(to_structure(given)) == reduced         # a Structure reads the same
        assert formula(given) != given.get_chemical_formula()  # not ASE's Hill order


def test_the_view_has_no_formula_of_its_own():
    from crystal_lab import view
    from crystal_lab.view import facts

    assert not hasattr(facts, "formula") or facts.formula is formula
    with pytest.raises(AttributeError):
        view.formula  # noqa: B018 -- the one formula is crystal_lab.structures.formula
    perovskite = Atoms("O3TiBa", cell=[4, 4, 4], pbc=True, scaled_positions=[
        [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 0]])
    assert facts.describe(perovskite)["formula"] == "BaTiO3"


def test_a_dict_is_not_a_list_of_structures(nacl):
    with pytest.raises(TypeError, match=r"got a dict: pass list\(d.values\(\)\)"):
        as_list({"a": nacl})
    assert as_list({"a": nacl}.values()) == [nacl]
