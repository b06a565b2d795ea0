"""Training: the CDVAE CSVs in, a checkpoint out. One loop, CPU or CUDA, resumable.

    from crystal_lab.training.loop import train
    model = train(data="perov_5", split="val", limit=256, hidden=64, epochs=10, out_dir="runs/p5")
    model = train(resume="runs/p5/last.pt", epochs=20)     # the same run, ten epochs more

A run is one :class:`~crystal_lab.training.train_config.TrainConfig` (``train``'s keywords are its
fields). ``out_dir/last.pt``, written every ``save_every_minutes``, at the end and on SIGTERM or
SIGINT, records it with the models, the optimiser, the place in the epoch under way and every
random state: ``resume=`` restores the whole run and goes on as if it had never stopped (the same
batches, noise, steps and ``log.csv`` rows). A setting given at resume that contradicts the run is
refused; ``epochs`` and ``max_steps`` count the whole run. One run at a time holds ``out_dir``,
and no run writes into a folder holding another. Under ``torchrun --nproc-per-node N`` the loop
runs data-parallel: ``batch_size`` stays the global batch; only rank 0 writes files.
"""
from __future__ import annotations

import contextlib
import math
import signal
import time
import uuid
from pathlib import Path

import torch

from ..model import checkpoint
from ..model.diffusion import CrystalDiffusionModel
from .batches import BUCKETS, TensorData, batch_width, batches
from .distributed import agree_on_stop, all_mean, setup_distributed, shard
from .run import LOSS_KEYS, Run, load_data, run_config, start
from .run_files import (
    RunLock,
    RunLog,
    StopSignals,
    atomic_save,
    claim_folder,
    read_log,
    read_run_checkpoint,
)
from .run_progress import RunBar
from .train_config import TrainConfig, settings_of


def train(config: TrainConfig | None = None, *, resume: str | Path | None = None,
          structures=None, tensors: TensorData | None = None, progress: bool = True,
          **settings) -> CrystalDiffusionModel:
    """Train a new run, or resume one, and return its EMA model (see the module docstring).

    ``settings`` are :class:`TrainConfig`'s fields (or pass a whole ``config``). ``structures``
    (a list of Atoms) or ``tensors`` (a :class:`TensorData`) replace ``data``/``split``/``limit``;
    a resume of such a run needs the same ones again. Bad settings are a ``ValueError``.
    """
    given = settings_of(config, settings)
    if structures is not None or tensors is not None:   # data given in Python, not a data set's
        given.update(data=None, limit=None)
    state = read_run_checkpoint(resume) if resume else None
    cfg, init_model = run_config(given, state, resume)
    rank, world, dev, own_group = setup_distributed(cfg.device)
    out_dir = Path(cfg.out_dir)
    with RunLock(out_dir) if rank == 0 else contextlib.nullcontext():
        run_id = (state or {}).get("run_id") or uuid.uuid4().hex
        if rank == 0:
            claim_folder(out_dir, resume, state, run_id)
        run = start(cfg, state, init_model, load_data(cfg, structures, tensors), (rank, world, dev))
        run.run_id = run_id
        why, received = fit(run, progress)
        report_stop(run, why, progress)
    if own_group:
        torch.distributed.destroy_process_group()
    if received is not None:   # the run is saved: now let the signal do what it does
        signal.raise_signal(received)
    return run.ema


def fit(run: Run, progress: bool) -> tuple[str | None, int | None]:
    """Train epochs until the run's budgets are spent or it is stopped; save; return why it stopped
    early (None, "budget", "max_steps" or a signal's name) and the signal received."""
    cfg, rank = run.config, run.place[0]
    show = progress and rank == 0
    why = "max_steps" if cfg.max_steps is not None and run.step >= cfg.max_steps else None
    partial_at = run.step if run.batch else None   # a part-epoch row the resumed epoch replaces
    log = RunLog(Path(cfg.out_dir) / "log.csv", rank == 0, partial_at=partial_at)
    with StopSignals() as signals, log:
        bar = RunBar(cfg.epochs, run.epoch, cfg.max_minutes, show)
        try:
            while run.epoch < cfg.epochs and why is None:
                why, done = train_epoch(run, signals, bar if show else None)
                if done:
                    run.epoch += 1
                    bar.epoch_done(run.epoch, loss_means(run)[0])
                if done or run.batch:   # a whole epoch, or the part done before a stop
                    lr = run.opt.param_groups[0]["lr"]
                    log.row(run.epoch, run.step, loss_means(run), lr, run.elapsed)
                if done:
                    run.batch, run.epoch_rng = 0, run.rng.bit_generator.state
                    run.sums.zero_()
        except BaseException:
            bar.finish(planned=False)
            raise
        # a completed run or a planned stop ends the bar full; a signal does not
        bar.finish(planned=signals.received is None, at_budget=why == "budget")
        save(run)
    return why, signals.received


