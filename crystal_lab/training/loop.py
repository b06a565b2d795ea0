"""Training: the CDVAE CSVs in, a checkpoint out. One loop, CPU or CUDA, resumable.

    from crystal_lab.training.loop import train
    model = train(data="mp_20", split="val", epochs=10, out_dir="runs/mp20")

Every ``save_every_minutes`` minutes, at the end, and when the process gets SIGTERM or SIGINT
(a Binder/JupyterHub cull, Ctrl-C, a notebook's interrupt) it writes ``out_dir/last.pt`` (model,
EMA weights, optimiser, epoch, step, RNG state) and appends to ``out_dir/log.csv``;
``resume=out_dir/last.pt`` carries on exactly where it stopped (the log keeps only the rows up to
the checkpoint), so a long run can be done in pieces. One run at a time holds ``out_dir``: a
second run into it is refused while the first is alive, and a new run (no ``resume``) into a
folder that holds an earlier run's ``last.pt`` or ``log.csv`` is refused too (a ``ValueError``
naming both ways out), so no run's work is overwritten. ``progress`` shows one bar for the whole
run (epochs, or the time budget) with the epoch and the loss.

Under ``torchrun --nproc-per-node N`` the loop runs data-parallel (DistributedDataParallel; NCCL
on CUDA, gloo on CPU): ``batch_size`` stays the global batch, each process trains its share of
every batch, and only rank 0 writes the checkpoint and the log.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import math
import signal
import time
from pathlib import Path

import numpy as np
import torch

from ..arguments import MAX_SEED, check_number
from ..datasets import load_dataset
from ..model import checkpoint
from ..model.diffusion import CrystalDiffusionModel, ModelConfig, NetworkConfig
from .batches import BUCKETS, TensorData, batch_width, batches, collate, prepare
from .distributed import Objective, agree_on_stop, all_mean, setup_distributed, shard
from .run_files import (
    OccupiedRunFolder,
    RunLock,
    StopSignals,
    atomic_save,
    read_log,
    refuse_occupied,
    truncate_log,
)
from .run_progress import RunBar


def fit_model_stats(model: CrystalDiffusionModel, data: TensorData) -> None:
    """Lattice standardisation and the distribution of atom counts, from the training data."""
    model.noise.lattice.fit(data.lattice, data.n)
    counts = np.bincount(data.n.numpy(), minlength=model.config.network.max_atoms + 1)
    model.config.data.n_atoms_hist = {int(k): float(v / counts.sum()) for k, v in enumerate(counts) if v > 0}


def lr_at(step: int, lr: float, warmup: int, progress: float | None = None, floor: float = 0.05) -> float:
    """Linear warm-up over ``warmup`` steps, then constant, or (given ``progress`` in [0, 1], the
    fraction of the run done) a cosine decay to ``floor * lr``."""
    scale = min(1.0, (step + 1) / warmup)
    if progress is not None:
        scale *= floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return lr * scale


def load_init(init) -> CrystalDiffusionModel:
    """A model from a weights file (shipped ``.pt`` with its sidecar, or a run's ``last.pt``)."""
    return checkpoint.load_weights(init)


def train(data: str = "mp_20", split: str = "val", epochs: int = 10, device: str = "auto",
          out_dir: str | Path = "runs/model", resume: str | Path | None = None, hidden: int = 128,
          layers: int = 4, batch_size: int | None = None, lr: float | None = None, seed: int = 0,
          max_minutes: float | None = None, ema_decay: float = 0.999, limit: int | None = None,
          structures=None, save_every: float | None = None, progress: bool = True, init: str | Path | None = None,
          tensors: TensorData | None = None, cosine: bool = False, compile: bool | None = None,
          amp: bool | None = None, p_csp: float | None = None, save_every_minutes: float = 10.0,
          buckets: tuple[int, ...] | None = None, max_steps: int | None = None) -> CrystalDiffusionModel:
    """Train (or resume) a model; returns the EMA model. See the module docstring.

    ``structures`` (a list of Atoms) or ``tensors`` (a :class:`TensorData`) replaces
    ``data``/``split``; ``limit`` keeps the first rows; ``max_minutes`` stops cleanly (with a
    checkpoint) after that much wall time. A resumed run keeps its batch size and learning rate
    unless new ones are given. ``init``: start from the weights in that file (any shipped or
    exported model) with a fresh optimiser. ``cosine``: decay the learning rate to 5% over the run
    (over ``max_minutes`` when given, else over ``epochs``). ``save_every_minutes``: the interval
    of the periodic checkpoint (``save_every`` is the same setting's older name). On CUDA, ``amp``
    (bfloat16 autocast) and ``compile`` (``torch.compile``, falling back to eager code where it
    fails) default to on. ``buckets``: the padded atom counts of compiled batches (each shape is
    compiled once; default :data:`BUCKETS`); eager batches are cut to their largest crystal.
    ``max_steps`` stops (with a checkpoint) after that many optimiser steps in all.
    Bad settings (zero or negative sizes, rates or times) raise ``ValueError``.
    """
    if save_every is not None:
        save_every_minutes = save_every
    check_settings(epochs=epochs, hidden=hidden, layers=layers, batch_size=batch_size, lr=lr,
                   max_minutes=max_minutes, save_every_minutes=save_every_minutes, ema_decay=ema_decay,
                   limit=limit, p_csp=p_csp, max_steps=max_steps, seed=seed)
    rank, world, dev, own_group = setup_distributed(device)
    cuda = dev.type == "cuda"
    amp = cuda if amp is None else amp
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out_dir) if rank == 0 else contextlib.nullcontext()
    with lock:
        if not resume:   # a new run never writes over an earlier one's checkpoint and log
            refuse_occupied(out_dir)
        state = read_run_checkpoint(resume) if resume else None
        saved = state.get("hparams", {}) if state else {}
        batch_size = batch_size if batch_size is not None else saved.get("batch_size", 64)
        lr = lr if lr is not None else saved.get("lr", 1e-3)
        if world > 1 and batch_size < world:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world} processes; "
                             "it is the global batch, shared between them")
        if state:
            model = checkpoint.from_dict(state["model"], f"{Path(resume).name} (model)")
            ema = checkpoint.from_dict(state["ema"], f"{Path(resume).name} (EMA)")
        elif init:
            model = load_init(init)
            ema = copy.deepcopy(model)
        else:
            model = CrystalDiffusionModel(ModelConfig(NetworkConfig(hidden=hidden, layers=layers)))
        if tensors is None:
            if structures is None:
                structures = load_dataset(data, split, limit=limit)
            tensors = TensorData.from_atoms(structures, model.config.network.max_atoms)
        if not (state or init):
            fit_model_stats(model, tensors)
            ema = copy.deepcopy(model)
        if p_csp is not None:   # the fraction of crystals trained as CSP (atom types given)
            model.config.training.p_csp = ema.config.training.p_csp = p_csp
        tensors.fit_params(model)
        tensors.to(dev)
        model.to(dev).train()
        ema.to(dev).eval()
        torch.manual_seed(seed + rank)   # each process its own noise draws
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4, **({"fused": True} if cuda else {}))
        epoch, step = 0, 0
        rng = np.random.default_rng(seed)   # the same batch plan in every process
        if state:
            opt.load_state_dict(state["optimizer"])
            epoch, step = state["epoch"], state["step"]
            rng.bit_generator.state = state["rng"]
        compile = cuda if compile is None else compile
        objective = Objective(model)
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            objective = DistributedDataParallel(objective, device_ids=[dev.index] if cuda else None)
        loss_fn = compiled(objective) if compile else objective
        pad = tuple(sorted(buckets or BUCKETS)) if compile else None
        if pad and pad[-1] < tensors.frac.shape[1]:
            pad = pad + (int(tensors.frac.shape[1]),)
        sizes = tensors.n.cpu().numpy()
        log_path = out_dir / "log.csv"
        if state and rank == 0:
            truncate_log(log_path, step)
        new_log = not log_path.exists()
        t_start = last_save = time.time()
        first_step = step
        warmup = 500 if not init else 100
        ema_params, model_params = list(ema.parameters()), list(model.parameters())

        def save():
            if rank != 0:
                return
            ckpt = {"model": checkpoint.to_dict(model), "ema": checkpoint.to_dict(ema), "optimizer": opt.state_dict(),
                    "epoch": epoch, "step": step, "rng": rng.bit_generator.state,
                    "hparams": {"batch_size": batch_size, "lr": lr}}
            atomic_save(ckpt, out_dir / "last.pt")

        def progress_of_run() -> float | None:
            if not cosine:
                return None
            if max_minutes is not None:
                return (time.time() - t_start) / (60 * max_minutes)
            return epoch / max(1, epochs)

        show = progress and rank == 0
        why = None   # why the loop stopped early: "budget", "max_steps" or a signal's name
        with StopSignals() as signals, open(log_path, "a", newline="") if rank == 0 else \
                contextlib.nullcontext() as log_fh:
            log = csv.writer(log_fh) if rank == 0 else None
            if new_log and log:
                log.writerow(["epoch", "step", "loss", "coord", "lattice", "types", "lr", "seconds"])
            bar = RunBar(epochs, epoch, max_minutes, show)
            try:
                while epoch < epochs and why is None:
                    plan = batches(sizes, batch_size, rng, drop_last=compile, buckets=pad)
                    plan = [b for b in plan if len(b) >= world]
                    widths = [batch_width(sizes, b, pad, 0 if not compile else tensors.frac.shape[1]) for b in plan]
                    order = torch.as_tensor(np.concatenate(plan), device=dev)
                    bounds = np.cumsum([0] + [len(b) for b in plan])
                    sums = torch.zeros(4, device=dev)
                    n_batches = 0
                    for j in range(len(plan)):
                        for group in opt.param_groups:
                            group["lr"] = lr_at(step - first_step if init else step, lr, warmup, progress_of_run())
                        idx = shard(order[bounds[j]:bounds[j + 1]], rank, world)
                        frac, numbers, mask, x0_lat, system, energy = tensors.batch(idx, width=widths[j])
                        losses = loss_fn(frac, numbers, mask, x0_lat, system, energy, amp=amp)
                        opt.zero_grad(set_to_none=True)
                        try:
                            losses["loss"].backward()
                        except Exception as err:   # a backward graph that fails to compile
                            if loss_fn is objective:
                                raise
                            print(f"torch.compile failed in the backward pass ({str(err).splitlines()[0][:120]}); "
                                  "running eagerly", flush=True)
                            loss_fn = objective
                            opt.zero_grad(set_to_none=True)
                            losses = loss_fn(frac, numbers, mask, x0_lat, system, energy, amp=amp)
                            losses["loss"].backward()
                        torch.nn.utils.clip_grad_norm_(model_params, 1.0, foreach=True)
                        opt.step()
                        step += 1
                        with torch.no_grad():   # the EMA as one fused multi-tensor update
                            torch._foreach_lerp_(ema_params, model_params, 1 - min(ema_decay, (1 + step) / (10 + step)))
                            sums += torch.stack([losses[k].detach().float() for k in LOSS_KEYS])
                        n_batches += 1
                        if show and j % 20 == 0:   # reading a number waits for the GPU: now and then only
                            bar.tick(epoch, float(losses["loss"].detach()))
                        if max_minutes is not None and time.time() - t_start > 60 * max_minutes:
                            why = "budget"
                        if max_steps is not None and step >= max_steps:
                            why = "max_steps"
                        if signals.received is not None:
                            why = signal.Signals(signals.received).name
                        if world > 1:   # every process stops at the same step (checked now and then: it syncs)
                            why = agree_on_stop(why, dev, world) if step % 20 == 0 else None
                        if why is not None:
                            break
                        if time.time() - last_save > 60 * save_every_minutes:
                            save()
                            last_save = time.time()
                    means = (all_mean(sums, world) / max(1, n_batches)).tolist()
                    if why is None:
                        epoch += 1
                        bar.epoch_done(epoch, means[0])
                    if log:
                        log.writerow([epoch, step] + [f"{v:.5f}" for v in means]
                                     + [f"{opt.param_groups[0]['lr']:.2e}", f"{time.time() - t_start:.0f}"])
                        log_fh.flush()
            except BaseException:
                bar.finish(planned=False)
                raise
            # a completed run or a planned stop ends the bar full; a signal does not
            bar.finish(planned=signals.received is None, at_budget=why == "budget")
            save()
        planned = why in ("budget", "max_steps")
        if rank == 0 and why is not None and (progress or not planned):
            reason = (f"the {max_minutes:g}-minute budget" if why == "budget"
                      else f"max_steps={max_steps}" if why == "max_steps" else why)
            print(f"stopped at {reason} after {epoch} epochs ({step} steps); "
                  f"checkpoint saved to {out_dir / 'last.pt'}"
                  + ("" if planned else f" (resume with resume={str(out_dir / 'last.pt')!r})"),
                  flush=True)
    if own_group:
        import torch.distributed as dist

        dist.destroy_process_group()
    if signals.received is not None:   # the run is saved: now let the signal do what it does
        signal.raise_signal(signals.received)
    return ema


