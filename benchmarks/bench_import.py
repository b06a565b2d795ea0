"""Benchmark how long ``import crystal_lab`` (and the CLI's modules) take in a fresh interpreter.

    python benchmarks/bench_import.py            # 5 fresh interpreters a module

The package imports torch, pymatgen, ASE, plotly ... only when first used, so ``crystal-lab
--help`` and ``import crystal_lab`` stay fast; ``tests/test_packaging.py`` checks that no heavy
module loads on import, and this script prints the time it takes (the aim: well under 1 s),
beside ``import ase`` as a yardstick of one heavy import. Every number is measured in this run.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = ("crystal_lab", "crystal_lab.cli", "crystal_lab.workspace", "ase")


def import_seconds(module: str) -> tuple[float, float]:
    """(seconds inside the interpreter for the import, wall seconds for the whole process)."""
    code = (f"import time\nt = time.perf_counter()\nimport {module}\n"
            "print(time.perf_counter() - t)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    return float(out.stdout), time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    out = {}
    for module in MODULES:
        runs = [import_seconds(module) for _ in range(args.repeat)]
        out[module] = {"import_s_median": statistics.median(r[0] for r in runs),
                       "process_s_median": statistics.median(r[1] for r in runs)}
        print(
            f"import {module:24s} {out[module]['import_s_median']:.3f} s "
            f"(whole python -c: {out[module]['process_s_median']:.2f} s), median of {args.repeat}",
            flush=True,
        )
    return out


if __name__ == "__main__":
    main()