def train_epoch(run: Run, signals: StopSignals, bar: RunBar | None) -> tuple[str | None, bool]:
    """The epoch under way, from its next batch on: (why the run stops, or None; whether the epoch
    is done). A stop at its last batch ends the epoch first."""
    cfg, (rank, world, dev) = run.config, run.place
    run.rng.bit_generator.state = run.epoch_rng
    sizes = run.tensors.n.cpu().numpy()
    pad = tuple(sorted(cfg.buckets or BUCKETS)) if run.compile else None
    if pad and pad[-1] < run.tensors.frac.shape[1]:
        pad = pad + (int(run.tensors.frac.shape[1]),)
    plan = batches(sizes, cfg.batch_size, run.rng, drop_last=run.compile, buckets=pad)
    plan = [b for b in plan if len(b) >= world]
    full = run.tensors.frac.shape[1] if run.compile else 0
    for j in range(run.batch, len(plan)):
        idx = shard(torch.as_tensor(plan[j], device=dev), rank, world)
        losses = train_step(run, idx, batch_width(sizes, plan[j], pad, full))
        run.batch = j + 1
        if bar is not None and j % 20 == 0:   # reading a number waits for the GPU: now and then
            bar.tick(run.epoch, float(losses["loss"].detach()))
        why = stop_reason(run, signals)
        if why is not None:
            return why, run.batch == len(plan)
        if time.time() - run.last_save > 60 * cfg.save_every_minutes:
            save(run)
    return None, True


def train_step(run: Run, idx: torch.Tensor, width: int) -> dict:
    """One optimiser step on the crystals ``idx`` padded to ``width`` atoms, and the EMA update.
    The step's noise is drawn from a seed of (run seed, process, step): a resumed run draws it
    again."""
    cfg, model = run.config, run.model
    seed_step(run)
    for group in run.opt.param_groups:
        group["lr"] = lr_at(run.step, cfg.lr, cfg.warmup, schedule_progress(run))
    batch = run.tensors.batch(idx, width=width)
    extra = {} if run.sites is None else {"symmetry": symmetric_noise(run, idx)}
    losses = run.loss_fn(*batch, amp=run.amp, **extra)
    run.opt.zero_grad(set_to_none=True)
    try:
        losses["loss"].backward()
    except Exception as err:   # a backward graph that fails to compile: go on eagerly
        if run.loss_fn is run.eager:
            raise
        print(f"torch.compile failed in the backward pass ({str(err).splitlines()[0][:120]}); "
              "running eagerly", flush=True)
        run.loss_fn = run.eager
        run.opt.zero_grad(set_to_none=True)
        losses = run.loss_fn(*batch, amp=run.amp, **extra)
        losses["loss"].backward()
    params = list(model.parameters())
    torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
    run.opt.step()
    run.step += 1
    with torch.no_grad():   # the EMA as one fused multi-tensor update
        decay = min(cfg.ema_decay, (1 + run.step) / (10 + run.step))
        torch._foreach_lerp_(list(run.ema.parameters()), params, 1 - decay)
        run.sums += torch.stack([losses[k].detach().float() for k in LOSS_KEYS])
    return losses


def symmetric_noise(run: Run, idx: torch.Tensor):
    """The ``symmetric`` run's constrained noise for the crystals ``idx``."""
    from ..symmetry.noise import SymmetricNoise

    return SymmetricNoise([run.sites[i] for i in idx.tolist()], run.place[2])


def seed_step(run: Run) -> None:
    """Seed this step's noise from (run seed, process, step), on the CPU and the run's device:
    a resumed run draws the same noise again. (Each generator alone: ``torch.manual_seed``
    visits every backend and costs about 0.7 ms a call on a CPU, a generator's own 15 us.)"""
    seed = ((run.config.seed * 1_000_003 + run.place[0]) * 1_000_033 + run.step) % 2**63
    torch.default_generator.manual_seed(seed)
    dev = run.place[2]
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(seed)
    elif dev.type == "mps":
        torch.mps.manual_seed(seed)


