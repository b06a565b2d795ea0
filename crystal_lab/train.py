"""Training: the CDVAE CSVs in, a checkpoint out. One loop, CPU or CUDA, resumable.

    from crystal_lab.train import train
    model = train(data="mp_20", split="val", epochs=10, out_dir="runs/mp20")

Every ``save_every_minutes`` minutes, at the end, and when the process gets SIGTERM or SIGINT
(a Binder/JupyterHub cull, Ctrl-C, a notebook's interrupt) it writes ``out_dir/last.pt`` (model,
EMA weights, optimiser, epoch, step, RNG state) and appends to ``out_dir/log.csv``;
``resume=out_dir/last.pt`` carries on exactly where it stopped (the log keeps only the rows up to
the checkpoint), so a long run can be done in pieces. One run at a time holds ``out_dir``: a
second run into it is refused while the first is alive.

Under ``torchrun --nproc-per-node N`` the loop runs data-parallel (DistributedDataParallel; NCCL
on CUDA, gloo on CPU): ``batch_size`` stays the global batch, each process trains its share of
every batch, and only rank 0 writes the checkpoint and the log.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .data import CrystalBatch, load_dataset
from .model import CrystalDiffusionModel, ModelConfig, NetworkConfig, resolve_device


def prepare(structures, max_atoms: int) -> list[CrystalBatch]:
    """Each crystal as its own CrystalBatch (float32); crystals above ``max_atoms`` are dropped.
    (The per-crystal form that ``collate`` batches: kept for comparisons, see bench_train.py.)"""
    return [CrystalBatch.from_atoms([a], dtype=torch.float32) for a in structures if len(a) <= max_atoms]


def collate(items: list[CrystalBatch]) -> CrystalBatch:
    offsets = range(len(items))
    return CrystalBatch(torch.cat([c.lattice for c in items]), torch.cat([c.frac for c in items]),
                        torch.cat([c.numbers for c in items]),
                        torch.cat([torch.full_like(c.batch, i) for i, c in zip(offsets, items)]))


def batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator,
            drop_last: bool = False, buckets: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Shuffled batches of crystals of similar size (less padding for the all-pairs network).
    ``drop_last`` leaves out batches smaller than ``batch_size`` (fixed shapes for compiled code).

    ``buckets`` (ascending atom counts): every batch holds crystals of one bucket only (sizes in
    ``(previous bucket, bucket]``), so it can be padded to that bucket's size; with ``drop_last``
    a bucket's leftover crystals move up into the next bucket instead of being dropped.
    """
    if buckets is None:
        order = rng.permutation(len(sizes))
        pool = batch_size * 32
        out = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
            out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        if drop_last:
            out = [b for b in out if len(b) == batch_size] or out
        return [out[i] for i in rng.permutation(len(out))]
    edges = sorted(buckets)
    if sizes.max() > edges[-1]:
        raise ValueError(f"crystals of {sizes.max()} atoms do not fit the largest bucket ({edges[-1]})")
    which = np.searchsorted(edges, sizes)   # bucket index of each crystal
    out, carry = [], np.array([], dtype=int)
    for k in range(len(edges)):
        members = np.concatenate([carry, rng.permutation(np.flatnonzero(which == k))]).astype(int)
        n_full = len(members) // batch_size * batch_size
        out += [members[i:i + batch_size] for i in range(0, n_full, batch_size)]
        carry = members[n_full:]
        if not drop_last and len(carry):
            out.append(carry)
            carry = carry[:0]
    if not out and len(carry):   # fewer crystals than one batch
        out = [carry]
    return [out[i] for i in rng.permutation(len(out))]


def batch_width(sizes: np.ndarray, batch: np.ndarray, buckets: tuple[int, ...] | None, full: int) -> int:
    """The padded atom count of one batch: its bucket's size, or with ``buckets=None`` ``full``
    (``0``: the batch's largest crystal)."""
    biggest = int(sizes[batch].max())
    if buckets is None:
        return full or biggest
    return min(b for b in buckets if b >= biggest)


