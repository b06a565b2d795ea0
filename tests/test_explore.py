"""Composition enumeration and charge-neutrality screening (crystal_lab.explore, notebook 05)."""
from __future__ import annotations

import pytest

from crystal_lab.explore import (
    charge_neutral,
    composition_funnel,
    enumerate_compositions,
    funnel_figure,
    n_atoms_options,
    prompt_for,
)


def test_enumeration_counts_every_coefficient_tuple():
    comps = enumerate_compositions(["Li", "S"], max_coeff=2)
    assert len(comps) == 3 ** 2 - 1
    assert [c.formula for c in comps[:3]] == ["S1", "S2", "Li1"]
    assert len(enumerate_compositions("Li-P-S-Cl", max_coeff=6)) == 2400   # Chemeleon's scan


def test_enumeration_limits_and_distinct():
    assert all(c.num_atoms <= 3 for c in enumerate_compositions("Li-S", 2, max_atoms=3))
    distinct = enumerate_compositions("Li-S", 2, distinct=True)
    formulas = [c.reduced_formula for c in distinct]
    assert len(formulas) == len(set(formulas)) == 5   # S, Li, LiS, LiS2, Li2S (Li2S2 = LiS)
    assert {"Li2S", "LiS2", "LiS"} <= set(formulas)


def test_charge_neutral_keeps_smact_valid_compositions():
    kept = {c.reduced_formula for c in charge_neutral(enumerate_compositions("Na-Cl", 2))}
    assert kept == {"Na", "Cl2", "NaCl"}   # NaCl2 and Na2Cl are not charge neutral


def test_funnel_reproduces_chemeleon_li_p_s_cl_count():
    funnel = composition_funnel(["Li", "P", "S", "Cl"], max_coeff=6, max_atoms=20)
    counts = list(funnel.values())
    assert counts[0] == 2400
    assert funnel["distinct compounds"] == 781   # Chemeleon: 781 after charge neutrality
    assert counts == sorted(counts, reverse=True)


def test_funnel_figure_has_one_bar_a_stage():
    funnel = composition_funnel("Li-S-Cl", 2)
    fig = funnel_figure(funnel)
    assert list(fig.data[0].x) == list(funnel.values())


def test_cell_sizes_and_prompts():
    assert n_atoms_options("Li3PS4") == [8, 16]
    assert n_atoms_options("NaCl", max_atoms=6) == [2, 4, 6]
    assert prompt_for("Li6 P2 S8") == "Li3PS4"
    assert prompt_for("P1 S2 Cl2") == "PS2Cl2"   # not pymatgen's grouped "P(SCl)2"
    # as a chemist writes it, whatever order the composition came in
    assert prompt_for("Cl2 S2 P1") == "PS2Cl2" and prompt_for("Cl2 Li3 S2 P1") == "Li3PS2Cl2"
    assert prompt_for("O3 Ti1 Ba1") == "BaTiO3" and prompt_for("Cl1 Na1") == "NaCl"


def test_every_li_p_s_cl_prompt_parses():
    from crystal_lab.prompts import parse_prompt

    compounds = [c for c in charge_neutral(enumerate_compositions("Li-P-S-Cl", 3, distinct=True))
                 if len(c.elements) > 1]
    assert len(compounds) > 50
    for comp in compounds:
        cond = parse_prompt(prompt_for(comp), n_atoms=n_atoms_options(comp, 40)[0], max_atoms=40)
        assert cond.counts and sum(cond.counts.values()) == comp.reduced_composition.num_atoms


@pytest.mark.parametrize("bad", [[], ["Li", "Xx"], ["Li", "Li"]])
def test_bad_elements_raise_one_line_errors(bad):
    with pytest.raises(ValueError):
        enumerate_compositions(bad)


def test_bad_max_coeff_raises():
    with pytest.raises(ValueError, match="max_coeff"):
        enumerate_compositions("Li-S", 0)
