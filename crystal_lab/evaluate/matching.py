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

from ..structures import as_list, is_single, reduced_formula, to_structure
from .uniqueness import default_matcher, reference_index


@dataclass(frozen=True)
class Match:
    """Result for one structure: ``matched``, normalised ``rms`` (None when unmatched) and the
    index of the matching target in the reference list (None for a single target or no match)."""

    matched: bool
    rms: float | None = None
    reference_index: int | None = None

    def __bool__(self) -> bool:
        return self.matched


def rms_distance(structure, target, matcher=None) -> float | None:
    """Normalised RMS distance between two structures, or None when they do not match."""
    matcher = matcher or default_matcher()
    try:
        result = matcher.get_rms_dist(to_structure(structure), to_structure(target))
    except Exception:  # noqa: BLE001 -- a degenerate cell cannot match anything
        return None
    return None if result is None else float(result[0])


def match(structures, target, matcher=None):
    """Match structures to one known ``target`` or to a reference list by formula.

    ``target`` one Atoms/Structure: each structure is compared with it. ``target`` a list: each
    structure is compared with the targets of the same reduced formula and the closest (lowest RMS)
    is reported with its index. Returns a :class:`Match` (one structure) or a list of them.
    """
    matcher = matcher or default_matcher()
    items = as_list(structures)
    out = []
    if is_single(target):
        t = to_structure(target)
        for x in items:
            rms = rms_distance(x, t, matcher)
            out.append(Match(rms is not None, rms))
    else:
        index = reference_index(target if isinstance(target, list) else list(target))
        for x in items:
            s = to_structure(x)
            best = Match(False)
            for j in index.candidates(reduced_formula(x)):
                rms = rms_distance(s, index.structure(j), matcher)
                if rms is not None and (best.rms is None or rms < best.rms):
                    best = Match(True, rms, j)
            out.append(best)
    return out[0] if is_single(structures) else out


def match_rate(predictions: Sequence[Any], targets: Sequence[Any], require_valid: bool = True,
               matcher=None, progress: bool = False) -> dict:
    """DiffCSP's CSP metric for paired lists: ``{"match_rate", "rms_dist", "n", "n_matched"}``.

    Pair i counts as matched when prediction i matches target i; with ``require_valid`` (as in
    DiffCSP) a pair where either structure fails :func:`~crystal_lab.evaluate.validity` is unmatched.
    ``rms_dist`` is the mean normalised RMS over matched pairs (nan when none matched).
    """
    from .validity import validity

    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    matcher = matcher or default_matcher()
    pairs = zip(predictions, targets)
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, total=len(targets), desc="matching", leave=False)
    rms = []
    for pred, gt in pairs:
        if require_valid and not (validity(pred).valid and validity(gt).valid):
            continue
        d = rms_distance(pred, gt, matcher)
        if d is not None:
            rms.append(d)
    n = len(targets)
    return {"match_rate": len(rms) / n if n else float("nan"),
            "rms_dist": float(np.mean(rms)) if rms else float("nan"),
            "n": n, "n_matched": len(rms)}