class TensorData:
    """A whole training set as padded tensors, resident on one device.

    ``frac`` (M,N,3), ``numbers`` (M,N), ``mask`` (M,N), ``n`` (M,), the clean lattice parameters
    ``x0_lat`` (M,6) (computed once: they never change), and the inverse-design labels ``system``
    (M,) (0 = unknown) and ``energy`` (M,) (nan = unknown). A batch is one gather by index.
    """

    def __init__(self, frac, numbers, n, lattice, system=None, energy=None):
        self.frac, self.numbers, self.n, self.lattice = frac.float(), numbers.long(), n.long(), lattice.double()
        self.mask = torch.arange(frac.shape[1])[None] < self.n[:, None]
        m = len(n)
        self.system = torch.zeros(m, dtype=torch.long) if system is None else system.long()
        self.energy = torch.full((m,), float("nan")) if energy is None else energy.float()
        self.x0_lat = None

    @classmethod
    def from_atoms(cls, structures, max_atoms: int) -> TensorData:
        """Padded tensors of the crystals with at most ``max_atoms`` atoms; labels from ``atoms.info``
        (``spacegroup.number``, ``formation_energy_per_atom``) where the data set has them."""
        from .prompts import CRYSTAL_SYSTEMS, crystal_system_of

        rows = [a for a in structures if len(a) <= max_atoms]
        if not rows:
            raise ValueError("no training structures within the model's atom limit")
        n_max = max(len(a) for a in rows)
        frac = torch.zeros(len(rows), n_max, 3)
        numbers = torch.zeros(len(rows), n_max, dtype=torch.long)
        for i, a in enumerate(rows):
            frac[i, :len(a)] = torch.as_tensor(a.get_scaled_positions(wrap=True) % 1.0)
            numbers[i, :len(a)] = torch.as_tensor(a.numbers)
        lattice = torch.as_tensor(np.stack([np.asarray(a.cell, dtype=float) for a in rows]))
        sg = [a.info.get("spacegroup.number") for a in rows]
        system = torch.tensor([CRYSTAL_SYSTEMS.index(crystal_system_of(x)) + 1 if _finite(x) else 0
                               for x in sg])
        energy = torch.tensor([float(e) if _finite(e := a.info.get("formation_energy_per_atom")) else np.nan
                               for a in rows])
        return cls(frac, numbers, torch.tensor([len(a) for a in rows]), lattice, system, energy)

    def save(self, path) -> None:
        torch.save({k: getattr(self, k) for k in ("frac", "numbers", "n", "lattice", "system", "energy")}, path)

    @classmethod
    def load(cls, path) -> TensorData:
        return cls(**torch.load(path, map_location="cpu", weights_only=True))

    def to(self, device) -> TensorData:
        for k in ("frac", "numbers", "n", "mask", "system", "energy", "x0_lat"):
            if getattr(self, k) is not None:
                setattr(self, k, getattr(self, k).to(device))
        return self

    def fit_params(self, model: CrystalDiffusionModel) -> None:
        """The clean lattice parameters under ``model``'s standardisation, once."""
        self.x0_lat = model.noise.lattice.to_params(self.lattice, self.n.to(self.lattice.device)).float()

    def batch(self, idx: torch.Tensor, trim: bool = False, width: int | None = None) -> tuple:
        """(frac, numbers, mask, x0_lat, system, energy) of crystals ``idx``, padded to ``width``
        atoms when given (a bucket's size; the batch's crystals must fit), else ``trim`` cuts the
        padding to the largest crystal of the batch (fewer pairs on a CPU) and without it every
        batch has the data set's full width (one fixed shape)."""
        frac, numbers, mask = self.frac[idx], self.numbers[idx], self.mask[idx]
        k = width if width is not None else int(self.n[idx].max()) if trim else frac.shape[1]
        if k <= frac.shape[1]:
            frac, numbers, mask = frac[:, :k], numbers[:, :k], mask[:, :k]
        else:
            grow = k - frac.shape[1]
            frac = torch.nn.functional.pad(frac, (0, 0, 0, grow))
            numbers = torch.nn.functional.pad(numbers, (0, grow))
            mask = torch.nn.functional.pad(mask, (0, grow))
        return frac, numbers, mask, self.x0_lat[idx], self.system[idx], self.energy[idx]


