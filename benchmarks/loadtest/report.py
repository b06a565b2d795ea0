"""Merge the load test's result files into one figure and print their tables (docs/deploy.md).

python benchmarks/loadtest/report.py benchmarks/results/loadtest*.json --plot assets/loadtest.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import markdown_table, plot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="JSON files written by run.py")
    parser.add_argument("--plot", default="assets/loadtest.png")
    args = parser.parse_args(argv)
    rows, cores = [], 2
    for path in args.results:
        data = json.loads(Path(path).read_text())
        cores = data["meta"]["cores"]
        phases = [p for p in ("kernel", "setup", "generate", "evaluate", "chgnet")
                  if any(f"{p}_median_s" in r for r in data["rows"])]
        print(f"\n{path} ({data['meta']['date']}, {cores} cores, load average at start "
              f"{data['meta']['load_avg_at_start'][0]:.1f}, {data['meta']['wall_s']:.0f} s"
              + (f", skipped {data['meta']['skipped']}" if data["meta"]["skipped"] else "") + ")")
        print(markdown_table(data["rows"], phases))
        rows += data["rows"]
    rows.sort(key=lambda r: (r["threads"] != "1", r["N"]))  # the default (1 thread) first
    plot(rows, Path(args.plot), cores)
    print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
