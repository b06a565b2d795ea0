"""Symmetry templates: reading a crystal's template, space-group symbols, the shipped index of
MP-20 val templates, and template retrieval for prompts."""
from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from crystal_lab.prompts import CRYSTAL_SYSTEMS, PromptError
from crystal_lab.structures import to_structure
from crystal_lab.symmetry.index import (
    decode_template,
    element_similarity,
    encode_orbits,
    load_index,
)
from crystal_lab.symmetry.retrieval import choose_templates, is_known, rank_templates, wyckoff_fills
from crystal_lab.symmetry.templates import (
    Orbit,
    Template,
    space_group_number,
    space_group_symbol,
    template_of,
)


def _perovskite() -> Atoms:
    return Atoms("SrTiO3", cell=[3.905] * 3, pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                   [0, 0.5, 0.5]])


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
    (225, 225), ("225", 225), (np.int64(225), 225), ("Fm-3m", 225), ("Fm3m", 225), ("F m -3 m",
                                                                                    225),
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


# --------------------------------------------------------------------------- the shipped index

def test_the_index_holds_mp20_val_templates_and_nothing_else():
    index = load_index()
    assert index.meta["dataset"] == "mp_20" and index.meta["split"] == "val"
    assert index.meta["symprec"] == 0.1 and index.meta["spglib"]
    assert index.total == 9047 and 8000 < len(index.templates) <= 9047
    assert all(1 <= t.n_atoms <= 20 and not t.is_open for t in index.templates)
    assert all(t == t.canonical() for t in index.templates[:500])
    by_group = Counter()
    for t, c in zip(index.templates, index.counts, strict=True):
        by_group[t.space_group] += int(c)
    assert 140 <= len(by_group) <= 170  # 156 space groups in val
    assert by_group.most_common(1)[0][0] == 225 and 0.10 < by_group[225] / index.total < 0.18
    triclinic = (by_group[1] + by_group[2]) / index.total
    assert 0.02 < triclinic < 0.06  # 4.0% in MP-20 val
    shipped = resources.files("crystal_lab.symmetry").joinpath("data")
    assert sum(f.stat().st_size for f in map(Path, map(str, shipped.iterdir()))) < 150_000


def test_index_text_round_trips():
    t = Template.make(
        62, [Orbit("c", 4, "Ca"), Orbit("b", 4, "Ti"), Orbit("c", 4, "O"), Orbit("d", 8, "O")]
    )
    assert decode_template(62, encode_orbits(t)) == t
    assert decode_template(47, "A8O a1 i2Ba") == Template.make(47, [Orbit("A", 8, "O"), Orbit("a",
                                                                                              1),
                                                                     Orbit("i", 2, "Ba")])
    with pytest.raises(ValueError, match="not an orbit"):
        decode_template(225, "4a")


def test_known_templates_in_any_description():
    rock_salt = template_of(bulk("NaCl", "rocksalt", a=5.64))
    swapped = Template.make(225, [Orbit("b", 1, "Na"), Orbit("a", 1, "Cl")])  # the origin at Cl
    assert swapped.canonical() == rock_salt.canonical() and swapped != rock_salt
    assert is_known(rock_salt) and is_known(swapped)
    assert is_known(rock_salt.with_elements([None, None]))
    assert not is_known(Template.make(225, [Orbit("a", 1, "Og"), Orbit("b", 1, "Ts")]))
    assert not is_known(Template.make(230, [Orbit("a", 8, None)]))


def test_element_similarity_is_chemical():
    assert element_similarity("Na", "Na") == 1.0
    assert element_similarity("Na", "K") == element_similarity("K", "Na") > 0.05
    assert element_similarity("Na", "K") > 5 * element_similarity("Na", "Cl")
    assert element_similarity("Cl", "Br") > element_similarity("Cl", "Fe")


# --------------------------------------------------------------------------- retrieval

def test_rank_templates_fills_every_orbit_with_the_formula():
    index = load_index()
    formulas = [dict(t.counts) for t in index.templates[::300]] + [
        {"K": 1, "Br": 1}, {"Sr": 1, "Ti": 1, "O": 3}, {"Zn": 2, "O": 2}, {"Li": 1, "Fe": 1, "P": 1,
                                                                           "O": 4}]
    for counts in formulas:
        ranked = rank_templates(counts, k=5)
        assert 1 <= len(ranked) <= 5, counts
        scores = [s for _, s in ranked]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-9
        for t, _ in ranked:
            assert t.counts == counts and not t.is_open and t == t.canonical()


