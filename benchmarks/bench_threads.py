"""Torch threads under load: one sampling call with 1 vs 2 torch threads, quiet and loaded.

The call is the course's first sample: ``model.sample("Ba Ti O", n_atoms=5, n_samples=3)`` with
the shipped model at its default steps. One worker process per thread count loads the model once
and times the call on request; the workers take turns (1, 2, 1, 2, ...) so both see the same
machine. Then the same with ``--busy`` CPU-bound processes (pure-Python spin loops) beside them.
Prints a table and writes benchmarks/results/threads.json.

    OMP_NUM_THREADS=1 python benchmarks/bench_threads.py                 # busy 0 2 4, 3 repeats
    python benchmarks/bench_threads.py --busy 0 4 --repeats 5 --steps 50

"Quiet" means no extra process of this script; on a shared machine other work still runs
beside it: the load average before each condition is recorded with the timings.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import save_json

HERE = Path(__file__).resolve().parent
PROMPT, N_ATOMS, N_SAMPLES = "Ba Ti O", 5, 3

# a worker: sets its torch threads, loads the model, then times one call per line on stdin
# (argv: threads, steps or "default", prompt, n_atoms, n_samples)
_WORKER = r"""
import sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
torch.set_num_interop_threads(1)
import crystal_lab
from crystal_lab.model import sampler
sampler.SYMMETRIC_BY_DEFAULT = False     # the free model (mp20.pt), as the results record
model = crystal_lab.load_model(device="cpu")
prompt = sys.argv[3]
kw = dict(n_atoms=int(sys.argv[4]), n_samples=int(sys.argv[5]), seed=0, progress=False)
if sys.argv[2] != "default":
    kw["steps"] = int(sys.argv[2])
model.sample(prompt, **kw)                      # warm-up: the first call pays one-off costs
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    model.sample(prompt, **kw)
    print(f"{time.perf_counter() - t0:.4f}", flush=True)
"""

_SPIN = "while True:\n    pass\n"


def _start_worker(threads: int, steps: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, str(threads), steps, PROMPT,
                               str(N_ATOMS), str(N_SAMPLES)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = worker.stdout.readline().strip()
    if line != "ready":
        worker.kill()
        raise RuntimeError(f"the {threads}-thread worker did not start (said {line!r})")
    return worker


def _time_once(worker: subprocess.Popen) -> float:
    worker.stdin.write("go\n")
    worker.stdin.flush()
    return float(worker.stdout.readline())


def measure(busy: int, thread_counts: list[int], repeats: int, steps: str) -> dict:
    """Seconds per call for each thread count, with ``busy`` spin processes running."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(busy)]
    workers = {}
    try:
        time.sleep(1.0 if busy else 0.0)   # the spinners are running before anything is timed
        load_before = os.getloadavg()[0]
        workers = {t: _start_worker(t, steps) for t in thread_counts}
        times = {t: [] for t in thread_counts}
        for _ in range(repeats):
            for t in thread_counts:          # taking turns: both see the same machine
                times[t].append(_time_once(workers[t]))
        load_after = os.getloadavg()[0]
    finally:
        for worker in workers.values():
            worker.kill()
            worker.wait()
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    return {"busy_processes": busy, "load_1min_before": round(load_before, 2),
            "load_1min_after": round(load_after, 2),
            "seconds": {str(t): [round(x, 3) for x in v] for t, v in times.items()},
            "median_s": {str(t): round(statistics.median(v), 3) for t, v in times.items()}}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2, 4],
                        help="numbers of busy processes beside the timing (default 0 2 4)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", default="default", help="sampling steps (default: the model's)")
    parser.add_argument("--out", default=str(HERE / "results" / "threads.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1 or any(b < 0 for b in args.busy) or any(t < 1 for t in args.threads):
        parser.error("--repeats and --threads must be >= 1, --busy >= 0")

    rows = []
    for busy in args.busy:
        row = measure(busy, args.threads, args.repeats, args.steps)
        rows.append(row)
        cells = "  ".join(f"{t} thr {row['median_s'][str(t)]:7.2f} s" for t in args.threads)
        print(f"busy {busy}: {cells}   (load {row['load_1min_before']} -> "
              f"{row['load_1min_after']})", flush=True)

    best = {}
    for row in rows:
        medians = row["median_s"]
        best[str(row["busy_processes"])] = int(min(medians, key=medians.get))
    result = {
        "what": f'model.sample("{PROMPT}", n_atoms={N_ATOMS}, n_samples={N_SAMPLES}), '
                f"steps={args.steps}; median of {args.repeats} calls after a warm-up",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "note": "busy = pure-Python spin processes started by this script; other work on the "
                "machine is not controlled (see the load averages)",
        "rows": rows,
        "fastest_threads_by_busy": best,
    }
    print("\n| busy processes | " + " | ".join(f"{t} thread(s), s" for t in args.threads)
          + " | load before |")
    print("|---|" + "---|" * len(args.threads) + "---|")
    for row in rows:
        print(f"| {row['busy_processes']} | "
              + " | ".join(f"{row['median_s'][str(t)]:.2f}" for t in args.threads)
              + f" | {row['load_1min_before']} |")
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
