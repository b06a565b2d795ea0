"""How long does each evaluation metric take for 100 and 1,000 MP-20-size structures?

Structures: a random sample of MP-20 ``test`` (seed 0; 1-20 atoms, mean ~10), read through
``crystal_lab.data.load_dataset``; the novelty / hull reference is MP-20 ``val`` (the training
data). Prints a table and saves JSON under ``benchmarks/results/``.

    CRYSTAL_LAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py
    python benchmarks/bench_metrics.py --sizes 100 --chgnet-sizes 100 --relax-n 5   # quicker

CHGNet relaxations and E_hull (which relaxes every competing phase of each chemical system too)
are timed on a few structures only (``--relax-n``); the table gives the time per structure.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--chgnet-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--relax-n", type=int, default=10,
                        help="structures for the relax / E_hull timings (slow)")
    parser.add_argument("--out", default=str(RESULTS / "bench_metrics.json"))
    args = parser.parse_args(argv)

    import numpy as np

    from crystal_lab import evaluate as ev
    from crystal_lab.data import load_dataset

    rows: list[dict] = []

    def record(metric: str, n: int, seconds: float, note: str = "", **extra) -> None:
        row = {"metric": metric, "n": n, "seconds": round(seconds, 3),
               "ms_per_structure": round(1000 * seconds / max(n, 1), 2), "note": note, **extra}
        rows.append(row)
        print(f"{metric:<34} n={n:<5} {seconds:9.2f} s  {row['ms_per_structure']:9.2f} ms/structure"
              f"  {note}", flush=True)

    n_max = max(args.sizes + args.chgnet_sizes + [args.relax_n])
    sample, t = timed(load_dataset, "mp_20", "test", limit=n_max, seed=0)
    record("load mp_20 test sample", len(sample), t)
    reference, t = timed(load_dataset, "mp_20", "val")
    record("load mp_20 val (reference)", len(reference), t, "once per session")
    print(f"mean atoms per structure: {np.mean([len(a) for a in sample]):.1f}")

    rng = np.random.default_rng(0)
    for n in args.sizes:
        batch = sample[:n]
        _, t = timed(ev.structural_validity, batch)
        record("structural validity (CDVAE)", n, t)
        _, t = timed(ev.smact_validity, batch)
        record("SMACT validity (CDVAE)", n, t, "cold lru cache" if n == args.sizes[0] else
               "lru cache warm for the first rows")
        _, t = timed(ev.uniqueness, batch)
        record("uniqueness (StructureMatcher)", n, t)
        # a batch with many duplicates: the first half of the batch, twice
        doubled = batch[: n // 2] + [a.copy() for a in batch[: n // 2]]
        _, t = timed(ev.uniqueness, doubled)
        record("uniqueness, half duplicates", n, t)
        _, t = timed(ev.novelty, batch, reference)
        record("novelty vs mp_20 val", n, t, "reference index built on first call"
               if n == args.sizes[0] else "")
        perturbed = []
        for a in batch:
            b = a.copy()
            b.positions += rng.normal(scale=0.05, size=b.positions.shape)
            perturbed.append(b)
        _, t = timed(ev.match_rate, perturbed, batch)
        record("match_rate (paired, DiffCSP)", n, t)
        summary, t = timed(ev.summarize, batch, reference=reference, stability=False,
                           progress=False)
        record("summarize without CHGNet", n, t, f"valid {summary.rates['validity']:.3f}, "
               f"unique {summary.rates['uniqueness']:.3f}, novel {summary.rates['novelty']:.3f}",
               rates={k: v for k, v in summary.rates.items() if isinstance(v, (int, float))})

    ev.get_chgnet()  # load once, outside the timings
    for n in args.chgnet_sizes:
        _, t = timed(ev.chgnet_energy, sample[:n], progress=False)
        record("CHGNet energy (no relax)", n, t, f"peak RSS {peak_rss_mb():.0f} MB")

    stability_module = importlib.import_module("crystal_lab.evaluate.stability")

    def cold() -> None:  # forget relaxations and hulls so that every timing starts from scratch
        stability_module._RELAX_CACHE.clear()
        stability_module._HULLS.clear()

    few = sample[: args.relax_n]
    cold()
    _, t = timed(ev.relax, few, steps=100, progress=False)
    record("CHGNet relax (FIRE, <=100 steps)", len(few), t)
    cold()
    _, t = timed(ev.e_above_hull, few, reference=reference, relax=False, progress=False)
    record("E_hull, unrelaxed (CHGNet energies)", len(few), t,
           "includes the competing phases of each system")
    cold()
    _, t = timed(ev.e_above_hull, few, reference=reference, relax=True, progress=False)
    record("E_hull, relaxed (<=100 steps)", len(few), t,
           "relaxes structures and all competing phases")
    print(f"peak RSS {peak_rss_mb():.0f} MB")

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpus": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "note": "shared 2-core machine; a model was training in the background"},
        "data": "MP-20 test sample (seed 0); reference MP-20 val",
        "peak_rss_mb": round(peak_rss_mb()),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"saved {out}")
    return result


if __name__ == "__main__":
    main()