def test_rank_templates_knows_rock_salt_and_perovskite():
    (kbr, _), *_ = rank_templates({"K": 1, "Br": 1}, k=1)
    assert kbr.symbol == "Fm-3m" and kbr.canonical() == template_of(bulk("KBr", "rocksalt",
                                                                         a=6.6)).canonical()
    (perovskite, _), *_ = rank_templates({"Ba": 1, "Ti": 1, "O": 3}, k=1)
    assert str(perovskite) == "Pm-3m: Ba 1a, Ti 1b, O 3c"
    frequency_only = rank_templates({"K": 1, "Br": 1}, k=50, similarity=lambda a, b: 1.0)
    assert {t for t, _ in frequency_only} >= {kbr}


def test_choose_templates_holds_the_filters():
    rng = np.random.default_rng(0)
    for system in CRYSTAL_SYSTEMS:
        drawn = choose_templates(counts=None, crystal_system=system, n=20, rng=rng)
        assert len(drawn) == 20 and {t.crystal_system for t in drawn} == {system}
        assert all(t.is_open for t in drawn)
    assert {t.space_group for t in choose_templates(counts=None, space_group="Fm-3m", n=10,
                                                    rng=rng)} == {225}
    sized = choose_templates(counts=None, n_atoms=5, n=10, rng=rng)
    assert {t.n_atoms for t in sized} == {5}
    system = choose_templates(counts=None, elements=("Ba", "Ti", "O"), n=10, rng=rng)
    assert all(set(t.counts) == {"Ba", "Ti", "O"} for t in system)
    cubic = choose_templates(counts={"Sr": 1, "Ti": 1, "O": 3}, crystal_system="cubic", n=3,
                             rng=rng)
    assert all(t.crystal_system == "cubic" and t.counts == {"Sr": 1, "Ti": 1,
                                                            "O": 3} for t in cubic)
    best = choose_templates(counts={"Sr": 1, "Ti": 1, "O": 3}, rng=rng)
    assert best == [rank_templates({"Sr": 1, "Ti": 1, "O": 3}, k=1)[0][0]]


def test_unconditional_draws_follow_the_training_frequencies():
    drawn = choose_templates(counts=None, n=3000, rng=np.random.default_rng(1))
    share = Counter(t.crystal_system for t in drawn)
    assert share["triclinic"] / 3000 < 0.07  # MP-20 val: 4.0%
    assert 0.2 < share["cubic"] / 3000 < 0.4
    assert np.mean([is_known(t) for t in drawn]) == 1.0


def test_a_group_without_training_template_uses_wyckoff_combinations():
    rng = np.random.default_rng(0)
    (t,) = choose_templates(counts={"Na": 1, "Cl": 1}, space_group=221, rng=rng)
    assert t.space_group == 221 and t.counts == {"Na": 1, "Cl": 1}
    fills = wyckoff_fills(230, {None: 20})
    assert fills and all(f.space_group == 230 and f.n_atoms == 20 and f.is_open for f in fills)
    odd = {"Na": 3, "Cl": 1, "K": 1, "Br": 1, "Li": 1, "F": 1, "Cs": 1, "I": 1, "Rb": 1}
    assert choose_templates(counts=odd, rng=rng) == [Template.make(1, [Orbit("a", 1, e) for e in
                                                                       ["Na"] * 3 + list(odd)[1:]])]
    with pytest.raises(PromptError, match="1, 3, 4, 6, 8, 12, 24, 48 atoms") as info:
        choose_templates(counts={"Na": 1, "Cl": 2}, space_group=229, rng=rng)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"counts": {"Xx": 1}}, "not an element"), ({"counts": {"Na": 0}}, "whole numbers"),
    ({"counts": {"Na": 1, "Cl": 1}, "n_atoms": 4}, "not n_atoms=4"),
    ({"counts": None, "crystal_system": "cubik"}, "unknown crystal system"),
    ({"counts": None, "space_group": "Fm3q"}, "unknown space group"),
    ({"counts": None, "space_group": 225, "crystal_system": "hexagonal"}, "is cubic"),
    ({"counts": None, "space_group": 230, "n_atoms": 7}, "8, 12, 16, 24, 48"),
    ({"counts": None, "elements": ("Na", "Cl"), "space_group": 230}, "give a formula"),
    ({"counts": None, "n": 0}, "n must be"),
    ({"counts": {"Na": 1, "Cl": 1, "K": 1, "Br": 1, "Li": 1}, "crystal_system": "cubic"},
     "12 most common cubic")])
def test_bad_retrieval_inputs_get_one_line(kwargs, words):
    with pytest.raises(PromptError, match=words) as info:
        choose_templates(rng=np.random.default_rng(0), **kwargs)
    assert "\n" not in str(info.value)
