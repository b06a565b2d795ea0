"""What a checkpoint records besides its tensors: :class:`ModelConfig` in four groups.

``network`` (:class:`NetworkConfig`, the denoiser's architecture), ``training``
(:class:`TrainingConfig`, the objective's condition dropout), ``sampler``
(:class:`~crystal_lab.model.sampler.SamplerConfig`, what the reverse loop sees) and ``data``
(:class:`DataStats`, statistics fitted from the training data). :func:`resolve_device` turns a
device name into a torch device this machine has.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import torch

from ..prompts import MAX_ATOMS
from .sampler import SamplerConfig


@dataclass
class NetworkConfig:
    """The denoiser's architecture (denoiser.py)."""

    hidden: int = 128
    layers: int = 4
    num_elements: int = 100
    n_freq: int = 8
    n_rbf: int = 16
    film_rank: int = 32
    max_atoms: int = MAX_ATOMS


@dataclass
class TrainingConfig:
    """How the training objective (``model.loss``) drops or gives each condition."""

    p_uncond: float = 0.2        # classifier-free dropout of the element condition
    p_csp: float = 0.3           # fraction of crystals whose atom types are given (CSP)
    p_drop_system: float = 0.5   # dropout of the crystal-system condition
    p_drop_energy: float = 0.5   # dropout of the formation-energy condition


@dataclass
class DataStats:
    """Statistics fitted from the training data (``train.fit_model_stats``): the distribution of
    atom counts here; the lattice standardisation is part of the lattice noise process
    (``model.noise.lattice`` buffers ``mean``, ``std``, ``volume_per_atom``, in the state dict)."""

    n_atoms_hist: dict = field(default_factory=lambda: {k: 1.0 for k in range(1, MAX_ATOMS + 1)})


@dataclass(init=False)
class ModelConfig:
    """What a checkpoint records besides its tensors, in four groups: ``network`` (architecture),
    ``training`` (the objective's condition dropout), ``sampler`` (:class:`SamplerConfig`, all the
    reverse loop sees) and ``data`` (:class:`DataStats`).

    Each setting can also be named flat, for building and for reading:
    ``ModelConfig(hidden=64, layers=3)`` and ``config.default_steps`` reach their group's field
    (flat configs of ``crystal_lab/1`` checkpoint files load this way).
    """

    network: NetworkConfig
    training: TrainingConfig
    sampler: SamplerConfig
    data: DataStats

    GROUPS: ClassVar[dict] = {"network": NetworkConfig, "training": TrainingConfig,
                              "sampler": SamplerConfig, "data": DataStats}
    #: each setting's group, by its flat name
    GROUP_OF: ClassVar[dict] = {f.name: g for g, c in GROUPS.items() for f in dataclasses.fields(c)}

    def __init__(self, network=None, training=None, sampler=None, data=None, **flat):
        given = {"network": network, "training": training, "sampler": sampler, "data": data}
        for name, cls in self.GROUPS.items():
            value = given[name]
            object.__setattr__(
                self, name, cls(**value) if isinstance(value, dict) else value or cls()
            )
        for key, value in flat.items():
            setattr(self, key, value)

    def _group(self, key: str):
        if key not in self.GROUP_OF:
            raise AttributeError(f"ModelConfig has no setting {key!r}")
        return object.__getattribute__(self, self.GROUP_OF[key])

    def __getattr__(self, key):   # only called for names that are not the four groups
        return getattr(self._group(key), key)

    def __setattr__(self, key, value):
        if key in self.GROUPS:
            object.__setattr__(self, key, value)
        else:
            setattr(self._group(key), key, value)

    def to_dict(self) -> dict:
        """Nested plain data (what a checkpoint stores)."""
        return {g: asdict(getattr(self, g)) for g in self.GROUPS}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """From :meth:`to_dict`'s nested form or a flat one (names reach their groups)."""
        return cls(**d)


DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device`` (``"auto"``: a CUDA GPU if there is one, else the CPU).

    A device name torch does not know, or one this machine lacks (``"cuda"`` without a GPU), is a
    one-line ``ValueError``.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    allowed = f"device must be one of {', '.join(DEVICES)}, got {device!r}"
    if not isinstance(device, (str, torch.device)):
        raise TypeError(allowed)
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise ValueError(allowed) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "" if torch.version.cuda else " (this torch is a CPU-only build)"
            raise ValueError(f"device={device!r}: torch finds no CUDA GPU on this machine{build}; "
                             f"use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                "numbered from 0"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                f"device={device!r}: no Apple GPU (MPS) on this machine; use device='cpu'"
            )
    elif dev.type != "cpu":
        raise ValueError(allowed)
    return dev


__all__ = [
    "DEVICES",
    "DataStats",
    "ModelConfig",
    "NetworkConfig",
    "TrainingConfig",
    "resolve_device",
]
