"""Score what ``scripts/gpu_run.py`` sampled on a GPU, here on a CPU with pymatgen and SMACT.

    python scripts/score_gpu_run.py RUN_DIR [--name NAME]

Reads ``RUN_DIR/csp.npz`` (one structure for each CSP prompt of ``benchmarks/bench_model.py``:
the same 1,000 MP-20 test targets), ``RUN_DIR/dng.npz`` (unconditional samples) and
``RUN_DIR/run.json``; matches the CSP structures against their targets (``evaluate.match_rate``,
DiffCSP tolerances) and checks the unconditional ones for structural and SMACT validity. Writes
``benchmarks/results/gpu_run_<NAME>.json`` and appends one row to
``benchmarks/results/training_runs.csv`` (every training run, so progress is visible over time).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from ase import Atoms

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
RUNS_CSV = RESULTS / "training_runs.csv"
RUN_COLUMNS = [
    "name",
    "config",
    "init",
    "epochs",
    "steps",
    "minutes",
    "hardware",
    "csp_n",
    "csp_match_rate",
    "csp_rmse",
    "dng_n",
    "structural_validity",
    "smact_validity",
    "notes",
]


def load_structures(path: Path) -> list[Atoms]:
    d = np.load(path)
    return [
        Atoms(
            numbers=d["numbers"][i, :k],
            cell=d["cell"][i],
            scaled_positions=d["frac"][i, :k],
            pbc=True,
        )
        for i, k in enumerate(d["n"])
    ]


def append_run(row: dict) -> None:
    new = not RUNS_CSV.exists()
    with open(RUNS_CSV, "a", newline="") as fh:
        w = csv.DictWriter(fh, RUN_COLUMNS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in RUN_COLUMNS})


def main(argv=None) -> None:
    import crystal_lab as cl
    from crystal_lab.evaluate import match_rate, smact_validity, structural_validity

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--name", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    run = Path(args.run_dir)
    info = json.loads((run / "run.json").read_text())
    card = json.loads((run / "mp20.json").read_text())
    out = {"run": info, "card": card}
    csp = load_structures(run / "csp.npz")
    test = cl.load_dataset("mp_20", "test")
    pick = sorted(np.random.default_rng(args.seed).choice(len(test), size=1000, replace=False))[
        : len(csp)
    ]
    out["csp"] = match_rate(csp, [test[i] for i in pick], progress=True)
    dng = load_structures(run / "dng.npz")
    out["generation"] = {
        "n": len(dng),
        "structural_validity": float(np.mean([v.valid for v in structural_validity(dng)])),
        "compositional_validity": float(np.mean([v.valid for v in smact_validity(dng)])),
    }
    name = args.name or run.name
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"gpu_run_{name}.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    from crystal_lab.model.checkpoint import load_model

    config = load_model(run / "mp20.pt", device="cpu").config
    append_run(
        {
            "name": name,
            "config": f"{config.network.hidden}x{config.network.layers}",
            "init": card.get("warm_start", ""),
            "epochs": info.get("epochs"),
            "steps": info.get("steps"),
            "minutes": round(info.get("train_seconds", 0) / 60, 2),
            "hardware": info.get("device"),
            "csp_n": out["csp"]["n"],
            "csp_match_rate": round(out["csp"]["match_rate"], 4),
            "csp_rmse": round(out["csp"]["rms_dist"], 4),
            "dng_n": len(dng),
            "structural_validity": round(out["generation"]["structural_validity"], 4),
            "smact_validity": round(out["generation"]["compositional_validity"], 4),
            "notes": f"lr {card.get('lr')}, batch {card.get('batch_size')}, "
            f"p_csp {card.get('p_csp')}",
        }
    )
    print(json.dumps({"csp": out["csp"], "generation": out["generation"]}, indent=1))


if __name__ == "__main__":
    main()