def stop_reason(run: Run, signals: StopSignals) -> str | None:
    """Why the run stops now (None: it goes on): its time budget, a signal, its step budget."""
    cfg, (_, world, dev) = run.config, run.place
    why = None
    if cfg.max_minutes is not None and time.time() - run.t_start > 60 * cfg.max_minutes:
        why = "budget"
    if signals.received is not None:
        why = signal.Signals(signals.received).name
    if world > 1:   # every process stops at the same step (checked now and then: it syncs)
        why = agree_on_stop(why, dev) if run.step % 20 == 0 else None
    if cfg.max_steps is not None and run.step >= cfg.max_steps:   # the same step in every process
        why = why or "max_steps"
    return why


def loss_means(run: Run) -> list[float]:
    """The mean losses of the epoch under way so far (over every process)."""
    return (all_mean(run.sums, run.place[1]) / max(1, run.batch)).tolist()


def schedule_progress(run: Run) -> float | None:
    """The fraction of the run done, for the cosine schedule (None: no decay)."""
    cfg = run.config
    if not cfg.cosine:
        return None
    if cfg.max_minutes is not None:
        return (time.time() - run.t_start) / (60 * cfg.max_minutes)
    return run.epoch / cfg.epochs


def save(run: Run) -> None:
    """Write ``out_dir/last.pt`` (rank 0): all a resume needs to go on as if never stopped."""
    if run.place[0] != 0:
        return
    ckpt = {"model": checkpoint.to_dict(run.model), "ema": checkpoint.to_dict(run.ema),
            "optimizer": run.opt.state_dict(), "epoch": run.epoch, "step": run.step,
            "batch": run.batch, "rng": run.epoch_rng, "sums": run.sums.detach().cpu(),
            "seconds": run.elapsed,
            "config": run.config.to_dict(), "run_id": run.run_id, "data_digest": run.data_digest}
    atomic_save(ckpt, Path(run.config.out_dir) / "last.pt")
    run.last_save = time.time()


def evaluate(model: CrystalDiffusionModel, tensors: TensorData, batch_size: int = 64,
             seed: int = 0) -> dict:
    """The mean losses of ``model`` on ``tensors`` (e.g. a held-out split), with the noise drawn
    from ``seed`` (the same draws for every model compared) and no change to anything."""
    was_training = model.training
    model.eval()
    if tensors.x0_lat is None:
        tensors.fit_params(model)
    sums, n = torch.zeros(len(LOSS_KEYS)), 0
    dev = next(model.parameters()).device
    with torch.no_grad(), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(tensors.n), batch_size):
            stop = min(start + batch_size, len(tensors.n))
            idx = torch.arange(start, stop, device=tensors.n.device)
            losses = model.loss_padded(*tensors.batch(idx, trim=True))
            sums += torch.stack([losses[k].float().cpu() for k in LOSS_KEYS]) * len(idx)
            n += len(idx)
    model.train(was_training)
    return dict(zip(LOSS_KEYS, (sums / max(1, n)).tolist(), strict=True))


def report_stop(run: Run, why: str | None, progress: bool) -> None:
    """Say why an early stop happened (a planned one only with ``progress``) and where the
    checkpoint is."""
    cfg = run.config
    planned = why in ("budget", "max_steps")
    if run.place[0] != 0 or why is None or not (progress or not planned):
        return
    reason = (f"the {cfg.max_minutes:g}-minute budget" if why == "budget"
              else f"max_steps={cfg.max_steps}" if why == "max_steps" else why)
    last = Path(cfg.out_dir) / "last.pt"
    print(f"stopped at {reason} after {run.epoch} epochs ({run.step} steps); "
          f"checkpoint saved to {last}"
          + ("" if planned else f" (resume with resume={str(last)!r})"), flush=True)


def lr_at(step: int, lr: float, warmup: int, progress: float | None = None,
          floor: float = 0.05) -> float:
    """Linear warm-up over ``warmup`` steps, then constant, or (given ``progress`` in [0, 1], the
    fraction of the run done) a cosine decay to ``floor * lr``."""
    scale = min(1.0, (step + 1) / warmup)
    if progress is not None:
        scale *= floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return lr * scale


def export(run_checkpoint: str | Path, out: str | Path, **card) -> str:
    """Ship a run's EMA weights: float16, with a sha256 sidecar holding ``card`` (how it was
    trained: the run's config and where it stood, unless ``card`` says otherwise)."""
    state = checkpoint.read_run(run_checkpoint)
    ema = checkpoint.from_dict(state["ema"], f"{Path(run_checkpoint).name} (EMA)")
    card = {"epochs": state["epoch"], "steps": state["step"], "train_config": state.get("config"),
            **card}
    return checkpoint.save(ema, out, half=True, **card)


__all__ = ["evaluate", "export", "lr_at", "read_log", "save", "train", "train_epoch",
           "train_step"]
