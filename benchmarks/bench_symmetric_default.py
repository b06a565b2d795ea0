"""Should ``space_group=None`` mean the symmetric sampler? Unconditional samples of the shipped
weights, free (``space_group=1``) against templates drawn from MP-20 val (the symmetric mode),
side by side with the same seed: the share that is triclinic (spglib, symprec 0.1) beside the
quality the issue asks to keep: structural and SMACT validity and uniqueness.

    python benchmarks/bench_symmetric_default.py --n 100

Writes ``benchmarks/results/symmetric_default.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import time

from _results import save_json

from crystal_lab.evaluate import smact_validity, structural_validity, uniqueness
from crystal_lab.model import sampler
from crystal_lab.model.checkpoint import load_model
from crystal_lab.structures import space_group


def measure(model, n: int, seed: int, symmetric: bool) -> dict:
    sampler.SYMMETRIC_BY_DEFAULT = symmetric
    start = time.perf_counter()
    kwargs = {} if symmetric else {"space_group": 1}
    xs = model.sample(None, n_samples=n, seed=seed, progress=False, **kwargs)
    seconds = time.perf_counter() - start
    share = lambda flags: sum(bool(f) for f in flags) / n
    return {"triclinic": share((space_group(a)[1] or 0) <= 2 for a in xs),
            "structural": share(v.valid for v in structural_validity(xs)),
            "smact": share(v.valid for v in smact_validity(xs)),
            "unique": uniqueness(xs), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = load_model()
    rows = {"free": measure(model, args.n, args.seed, False),
            "symmetric": measure(model, args.n, args.seed, True)}
    print(f"{'unconditional':<12} {'triclinic':>9} {'struct.':>8} {'SMACT':>7} {'unique':>7} "
          f"{'s':>6}")
    for name, r in rows.items():
        print(f"{name:<12} {r['triclinic']:>9.1%} {r['structural']:>8.1%} {r['smact']:>7.1%} "
              f"{r['unique']:>7.1%} {r['seconds']:>6}")
    save_json({"n_samples": args.n, "seed": args.seed, "steps": "default (50)",
               "weights": "shipped (trained on MP-20 val only; no retraining)", "rows": rows,
               "command": f"python benchmarks/bench_symmetric_default.py --n {args.n}"},
              "benchmarks/results/symmetric_default.json")


if __name__ == "__main__":
    main()
