"""Pack what ``scripts/gpu_run.py`` needs into one folder that can travel to a bare GPU machine.

    python scripts/prepare_gpu_run.py --out .gpu --init ../shared/checkpoints/mp20-h384-l6.pt

Writes ``train.pt`` (MP-20 val as padded tensors with crystal-system and formation-energy labels:
a :class:`crystal_lab.training.loop.TensorData`), ``targets.json`` (the CSP prompts of
``benchmarks/bench_model.py``: the same 1,000 MP-20 test structures), a copy of the init weights,
and the wheel of ASE (the one package the core needs beyond torch and numpy). The folder holds
reference data: keep it git-ignored (``.git/info/exclude``) and never commit it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".gpu")
    ap.add_argument("--init", default="../shared/checkpoints/mp20-h384-l6.pt")
    ap.add_argument("--n-csp", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import crystal_lab as cl
    from crystal_lab.training.loop import TensorData

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_model import formula_prompt

    TensorData.from_atoms(cl.load_dataset("mp_20", "val"), max_atoms=20).save(out / "train.pt")
    test = cl.load_dataset("mp_20", "test")
    pick = sorted(
        np.random.default_rng(args.seed).choice(len(test), size=args.n_csp, replace=False)
    )
    targets = {"index": [int(i) for i in pick], "prompts": [formula_prompt(test[i]) for i in pick],
               "n_atoms": [len(test[i]) for i in pick]}
    (out / "targets.json").write_text(json.dumps(targets))
    for f in (Path(args.init), Path(args.init).with_suffix(".json")):
        shutil.copy(f, out / ("init" + f.suffix))
    import ase

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(out),
            f"ase=={ase.__version__}",
        ],
        check=True,
    )
    print(
        f"wrote {out}: "
        + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in sorted(out.iterdir()))
    )


if __name__ == "__main__":
    main()
