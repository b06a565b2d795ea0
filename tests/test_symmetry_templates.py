"""Symmetry templates: reading a crystal's template, space-group symbols, the shipped index of
MP-20 val templates, and template retrieval for prompts."""
from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from crystal_lab.prompts import CRYSTAL_SYSTEMS, PromptError
from crystal_lab.structures import to_structure
from crystal_lab.symmetry.templates import (
    Orbit,
    Template,
    space_group_number,
    space_group_symbol,
    template_of,
)


def _perovskite() -> Atoms:
    return Atoms("SrTiO3", cell=[3.905] * 3, pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


# --------------------------------------------------------------------------- template_of

def test_rock_salt_is_fm3m_with_4a_and_4b_in_any_cell():
    primitive = bulk("NaCl", "rocksalt", a=5.64)
    conventional = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    expected = Template(225, (Orbit("a", 1, "Na"), Orbit("b", 1, "Cl")))
    assert template_of(primitive) == expected
    assert template_of(conventional) == expected  # multiplicities are primitive-cell counts
    assert template_of(to_structure(conventional)) == expected
    assert str(expected) == "Fm-3m: Na 4a, Cl 4b"
    assert expected.symbol == "Fm-3m" and expected.crystal_system == "cubic"
    assert expected.counts == {"Na": 1, "Cl": 1} and expected.n_atoms == 2


def test_perovskite_and_wurtzite_templates():
    perovskite = template_of(_perovskite())
    assert perovskite.space_group == 221
    assert str(perovskite) == "Pm-3m: Sr 1a, Ti 1b, O 3c"
    assert perovskite.counts == {"Sr": 1, "Ti": 1, "O": 3}
    wurtzite = template_of(bulk("ZnO", "wurtzite", a=3.25, c=5.21))
    assert wurtzite.symbol == "P6_3mc" and wurtzite.crystal_system == "hexagonal"
    assert sorted((o.letter, o.multiplicity, o.element) for o in wurtzite.orbits) == [
        ("b", 2, "O"), ("b", 2, "Zn")]


def test_a_distorted_crystal_loses_symmetry_at_a_tight_tolerance():
    atoms = _perovskite()
    atoms.positions[0] += [0.03, 0.01, 0.02]
    assert template_of(atoms, symprec=0.1).space_group == 221
    low = template_of(atoms, symprec=1e-3)
    assert low.space_group < 221 and low.n_atoms == 5 and low.counts == {"Sr": 1, "Ti": 1, "O": 3}


def test_info_round_trips_through_json():
    t = template_of(_perovskite())
    info = json.loads(json.dumps(t.info()))
    assert info["symbol"] == "Pm-3m"
    assert Template.from_info(info) == t
    assert Template.from_info(json.dumps(t.info())) == t
    open_template = t.with_elements([None] * len(t.orbits))
    assert open_template.is_open and open_template.counts == {}
    assert Template.from_info(open_template.info()) == open_template
    assert str(open_template) == "Pm-3m: 1a, 1b, 3c"
    with pytest.raises(ValueError, match="not a template"):
        Template.from_info({"space_group": 225})


def test_masked_atoms_have_no_template():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.numbers[0] = 0
    with pytest.raises(ValueError, match="element known"):
        template_of(atoms)


# --------------------------------------------------------------------------- space-group symbols

@pytest.mark.parametrize("text, number", [
    (225, 225), ("225", 225), (np.int64(225), 225), ("Fm-3m", 225), ("Fm3m", 225), ("F m -3 m", 225),
    ("F 4/m -3 2/m", 225), ("P63/mmc", 194), ("P6_3/mmc", 194), ("P2_1/n", 14), ("P21/c", 14),
    ("P1", 1), ("P-1", 2), ("Ia3d", 230), ("R-3m", 166), ("Pnma", 62), ("P b n m", 62)])
def test_space_group_number_reads_what_people_write(text, number):
    assert space_group_number(text) == number


def test_space_group_symbols_are_the_standard_short_ones():
    assert [space_group_symbol(n) for n in (1, 2, 14, 166, 194, 225)] == [
        "P1", "P-1", "P2_1/c", "R-3m", "P6_3/mmc", "Fm-3m"]
    assert all(space_group_number(space_group_symbol(n)) == n for n in range(1, 231))


@pytest.mark.parametrize("bad, words", [
    ("Fm-3n3", "did you mean"), ("Xyz", "unknown space group"), (0, "1 to 230"), (231, "1 to 230"),
    ("", "a space group is"), (None, "a space group is"), (True, "a space group is")])
def test_bad_space_groups_get_one_line(bad, words):
    with pytest.raises(PromptError, match=words) as info:
        space_group_number(bad)
    assert "\n" not in str(info.value)


def test_crystal_systems_use_the_prompt_names():
    assert {Template(n, ()).crystal_system for n in range(1, 231)} == set(CRYSTAL_SYSTEMS)
