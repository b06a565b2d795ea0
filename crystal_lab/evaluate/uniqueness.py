"""Uniqueness (how diverse is a batch?) and novelty (is it new compared with the training data?).

Both compare crystals with pymatgen's ``StructureMatcher`` at the tolerances of the CSP benchmark
(CDVAE and DiffCSP ``compute_metrics.py``: ``stol=0.5, angle_tol=10, ltol=0.3``). The matcher
finds a match under any rotation, translation, permutation of same-element atoms and choice of
(super)cell, so a crystal and its rotated, shifted, reordered supercell are the same crystal.

* **Uniqueness** (MatterGen, Zeni et al., Nature 2025; FlowMM; Chemeleon): the fraction of
  generated structures left after removing duplicates, i.e. ``number of distinct crystals / N``.
  In per-structure tables the first member of each group of duplicates is marked unique.
* **Novelty** (MatterGen; CDVAE/DiffCSP use the same idea for "novel" samples): a structure is novel
  if no reference structure (by default the model's training data, MP-20 val, indexed by the
  shipped table: :mod:`.training_index`) of the same reduced composition matches it. MatterGen compares against its training set with an ordered/disordered-aware matcher;
  we use the standard ordered ``StructureMatcher`` with the tolerances above.

Comparisons are only made within a reduced composition (``NaCl`` vs ``Na2Cl2`` are the same
composition), which keeps hundreds of structures fast: most groups hold one structure.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ..structures import as_list, is_single, reduced_formula, to_structure
from .settings import progress_bar

# The CSP-benchmark tolerances (CDVAE / DiffCSP compute_metrics.py).
MATCHER_TOLERANCES = {"stol": 0.5, "angle_tol": 10, "ltol": 0.3}


def default_matcher():
    """pymatgen ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`` (CDVAE / DiffCSP)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**MATCHER_TOLERANCES)


def group_by_formula(structures: Sequence[Any]) -> dict[str, list[int]]:
    """Indices of ``structures`` grouped by reduced formula (insertion order kept)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(structures):
        groups[reduced_formula(s)].append(i)
    return dict(groups)


def duplicate_groups(structures, matcher=None, progress: bool = False) -> list[int]:
    """One label per structure: structures with the same label are the same crystal.

    The label is the index of the first structure of its group, so ``labels[i] == i`` marks the
    unique representative (the first occurrence).
    """
    items = as_list(structures)
    matcher = matcher or default_matcher()
    labels = list(range(len(items)))
    groups = group_by_formula(items)
    for formula, idx in progress_bar(groups.items(), progress, "uniqueness", len(groups)):
        if len(idx) < 2:
            continue
        representatives: list[int] = []  # first member of each distinct crystal seen so far
        for i in idx:
            si = to_structure(items[i])
            for r in representatives:
                if _fit(matcher, si, to_structure(items[r])):
                    labels[i] = r
                    break
            else:
                representatives.append(i)
    return labels


def _fit(matcher, a, b) -> bool:
    try:
        return bool(matcher.fit(a, b))
    except Exception:  # noqa: BLE001 -- degenerate cells make the matcher raise: no match
        return False


def is_unique(structures, matcher=None, progress: bool = False) -> list[bool]:
    """Per structure: True for the first occurrence of each distinct crystal."""
    return [label == i for i, label in enumerate(duplicate_groups(structures, matcher, progress))]


def uniqueness(structures, matcher=None, progress: bool = False) -> float:
    """Fraction of distinct crystals: (number of duplicate groups) / N (MatterGen's uniqueness).

    Duplicates are found with ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`` within each
    reduced composition. Returns ``nan`` for an empty list.
    """
    flags = is_unique(structures, matcher, progress)
    return sum(flags) / len(flags) if flags else float("nan")


# --------------------------------------------------------------------------- novelty

@lru_cache(maxsize=4)
def _default_reference(name: str = "mp_20", split: str = "val") -> tuple:
    from crystal_lab.data import load_dataset

    return tuple(load_dataset(name, split))


def default_reference() -> list:
    """The model's training data, MP-20 ``val`` (see weights/ model card), loaded once and cached."""
    return list(_default_reference("mp_20", "val"))


class ReferenceIndex:
    """A reference set indexed by reduced formula; Structures are built lazily and cached."""

    def __init__(self, reference: Sequence[Any]):
        self.items = list(reference)
        self.by_formula = group_by_formula(self.items)
        self._structures: dict[int, Any] = {}

    def candidates(self, formula: str) -> list[int]:
        return self.by_formula.get(formula, [])

    def structure(self, i: int):
        if i not in self._structures:
            self._structures[i] = to_structure(self.items[i])
        return self._structures[i]


_INDEX_CACHE: list = []  # [(reference object, its index)]: the last one used


def reference_index(reference=None):
    """An index by reduced formula of ``reference``; the last one is cached.

    ``None``: the training data, MP-20 val, from the shipped table
    (:class:`~crystal_lab.evaluate.training_index.TrainingIndex`: no CIF is parsed until a formula
    matches). A list of structures: a :class:`ReferenceIndex` of them.
    """
    from .training_index import TrainingIndex, training_index

    if isinstance(reference, (ReferenceIndex, TrainingIndex)):
        return reference
    if reference is None:
        return training_index()
    if _INDEX_CACHE and _INDEX_CACHE[0][0] is reference and \
            len(_INDEX_CACHE[0][1].items) == len(reference):
        return _INDEX_CACHE[0][1]
    index = ReferenceIndex(reference)
    _INDEX_CACHE[:] = [(reference, index)]
    return index


def is_novel(structures, reference=None, matcher=None, progress: bool = False):
    """Per structure: True if no reference structure of the same reduced formula matches it.

    ``reference``: a list of Atoms/Structures; default the model's training data (MP-20 val,
    via ``crystal_lab.data.load_dataset``). One structure in gives one bool out.
    """
    matcher = matcher or default_matcher()
    index = reference_index(reference)
    items = as_list(structures)
    out = []
    for x in progress_bar(items, progress, "novelty"):
        s = to_structure(x)
        out.append(not any(_fit(matcher, s, index.structure(j))
                           for j in index.candidates(reduced_formula(x))))
    return out[0] if is_single(structures) else out


def novelty(structures, reference=None, matcher=None, progress: bool = False) -> float:
    """Fraction of structures that match no reference structure (MatterGen's novelty)."""
    flags = is_novel(as_list(structures), reference, matcher, progress)
    return sum(flags) / len(flags) if flags else float("nan")
