"""The shipped model against the random baseline: validity, uniqueness, novelty, stability, S.U.N.

    python benchmarks/bench_baseline.py                       # 1,000 unconditional samples each
    python benchmarks/bench_baseline.py --n 200 --relax-n 20  # quicker

Samples ``--n`` structures from the shipped model (unconditional, seed 0, default steps), makes
one random structure of the same composition per sample
(:func:`crystal_lab.evaluate.random_baseline`:
uniform positions in a cell of the training set's volume per atom), and evaluates both with
:func:`crystal_lab.evaluate.summarize` against the shipped CHGNet table of all of MP-20 (novelty
against MP-20 val, the training data). Stability uses CHGNet single points (``relax=False``) on
all structures; ``--relax-n`` structures of each set are also evaluated with the bounded relaxation
(100 FIRE steps). Samples are cached in ``--work`` so a rerun only evaluates. Writes
``benchmarks/results/baseline.json``.
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from _results import save_json

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("n", "validity", "structural_validity", "compositional_validity", "uniqueness",
        "novelty", "n_evaluated", "stability", "n_stable", "n_stable_uncertain",
        "n_incomplete_reference", "sun", "n_sun", "n_sun_uncertain")


def samples(n: int, work: Path, seed: int) -> list:
    from ase.io import read, write

    path = work / f"samples_{n}_seed{seed}.extxyz"
    if path.exists():
        return read(path, index=":")
    from crystal_lab import load_model

    model = load_model()
    t0 = time.perf_counter()
    out = model.sample(None, n_samples=n, seed=seed)
    print(f"sampled {n} in {time.perf_counter() - t0:.0f} s", flush=True)
    work.mkdir(parents=True, exist_ok=True)
    write(path, out)
    return out


def rates(summary) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.rates.items()
            if k in KEYS}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--relax-n", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="runs/baseline")
    p.add_argument("--out", default=str(RESULTS / "baseline.json"))
    args = p.parse_args(argv)

    from crystal_lab.evaluate import random_baseline, summarize

    model_samples = samples(args.n, Path(args.work), args.seed)
    baseline = random_baseline(model_samples, seed=args.seed)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, shared 2-core machine",
              "what": "unconditional samples of the shipped model vs one random structure of the "
                      "same composition each; hull: CHGNet table of MP-20 val+test; novelty vs "
                      "MP-20 val", "n": args.n, "rows": {}}
    for label, batch in (("model", model_samples), ("random baseline", baseline)):
        t0 = time.perf_counter()
        s = summarize(batch, relax=False)
        result["rows"][f"{label}, single points"] = {**rates(s),
                                                     "seconds": round(time.perf_counter() - t0)}
        print(label, "single points:", s.text(), sep="\n", flush=True)
        if args.relax_n:
            t0 = time.perf_counter()
            s = summarize(batch[: args.relax_n], relax=True)
            result["rows"][f"{label}, relaxed (<=100 FIRE steps), first {args.relax_n}"] = {
                **rates(s), "seconds": round(time.perf_counter() - t0)}
            print(label, f"relaxed, first {args.relax_n}:", s.text(), sep="\n", flush=True)
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
