"""Explore a chemical system: enumerate compositions, screen them for charge neutrality.

The walk Chemeleon (Park et al., "Exploration of crystal chemical space using text-guided
generative artificial intelligence", Nature Communications 2025) took through Li-P-S-Cl: every
composition Li_a P_b S_c Cl_d with coefficients 0..6 (7**4 - 1 = 2,400 of them), kept only the
charge-neutral ones (SMACT, Davies et al., JOSS 2019), then generated structures for those and
screened them for stability. This module reproduces the counting at any scale:

    from crystal_lab.explore import enumerate_compositions, charge_neutral, composition_funnel
    comps = enumerate_compositions(["Li", "P", "S", "Cl"], max_coeff=6)   # 2400 Compositions
    ok = charge_neutral(comps)                                          # SMACT-screened
    composition_funnel(["Li", "P", "S", "Cl"], max_coeff=6, max_atoms=20)

Charge neutrality here is :func:`crystal_lab.evaluate.smact_validity` (CDVAE's rule: one element,
an all-metal alloy, or charge-neutral oxidation states from SMACT's ``smact14`` list that pass the
Pauling electronegativity test), so a composition kept here is compositionally valid by the same
measure the evaluation uses. With this rule Li-P-S-Cl keeps 986 of the 2,400 coefficient tuples,
which are 781 distinct compounds (one per reduced formula): Chemeleon's count.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

from .formulas import valid_n_atoms as n_atoms_options  # the name notebook 05 uses
from .prompts import parse_prompt
from .structures import formula

__all__ = [
    "charge_neutral",
    "composition_funnel",
    "enumerate_compositions",
    "funnel_figure",
    "n_atoms_options",
    "prompt_for",
]


def _check_elements(elements: Sequence[str] | str) -> list[str]:
    """The elements of a chemical system, checked as a prompt's are (``"Li-P-S-Cl"`` or a list)."""
    if isinstance(elements, str):
        elements = elements.replace("-", " ").split()
    elements = list(parse_prompt(list(elements)).elements)
    if not elements:
        raise ValueError("give at least one element, e.g. ['Li', 'P', 'S', 'Cl']")
    return elements


def enumerate_compositions(elements: Sequence[str] | str, max_coeff: int = 6,
                           max_atoms: int | None = None, distinct: bool = False) -> list:
    """Every composition of ``elements`` with integer coefficients 0..``max_coeff`` (not all zero).

    ``elements``: a list (``["Li", "P", "S", "Cl"]``) or a string (``"Li-P-S-Cl"``).
    ``max_atoms``: drop compositions with more atoms than this. ``distinct``: keep one composition
    per reduced formula (``Li2S2`` and ``LiS`` are the same compound), the smallest first.
    Returns pymatgen ``Composition`` objects in a fixed order (the coefficient tuples in
    lexicographic order). Li-P-S-Cl with ``max_coeff=6`` gives 7**4 - 1 = 2400.
    """
    from pymatgen.core import Composition

    elements = _check_elements(elements)
    if not isinstance(max_coeff, int) or max_coeff < 1:
        raise ValueError(f"max_coeff must be a positive integer, not {max_coeff!r}")
    out, seen = [], set()
    for coeffs in itertools.product(range(max_coeff + 1), repeat=len(elements)):
        total = sum(coeffs)
        if total == 0 or (max_atoms is not None and total > max_atoms):
            continue
        comp = Composition({el: c for el, c in zip(elements, coeffs, strict=True) if c})
        if distinct:
            key = comp.reduced_formula
            if key in seen:
                continue
            seen.add(key)
        out.append(comp)
    return out


def charge_neutral(compositions, use_pauling_test: bool = True) -> list:
    """The compositions SMACT finds charge neutral (see the module docstring for the rule)."""
    from .evaluate import smact_validity

    compositions = list(compositions)
    verdicts = smact_validity(compositions, use_pauling_test=use_pauling_test)
    return [c for c, v in zip(compositions, verdicts, strict=True) if v.valid]


def composition_funnel(elements: Sequence[str] | str, max_coeff: int = 6,
                       max_atoms: int = 20) -> dict[str, int]:
    """How many compositions survive each screening stage (an ordered dict: stage -> count).

    Stages: all coefficient tuples; charge neutral (SMACT); distinct compounds (one per reduced
    formula); compounds whose formula unit fits in a cell of at most ``max_atoms`` atoms (the
    generative model's limit, 20 for MP-20); compounds with two or more elements.
    """
    all_comps = enumerate_compositions(elements, max_coeff)
    neutral = charge_neutral(all_comps)
    distinct = {}
    for c in neutral:
        distinct.setdefault(c.reduced_formula, c.reduced_composition)
    fits = [c for c in distinct.values() if c.num_atoms <= max_atoms]
    compounds = [c for c in fits if len(c.elements) >= 2]
    return {
        f"coefficients 0..{max_coeff}": len(all_comps),
        "charge neutral (SMACT)": len(neutral),
        "distinct compounds": len(distinct),
        f"formula unit <= {max_atoms} atoms": len(fits),
        "2+ elements": len(compounds),
    }


def funnel_figure(funnel: dict[str, int], title: str | None = None):
    """A plotly funnel of :func:`composition_funnel`'s counts."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Funnel(y=list(funnel), x=list(funnel.values()),
                              textinfo="value+percent initial"))
    fig.update_layout(title=title or "Composition screening funnel", height=320, width=620,
                      margin={"l": 180, "r": 20, "t": 50, "b": 30})
    return fig


def prompt_for(composition) -> str:
    """The formula prompt for a composition, reduced and written as a chemist writes it (the
    package's :func:`crystal_lab.structures.formula`, no groups): ``Composition("Li6 P2 S8")`` ->
    ``"Li3PS4"``; ``"Cl2 S2 P1"`` -> ``"PS2Cl2"`` (pymatgen's ``reduced_formula`` would write
    ``"P(SCl)2"``, which is not a prompt)."""
    from pymatgen.core import Composition

    comp = Composition(composition) if isinstance(composition, str) else composition
    counts = comp.reduced_composition.get_el_amt_dict()
    return formula([el for el, n in counts.items() for _ in range(round(n))])
