"""The learned score that orders a formula's candidate templates (fitted on MP-20 val only).

A formula's candidates are the templates of the index (MP-20 val) with the same per-element atom
counts, their elements relabelled onto the formula's (:func:`relabellings`): NaCl's rock salt
gives KBr's. :func:`candidates` describes each candidate with a few numbers (:data:`FEATURES`):
the plain vote (source crystals times how readily their elements become the formula's,
:func:`~crystal_lab.symmetry.index.element_similarity`), the best single source, whether a val
crystal already has exactly this template (then the formula is likely another polymorph), extra
orbits, and whether the relabelling keeps the elements' electronegativity order. :func:`score`
weighs them with ``data/template_ranker.json`` and takes the softmax over the candidates (weights
(1, 0, 0, 0, 0) give back the plain vote, normalised).

``scripts/fit_template_ranker.py`` fits the weights to the top-1 rate of **leave-one-out**
retrieval on MP-20 val: each val crystal is a query whose own template is taken out of the index
(``held_out``: its count less one), so the weights learn to find a crystal's template from the
*other* crystals, as for a new formula. Test crystals are never used to fit them.
"""
from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

import numpy as np

from .index import TemplateIndex, electronegativity, element_similarity, load_index, signature
from .templates import Template

#: the weights' file in ``crystal_lab/symmetry/data`` (written by scripts/fit_template_ranker.py)
RANKER_FILE = "template_ranker.json"

#: what :func:`candidates` measures of each candidate template (natural logs)
FEATURES = (
    "log_vote",       # log sum over source crystals of prod element_similarity (the plain vote)
    "log_best",       # log of the best single source crystal's prod element_similarity
    "log_same",       # log(1 + crystals with exactly this template, elements too: a polymorph)
    "extra_orbits",   # orbits beyond one per element
    "order_kept",     # share of the vote whose relabelling keeps the electronegativity order
)


def relabellings(source: dict[str, int], target: dict[str, int],
                 merge: bool = False) -> Iterator[dict[str, str]]:
    """Maps of the source elements onto the target's that keep every target count: one to one
    (``merge=False``), or several source elements onto one (``merge=True``)."""
    if not merge:
        groups = defaultdict(lambda: ([], []))
        for e, c in source.items():
            groups[c][0].append(e)
        for e, c in target.items():
            groups[c][1].append(e)
        pairs = list(groups.values())
        for choice in itertools.product(*(itertools.permutations(t) for _, t in pairs)):
            yield {s: t for (src, _), perm in zip(pairs, choice, strict=True)
                   for s, t in zip(src, perm, strict=True)}
        return
    order = sorted(source, key=source.get, reverse=True)

    def assign(i: int, left: dict[str, int], mapping: dict[str, str]):
        if i == len(order):
            if not any(left.values()):
                yield dict(mapping)
            return
        for t in target:
            if left[t] >= source[order[i]]:
                left[t] -= source[order[i]]
                mapping[order[i]] = t
                yield from assign(i + 1, left, mapping)
                left[t] += source[order[i]]

    yield from assign(0, dict(target), {})


def relabel(template: Template, mapping: dict[str, str]) -> Template:
    """The template with each orbit's element replaced by ``mapping[element]`` (canonical form)."""
    return template.with_elements([mapping[o.element] for o in template.orbits]).canonical()


def keeps_order(mapping: dict[str, str]) -> bool:
    """True when no two source elements swap their electronegativity order on relabelling."""
    chi = electronegativity()
    return all((chi.get(a, 2.0) - chi.get(b, 2.0)) * (chi.get(mapping[a], 2.0)
                                                      - chi.get(mapping[b], 2.0)) >= 0
               for a, b in itertools.combinations(mapping, 2))


def _votes(counts: dict[str, int], index: TemplateIndex, held_out: Template | None):
    """Per candidate: [vote, best source's similarity, vote of order-keeping relabellings]."""
    votes: dict[Template, list[float]] = {}
    for i in index.by_signature.get(signature(counts), ()):
        source, n = index.templates[i], int(index.counts[i]) - (index.templates[i] == held_out)
        if n == 0:
            continue
        for mapping in relabellings(source.counts, counts):
            p = math.prod(element_similarity(s, t) for s, t in mapping.items())
            v = votes.setdefault(relabel(source, mapping), [0.0, 0.0, 0.0])
            v[0] += n * p
            v[1] = max(v[1], p)
            v[2] += n * p * keeps_order(mapping)
    return votes


def candidates(counts: dict[str, int], held_out: Template | None = None,
               index: TemplateIndex | None = None) -> tuple[list[Template], np.ndarray]:
    """The relabelled index templates with ``counts``' per-element counts, and their
    :data:`FEATURES` (one row each). ``held_out``: one crystal of that (canonical) template is
    taken out of the index first (leave-one-out); ``index``: another index than the shipped one."""
    index = index or load_index()
    votes = _votes(counts, index, held_out)
    templates = list(votes)
    rows = [[math.log(vote), math.log(best),
             math.log1p(index.count(t) - (t == held_out)),
             len(t.orbits) - len(counts), kept / vote]
            for t, (vote, best, kept) in ((t, votes[t]) for t in templates)]
    return templates, np.array(rows, dtype=float).reshape(len(templates), len(FEATURES))


@lru_cache(maxsize=1)
def load_weights() -> dict:
    """The shipped ranker: ``features`` (:data:`FEATURES`), ``weights`` and how they were fitted."""
    data = json.loads(resources.files("crystal_lab.symmetry").joinpath(
        "data", RANKER_FILE).read_text())
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{RANKER_FILE} scores {data['features']}, not {FEATURES}: refit it with "
                         "scripts/fit_template_ranker.py")
    return data


def score(features: np.ndarray, weights=None) -> np.ndarray:
    """Each candidate's probability of being the right template: the softmax of its features
    weighted (``weights``: default the shipped ones)."""
    w = np.asarray(load_weights()["weights"] if weights is None else weights, dtype=float)
    logits = features @ w
    p = np.exp(logits - logits.max()) if len(logits) else logits
    return p / p.sum() if len(p) else p


def ranked(templates: list[Template], scores) -> list[tuple[Template, float]]:
    """Candidates best first (ties: lower space group, then by text), with their scores."""
    return sorted(zip(templates, map(float, scores), strict=True),
                  key=lambda ts: (-ts[1], ts[0].space_group, str(ts[0])))
