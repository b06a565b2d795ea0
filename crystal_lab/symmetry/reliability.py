"""How often the symmetric sampler turns the right template into a matching crystal, and the
crystal-structure-prediction choice that weighs it in.

Given its true template, the sampler matches most crystals whose sites have no free coordinates
(only the lattice is left to find) and few of those with eight or more. So the template most
likely to be right is not always the one most likely to give the right crystal: a formula whose
top candidate (probability 0.5, 12 free coordinates) is barely ahead of a cubic one (0.4, none)
is better served by the cubic one. :func:`by_expected_match` orders a formula's candidates by

    P(right template) x reliability(template),    reliability = scale * exp(-slope * free coords)

``scale`` and ``slope`` (``data/template_reliability.json``) are fitted by maximum likelihood
(:func:`fit`) to samples from true templates on the 400 MP-20 test crystals that
``benchmarks/bench_heldout.py`` keeps for tuning: never on the 1,000 that measure CSP.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

import numpy as np

from .templates import Template

#: the fitted curve's file in ``crystal_lab/symmetry/data`` (written by bench_heldout.py --fit)
RELIABILITY_FILE = "template_reliability.json"


@lru_cache(maxsize=256)
def _dof(space_group: int) -> dict[str, int]:
    from pyxtal.symmetry import Group

    return {w.letter: int(w.get_dof()) for w in Group(space_group).Wyckoff_positions}


def free_coordinates(template: Template) -> int:
    """The coordinates a template leaves free: the sum of its Wyckoff positions' (pyxtal's)."""
    dof = _dof(template.space_group)
    return sum(dof[o.letter] for o in template.orbits)


@lru_cache(maxsize=1)
def load_curve() -> dict:
    """The shipped curve: ``scale``, ``slope`` and how they were fitted."""
    return json.loads(resources.files("crystal_lab.symmetry").joinpath(
        "data", RELIABILITY_FILE).read_text())


def reliability(template: Template, curve: dict | None = None) -> float:
    """The fitted chance that a sample from ``template``, when it is the right one, matches."""
    curve = curve or load_curve()
    return curve["scale"] * math.exp(-curve["slope"] * free_coordinates(template))


def by_expected_match(ranked: list[tuple[Template, float]],
                      curve: dict | None = None) -> list[tuple[Template, float]]:
    """``(template, P(right))`` pairs re-ordered by expected match, ``P(right) x reliability``
    (that product is each pair's new score; ties keep the given order)."""
    scored = [(t, p * reliability(t, curve)) for t, p in ranked]
    return sorted(scored, key=lambda ts: -ts[1])


def fit(free: np.ndarray, matched: np.ndarray) -> dict:
    """Maximum-likelihood ``scale`` and ``slope`` of ``P(match) = scale * exp(-slope * free)``
    from samples of true templates (``free`` coordinates each, ``matched`` True/False), on a grid
    of steps 0.01."""
    free, matched = np.asarray(free, float), np.asarray(matched, float)
    if len(free) == 0:
        raise ValueError("no samples to fit")
    scales, slopes = np.arange(0.01, 1.0, 0.01), np.arange(0.0, 1.0, 0.01)
    p = np.clip(scales[:, None, None] * np.exp(-slopes[None, :, None] * free), 1e-9, 1 - 1e-9)
    ll = (matched * np.log(p) + (1 - matched) * np.log(1 - p)).sum(-1)
    i, j = np.unravel_index(int(np.argmax(ll)), ll.shape)
    return {"scale": round(float(scales[i]), 2), "slope": round(float(slopes[j]), 2),
            "log_likelihood": float(ll[i, j]), "n": len(free)}
