"""Training: the CDVAE CSVs in, a checkpoint out. One loop, CPU or CUDA, resumable.

    from crystal_lab.train import train
    model = train(data="mp_20", split="val", epochs=10, out_dir="runs/mp20")

Every ``save_every`` minutes and at the end it writes ``out_dir/last.pt`` (model, EMA weights,
optimiser, epoch, step, RNG state) and appends to ``out_dir/log.csv``; ``resume=out_dir/last.pt``
carries on exactly where it stopped, so a long run can be done in pieces.
"""
from __future__ import annotations

import copy
import csv
import math
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
            drop_last: bool = False) -> list[np.ndarray]:
    """Shuffled batches of crystals of similar size (less padding for the all-pairs network).
    ``drop_last`` leaves out batches smaller than ``batch_size`` (fixed shapes for compiled code)."""
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

    def batch(self, idx: torch.Tensor, trim: bool) -> tuple:
        """(frac, numbers, mask, x0_lat, system, energy) of crystals ``idx``; ``trim`` cuts the padding
        to the largest crystal of the batch (fewer pairs on a CPU; fixed shapes on a GPU without)."""
        frac, numbers, mask = self.frac[idx], self.numbers[idx], self.mask[idx]
        if trim:
            k = int(self.n[idx].max())
            frac, numbers, mask = frac[:, :k], numbers[:, :k], mask[:, :k]
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
          structures=None, save_every: float = 10.0, progress: bool = True, init: str | Path | None = None,
          tensors: TensorData | None = None, cosine: bool = False, compile: bool | None = None,
          amp: bool | None = None, p_csp: float | None = None) -> CrystalDiffusionModel:
    """Train (or resume) a model; returns the EMA model. See the module docstring.

    ``structures`` (a list of Atoms) or ``tensors`` (a :class:`TensorData`) replaces
    ``data``/``split``; ``limit`` keeps the first rows; ``max_minutes`` stops cleanly (with a
    checkpoint) after that much wall time. A resumed run keeps its batch size and learning rate
    unless new ones are given. ``init``: start from the weights in that file (any shipped or
    exported model) with a fresh optimiser. ``cosine``: decay the learning rate to 5% over the run
    (over ``max_minutes`` when given, else over ``epochs``). On CUDA, ``amp`` (bfloat16 autocast)
    and ``compile`` (``torch.compile``, falling back to eager code where it fails) default to on.
    """
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    amp = cuda if amp is None else amp
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = checkpoint.read_run(resume) if resume else None
    saved = state.get("hparams", {}) if state else {}
    batch_size = batch_size or saved.get("batch_size", 64)
    lr = lr or saved.get("lr", 1e-3)
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
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4, **({"fused": True} if cuda else {}))
    epoch, step = 0, 0
    rng = np.random.default_rng(seed)
    if state:
        opt.load_state_dict(state["optimizer"])
        epoch, step = state["epoch"], state["step"]
        rng.bit_generator.state = state["rng"]
    compile = cuda if compile is None else compile
    loss_fn = compiled(model.loss_padded) if compile else model.loss_padded
    sizes = tensors.n.cpu().numpy()
    log_path = out_dir / "log.csv"
    new_log = not log_path.exists()
    t_start = last_save = time.time()
    first_step = step
    warmup = 500 if not init else 100
    ema_params, model_params = list(ema.parameters()), list(model.parameters())

    def save():
        ckpt = {"model": checkpoint.to_dict(model), "ema": checkpoint.to_dict(ema), "optimizer": opt.state_dict(),
                "epoch": epoch, "step": step, "rng": rng.bit_generator.state,
                "hparams": {"batch_size": batch_size, "lr": lr}}
        torch.save(ckpt, out_dir / "last.tmp")
        (out_dir / "last.tmp").replace(out_dir / "last.pt")

    def progress_of_run() -> float | None:
        if not cosine:
            return None
        if max_minutes is not None:
            return (time.time() - t_start) / (60 * max_minutes)
        return epoch / max(1, epochs)

    with open(log_path, "a", newline="") as log_fh:
        log = csv.writer(log_fh)
        if new_log:
            log.writerow(["epoch", "step", "loss", "coord", "lattice", "types", "lr", "seconds"])
        stop = False
        while epoch < epochs and not stop:
            plan = batches(sizes, batch_size, rng, drop_last=compile)
            order = torch.as_tensor(np.concatenate(plan), device=dev)
            bounds = np.cumsum([0] + [len(b) for b in plan])
            sums = torch.zeros(4, device=dev)
            n_batches = 0
            bar = tqdm(range(len(plan)), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
            for j in bar:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step - first_step if init else step, lr, warmup, progress_of_run())
                idx = order[bounds[j]:bounds[j + 1]]
                frac, numbers, mask, x0_lat, system, energy = tensors.batch(idx, trim=not compile)
                losses = loss_fn(frac, numbers, mask, x0_lat, system, energy, amp=amp)
                opt.zero_grad(set_to_none=True)
                losses["loss"].backward()
                torch.nn.utils.clip_grad_norm_(model_params, 1.0, foreach=True)
                opt.step()
                step += 1
                with torch.no_grad():   # the EMA as one fused multi-tensor update
                    torch._foreach_lerp_(ema_params, model_params, 1 - min(ema_decay, (1 + step) / (10 + step)))
                    sums += torch.stack([losses[k].detach().float() for k in LOSS_KEYS])
                n_batches += 1
                if progress and j % 20 == 0:   # reading a number waits for the GPU: now and then only
                    bar.set_postfix(loss=f"{float(losses['loss']):.3f}")
                if max_minutes is not None and time.time() - t_start > 60 * max_minutes:
                    stop = True
                    break
                if time.time() - last_save > 60 * save_every:
                    save()
                    last_save = time.time()
            means = (sums / max(1, n_batches)).tolist()
            if not stop:
                epoch += 1
            log.writerow([epoch, step] + [f"{v:.5f}" for v in means]
                         + [f"{opt.param_groups[0]['lr']:.2e}", f"{time.time() - t_start:.0f}"])
            log_fh.flush()
    save()
    return ema


LOSS_KEYS = ("loss", "coord", "lattice", "types")


def compiled(fn):
    """``torch.compile(fn)``, falling back to ``fn`` itself if compiling fails at the first call
    (no C++ compiler, an unsupported platform or torch build): eager code computes the same."""
    state = {"fn": None}

    def call(*args, **kwargs):
        if state["fn"] is None:
            try:
                fast = torch.compile(fn)
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


__all__ = ["train", "export", "load_init", "fit_model_stats", "read_log", "prepare", "collate", "batches",
           "TensorData", "lr_at"]


def export(run_checkpoint: str | Path, out: str | Path, **card) -> str:
    """Ship a run's EMA weights: float16, with a sha256 sidecar holding ``card`` (how it was trained)."""
    state = checkpoint.read_run(run_checkpoint)
    ema = checkpoint.from_dict(state["ema"], f"{Path(run_checkpoint).name} (EMA)")
    card = {"epochs": state["epoch"], "steps": state["step"], **card}
    return checkpoint.save(ema, out, half=True, **card)
