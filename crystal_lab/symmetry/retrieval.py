"""Choosing a template for a prompt, from the templates of the training split (MP-20 val).

* **A formula** (crystal structure prediction): :func:`rank_templates` ranks the indexed templates
  whose orbits the formula fills once their elements are relabelled. A source template votes for
  each relabelling that keeps every element's atom count, with its frequency times how readily each
  of its elements is replaced by its new one
  (:func:`~crystal_lab.symmetry.index.element_similarity`, from pymatgen's substitution
  probabilities). So NaCl's rock salt votes for KBr's, and barely for a Cl-on-the-Na-site one.
  A small learned score (:mod:`~crystal_lab.symmetry.ranker`: five weights fitted on MP-20 val by
  leave-one-out, never on test) adds to that vote the best single source, a penalty when a val
  crystal of the same formula already has the template (the formula is then likely another
  polymorph), extra orbits and the electronegativity order. When no template has the formula's
  counts, several source elements may share one target element (the plain vote).
  :func:`choose_templates` then takes the template with the best *expected match*, its
  probability times how often the sampler realises it
  (:mod:`~crystal_lab.symmetry.reliability`: fewer free coordinates, more often).
* **A chemical system** ("Ba Ti O"): a template with as many elements, drawn by training frequency
  times the similarity of its best assignment of the asked elements.
* **Nothing** (unconditional): a template drawn by training frequency, its orbits left open, so
  the crystal systems follow MP-20 val's.
* ``crystal_system=`` and ``space_group=`` filter the candidates. A group no training template has
  for a formula falls back to pyxtal's Wyckoff combinations of that group (a crystal system: of
  its 12 most frequent groups). A formula no training template holds, with no group or system
  asked, gets P1 (the free model).
"""
from __future__ import annotations

import itertools
import math
from collections import defaultdict
from functools import lru_cache

import numpy as np

from ..prompts import CRYSTAL_SYSTEMS, ELEMENTS, MAX_ATOMS, PromptError, crystal_system_of
from ..structures import formula_text
from .index import element_similarity, load_index, signature
from .ranker import candidates, ranked, relabel, relabellings, score
from .reliability import by_expected_match
from .templates import CENTERING, Orbit, Template, space_group_number, space_group_symbol

#: how many of the best-ranked templates ``choose_templates(n > 1)`` draws from, for a formula
TOP = 5


def is_known(template: Template) -> bool:
    """True when a crystal of the training index has this template (an open template: its group
    and Wyckoff pattern), in any of its equivalent descriptions (:meth:`Template.canonical`)."""
    return load_index().count(template.canonical()) > 0


# --------------------------------------------------------------------------- a formula

def _check_counts(counts) -> dict[str, int]:
    if not isinstance(counts, dict) or not counts:
        raise PromptError("counts must be a dict of element -> atoms such as "
                          f"{{'Na': 1, 'Cl': 1}}, got {counts!r}")
    for element, n in counts.items():
        if element not in ELEMENTS:
            raise PromptError(f"{element!r} is not an element symbol")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise PromptError(f"atom counts are whole numbers >= 1, got {element}: {n!r}")
    return {e: int(n) for e, n in counts.items()}


def _vote(sources, counts: dict[str, int], merge: bool, similarity) -> dict[Template, float]:
    """The plain vote: each source template, for each relabelling onto ``counts``, votes its count
    times ``similarity`` of every element replaced."""
    index = load_index()
    scores: dict[Template, float] = defaultdict(float)
    for i in sources:
        source = index.templates[i]
        for mapping in relabellings(source.counts, counts, merge):
            if merge and len(set(mapping.values())) < len(counts):
                continue
            weight = float(index.counts[i])
            for s, t in mapping.items():
                weight *= similarity(s, t)
            scores[relabel(source, mapping)] += weight
    return scores


