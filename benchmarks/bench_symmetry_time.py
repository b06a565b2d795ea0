"""Time on the CPU at one thread: ``load_model()`` and three structures of 5 atoms, symmetric
against free, side by side in one run.

    python benchmarks/bench_symmetry_time.py --repeats 5

* ``load_model()``: in ``--loads`` fresh processes (``python -c``), the seconds of
  ``import crystal_lab; load_model()`` once torch is imported (as ``bench_model.py``'s
  ``load_s``, whose process has torch already) and of ``import torch`` before it.
* Three structures of 5 atoms (``model.sample("Ba Ti O", n_atoms=5, n_samples=3)``, default
  steps): free (``space_group=1``) and symmetric (templates of MP-20 val chosen for the chemical
  system, ``sampler.SYMMETRIC_BY_DEFAULT = True``), interleaved ``--repeats`` times after one
  warm-up call each; the first symmetric call of the process (it imports pyxtal and realises the
  template) is reported apart. Median and fastest.

The load average is recorded beside the figures: the machine is shared, and times under load are
only comparable side by side. Writes ``benchmarks/results/symmetry_time.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _results import save_json
from _symbench import command, weights_record

OUT = Path(__file__).parent / "results" / "symmetry_time.json"
LOAD = ("import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
        "import crystal_lab as cl; cl.load_model(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)")


def load_times(n: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    imports, loads = [], []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        imports.append(float(out[-2]))
        loads.append(float(out[-1]))
    return {"load_s_median": float(np.median(loads)), "load_s_min": min(loads),
            "load_s_all": loads, "import_torch_s_median": float(np.median(imports)), "n": n,
            "what": "import crystal_lab + load_model() in a fresh process after import torch "
                    "(timed apart), as bench_model.py's load_s"}


def sample_times(repeats: int, seed: int) -> dict:
    from crystal_lab.model import sampler
    from crystal_lab.model.checkpoint import load_model

    model = load_model()

    def once(symmetric: bool) -> float:
        sampler.SYMMETRIC_BY_DEFAULT = symmetric
        start = time.perf_counter()
        xs = model.sample("Ba Ti O", n_atoms=5, n_samples=3, seed=seed, progress=False,
                          space_group=None if symmetric else 1)
        assert all(len(x) == 5 for x in xs)
        return time.perf_counter() - start

    first_symmetric = once(True)
    once(False)
    times = {"free": [], "symmetric": []}
    for _ in range(repeats):
        for mode in ("free", "symmetric"):
            times[mode].append(once(mode == "symmetric"))
    out = {f"{m}_s_median": float(np.median(t)) for m, t in times.items()}
    out |= {f"{m}_s_min": min(t) for m, t in times.items()}
    out |= {"first_symmetric_call_s": first_symmetric, "repeats": repeats, "all": times}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    result = {**weights_record(),
              "threads": 1, "machine": platform.processor() or platform.machine(),
              "weights": "shipped", "prompt": "Ba Ti O, n_atoms=5, n_samples=3, default steps",
              "load_model": load_times(args.loads),
              "three_of_5_atoms": sample_times(args.repeats, args.seed),
              "load_average_1min": [load_before, os.getloadavg()[0]], "command": command()}
    save_json(result, args.out)
    print(json.dumps({k: v for k, v in result["three_of_5_atoms"].items() if k != "all"}),
          json.dumps(result["load_model"]))


if __name__ == "__main__":
    main()
