"""Training step time: the trainer's batches padded to 20 atoms against atom-count buckets.

    python benchmarks/bench_train.py              # CPU, small: 192x4 at batch 64, 64x3 at batch 32
    python benchmarks/bench_train.py --size gpu   # 384x6 at batch 256 (for a GPU)
    python benchmarks/bench_train.py --compile    # also compiled (minutes to compile on a CPU)

Side by side in one run, on the same data (MP-20 val) and the same weights, each variant timed
over its own batch plan (``training.batches.batches``) with the loop's own step
(``training.loop.train_step``):

* ``padded``: every batch padded to the data set's 20 atoms (the fixed shape the compiled
  trainer used before buckets): a batch of 4-atom crystals pays for 20x20 pairs;
* ``buckets``: every batch drawn from one atom-count bucket (``training.batches.BUCKETS``) and
  padded to that bucket's size, one compiled shape per bucket (the trainer's compiled path now);
* ``trimmed``: size-sorted batches cut to their largest crystal (the eager trainer's path; on
  a GPU under ``torch.compile`` every new shape would compile again);
* ``per_crystal`` (``--per-crystal``): the first trainer, collating per-crystal tensors in Python.

Each gets ms a step and crystals a second; with ``--compile`` (always on CUDA) the padded and
bucketed variants are timed compiled too, after every bucket's shape has been compiled once.
Writes ``benchmarks/results/train.json``. ``scripts/gpu_run.py`` runs the same on a GPU.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def old_step_fn(model, data, plan):
    """One optimiser step the way the trainer did it before this change."""
    from crystal_lab.datasets import CrystalBatch
    from crystal_lab.training.batches import collate

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
            for pe, pm in zip(ema, model.parameters(), strict=True):
                pe.lerp_(pm, 0.001)
        float(losses["loss"])
    return step


def new_step_fn(model, data, plan, widths, device: str, use_compile: bool):
    """The training loop's own step (``crystal_lab.training.loop.train_step``) over ``plan``, each
    batch padded to ``widths[j]``, on a run started as ``train`` starts one."""
    from crystal_lab.training.loop import train_step
    from crystal_lab.training.run import start
    from crystal_lab.training.train_config import TrainConfig

    config = TrainConfig(data=None, batch_size=max(len(b) for b in plan), lr=1e-4, device=device,
                         compile=use_compile, amp=device == "cuda", init="(the benchmark's model)")
    run = start(config, None, model, data, (0, 1, torch.device(device)))
    batches = iter(list(zip([torch.as_tensor(b, device=device) for b in plan], widths,
                            strict=True)) * 100)

    def step():
        idx, width = next(batches)
        train_step(run, idx, width)
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
    """A model: from a weights file (``checkpoint.load_weights``, as ``train(init=...)``) or freshly
    built from a ModelConfig."""
    from crystal_lab.model.checkpoint import load_weights
    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    return (
        CrystalDiffusionModel(copy.deepcopy(init))
        if isinstance(init, ModelConfig)
        else load_weights(init)
    )


def plans(data, batch_size: int, n: int) -> dict:
    """name -> (batches, widths) for each variant, ``n`` timed batches after one of each width."""
    from crystal_lab.training.batches import BUCKETS, batch_width, batches

    sizes, full = data.n.numpy(), int(data.frac.shape[1])
    old = batches(sizes, batch_size, np.random.default_rng(0), drop_last=True)
    new = batches(sizes, batch_size, np.random.default_rng(0), drop_last=True, buckets=BUCKETS)
    out = {"padded": (old, [full] * len(old)),
           "buckets": (new, [batch_width(sizes, b, BUCKETS, full) for b in new]),
           "trimmed": (old, [batch_width(sizes, b, None, 0) for b in old])}
    for name, (plan, widths) in out.items():
        first = {w: i for i, w in reversed(list(enumerate(widths)))}   # one batch of each width
        order = list(first.values()) + list(range(n))
        out[name] = ([plan[i % len(plan)] for i in order], [widths[i % len(plan)] for i in order],
                     len(first))
    return out


def bench_train(init, data, device: str, batch_size: int, n: int, compiled_too: bool = True,
                per_crystal: bool = False) -> dict:
    """ms a step and crystals/s of each variant for the model in ``init`` (a weights file or a
    ModelConfig) on ``data`` (a ``TensorData`` on the CPU), side by side."""
    out = {"batch_size": batch_size}
    model = make(init).to(device).train()
    data.fit_params(model)
    variants = plans(data, batch_size, n)
    out["mean_width"] = {k: float(np.mean(w[v[2]:])) for k, v in variants.items() for w in [v[1]]}
    if per_crystal:
        plan = variants["trimmed"][0]
        out["per_crystal"] = steps_per_s(old_step_fn(model, data, plan), n, device)
    on_device = copy.copy(data).to(device)
    runs = [(k, False) for k in variants] + ([("padded", True),
                                              ("buckets", True)] if compiled_too else [])
    for name, use_compile in runs:
        plan, widths, n_warm = variants[name]
        step = new_step_fn(make(init).to(device).train(), on_device, plan, widths, device,
                           use_compile)
        label = f"{name}_compiled" if use_compile else name
        t0 = time.perf_counter()
        for _ in range(n_warm):   # one batch of each shape: the compiled variants compile here
            step()
        _sync(device)
        out[f"{label}_warmup_s"] = time.perf_counter() - t0
        out[label] = steps_per_s(step, n, device, warm=0)
    for name in [k for k in out if k in {"per_crystal", "padded", "buckets", "trimmed",
                                         "padded_compiled", "buckets_compiled"}]:
        out[f"ms_per_step_{name}"] = 1000 / out[name]
        out[f"crystals_per_s_{name}"] = out[name] * batch_size
    out["speedup_buckets_over_padded"] = out["buckets"] / out["padded"]
    if compiled_too:
        out["speedup_buckets_over_padded_compiled"] = (
            out["buckets_compiled"] / out["padded_compiled"]
        )
    return out


def main(argv=None) -> None:
    import crystal_lab as cl
    from crystal_lab.model.diffusion import ModelConfig, count_parameters
    from crystal_lab.training.batches import TensorData

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--compile", action="store_true", help="also time the compiled loops")
    ap.add_argument("--per-crystal", action="store_true",
                    help="also time the first, per-crystal loop")
    ap.add_argument("--out", default=str(RESULTS / "train.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1) if args.device == "cpu" else None
    mp20 = TensorData.from_atoms(cl.load_dataset("mp_20", "val"), max_atoms=20)
    out = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                      "threads",
           "load_average": os.getloadavg()[0], "torch": torch.__version__, "device": args.device,
           "steps_timed": args.steps, "runs": {}}
    runs = {"cpu": (("192x4, MP-20 val, batch 64", ModelConfig(hidden=192, layers=4), 64),
                    ("notebook 06 size 64x3, MP-20 val, batch 32", ModelConfig(hidden=64, layers=3),
                     32)),
            "gpu": (("384x6 (shipped), MP-20 val, batch 256", ModelConfig(hidden=384, layers=6),
                     256),)}
    for name, config, batch_size in runs[args.size]:
        r = bench_train(config, mp20, args.device, batch_size, args.steps,
                        compiled_too=args.compile or args.device == "cuda",
                        per_crystal=args.per_crystal)
        r["parameters"] = count_parameters(make(config))
        out["runs"][name] = r
        print(name, json.dumps(r, indent=1), flush=True)
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