@lru_cache(maxsize=256)
def _ranking(key: tuple[tuple[str, int], ...],
             similarity=None) -> tuple[tuple[Template, float], ...]:
    counts = dict(key)
    index = load_index()
    if similarity is None:  # the learned score (ranker.py), fitted on MP-20 val leave-one-out
        templates, features = candidates(counts)
        if templates:
            return tuple(ranked(templates, score(features)))
        similarity = element_similarity
    scores = _vote(index.by_signature.get(signature(counts), ()), counts, False, similarity)
    if not scores:  # no template with these counts: let several source elements share one target
        n = sum(counts.values())
        scores = _vote([i for i, t in enumerate(index.templates)
                        if t.n_atoms == n and len(t.counts) > len(counts)], counts, True,
                       similarity)
    total = sum(scores.values()) or 1.0
    return tuple(ranked(list(scores), [s / total for s in scores.values()]))


def rank_templates(counts: dict[str, int], k: int = 5,
                   similarity=None) -> list[tuple[Template, float]]:
    """The ``k`` best templates for a composition (atoms per primitive cell, e.g. ``{"Na": 1,
    "Cl": 1}``), every orbit's element filled, with scores that sum to 1 over all candidates.
    By default the learned score (:mod:`~crystal_lab.symmetry.ranker`, fitted on MP-20 val by
    leave-one-out). ``similarity(a, b)`` (how well element b replaces a) ranks by the plain vote
    instead: ``element_similarity`` is the score before the learned one, ``lambda a, b: 1.0``
    ranks by frequency alone.

    Empty when no training template fits (then :func:`choose_templates` uses pyxtal).

    >>> str(rank_templates({"K": 1, "Br": 1}, k=1)[0][0])
    'Fm-3m: Br 4a, K 4b'
    """
    counts = _check_counts(counts)
    return list(_ranking(tuple(sorted(counts.items())), similarity)[:k])


# --------------------------------------------------------------------------- pyxtal fallback

