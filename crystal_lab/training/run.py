"""A training run in memory (:class:`Run`): its config resolved from the given settings and a
resumed checkpoint, its models, data and optimiser built, and a resumed run's place restored.
:mod:`.loop` trains it."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..datasets import load_dataset
from ..model import checkpoint
from ..model.diffusion import CrystalDiffusionModel, ModelConfig, NetworkConfig
from .batches import TensorData
from .distributed import Objective, compiled
from .train_config import TrainConfig, resolve

LOSS_KEYS = ("loss", "coord", "lattice", "types")


@dataclass
class Run:
    """A run in memory: the models, the optimiser and where the run stands (what ``save``
    writes)."""

    config: TrainConfig
    model: CrystalDiffusionModel
    ema: CrystalDiffusionModel
    opt: torch.optim.Optimizer
    tensors: TensorData
    rng: np.random.Generator          # draws the batch plans
    place: tuple                      # (rank, world, device)
    epoch: int = 0                    # epochs done
    step: int = 0                     # optimiser steps done
    batch: int = 0                    # batches done of the epoch under way
    epoch_rng: dict = field(default_factory=dict)   # ``rng``'s state when that epoch began
    sums: torch.Tensor | None = None  # that epoch's loss sums so far
    seconds: float = 0.0              # training time of earlier sessions
    run_id: str = ""
    data_digest: str = ""             # ``tensors.digest()``: a resume checks it is the same
    t_start: float = field(default_factory=time.time)
    last_save: float = field(default_factory=time.time)
    compile: bool = False             # this session's choices (config None: on CUDA)
    amp: bool = False
    loss_fn: object = None            # the objective, compiled or not
    sites: list | None = None         # ``symmetric``: each crystal's own sites (None: free noise)
    eager: object = None              # the objective, not compiled

    @property
    def elapsed(self) -> float:
        return self.seconds + time.time() - self.t_start


def run_config(given: dict, state: dict | None,
               resume) -> tuple[TrainConfig, CrystalDiffusionModel | None]:
    """The run's :class:`TrainConfig`: a resumed run's recorded one (given settings may not
    contradict it), or the given settings, whose network size must fit the ``init`` weights."""
    if state is not None:
        given = {k: v for k, v in given.items() if v is not None}   # None: the run's own
        given.setdefault("out_dir", str(Path(resume).parent))
        return resolve(given, recorded_config(state), f"the run in {resume}"), None
    cfg = TrainConfig(**given)
    if cfg.init is None:
        return cfg, None
    model = checkpoint.load_weights(cfg.init)
    net = model.config.network
    sizes = {"hidden": net.hidden, "layers": net.layers}
    given = {k: v for k, v in given.items() if k not in sizes or v is not None}
    cfg = resolve(given, {**cfg.to_dict(), **sizes}, f"the init weights {Path(cfg.init).name}")
    return cfg, model


def recorded_config(state: dict) -> dict:
    """A checkpoint's ``TrainConfig`` (older checkpoints: what they hold of it)."""
    if "config" in state:
        return dict(state["config"])
    net = state["model"].get("config", {})
    net = net.get("network", net)
    old = {"hidden": net.get("hidden"), "layers": net.get("layers"), **state.get("hparams", {})}
    return {k: v for k, v in old.items() if v is not None}


def load_data(cfg: TrainConfig, structures, tensors: TensorData | None) -> TensorData | list:
    """The training crystals: given ``tensors`` or ``structures``, else the data set's split."""
    if tensors is not None or structures is not None:
        return tensors if tensors is not None else structures
    if cfg.data is None:
        raise ValueError("this run trained on structures given in Python (data=None): pass the "
                         "same structures= (or tensors=) to resume it")
    return load_dataset(cfg.data, cfg.split, limit=cfg.limit)


