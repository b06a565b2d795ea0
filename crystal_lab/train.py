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
import time
from pathlib import Path

import numpy as np
import torch

from .data import CrystalBatch, load_dataset
from .model import CrystalDiffusionModel, ModelConfig, resolve_device


def prepare(structures, max_atoms: int) -> list[CrystalBatch]:
    """Each crystal as its own CrystalBatch (float32); crystals above ``max_atoms`` are dropped."""
    return [CrystalBatch.from_atoms([a], dtype=torch.float32) for a in structures if len(a) <= max_atoms]


def collate(items: list[CrystalBatch]) -> CrystalBatch:
    offsets = range(len(items))
    return CrystalBatch(torch.cat([c.lattice for c in items]), torch.cat([c.frac for c in items]),
                        torch.cat([c.numbers for c in items]),
                        torch.cat([torch.full_like(c.batch, i) for i, c in zip(offsets, items)]))


def batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of crystals of similar size (less padding for the all-pairs network)."""
    order = rng.permutation(len(sizes))
    pool = batch_size * 32
    out = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def fit_model_stats(model: CrystalDiffusionModel, data: list[CrystalBatch]) -> None:
    """Lattice standardisation and the distribution of atom counts, from the training data."""
    lattices = torch.cat([c.lattice for c in data]).double()
    n = torch.tensor([len(c.numbers) for c in data])
    model.noise.lattice.fit(lattices, n)
    counts = np.bincount(n.numpy(), minlength=model.config.max_atoms + 1)
    model.config.n_atoms_hist = {int(k): float(v / counts.sum()) for k, v in enumerate(counts) if v > 0}


def train(data: str = "mp_20", split: str = "val", epochs: int = 10, device: str = "auto",
          out_dir: str | Path = "runs/model", resume: str | Path | None = None, hidden: int = 128,
          layers: int = 4, batch_size: int | None = None, lr: float | None = None, seed: int = 0,
          max_minutes: float | None = None, ema_decay: float = 0.999, limit: int | None = None,
          structures=None, save_every: float = 10.0, progress: bool = True) -> CrystalDiffusionModel:
    """Train (or resume) a model; returns the EMA model. See the module docstring.

    ``structures`` (a list of Atoms) replaces ``data``/``split``; ``limit`` keeps the first rows;
    ``max_minutes`` stops cleanly (with a checkpoint) after that much wall time. A resumed run
    keeps its batch size and learning rate unless new ones are given.
    """
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if structures is None:
        structures = load_dataset(data, split, limit=limit)
    state = torch.load(resume, map_location="cpu", weights_only=True) if resume else None
    saved = state.get("hparams", {}) if state else {}
    batch_size = batch_size or saved.get("batch_size", 64)
    lr = lr or saved.get("lr", 1e-3)
    config = ModelConfig(**state["model"]["config"]) if state else ModelConfig(hidden=hidden, layers=layers)
    items = prepare(structures, config.max_atoms)
    if not items:
        raise ValueError("no training structures within the model's atom limit")
    if state:
        model = CrystalDiffusionModel.from_checkpoint(state["model"])
        ema = CrystalDiffusionModel.from_checkpoint(state["ema"])
    else:
        model = CrystalDiffusionModel(config)
        fit_model_stats(model, items)
        ema = copy.deepcopy(model)
    model.to(dev).train()
    ema.to(dev).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    epoch, step = 0, 0
    rng = np.random.default_rng(seed)
    if state:
        opt.load_state_dict(state["optimizer"])
        epoch, step = state["epoch"], state["step"]
        rng.bit_generator.state = state["rng"]
    sizes = np.array([len(c.numbers) for c in items])
    log_path = out_dir / "log.csv"
    new_log = not log_path.exists()
    t_start = last_save = time.time()
    warmup = 500

    def save():
        ckpt = {"model": model.checkpoint(), "ema": ema.checkpoint(), "optimizer": opt.state_dict(),
                "epoch": epoch, "step": step, "rng": rng.bit_generator.state,
                "hparams": {"batch_size": batch_size, "lr": lr}}
        torch.save(ckpt, out_dir / "last.tmp")
        (out_dir / "last.tmp").replace(out_dir / "last.pt")

    with open(log_path, "a", newline="") as log_fh:
        log = csv.writer(log_fh)
        if new_log:
            log.writerow(["epoch", "step", "loss", "coord", "lattice", "types", "lr", "seconds"])
        stop = False
        while epoch < epochs and not stop:
            plan = batches(sizes, batch_size, rng)
            sums = {"loss": 0.0, "coord": 0.0, "lattice": 0.0, "types": 0.0}
            n_batches = 0
            bar = tqdm(plan, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
            for idx in bar:
                for group in opt.param_groups:
                    group["lr"] = lr * min(1.0, (step + 1) / warmup)
                losses = model.loss(collate([items[i] for i in idx]))
                opt.zero_grad(set_to_none=True)
                losses["loss"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                step += 1
                with torch.no_grad():
                    d = min(ema_decay, (1 + step) / (10 + step))
                    for pe, pm in zip(ema.parameters(), model.parameters()):
                        pe.lerp_(pm, 1 - d)
                n_batches += 1
                for k in sums:
                    sums[k] += float(losses[k].detach())
                bar.set_postfix(loss=f"{float(losses['loss'].detach()):.3f}")
                if max_minutes is not None and time.time() - t_start > 60 * max_minutes:
                    stop = True
                    break
                if time.time() - last_save > 60 * save_every:
                    save()
                    last_save = time.time()
            n = max(1, n_batches)
            if not stop:
                epoch += 1
            log.writerow([epoch, step] + [f"{sums[k] / n:.5f}" for k in sums]
                         + [f"{opt.param_groups[0]['lr']:.2e}", f"{time.time() - t_start:.0f}"])
            log_fh.flush()
    save()
    return ema


def read_log(path: str | Path) -> dict[str, list[float]]:
    """The loss log as columns, for plotting loss curves."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


__all__ = ["train", "export", "read_log", "prepare", "collate", "batches"]


def export(run_checkpoint: str | Path, out: str | Path, **card) -> str:
    """Ship a run's EMA weights: float16, with a sha256 sidecar holding ``card`` (how it was trained)."""
    state = torch.load(run_checkpoint, map_location="cpu", weights_only=True)
    ema = CrystalDiffusionModel.from_checkpoint(state["ema"])
    card = {"epochs": state["epoch"], "steps": state["step"], **card}
    return ema.save(out, half=True, **card)
