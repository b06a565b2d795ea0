"""How long does each evaluation metric take for 100 and 1,000 MP-20-size structures?

Structures: a random sample of MP-20 ``test`` (seed 0; 1-20 atoms, mean ~10), read through
``crystal_lab.datasets.load_dataset``; the novelty / hull reference is MP-20 ``val`` (the training
data). Prints a table and saves JSON under ``benchmarks/results/``.

    CRYSTAL_LAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py
    python benchmarks/bench_metrics.py --sizes 100 --chgnet-sizes 100 --relax-n 5   # quicker

CHGNet relaxations and E_hull are timed on a few structures only (``--relax-n``); the table gives
the time per structure. The competing phases come from the shipped CHGNet table (no CHGNet runs
for them).

First evaluation (``--first-eval``, also run by default): ``summarize()`` of 10 generated
structures without relaxation (CHGNet single points), in a fresh Python process (imports
included) and again warm in the same process on 10 other structures, and ``summarize([])``;
measured side by side for the new path (this checkout) and the old path (the code at commit
``--old``, before the shipped table: it parsed the 9,047 MP-20 val CIFs and computed CHGNet
energies of the reference phases in every kernel). Each path runs in its own subprocess.

    python benchmarks/bench_metrics.py --first-eval-only     # just the side-by-side timings
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

from _results import save_json

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


OLD_COMMIT = "d2fe80f"  # the evaluate package before the shipped reference table

FIRST_EVAL = r"""
import json, sys, time
t0 = time.perf_counter()
from ase.io import read
from crystal_lab.evaluate import summarize
t_import = time.perf_counter() - t0
batch = read(sys.argv[1], index=":")
t1 = time.perf_counter(); summarize([], progress=False); t_empty = time.perf_counter() - t1
t1 = time.perf_counter(); first = summarize(batch[:10], relax=False, progress=False)
t_first = time.perf_counter() - t1
t1 = time.perf_counter(); summarize(batch[10:20], relax=False, progress=False)
t_warm = time.perf_counter() - t1
print(json.dumps({"import_s": t_import, "empty_s": t_empty, "first_10_s": t_first,
                  "fresh_total_s": time.perf_counter() - t0 - t_warm, "warm_10_s": t_warm,
                  "novelty": first.rates["novelty"], "stability": first.rates["stability"]}))
"""


def generated_structures(path: Path, n: int = 20) -> Path:
    """``n`` unconditional samples of the shipped model (seed 0), cached as extxyz."""
    from ase.io import read, write

    cached = Path("runs/baseline/samples_1000_seed0.extxyz")
    if cached.exists():
        write(path, read(cached, index=f":{n}"))
        return path
    from crystal_lab import load_model

    write(path, load_model().sample(None, n_samples=n, seed=0, progress=False))
    return path


def first_evaluation(old_commit: str, timeout: int = 1800) -> dict:
    """Fresh and warm ``summarize()`` timings, new path and old path, each in a subprocess."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp())
    samples = generated_structures(work / "generated.extxyz")
    old = work / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", old_commit, "crystal_lab"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    out = {}
    for label, path in (("new (shipped table and index)", root), (f"old ({old_commit})", old)):
        env = {**os.environ, "PYTHONPATH": str(path), "PYTHONWARNINGS": "ignore"}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", FIRST_EVAL, str(samples)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=work,
        )
        if proc.returncode:
            out[label] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        out[label] = {k: round(v, 2) if isinstance(v, float) else v
                      for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
        out[label]["process_s"] = round(time.perf_counter() - t0, 1)
        print(f"{label:<34} " + "  ".join(f"{k} {v}" for k, v in out[label].items()), flush=True)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--chgnet-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--relax-n", type=int, default=10,
                        help="structures for the relax / E_hull timings (slow)")
    parser.add_argument("--out", default=str(RESULTS / "bench_metrics.json"))
    parser.add_argument("--old", default=OLD_COMMIT, help="commit of the old path")
    parser.add_argument("--first-eval-only", action="store_true")
    parser.add_argument("--no-first-eval", action="store_true")
    args = parser.parse_args(argv)
    first_eval = None if args.no_first_eval else first_evaluation(args.old)
    if args.first_eval_only:
        save_json({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "machine": "shared 2-core machine, other jobs running",
                   "first_evaluation": first_eval},
                  Path(args.out).with_name("first_evaluation.json"))
        return first_eval

    import numpy as np

    from crystal_lab import evaluate as ev
    from crystal_lab.datasets import load_dataset

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
    record("load mp_20 val (explicit reference list)", len(reference), t,
           "only when passed explicitly; the default index needs no CIFs")
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
        record("novelty vs mp_20 val (list)", n, t, "reference index built on first call"
               if n == args.sizes[0] else "")
        _, t = timed(ev.novelty, batch)
        record("novelty vs mp_20 val (shipped index)", n, t)
        perturbed = []
        for a in batch:
            b = a.copy()
            b.positions += rng.normal(scale=0.05, size=b.positions.shape)
            perturbed.append(b)
        _, t = timed(ev.match_rate, perturbed, batch)
        record("match_rate (paired, DiffCSP)", n, t)
        summary, t = timed(ev.summarize, batch, stability=False, progress=False)
        record("summarize without CHGNet", n, t, f"valid {summary.rates['validity']:.3f}, "
               f"unique {summary.rates['uniqueness']:.3f}, novel {summary.rates['novelty']:.3f}",
               rates={k: v for k, v in summary.rates.items() if isinstance(v, (int, float))})

    ev.get_chgnet()  # load once, outside the timings
    for n in args.chgnet_sizes:
        _, t = timed(ev.chgnet_energy, sample[:n], progress=False)
        record("CHGNet energy (no relax)", n, t, f"peak RSS {peak_rss_mb():.0f} MB")

    chgnet_module = importlib.import_module("crystal_lab.evaluate.chgnet")
    hull_module = importlib.import_module("crystal_lab.evaluate.hull")

    def cold() -> None:  # forget relaxations and hulls so that every timing starts from scratch
        chgnet_module._RELAX_CACHE.clear()
        hull_module._HULLS.clear()

    few = sample[: args.relax_n]
    cold()
    _, t = timed(ev.relax, few, steps=100, progress=False)
    record("CHGNet relax (FIRE, <=100 steps)", len(few), t)
    cold()
    _, t = timed(ev.e_above_hull, few, relax=False, progress=False)
    record("E_hull, unrelaxed (CHGNet energies)", len(few), t,
           "competing phases from the shipped table")
    cold()
    _, t = timed(ev.e_above_hull, few, relax=True, progress=False)
    record("E_hull, relaxed (<=100 steps)", len(few), t,
           "relaxes the structures only; phases from the table")
    print(f"peak RSS {peak_rss_mb():.0f} MB")

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpus": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "note": "shared 2-core machine; a model was training in the background"},
        "data": "MP-20 test sample (seed 0); reference MP-20 val",
        "peak_rss_mb": round(peak_rss_mb()),
        "first_evaluation": first_eval,
        "rows": rows,
    }
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