def start(cfg: TrainConfig, state: dict | None, init_model, data, place: tuple) -> Run:
    """The run ready to train: models, data on the device, optimiser, and a resumed run's state."""
    _, world, dev = place
    cuda = dev.type == "cuda"
    if world > 1 and cfg.batch_size < world:
        raise ValueError(f"batch_size {cfg.batch_size} is smaller than the {world} processes; "
                         "it is the global batch, shared between them")
    if state:
        model = checkpoint.from_dict(state["model"], "the resumed run's model")
        ema = checkpoint.from_dict(state["ema"], "the resumed run's EMA model")
    else:
        torch.manual_seed(cfg.seed)   # the same first weights in every process and run of a seed
        network = NetworkConfig(hidden=cfg.hidden, layers=cfg.layers)
        model = init_model or CrystalDiffusionModel(ModelConfig(network))
    if not isinstance(data, TensorData):
        data = TensorData.from_atoms(data, model.config.network.max_atoms)
    tensors = data
    digest = check_same_data(state, tensors)
    if not state:
        if init_model is None:
            fit_model_stats(model, tensors)
        ema = copy.deepcopy(model)
    cfg.warmup = cfg.warmup or (100 if cfg.init else 500)
    if cfg.p_csp is not None:   # the fraction of crystals trained as CSP (atom types given)
        model.config.training.p_csp = ema.config.training.p_csp = cfg.p_csp
    tensors.fit_params(model)
    sites = crystal_sites_of(tensors, digest) if cfg.symmetric else None
    tensors.to(dev)
    model.to(dev).train()
    ema.to(dev).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4,
                            **({"fused": True} if cuda else {}))
    run = Run(cfg, model, ema, opt, tensors, np.random.default_rng(cfg.seed), place,
              sums=torch.zeros(len(LOSS_KEYS), device=dev), data_digest=digest, sites=sites)
    run.epoch_rng = run.rng.bit_generator.state
    if state:
        restore(run, state)
    run.compile = (cuda and not cfg.symmetric) if cfg.compile is None else cfg.compile
    run.amp = cuda if cfg.amp is None else cfg.amp
    objective = Objective(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        objective = DistributedDataParallel(objective, device_ids=[dev.index] if cuda else None)
    run.loss_fn, run.eager = compiled(objective) if run.compile else objective, objective
    return run


def crystal_sites_of(tensors: TensorData, digest: str) -> list:
    """``symmetric``: each crystal's own symmetry sites (computed once per data set, cached by its
    digest); the crystals whose template cannot be realised train with the free noise."""
    from ..symmetry.noise import dataset_sites, default_cache_dir

    sites = dataset_sites(tensors.lattice.numpy(), tensors.frac.numpy(), tensors.numbers.numpy(),
                          tensors.n.numpy(), default_cache_dir(), digest)
    free = sum(s is None for s in sites)
    print(f"symmetric: {len(sites) - free} of {len(sites)} crystals on their own space group's "
          f"sites; {free} fall back to the free noise", flush=True)
    return sites


def restore(run: Run, state: dict) -> None:
    """Where a resumed run stood: optimiser, counters, the epoch under way and its loss sums."""
    run.opt.load_state_dict(state["optimizer"])
    run.epoch, run.step, run.batch = state["epoch"], state["step"], state.get("batch", 0)
    run.epoch_rng = run.rng.bit_generator.state = state["rng"]
    if "sums" in state:
        run.sums = state["sums"].to(run.sums)
    run.seconds = float(state.get("seconds", 0.0))


def check_same_data(state: dict | None, tensors: TensorData) -> str:
    """The data's digest; a resumed run must train on the data it started with (when its checkpoint
    records them)."""
    digest, recorded = tensors.digest(), (state or {}).get("data_digest")
    if recorded and recorded != digest:
        raise ValueError(f"resume: the training data differ from the run's ({len(tensors.n)} "
                         f"crystals now, digest {digest} instead of {recorded}): resume with the "
                         f"same data set, split and limit, or the same structures")
    return digest


def fit_model_stats(model: CrystalDiffusionModel, data: TensorData) -> None:
    """Lattice standardisation and the distribution of atom counts, from the training data."""
    model.noise.lattice.fit(data.lattice, data.n)
    counts = np.bincount(data.n.numpy(), minlength=model.config.network.max_atoms + 1)
    model.config.data.n_atoms_hist = {int(k): float(v / counts.sum())
                                      for k, v in enumerate(counts) if v > 0}


__all__ = ["LOSS_KEYS", "Run", "check_same_data", "fit_model_stats", "load_data", "recorded_config",
           "restore", "run_config", "start"]
