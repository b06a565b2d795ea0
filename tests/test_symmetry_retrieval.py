"""The learned template ranker (crystal_lab.symmetry.ranker): its shipped weights, its features,
leave-one-out, and how rank_templates uses it."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from crystal_lab.symmetry import ranker, retrieval
from crystal_lab.symmetry.index import TemplateIndex, element_similarity, load_index, signature
from crystal_lab.symmetry.ranker import FEATURES, candidates, keeps_order, load_weights, score
from crystal_lab.symmetry.retrieval import rank_templates
from crystal_lab.symmetry.templates import template_of

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def fresh_ranking():
    retrieval._ranking.cache_clear()
    yield
    retrieval._ranking.cache_clear()


def test_the_shipped_weights_load_and_name_the_features():
    data = load_weights()
    assert tuple(data["features"]) == FEATURES and len(data["weights"]) == len(FEATURES)
    assert "leave-one-out" in data["fitted_on"] and "val" in data["fitted_on"]
    assert all(math.isfinite(w) for w in data["weights"])


def test_rank_templates_scores_with_the_shipped_weights(monkeypatch, fresh_ranking):
    counts = {"Sr": 1, "Ti": 1, "O": 3}
    templates, x = candidates(counts)
    expected = score(x)
    got = dict(rank_templates(counts, k=len(templates)))
    assert set(got) == set(templates)
    assert np.allclose([got[t] for t in templates], expected) and abs(sum(got.values()) - 1) < 1e-9
    # weights (1, 0, ...) are the plain vote: the ranking of similarity=element_similarity
    plain = {**load_weights(), "weights": [1.0] + [0.0] * (len(FEATURES) - 1)}
    monkeypatch.setattr(ranker, "load_weights", lambda: plain)
    retrieval._ranking.cache_clear()
    for formula in ({"K": 1, "Br": 1}, {"Li": 1, "Fe": 1, "P": 1, "O": 4}):
        mine = rank_templates(formula, k=10)
        vote = rank_templates(formula, k=10, similarity=element_similarity)
        assert [t for t, _ in mine] == [t for t, _ in vote]
        assert np.allclose([s for _, s in mine], [s for _, s in vote])


def _without_one(index: TemplateIndex, template) -> TemplateIndex:
    counts = index.counts.copy()
    counts[index.templates.index(template)] -= 1
    keep = counts > 0
    return TemplateIndex(tuple(t for t, k in zip(index.templates, keep, strict=True) if k),
                         counts[keep], index.meta)


def test_leave_one_out_is_the_index_without_that_crystal():
    index = load_index()
    once = next(t for t, c in zip(index.templates, index.counts, strict=True)
                if c == 1 and len(index.by_signature[signature(t.counts)]) > 20)
    twice = next(t for t, c in zip(index.templates, index.counts, strict=True) if c == 2)
    for held in (once, twice):
        templates, x = candidates(held.counts, held_out=held)
        smaller, x_smaller = candidates(held.counts, index=_without_one(index, held))
        assert templates == smaller and np.allclose(x, x_smaller)
    same = FEATURES.index("log_same")
    templates, x = candidates(once.counts, held_out=once)
    assert once not in templates or x[templates.index(once), same] == 0.0
    templates, x = candidates(twice.counts, held_out=twice)
    assert x[templates.index(twice), same] == pytest.approx(math.log(2))
    full, x_full = candidates(twice.counts)
    assert x_full[full.index(twice), same] == pytest.approx(math.log(3))


def test_features_of_a_known_prototype():
    kbr = template_of(bulk("KBr", "rocksalt", a=6.6)).canonical()
    templates, x = candidates({"K": 1, "Br": 1})
    row = dict(zip(FEATURES, x[templates.index(kbr)], strict=True))
    assert row["extra_orbits"] == 0 and row["order_kept"] > 0.5
    assert row["log_best"] >= math.log(element_similarity("Na", "K")
                                       * element_similarity("Cl", "Br")) - 1e-9
    assert rank_templates({"K": 1, "Br": 1}, k=1)[0][0] == kbr
    assert keeps_order({"Na": "K", "Cl": "Br"}) and not keeps_order({"Na": "Br", "Cl": "K"})


def test_formulas_without_same_count_templates_fall_back_to_the_merged_vote():
    index = load_index()
    absent = [{"Ag": a, "Au": b} for a in range(1, 10) for b in range(a, 20 - a)
              if (a, b) not in index.by_signature]
    counts = next(c for c in absent if rank_templates(c, k=3))
    assert candidates(counts)[0] == []
    ranked = rank_templates(counts, k=3)
    assert all(t.counts == counts for t, _ in ranked)
    assert ranked == rank_templates(counts, k=3, similarity=element_similarity)


def test_the_fit_finds_the_weight_that_puts_the_right_template_first():
    sys.path.insert(0, str(SCRIPTS))
    try:
        from fit_template_ranker import VOTE, fit, rates
    finally:
        sys.path.remove(str(SCRIPTS))
    rng = np.random.default_rng(0)
    three = list(load_index().templates[:3])
    queries = []
    for _ in range(40):  # the vote prefers candidate 0; the right one (1) has log_same == 0
        x = rng.normal(size=(3, len(FEATURES))) * 0.01
        x[:, 0] = [1.0, 0.5, 0.0]
        x[:, FEATURES.index("log_same")] = [math.log(2), 0.0, 0.0]
        queries.append((three, x, 1, 1))
    assert rates(queries, VOTE)["top1"] == 0.0
    weights = fit(queries)
    assert weights[FEATURES.index("log_same")] < -0.7 and rates(queries, weights)["top1"] == 1.0
