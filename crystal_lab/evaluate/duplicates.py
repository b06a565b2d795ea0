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
  shipped table: :mod:`.training_index`) of the same reduced composition matches it. MatterGen
  compares against its training set with an ordered/disordered-aware matcher;
  we use the standard ordered ``StructureMatcher`` with the tolerances above.

Comparisons are only made within a reduced composition (``NaCl`` vs ``Na2Cl2`` are the same
composition), which keeps hundreds of structures fast: most groups hold one structure.

**Invalid rows.** A row that is not a structurally valid crystal (see
:func:`~crystal_lab.evaluate.structural_validity`: unreadable, NaN, a degenerate or near-singular
cell, overlapping atoms) never reaches the matcher: on a degenerate cell pymatgen's
``StructureMatcher`` can need tens of GB. Such a row is neither unique nor novel: its label is
``-1`` (not compared), so identical invalid copies never count as distinct crystals. The
uniqueness rate is the number of distinct valid crystals over all N rows.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from .rows import Row, rows_of
from .settings import progress_bar

# The CSP-benchmark tolerances (CDVAE / DiffCSP compute_metrics.py).
MATCHER_TOLERANCES = {"stol": 0.5, "angle_tol": 10, "ltol": 0.3}


def default_matcher():
    """pymatgen ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`` (CDVAE / DiffCSP)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**MATCHER_TOLERANCES)


def group_by_formula(rows: Sequence[Row]) -> dict[str, list[int]]:
    """Indices of ``rows`` grouped by reduced formula (insertion order kept)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r.reduced_formula].append(i)
    return dict(groups)


def comparable(rows: Sequence[Row]) -> list[bool]:
    """Per row: structurally valid, so safe to hand to the matcher."""
    from .validation import structural_row

    return [bool(structural_row(r)) for r in rows]


def duplicate_labels(rows: Sequence[Row], ok: Sequence[bool], matcher=None,
                     progress: bool = False) -> list[int]:
    """One label per row (see :func:`duplicate_groups`); rows with ``ok[i]`` False get ``-1``."""
    matcher = matcher or default_matcher()
    labels = [i if ok[i] else -1 for i in range(len(rows))]
    groups = group_by_formula([rows[i] for i in range(len(rows)) if ok[i]])
    index = [i for i in range(len(rows)) if ok[i]]
    for _, members in progress_bar(groups.items(), progress, "uniqueness", len(groups)):
        if len(members) < 2:
            continue
        representatives: list[int] = []  # first member of each distinct crystal seen so far
        for k in members:
            i = index[k]
            for r in representatives:
                if _fit(matcher, rows[i].structure, rows[r].structure):
                    labels[i] = r
                    break
            else:
                representatives.append(i)
    return labels


def duplicate_groups(structures, matcher=None, progress: bool = False) -> list[int]:
    """One label per structure: structures with the same label are the same crystal.

    The label is the index of the first structure of its group, so ``labels[i] == i`` marks the
    unique representative (the first occurrence). A structurally invalid or unreadable row gets
    ``-1``: it is not compared (see the module docstring).
    """
    rows, _ = rows_of(structures)
    return duplicate_labels(rows, comparable(rows), matcher, progress)


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
    from crystal_lab.datasets import load_dataset

    return tuple(load_dataset(name, split))


def default_reference() -> list:
    """The model's training data, MP-20 ``val`` (see weights/ model card), loaded once, cached."""
    return list(_default_reference("mp_20", "val"))


class ReferenceIndex:
    """A reference set indexed by reduced formula; each structure is converted and checked only
    when a formula matches (then cached).

    A reference row that is not a structurally valid crystal is never a candidate match:
    :meth:`structure` gives None for it, and ``skipped`` collects its position and reason.
    """

    def __init__(self, reference: Sequence[Any]):
        from ..structures import reduced_formula, unreadable_reason

        self.items = list(reference)
        self.skipped: list[tuple[int, str]] = []
        groups: dict[str, list[int]] = defaultdict(list)
        for i, x in enumerate(self.items):
            problem = unreadable_reason(x)
            if problem:
                self.skipped.append((i, problem))
            else:
                groups[reduced_formula(x)].append(i)
        self.by_formula = dict(groups)
        self._structures: dict[int, Any] = {}

    def candidates(self, formula: str) -> list[int]:
        return self.by_formula.get(formula, [])

    def structure(self, i: int):
        """The pymatgen Structure of reference ``i``, or None when it is not a valid crystal."""
        if i not in self._structures:
            from .rows import row_of
            from .validation import structural_row

            row = row_of(self.items[i])
            verdict = structural_row(row)
            if not verdict:
                self.skipped.append((i, verdict.reason))
            self._structures[i] = row.structure if verdict else None
        return self._structures[i]


_INDEX_CACHE: list = []  # [(reference object, its index)]: the last one used


def reference_index(reference=None):
    """An index by reduced formula of ``reference``; the last one is cached.

    ``None``: the training data, MP-20 val, from the shipped table
    (:class:`~crystal_lab.evaluate.training_index.TrainingIndex`: no CIF is parsed until a formula
    matches). A list of structures: a :class:`ReferenceIndex` of them.
    """
    from .training_index import TrainingIndex, load_training_index

    if isinstance(reference, (ReferenceIndex, TrainingIndex)):
        return reference
    if reference is None:
        return load_training_index()
    if _INDEX_CACHE and _INDEX_CACHE[0][0] is reference and \
            len(_INDEX_CACHE[0][1].items) == len(reference):
        return _INDEX_CACHE[0][1]
    index = ReferenceIndex(reference)
    _INDEX_CACHE[:] = [(reference, index)]
    return index


def is_novel(structures, reference=None, matcher=None, progress: bool = False):
    """Per structure: True if no reference structure of the same reduced formula matches it.

    ``reference``: a list of Atoms/Structures; default the model's training data (MP-20 val,
    from the shipped index). One structure in gives one bool out. A structurally invalid or
    unreadable structure is not novel (False): it is not compared.
    """
    rows, single = rows_of(structures)
    out = novel_flags(rows, comparable(rows), reference_index(reference), matcher, progress)
    return out[0] if single else out


def novel_flags(rows: Sequence[Row], ok: Sequence[bool], index, matcher=None,
                progress: bool = False) -> list[bool]:
    """Per row: novel against ``index`` (a reference index); rows with ``ok[i]`` False: False."""
    matcher = matcher or default_matcher()
    out = []
    for r, good in progress_bar(list(zip(rows, ok, strict=True)), progress, "novelty"):
        out.append(bool(good) and not any(
            _fit(matcher, r.structure, ref) for j in index.candidates(r.reduced_formula)
            if (ref := index.structure(j)) is not None))
    return out


def novelty(structures, reference=None, matcher=None, progress: bool = False) -> float:
    """Fraction of structures that match no reference structure (MatterGen's novelty)."""
    rows, _ = rows_of(structures)
    flags = novel_flags(rows, comparable(rows), reference_index(reference), matcher, progress)
    return sum(flags) / len(flags) if flags else float("nan")
