"""Is a constrained (``--symmetric``) fine-tune better than the shipped weights? Side by side.

    python benchmarks/bench_finetune.py runs/sym-ft-val/last.pt --n 100

Both models sample the same MP-20 test targets with the same seeds, through the same templated
sampler: CSP free (P1, the default mode), with each target's true template (the oracle: what the
network adds once the template is right) and with the retrieved one, one sample a target,
default steps. The run's EMA weights are exported to a temporary file first
(``training.loop.export``), exactly as they would be shipped. Weights are shipped only if this
says they are better (issue 27). "shipped" is ``mp20.pt``'s network for every row (the model's
own constrained fine-tune, ``mp20_symmetric.pt``, switched off), so a candidate is compared with
the free network it started from.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch
from _results import save_json
from bench_symmetry_sampling import csp_row, retrieved

from crystal_lab.datasets import load_dataset
from crystal_lab.model.checkpoint import load_model
from crystal_lab.symmetry.templates import template_of
from crystal_lab.training.loop import export

OUT = Path(__file__).parent / "results" / "finetune.json"


def rows_for(weights: str, targets, templates: dict, steps, seed) -> dict:
    model = load_model(weights, device="cpu")
    model.symmetric_net = None   # "shipped": mp20.pt's network for every row, templated or not
    steps = steps or model.config.sampler.default_steps
    return {mode: csp_row(model, targets, tpl, steps, seed) for mode, tpl in templates.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="the fine-tune's last.pt")
    ap.add_argument("--n", type=int, default=100, help="MP-20 test targets")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--modes", default="free,oracle,retrieved",
                    help="which rows (free: P1, which the shipped model samples with mp20.pt)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    targets = load_dataset("mp_20", "test", limit=args.n, seed=args.seed)
    makers = {"free": lambda: [None] * len(targets),
              "oracle": lambda: [template_of(t) for t in targets],
              "retrieved": lambda: retrieved(targets, args.seed)}
    templates = {mode: makers[mode]() for mode in args.modes.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        tuned = Path(tmp) / "tuned.pt"
        digest = export(args.run, tuned)
        result = {
            "n_targets": len(targets), "steps": args.steps or "default", "seed": args.seed,
            "threads": 1, "machine": platform.machine(), "run": args.run,
            "tuned_sha256": digest,
            "shipped": rows_for(None, targets, templates, args.steps, args.seed),
            "tuned": rows_for(tuned, targets, templates, args.steps, args.seed),
        }
    for mode in templates:
        print(f"{mode:10s} shipped {result['shipped'][mode]['match_rate']:.3f}   "
              f"tuned {result['tuned'][mode]['match_rate']:.3f}")
    result["command"] = "python benchmarks/bench_finetune.py " + " ".join(argv or [])
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