def _finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


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
    from tqdm.auto import tqdm

    if save_every is not None:
        save_every_minutes = save_every
    check_settings(epochs=epochs, hidden=hidden, layers=layers, batch_size=batch_size, lr=lr,
                   max_minutes=max_minutes, save_every_minutes=save_every_minutes, ema_decay=ema_decay,
                   limit=limit, p_csp=p_csp, max_steps=max_steps)
    rank, world, dev, own_group = setup_distributed(device)
    cuda = dev.type == "cuda"
    amp = cuda if amp is None else amp
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out_dir) if rank == 0 else contextlib.nullcontext()
    with lock:
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
        why = None   # why the loop stopped early: "budget" or a signal's name
        with StopSignals() as signals, open(log_path, "a", newline="") if rank == 0 else \
                contextlib.nullcontext() as log_fh:
            log = csv.writer(log_fh) if rank == 0 else None
            if new_log and log:
                log.writerow(["epoch", "step", "loss", "coord", "lattice", "types", "lr", "seconds"])
            while epoch < epochs and why is None:
                plan = batches(sizes, batch_size, rng, drop_last=compile, buckets=pad)
                plan = [b for b in plan if len(b) >= world]
                widths = [batch_width(sizes, b, pad, 0 if not compile else tensors.frac.shape[1]) for b in plan]
                order = torch.as_tensor(np.concatenate(plan), device=dev)
                bounds = np.cumsum([0] + [len(b) for b in plan])
                sums = torch.zeros(4, device=dev)
                n_batches = 0
                bar = tqdm(range(len(plan)), desc=f"epoch {epoch + 1}/{epochs}", disable=not show, leave=False)
                for j in bar:
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
                        bar.set_postfix(loss=f"{float(losses['loss'].detach()):.3f}")
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
                if why is not None:
                    bar.total = bar.n   # a planned stop: the bar ends full, not as a failure
                    bar.refresh()
                bar.close()
                means = (all_mean(sums, world) / max(1, n_batches)).tolist()
                if why is None:
                    epoch += 1
                if log:
                    log.writerow([epoch, step] + [f"{v:.5f}" for v in means]
                                 + [f"{opt.param_groups[0]['lr']:.2e}", f"{time.time() - t_start:.0f}"])
                    log_fh.flush()
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


#: the padded atom counts of compiled training batches (one compiled shape each; MP-20 has <= 20)
BUCKETS = (6, 10, 14, 20)


def check_settings(**values) -> None:
    """ValueError, naming the setting and what is allowed, for a nonsense training setting."""
    def number(x) -> bool:
        return not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(x)

    def whole(x) -> bool:
        return not isinstance(x, bool) and isinstance(x, (int, np.integer))

    rules = {
        "epochs": (lambda x: whole(x) and x >= 1, "a whole number >= 1"),
        "hidden": (lambda x: whole(x) and x >= 2 and x % 2 == 0, "an even whole number >= 2"),
        "layers": (lambda x: whole(x) and x >= 1, "a whole number >= 1"),
        "batch_size": (lambda x: x is None or (whole(x) and x >= 1), "a whole number >= 1"),
        "limit": (lambda x: x is None or (whole(x) and x >= 1), "a whole number >= 1 (or None for all)"),
        "max_steps": (lambda x: x is None or (whole(x) and x >= 1), "a whole number >= 1 (or None)"),
        "lr": (lambda x: x is None or (number(x) and x > 0), "a number > 0"),
        "max_minutes": (lambda x: x is None or (number(x) and x > 0), "a number of minutes > 0 (or None)"),
        "save_every_minutes": (lambda x: number(x) and x > 0, "a number of minutes > 0"),
        "ema_decay": (lambda x: number(x) and 0 <= x < 1, "a number in [0, 1)"),
        "p_csp": (lambda x: x is None or (number(x) and 0 <= x <= 1), "a fraction in [0, 1]"),
    }
    for name, value in values.items():
        ok, allowed = rules[name]
        if not ok(value):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")


