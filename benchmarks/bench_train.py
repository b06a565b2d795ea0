"""Optimiser steps per second of the trainer: the old per-crystal loop against the new one.

    python benchmarks/bench_train.py              # CPU: 192x4 and 384x6 at batch 256, notebook 06's size
    python benchmarks/bench_train.py --quick      # fewer steps

Side by side in one run, on the same data (MP-20 val), the same batches (``train.batches``:
shuffled, grouped by size) and the same weights:

* ``old_loop``: per-crystal tensors collated in Python on every step, the lattice parameters
  by a float64 eigendecomposition of every lattice on every step, the EMA as a Python loop over
  the parameters, the loss read back every step (what ``crystal_lab.train`` did before);
* ``new_loop_eager``: the training set as padded tensors resident on the device, batches drawn
  by index, clean lattice parameters computed once, a fused multi-tensor EMA, no read-back
  (``crystal_lab.train.train``'s step); on CUDA with bfloat16 autocast;
* ``new_loop_compiled`` (``--compile``, and always on CUDA): the same under ``torch.compile``,
  padded to fixed shapes; its first step, which compiles, is reported apart.

Writes ``benchmarks/results/train.json``. ``scripts/gpu_run.py`` runs the same measurement on a GPU.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def old_step_fn(model, data, plan, device: str):
    """One optimiser step the way the trainer did it before this change."""
    from crystal_lab.data import CrystalBatch
    from crystal_lab.train import collate

    items = {}
    for i in np.concatenate(plan):
        k = int(data.n[i])
        items[i] = CrystalBatch(data.lattice[i:i + 1].float(), data.frac[i, :k].cpu(),
                                data.numbers[i, :k].cpu(), torch.zeros(k, dtype=torch.long))
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = iter(plan * 100)

    def step():
        losses = model.loss(collate([items[i] for i in next(batches)]))
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema, model.parameters()):
                pe.lerp_(pm, 0.001)
        float(losses["loss"])
    return step


def new_step_fn(model, data, plan, device: str, use_compile: bool):
    """``crystal_lab.train.train``'s step."""
    from crystal_lab.train import compiled

    fn = compiled(model.loss_padded) if use_compile else model.loss_padded
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **({"fused": True} if device == "cuda" else {}))
    params, ema = list(model.parameters()), [p.detach().clone() for p in model.parameters()]
    batches = iter([torch.as_tensor(b, device=device) for b in plan] * 100)

    def step():
        frac, numbers, mask, x0, system, energy = data.batch(next(batches), trim=not use_compile)
        losses = fn(frac, numbers, mask, x0, system, energy, amp=device == "cuda")
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, params, 0.001)
    return step


def steps_per_s(step, n: int, device: str, warm: int = 2) -> float:
    for _ in range(warm):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    _sync(device)
    return n / (time.perf_counter() - t0)


def make(init):
    """A model: from a weights file (``train.load_init``) or freshly built from a ModelConfig."""
    from crystal_lab.model import CrystalDiffusionModel, ModelConfig
    from crystal_lab.train import load_init

    return CrystalDiffusionModel(copy.deepcopy(init)) if isinstance(init, ModelConfig) else load_init(init)


def bench_train(init, data, device: str, batch_size: int, n: int, compiled_too: bool = True) -> dict:
    """Steps/s of the old and new loops for the model in ``init`` (a weights file or a ModelConfig),
    on ``data`` (a ``TensorData`` on the CPU), side by side."""
    from crystal_lab.train import batches

    rng = np.random.default_rng(0)
    plan = batches(data.n.numpy(), batch_size, rng, drop_last=True)[: n + 4]
    out = {}
    model = make(init).to(device).train()
    data.fit_params(model)
    out["old_loop"] = steps_per_s(old_step_fn(model, data, plan, device), n, device)
    on_device = copy.copy(data).to(device)
    variants = [("new_loop_eager", False)] + ([("new_loop_compiled", True)] if compiled_too else [])
    for name, use_compile in variants:
        step = new_step_fn(make(init).to(device).train(), on_device, plan, device, use_compile)
        t0 = time.perf_counter()
        step()   # the first call compiles
        _sync(device)
        out[f"{name}_first_step_s"] = time.perf_counter() - t0
        out[name] = steps_per_s(step, n, device)
    for name, _ in [("old_loop", None)] + variants:
        out[f"ms_per_step_{name}"] = 1000 / out[name]
        out[f"speedup_{name}"] = out[name] / out["old_loop"]
    return out


def main(argv=None) -> None:
    import crystal_lab as cl
    from crystal_lab.model import ModelConfig, count_parameters
    from crystal_lab.train import TensorData

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true", help="also time the compiled loop (minutes to compile on a CPU)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps = 3
    mp20 = TensorData.from_atoms(cl.load_dataset("mp_20", "val"), max_atoms=20)
    perov = TensorData.from_atoms(cl.load_dataset("perov_5", "val", limit=2000), max_atoms=20)
    out = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
           "torch": torch.__version__, "device": args.device, "steps_timed": args.steps, "runs": {}}
    runs = (("previous shipped size 192x4, MP-20, batch 256", ModelConfig(hidden=192, layers=4), mp20, 256),
            ("384x6 (shipped now), MP-20, batch 256", ModelConfig(hidden=384, layers=6), mp20, 256),
            ("notebook 06 workshop size 64x3, perov-5, batch 32", ModelConfig(hidden=64, layers=3), perov, 32))
    for name, config, data, batch_size in runs:
        r = bench_train(config, data, args.device, batch_size, args.steps,
                        compiled_too=args.compile or args.device == "cuda")
        r["parameters"] = count_parameters(make(config))
        out["runs"][name] = r
        print(name, json.dumps(r, indent=1), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