def _primitive_multiplicities(space_group: int) -> list[int]:
    from pyxtal.symmetry import Group

    factor = CENTERING[space_group_symbol(space_group)[0]]
    return sorted({w.multiplicity // factor for w in Group(space_group).Wyckoff_positions})


#: how many search steps :func:`wyckoff_fills` may take (pyxtal's own exhaustive listing takes
#: minutes for a 20-atom cell of a group with many special positions, such as Pmmm)
SEARCH_BUDGET = 20_000


def wyckoff_fills(space_group: int, counts: dict, limit: int = 100) -> list[Template]:
    """Up to ``limit`` templates of ``space_group`` that hold ``counts`` (atoms per primitive cell;
    an element ``None`` gives open orbits), fewest orbits first: each element's atoms split over the
    group's Wyckoff positions (pyxtal's), a position without free coordinates used once at most."""
    from pyxtal.symmetry import Group

    factor = CENTERING[space_group_symbol(space_group)[0]]
    sites = sorted(((w.letter, w.multiplicity // factor, w.get_dof() > 0)
                    for w in Group(space_group).Wyckoff_positions), key=lambda s: -s[1])
    sums = _reachable([m for _, m, _ in sites], max(counts.values()))
    species = sorted(counts, key=lambda e: -counts[e])
    found: dict[Template, None] = {}
    budget = [SEARCH_BUDGET]
    used: set[str] = set()

    def fill(k: int, start: int, left: int, orbits: list[Orbit]) -> None:
        budget[0] -= 1
        if len(found) >= limit or budget[0] < 0:
            return
        if left == 0:
            if k + 1 == len(species):
                found[Template.make(space_group, orbits).canonical()] = None
            else:
                fill(k + 1, 0, counts[species[k + 1]], orbits)
            return
        for j in range(start, len(sites)):
            letter, m, free = sites[j]
            if m > left or left - m not in sums[j] or (not free and letter in used):
                continue
            used.update(() if free else (letter,))
            fill(k, j if free else j + 1, left - m, [*orbits, Orbit(letter, m, species[k])])
            used.discard(letter if not free else "")

    fill(0, 0, counts[species[0]], [])
    return list(found)


def _reachable(mults: list[int], top: int) -> list[set[int]]:
    """For each j, the totals up to ``top`` that multiplicities ``mults[j:]`` can add up to (each as
    often as needed: a quick necessary test that prunes the search)."""
    out = [set() for _ in range(len(mults) + 1)]
    out[-1] = {0}
    for j in range(len(mults) - 1, -1, -1):
        reach = set(out[j + 1])
        for total in range(mults[j], top + 1):
            if total - mults[j] in reach:
                reach.add(total)
        out[j] = reach
    return out


def _open_fills(space_group: int, n_atoms: int | None) -> list[Template]:
    """Open templates of a group with no training template: pyxtal's combinations for ``n_atoms``,
    or for the smallest cell (up to :data:`~crystal_lab.prompts.MAX_ATOMS` atoms) that has one."""
    for size in [n_atoms] if n_atoms else range(1, MAX_ATOMS + 1):
        fills = wyckoff_fills(space_group, {None: size})
        if fills:
            return fills
    return []


def p1_template(counts: dict) -> Template:
    """The template of the free model: P1, one orbit (1a) per atom."""
    return Template.make(1, [Orbit("a", 1, e) for e, c in counts.items() for _ in range(c)])


def _no_fit(space_group: int, what: str) -> PromptError:
    mults = ", ".join(map(str, _primitive_multiplicities(space_group)))
    return PromptError(f"no Wyckoff combination of {space_group_symbol(space_group)} "
                       f"({space_group}) holds {what}: its orbits put {mults} atoms in the "
                       "primitive cell")


def _fallback_groups(crystal_system: str | None, space_group: int | None) -> list[int]:
    """Groups to try with pyxtal: the asked one, or the asked system's 12 most frequent in MP-20
    val (none when neither is asked: then P1)."""
    if space_group is not None:
        return [space_group]
    if crystal_system is None:
        return []
    index = load_index()
    seen: dict[int, int] = defaultdict(int)
    for t, c in zip(index.templates, index.counts, strict=True):
        seen[t.space_group] += int(c)
    groups = [g for g in range(1, 231) if crystal_system_of(g) == crystal_system]
    return sorted(groups, key=lambda g: -seen.get(g, 0))[:12]


# --------------------------------------------------------------------------- choose

def _keeps(crystal_system: str | None, space_group: int | None):
    def keep(t: Template) -> bool:
        return (space_group is None or t.space_group == space_group) and \
            (crystal_system is None or t.crystal_system == crystal_system)
    return keep


def _for_formula(counts, n_atoms, keep, crystal_system,
                 space_group) -> tuple[list[Template], np.ndarray]:
    counts = _check_counts(counts)
    if n_atoms is not None and n_atoms != sum(counts.values()):
        raise PromptError(f"counts {formula_text(counts)} make {sum(counts.values())} atoms, not "
                          f"n_atoms={n_atoms}")
    ranked = by_expected_match(
        [(t, s) for t, s in _ranking(tuple(sorted(counts.items()))) if keep(t)])
    if ranked:
        return [t for t, _ in ranked], np.array([s for _, s in ranked])
    for group in _fallback_groups(crystal_system, space_group):
        fills = wyckoff_fills(group, counts)
        if fills:
            weights = np.array([1.0 + load_index().count(t.opened()) for t in fills])
            order = np.argsort(-weights, kind="stable")
            return [fills[i] for i in order], weights[order]
    if space_group is not None:
        raise _no_fit(space_group, formula_text(counts))
    if crystal_system is None:  # nothing asked and nothing learnt: the free model's P1
        return [p1_template(counts)], np.ones(1)
    raise PromptError(f"no {crystal_system} template holds {formula_text(counts)} "
                      f"(none in MP-20 val, none among the 12 most common {crystal_system} groups)")


def _best_assignment(template: Template, elements: tuple[str, ...]) -> tuple[Template, float]:
    sources = list(template.counts)
    score, perm = max(
        (math.prod(element_similarity(s, t) for s, t in zip(sources, perm, strict=True)), perm)
        for perm in itertools.permutations(elements)
    )
    return relabel(template, dict(zip(sources, perm, strict=True))), score


@lru_cache(maxsize=64)
def _for_system(elements: tuple[str, ...],
                n_atoms: int | None) -> tuple[tuple[Template, float], ...]:
    index = load_index()
    out: dict[Template, float] = defaultdict(float)
    for t, c in zip(index.templates, index.counts, strict=True):
        if len(t.counts) == len(elements) and (n_atoms is None or t.n_atoms == n_atoms):
            filled, score = _best_assignment(t, elements)
            out[filled] += c * score
    return tuple(out.items())


def _open_templates(n_atoms: int | None) -> list[tuple[Template, float]]:
    return [
        (t, c)
        for t, c in load_index().open_counts.items()
        if n_atoms is None or t.n_atoms == n_atoms
    ]


def _check_filters(crystal_system, space_group, elements, n) -> tuple[str | None, int | None]:
    if crystal_system is not None and crystal_system not in CRYSTAL_SYSTEMS:
        raise PromptError(f"unknown crystal system {crystal_system!r}; choose from "
                          f"{', '.join(CRYSTAL_SYSTEMS)}")
    if space_group is not None:
        space_group = space_group_number(space_group)
        if crystal_system is not None and crystal_system_of(space_group) != crystal_system:
            raise PromptError(f"space group {space_group_symbol(space_group)} ({space_group}) is "
                              f"{crystal_system_of(space_group)}, not {crystal_system}")
    for e in elements:
        if e not in ELEMENTS:
            raise PromptError(f"{e!r} is not an element symbol")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PromptError(f"n must be a whole number >= 1, got {n!r}")
    return crystal_system, space_group


def choose_templates(*, counts: dict[str, int] | None, elements: tuple[str, ...] = (),
                     n_atoms: int | None = None, crystal_system: str | None = None,
                     space_group: int | str | None = None, n: int = 1,
                     rng: np.random.Generator) -> list[Template]:
    """``n`` templates for one prompt (see the module docstring): for a formula (``counts``, atoms
    per primitive cell) the best expected match first (``n > 1``: drawn from the top :data:`TOP`
    by it);
    for a chemical system (``elements``) or nothing, drawn by training frequency. ``crystal_system``
    and ``space_group`` hold for every template returned; when nothing fits, one-line
    :class:`~crystal_lab.prompts.PromptError`."""
    elements = tuple(elements)
    crystal_system, space_group = _check_filters(crystal_system, space_group, elements, n)
    keep = _keeps(crystal_system, space_group)
    if counts:
        templates, weights = _for_formula(counts, n_atoms, keep, crystal_system, space_group)
        if n == 1:
            return templates[:1]
        templates, weights = templates[:TOP], weights[:TOP]
    else:
        pool = _for_system(elements, n_atoms) if elements else _open_templates(n_atoms)
        pool = [(t, w) for t, w in pool if keep(t) and w > 0]
        if not pool and space_group is not None and not elements:
            pool = [(t, 1.0) for t in _open_fills(space_group, n_atoms)]
        if not pool:
            raise _no_template(elements, n_atoms, crystal_system, space_group)
        templates, weights = [t for t, _ in pool], np.array([w for _, w in pool])
    pick = rng.choice(len(templates), size=n, p=weights / weights.sum())
    return [templates[i] for i in pick]


def _no_template(elements, n_atoms, crystal_system, space_group) -> PromptError:
    what = (f"{len(elements)} elements ({' '.join(elements)})" if elements else "a crystal") + \
        (f" of {n_atoms} atoms" if n_atoms else "")
    where = space_group_symbol(space_group) + f" ({space_group})" if space_group else crystal_system
    if space_group is not None and not elements and n_atoms:
        return _no_fit(space_group, f"{n_atoms} atoms")
    return PromptError(f"no MP-20 val template of {where} holds {what}: give a formula (e.g. "
                       f"\"{'' .join(elements) or 'NaCl'}\") to let pyxtal fill the group")