LOSS_KEYS = ("loss", "coord", "lattice", "types")


def check_settings(**values) -> None:
    """ValueError (a TypeError too for the wrong type), naming the setting and what is allowed,
    for a nonsense training setting."""
    whole, maybe = {"integer": True, "minimum": 1}, {"allow_none": True}
    rules = {
        "epochs": whole, "hidden": {"integer": True, "minimum": 2, "note": " (and even)"},
        "layers": whole, "batch_size": whole | maybe,
        "limit": whole | maybe | {"note": " (or None for all)"}, "max_steps": whole | maybe,
        "lr": {"above": 0} | maybe, "max_minutes": {"above": 0, "note": " minutes (or None)"} | maybe,
        "save_every_minutes": {"above": 0, "note": " minutes"},
        "ema_decay": {"minimum": 0, "below": 1}, "p_csp": {"minimum": 0, "maximum": 1} | maybe,
        "seed": {"integer": True, "minimum": 0, "maximum": MAX_SEED},
    }
    for name, value in values.items():
        check_number(name, value, **rules[name])
        if name == "hidden" and value % 2:
            raise ValueError(f"hidden must be an even whole number >= 2, got {value!r}")


def compiled(fn):
    """``torch.compile(fn, dynamic=False)``, falling back to ``fn`` itself if compiling fails at the first call
    (no C++ compiler, an unsupported platform or torch build): eager code computes the same."""
    state = {"fn": None}

    def call(*args, **kwargs):
        if state["fn"] is None:
            try:
                fast = torch.compile(fn, dynamic=False)   # one static graph per bucket shape
                out = fast(*args, **kwargs)
                state["fn"] = fast
                return out
            except Exception as err:  # noqa: BLE001 - any compiler failure: run eagerly instead
                print(f"torch.compile failed ({str(err).splitlines()[0][:120]}); running eagerly")
                state["fn"] = fn
        return state["fn"](*args, **kwargs)

    return call


