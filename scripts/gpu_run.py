"""One GPU lease: benchmark the trainer, train 384x6 from warm weights, export, sample the
benchmarks.

    pip install -q --no-deps --target /tmp/site build/gpu_carry/ase-*.whl
    PYTHONPATH=/tmp/site:. python scripts/gpu_run.py --data build/gpu_carry --minutes 6 --out $OUT
    PYTHONPATH=. python scripts/gpu_run.py --data build/gpu_carry --out /tmp/dry --dry-run   # on a
    CPU first

Runs on a bare machine that has torch and numpy (the ase wheel travels in ``<data>``; not pymatgen,
CHGNet or Jupyter): only the model core of crystal_lab is imported. ``<data>`` is written by
``scripts/prepare_gpu_run.py`` into a git-ignored folder (``build/gpu_carry``: reference data
never goes into git). In order, everything into ``--out`` (no file above 16 MB):

1. ``bench_train.json``: the training step of the model's size at ``--batch-size``, batches
   padded to 20 atoms against atom-count buckets (and trimmed), eager, in ms a step and crystals
   a second, side by side (``benchmarks/bench_train.py``; ``--bench-compiled`` adds the compiled
   steps, minutes of compiling); the compiled bucketed rate is the training run's own
   (``train_steps_per_s`` in ``run.json``, compiling included), against 16.6 ms a step for the
   padded compiled trainer on an H200 (README);
2. training for ``--minutes`` from ``<data>/init.pt`` with ``crystal_lab.training.loop.train``:
   bucketed
   compiled batches, bf16, the per-layer FiLM conditioning (zero-initialised, so the warm start
   begins exactly at the init weights), the crystal-system and energy conditions dropped half the
   time each (what property classifier-free guidance needs), fresh optimiser, cosine decay; then
   ``mp20.pt`` + ``mp20.json`` (float16 EMA weights with the sha256 sidecar) and ``log.csv``;
3. ``csp.npz``: one structure for each MP-20 test prompt of ``bench_model.py``, and ``dng.npz``:
   unconditional samples, both at default steps, with their timings in ``run.json``. On a CPU
   afterwards ``scripts/score_gpu_run.py`` matches and validates them and
   ``benchmarks/bench_symmetry.py --structures OUT/dng.npz`` gives their crystal systems.

``--dry-run``: the same path at a toy size (hidden 32, 2 layers, 20 training steps, 2 timed bench
steps, 8 CSP targets, 8 samples), on whatever device there is, to check the script before a lease.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from crystal_lab.model.checkpoint import load_model
from crystal_lab.model.checkpoint import save as save_weights
from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig, count_parameters
from crystal_lab.training.loop import TensorData, export, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_train import bench_train

from crystal_lab.model import sampler as _sampler

# this benchmark measures the free model (mp20.pt, no templates), as its results record;
# the templated default is measured by bench_symmetry_large.py
_sampler.SYMMETRIC_BY_DEFAULT = False

MAX_ATOMS = 20


def save_structures(path: Path, atoms_list) -> None:
    n = np.array([len(a) for a in atoms_list])
    k = n.max()
    numbers = np.zeros((len(n), k), np.int16)
    frac = np.zeros((len(n), k, 3), np.float32)
    for i, a in enumerate(atoms_list):
        numbers[i, :n[i]] = a.numbers
        frac[i, :n[i]] = a.get_scaled_positions(wrap=True)
    cells = np.stack([np.asarray(a.cell) for a in atoms_list]).astype(np.float32)
    np.savez_compressed(path, n=n, numbers=numbers, frac=frac, cell=cells)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="build/gpu_carry")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--p-csp", type=float, default=0.5)
    ap.add_argument("--bench-steps", type=int, default=30)
    ap.add_argument("--n-dng", type=int, default=1000)
    ap.add_argument("--n-csp", type=int, default=None, help="first N CSP targets only (a try)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--run-dir", default="/tmp/crystal_lab_run")
    ap.add_argument(
        "--dry-run", action="store_true", help="toy sizes, to check the script on a CPU"
    )
    ap.add_argument(
        "--bench-compiled",
        action="store_true",
        help="also time the compiled padded and bucketed steps (several minutes of compiling)",
    )
    args = ap.parse_args(argv)
    t_all = time.time()
    data_dir, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else \
        ("cpu" if args.device == "auto" else args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    info = {"device": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
            "torch": torch.__version__, "dry_run": args.dry_run}
    data = TensorData.load(data_dir / "train.pt")
    init = data_dir / "init.pt"
    bench_model, batch_size, max_steps = init, args.batch_size, None
    if args.dry_run:
        keep = torch.arange(min(256, len(data.n)))
        data = TensorData(data.frac[keep], data.numbers[keep], data.n[keep], data.lattice[keep],
                          data.system[keep], data.energy[keep])
        tiny = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))
        Path(args.run_dir).mkdir(parents=True, exist_ok=True)
        init = Path(args.run_dir) / "tiny_init.pt"
        save_weights(tiny, init)
        bench_model, batch_size, max_steps = ModelConfig(hidden=32, layers=2), 16, 20
        args.bench_steps, args.n_csp, args.n_dng = 2, 8, 8
    print(f"{len(data.n)} training crystals; device {info['device']}", flush=True)

    if args.bench_steps:
        info["bench_train"] = bench_train(bench_model, data, device, batch_size, args.bench_steps,
                                          compiled_too=args.bench_compiled)
        print("bench_train", json.dumps(info["bench_train"]), flush=True)
        (out / "bench_train.json").write_text(json.dumps(info, indent=1))

    t0 = time.time()
    train(
        tensors=data,
        init=init,
        device=device,
        epochs=10**6,
        max_minutes=args.minutes,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=args.lr,
        cosine=True,
        p_csp=args.p_csp,
        out_dir=args.run_dir,
        save_every_minutes=1e9,
        progress=False,
    )
    info["train_seconds"] = time.time() - t0
    state = torch.load(Path(args.run_dir) / "last.pt", map_location="cpu", weights_only=True)
    info.update(epochs=state["epoch"], steps=state["step"],
                train_steps_per_s=state["step"] / info["train_seconds"])  # compiling included
    print(
        f"trained {info['train_seconds']:.0f} s: {state['step']} steps, {state['epoch']} epochs",
        flush=True,
    )
    init_card = json.loads(init.with_suffix(".json").read_text())
    export(Path(args.run_dir) / "last.pt", out / "mp20.pt", data="MP-20 val",
           hardware=info["device"], warm_start=init_card.get("file"),
           warm_start_steps=init_card.get("steps"), lr=args.lr, batch_size=batch_size,
           p_csp=args.p_csp, minutes=args.minutes, conditioning="FiLM in every layer")
    (out / "log.csv").write_bytes((Path(args.run_dir) / "log.csv").read_bytes())

    model = load_model(out / "mp20.pt", device=device)
    info["parameters"] = count_parameters(model)
    targets = json.loads((data_dir / "targets.json").read_text())
    targets = {k: v[:args.n_csp] for k, v in targets.items()}
    t0 = time.time()
    preds = model.sample_many(
        targets["prompts"], n_atoms=targets["n_atoms"], seed=0, batch_size=500, progress=False
    )
    info["csp_seconds"] = time.time() - t0
    save_structures(out / "csp.npz", preds)
    t0 = time.time()
    dng = model.sample(None, n_samples=args.n_dng, seed=0, batch_size=500, progress=False)
    info["dng_seconds"] = time.time() - t0
    save_structures(out / "dng.npz", dng)
    info["total_seconds"] = time.time() - t_all
    (out / "run.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: v for k, v in info.items() if k != "bench_train"}), flush=True)


if __name__ == "__main__":
    main()
