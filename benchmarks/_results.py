"""What the benchmark scripts share: saving a result as JSON, and pinning the free model.

The scripts run as ``python benchmarks/bench_*.py``, so this folder is on ``sys.path`` and they
import it as ``from _results import save_json``.
"""
from __future__ import annotations

import json
from pathlib import Path


def save_json(result: dict, path) -> Path:
    """Write ``result`` to ``path`` as JSON (indent 1), making its folder; print and return
    where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"saved {out}")
    return out


def free_model_only() -> None:
    """Make ``model.sample`` run the free model (mp20.pt, no templates) when no group is asked:
    for the benchmarks whose results record the free model, so a rerun after the symmetric default
    (``sampler.SYMMETRIC_BY_DEFAULT``) measures what their labels say. The templated default is
    measured by bench_symmetry_large.py."""
    from crystal_lab.model import sampler

    sampler.SYMMETRIC_BY_DEFAULT = False
