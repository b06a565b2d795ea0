"""Benchmark notebook 01's live toy training: how long ``ToyDDPM().fit`` takes at its defaults.

    python benchmarks/bench_toy.py             # notebook defaults: 100 steps, 8000 iterations
    python benchmarks/bench_toy.py --quick     # 1000 iterations, a smoke run

The budget (issue 4) is under 30 s on 2 cores, so a workshop can train live. Wall-clock time is
not asserted in the tests (a busy CI machine measured 35 s once); it is printed here, beside
the same training with torch's default thread count, the setting ``fit`` avoids (it trains on
one thread, see ``crystal_lab.toy.ddpm._one_thread``); that one runs ``--compare-iters`` iterations
only (500), as it can be many times slower on a busy machine: compare the ms per iteration.
Prints one line a setting and writes ``benchmarks/results/toy.json``. Every number is measured
in this run, on this machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from crystal_lab import toy

RESULTS = Path(__file__).parent / "results"
BUDGET_S = 30.0


def timed_fit(n_iters: int, one_thread: bool, seed: int = 0) -> dict:
    data = toy.word("Hi", 3000)
    ddpm = toy.ToyDDPM()
    patch = (contextlib.nullcontext() if one_thread
             else mock.patch.object(toy.ddpm, "_one_thread", contextlib.nullcontext))
    with patch:
        t0 = time.perf_counter()
        losses = ddpm.fit(data, n_iters=n_iters, seed=seed, progress=False)
        seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = ddpm.sample(1500, seed=seed)
    sample_s = time.perf_counter() - t0
    return {"threads": 1 if one_thread else torch.get_num_threads(), "iterations": n_iters,
            "fit_s": seconds, "ms_per_iteration": 1000 * seconds / n_iters,
            "sample_1500_s": sample_s, "final_loss": float(np.mean(losses[-200:])),
            "energy_distance": toy.energy_distance(samples, data)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="1000 iterations instead of 8000")
    ap.add_argument("--compare-iters", type=int, default=500,
                    help="iterations of the run with torch's default thread count")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n_iters = 1000 if args.quick else 8000
    out = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
           "torch": torch.__version__, "budget_s": BUDGET_S, "runs": []}
    for one_thread in (True, False):
        run = timed_fit(n_iters if one_thread else min(n_iters, args.compare_iters), one_thread,
                        args.seed)
        out["runs"].append(run)
        label = (
            "one thread (fit's setting)"
            if one_thread
            else f"{run['threads']} threads (torch default)"
        )
        print(f"{label:32s} fit {run['iterations']} it: {run['fit_s']:6.1f} s "
              f"({run['ms_per_iteration']:.2f} ms/it)  sample 1500: {run['sample_1500_s']:.2f} s  "
              f"energy distance to data: {run['energy_distance']:.4f}", flush=True)
    if not args.quick:
        fit_s = out["runs"][0]["fit_s"]
        print(f"notebook defaults: {fit_s:.1f} s against a budget of {BUDGET_S:.0f} s "
              f"({'within' if fit_s < BUDGET_S else 'OVER'})")
    RESULTS.mkdir(exist_ok=True)
    name = "toy_quick" if args.quick else "toy"
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