def read_run_checkpoint(path) -> dict:
    """A run's ``last.pt`` (``checkpoint.read_run``), its errors saying they are about ``resume``."""
    if not Path(path).exists():
        raise checkpoint.CheckpointError(f"resume: no checkpoint at {path}")
    try:
        return checkpoint.read_run(path)
    except checkpoint.CheckpointError as err:
        raise checkpoint.CheckpointError(f"resume: {err}") from None


def export(run_checkpoint: str | Path, out: str | Path, **card) -> str:
    """Ship a run's EMA weights: float16, with a sha256 sidecar holding ``card`` (how it was trained)."""
    state = checkpoint.read_run(run_checkpoint)
    ema = checkpoint.from_dict(state["ema"], f"{Path(run_checkpoint).name} (EMA)")
    card = {"epochs": state["epoch"], "steps": state["step"], **card}
    return checkpoint.save(ema, out, half=True, **card)


#: what ``crystal_lab.training.loop`` offers (the data, run-folder and distributed helpers live in
#: ``train_data``, ``run_files`` and ``distributed``; the ones callers use are re-exported here)
__all__ = [
    "BUCKETS",
    "Objective",
    "OccupiedRunFolder",
    "TensorData",
    "atomic_save",
    "batch_width",
    "batches",
    "check_settings",
    "collate",
    "compiled",
    "export",
    "fit_model_stats",
    "load_init",
    "lr_at",
    "prepare",
    "read_log",
    "train",
]