class Objective(torch.nn.Module):
    """``model.loss_padded`` as a module's ``forward``, so DistributedDataParallel can wrap it."""

    def __init__(self, model: CrystalDiffusionModel):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.loss_padded(*args, **kwargs)


def setup_distributed(device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether this call made the process group): under ``torchrun``
    (``WORLD_SIZE`` > 1) joins the process group (NCCL on CUDA, gloo on CPU) and gives each process
    its own GPU; otherwise (0, 1, device, False)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return 0, 1, dev, False
    import torch.distributed as dist

    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    own = not dist.is_initialized()
    if own:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), dev, own


def shard(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's contiguous share of one global batch."""
    if world == 1:
        return idx
    return idx.tensor_split(world)[rank]


def agree_on_stop(why, dev, world: int):
    """Every process stops at the same step: the reason if any process has one (else None)."""
    import torch.distributed as dist

    codes = [None, "budget", "max_steps", "SIGINT", "SIGTERM"]
    flag = torch.tensor([codes.index(why) if why in codes else 0], device=dev)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return codes[int(flag)]


def all_mean(x: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of ``x`` over the processes (``x`` itself in one process)."""
    if world == 1:
        return x
    import torch.distributed as dist

    x = x.clone()
    dist.all_reduce(x)
    return x / world


class StopSignals:
    """Within the block, SIGTERM and SIGINT only set ``received`` (the loop saves, then stops).

    Handlers can be installed only in the main thread; elsewhere the block changes nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received, self._old = None, {}

    def _handler(self, signum, frame):
        self.received = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class RunLock:
    """An exclusive lock on a run folder (``out_dir/.lock``) for the length of a run: a second run
    into the same folder is refused with a clear error while the first is alive. The operating
    system releases the lock when the process ends, however it ends."""

    def __init__(self, out_dir: Path):
        self.path, self.fh = Path(out_dir) / ".lock", None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:   # no POSIX locks (Windows): checkpoints still never share a temp file
            return self
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            owner = self.fh.read().strip() or "another process"
            self.fh.close()
            raise RuntimeError(f"{self.path.parent} is in use by another training run ({owner}); "
                               "wait for it to finish or choose another out_dir") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file of its own beside ``path``, then rename it into place:
    a reader sees the old file or the new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        os.close(fd)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_run_checkpoint(path) -> dict:
    """A run's ``last.pt`` (``checkpoint.read_run``), its errors saying they are about ``resume``."""
    try:
        return checkpoint.read_run(path)
    except checkpoint.CheckpointError as err:
        raise checkpoint.CheckpointError(f"resume: {err}") from None


def truncate_log(log_path: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint at ``step`` (they are trained again)."""
    if not log_path.exists():
        return
    with open(log_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[1])) <= step]
    if len(kept) == len(rows):
        return
    tmp = log_path.with_name(f".{log_path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(kept)
    os.replace(tmp, log_path)


LOSS_KEYS = ("loss", "coord", "lattice", "types")


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


def read_log(path: str | Path) -> dict[str, list[float]]:
    """The loss log as columns, for plotting loss curves."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


__all__ = [
    "TensorData",
    "batches",
    "collate",
    "export",
    "fit_model_stats",
    "load_init",
    "lr_at",
    "prepare",
    "read_log",
    "train",
]


def export(run_checkpoint: str | Path, out: str | Path, **card) -> str:
    """Ship a run's EMA weights: float16, with a sha256 sidecar holding ``card`` (how it was trained)."""
    state = checkpoint.read_run(run_checkpoint)
    ema = checkpoint.from_dict(state["ema"], f"{Path(run_checkpoint).name} (EMA)")
    card = {"epochs": state["epoch"], "steps": state["step"], **card}
    return checkpoint.save(ema, out, half=True, **card)
