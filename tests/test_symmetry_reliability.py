"""How often a true template's sample matches (crystal_lab.symmetry.reliability), and the CSP
choice by expected match that uses it."""
from __future__ import annotations

import numpy as np
import pytest

from crystal_lab.symmetry import reliability, retrieval
from crystal_lab.symmetry.index import load_index
from crystal_lab.symmetry.reliability import by_expected_match, fit, free_coordinates
from crystal_lab.symmetry.sites import realise
from crystal_lab.symmetry.templates import Orbit, Template

ROCK_SALT = Template.make(225, [Orbit("a", 1, "Na"), Orbit("b", 1, "Cl")])
NACL_P1 = Template.make(1, [Orbit("a", 1, "Na"), Orbit("a", 1, "Cl")])


def test_free_coordinates_are_the_projections_rank():
    """pyxtal's degrees of freedom per Wyckoff position, summed, are what the sampler's site
    projectors leave free, over the first 60 templates of the index."""
    assert free_coordinates(ROCK_SALT) == 0 and free_coordinates(NACL_P1) == 6
    checked = 0
    for t in load_index().templates[:60]:
        try:
            sites = realise(t)
        except ValueError:
            continue
        assert free_coordinates(t) == sites.free_coordinates, t
        checked += 1
    assert checked > 50


def test_fit_recovers_a_known_curve():
    rng = np.random.default_rng(0)
    free = rng.integers(0, 20, size=20_000)
    matched = rng.random(free.shape) < 0.8 * np.exp(-0.2 * free)
    curve = fit(free, matched)
    assert curve["scale"] == pytest.approx(0.8, abs=0.02)
    assert curve["slope"] == pytest.approx(0.2, abs=0.02)
    assert curve["n"] == 20_000
    with pytest.raises(ValueError, match="no samples"):
        fit([], [])


def test_the_shipped_curve_falls_with_free_coordinates_and_says_where_it_was_fitted():
    curve = reliability.load_curve()
    assert 0 < curve["scale"] <= 1 and curve["slope"] > 0
    assert "outside the headline 1,000" in curve["fitted_on"]
    assert reliability.reliability(ROCK_SALT) == pytest.approx(curve["scale"])
    assert reliability.reliability(NACL_P1) < reliability.reliability(ROCK_SALT)


def test_expected_match_puts_a_simpler_template_first_only_when_close():
    curve = {"scale": 0.8, "slope": 0.2}
    close = by_expected_match([(NACL_P1, 0.55), (ROCK_SALT, 0.45)], curve)
    assert [t for t, _ in close] == [ROCK_SALT, NACL_P1]
    assert close[0][1] == pytest.approx(0.45 * 0.8)
    assert close[1][1] == pytest.approx(0.55 * 0.8 * np.exp(-1.2))
    far = by_expected_match([(NACL_P1, 0.95), (ROCK_SALT, 0.05)], curve)
    assert [t for t, _ in far] == [NACL_P1, ROCK_SALT]
    flat = by_expected_match([(NACL_P1, 0.55), (ROCK_SALT, 0.45)], {"scale": 1, "slope": 0})
    assert [t for t, _ in flat] == [NACL_P1, ROCK_SALT]


def test_choose_templates_takes_the_best_expected_match(monkeypatch):
    """A formula's CSP template is the best expected match; rank_templates keeps the
    probabilities of being right."""
    fake = ((NACL_P1, 0.55), (ROCK_SALT, 0.45))
    monkeypatch.setattr(retrieval, "_ranking", lambda key, similarity=None: fake)
    rng = np.random.default_rng(0)
    assert retrieval.choose_templates(counts={"Na": 1, "Cl": 1}, rng=rng) == [ROCK_SALT]
    assert [t for t, _ in retrieval.rank_templates({"Na": 1, "Cl": 1})] == [NACL_P1, ROCK_SALT]
    monkeypatch.setattr(reliability, "load_curve", lambda: {"scale": 1.0, "slope": 0.0})
    assert retrieval.choose_templates(counts={"Na": 1, "Cl": 1}, rng=rng) == [NACL_P1]

