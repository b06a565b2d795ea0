"""Structure matching: did the model recover a known crystal, and how closely?

Definition (CDVAE reconstruction / DiffCSP crystal-structure-prediction metric, ``RecEval`` in
``scripts/compute_metrics.py``): a prediction matches its target when pymatgen's
``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)`` finds a mapping; the error is the RMS
displacement of that mapping from ``get_rms_dist``, normalised by ``(V / N) ** (1/3)`` (the average
free length per atom), so it is unit-free and comparable across cells. DiffCSP reports the
*match rate* (matched pairs / all pairs; a pair where the prediction or the target is invalid
counts as unmatched) and the mean RMS over matched pairs (MP-20: 51.5 % and 0.063 for DiffCSP).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structures import is_single
from .duplicates import default_matcher, reference_index
from .rows import Row, row_of, rows_of
from .validation import structural_row, validity


@dataclass(frozen=True)
class Match:
    """Result for one structure: ``matched``, normalised ``rms`` (None when unmatched), the
    index of the matching target in the reference list (None for a single target or no match)
    and, when it could not be compared, the ``reason``."""

    matched: bool
    rms: float | None = None
    reference_index: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.matched


def _rms(matcher, a, b) -> float | None:
    """Normalised RMS of two comparable structures, None when they do not match."""
    try:
        result = matcher.get_rms_dist(a, b)
    except Exception:  # noqa: BLE001 -- the matcher raises on some odd cells: no match
        return None
    return None if result is None else float(result[0])


def _not_comparable(row: Row) -> str:
    verdict = structural_row(row)
    return "" if verdict else f"invalid: {verdict.reason}"


def rms_distance(structure, target, matcher=None) -> float | None:
    """Normalised RMS distance between two structures, or None when they do not match (or one
    of them is not a structurally valid crystal: it never reaches the matcher)."""
    a, b = row_of(structure), row_of(target)
    if _not_comparable(a) or _not_comparable(b):
        return None
    return _rms(matcher or default_matcher(), a.structure, b.structure)


def match(structures, target, matcher=None):
    """Match structures to one known ``target`` or to a reference list by formula.

    ``target`` one Atoms/Structure: each structure is compared with it. ``target`` a list: each
    structure is compared with the targets of the same reduced formula and the closest (lowest RMS)
    is reported with its index. Returns a :class:`Match` (one structure) or a list of them; a
    structure that cannot be compared (unreadable, structurally invalid) gets ``matched=False``
    and its ``reason``.
    """
    matcher = matcher or default_matcher()
    rows, single = rows_of(structures)
    out = []
    if is_single(target) or isinstance(target, Row):
        t = row_of(target)
        t_problem = _not_comparable(t)
        for r in rows:
            problem = _not_comparable(r) or (f"target {t_problem}" if t_problem else "")
            rms = None if problem else _rms(matcher, r.structure, t.structure)
            out.append(Match(rms is not None, rms, reason=problem))
    else:
        index = reference_index(target if isinstance(target, list) else list(target))
        for r in rows:
            problem = _not_comparable(r)
            best = Match(False, reason=problem)
            if not problem:
                for j in index.candidates(r.reduced_formula):
                    ref = index.structure(j)
                    rms = None if ref is None else _rms(matcher, r.structure, ref)
                    if rms is not None and (best.rms is None or rms < best.rms):
                        best = Match(True, rms, j)
            out.append(best)
    return out[0] if single else out


def match_rate(predictions: Sequence[Any] | Any, targets: Sequence[Any] | Any,
               require_valid: bool = True, matcher=None, progress: bool = False) -> dict:
    """DiffCSP's CSP metric for paired lists: ``{"match_rate", "rms_dist", "n", "n_matched",
    "n_invalid", "reasons"}``. One structure each (``match_rate(atoms, target)``) is one pair
    (``n == 1``); a structure against a list, or lists of different lengths, is a ``ValueError``.

    Pair i counts as matched when prediction i matches target i; with ``require_valid`` (as in
    DiffCSP) a pair where either structure fails :func:`~crystal_lab.evaluate.validity` is
    unmatched. A pair where either is not even structurally valid (or not a structure) is never
    compared either way. ``rms_dist`` is the mean normalised RMS over matched pairs (nan when none
    matched); ``reasons`` maps each pair that was not compared to why.
    """
    from .settings import progress_bar

    preds, one_prediction = rows_of(predictions)
    gts, one_target = rows_of(targets)
    if one_prediction != one_target:
        raise ValueError("match_rate pairs prediction i with target i: give one structure each, "
                         "or two lists of the same length (use match() for one against many)")
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions but {len(gts)} targets")
    matcher = matcher or default_matcher()
    rms, reasons = [], {}
    for i, (pred, gt) in enumerate(
        progress_bar(list(zip(preds, gts, strict=True)), progress, "matching")
    ):
        check = validity if require_valid else structural_row
        why = [f"{name}: {v.reason}" for name, v in (("prediction", check(pred)),
                                                      ("target", check(gt))) if not v]
        if why:
            reasons[i] = "; ".join(why)
            continue
        d = _rms(matcher, pred.structure, gt.structure)
        if d is not None:
            rms.append(d)
    n = len(gts)
    return {"match_rate": len(rms) / n if n else float("nan"),
            "rms_dist": float(np.mean(rms)) if rms else float("nan"),
            "n": n, "n_matched": len(rms), "n_invalid": len(reasons), "reasons": reasons}
