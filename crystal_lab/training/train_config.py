"""What defines a training run: :class:`TrainConfig`, one dataclass, also what the run's checkpoint
records (``last.pt["config"]``).

Its fields fall in two kinds. The run's own (:data:`RUN_FIELDS`: the data, the network, the
optimiser and its schedule, the seed) are fixed when the run starts: a resume restores them, and a
value given at resume that contradicts the recorded one is refused (:class:`RunMismatch`). The
budgets and the machinery (epochs, max_steps, max_minutes, out_dir, save_every_minutes, device,
compile, amp, buckets) are restored too, but may be changed at resume: ``epochs=20`` extends a
10-epoch run. ``epochs`` and ``max_steps`` count the whole run; ``max_minutes`` each session.

The model's own :class:`~crystal_lab.model.config.TrainingConfig` (the objective's condition
dropout, recorded in every weights file) is another thing: it belongs to the model and ships
with it; ``TrainConfig.p_csp``, when given, sets its ``p_csp``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..arguments import MAX_SEED, check_number, is_number


@dataclass
class TrainConfig:
    """Everything that defines a training run (see the module docstring)."""

    # the data: a data set and split (``data=None``: structures or tensors given in Python)
    data: str | None = "mp_20"
    split: str = "val"
    limit: int | None = None          # the first ``limit`` rows of the split
    # the network: its size, or the weights it starts from
    hidden: int = 128
    layers: int = 4
    init: str | None = None           # a weights file (or run checkpoint) to start from
    p_csp: float | None = None        # the fraction trained as CSP (None: the model's own)
    symmetric: bool = False           # DiffCSP++ noise: each crystal's orbits and lattice family
    # the optimisation
    seed: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int | None = None         # linear warm-up steps (None: 500, or 100 from ``init``)
    cosine: bool = False              # decay to 5% of ``lr`` over the run
    ema_decay: float = 0.999
    # the budgets: ``epochs`` and ``max_steps`` count the whole run, ``max_minutes`` one session
    epochs: int = 10
    max_steps: int | None = None
    max_minutes: float | None = None
    # where and how it runs
    out_dir: str = "runs/model"
    save_every_minutes: float = 10.0
    device: str = "auto"
    compile: bool | None = None       # torch.compile (None: on CUDA)
    amp: bool | None = None           # bfloat16 autocast (None: on CUDA)
    buckets: tuple[int, ...] | None = None   # padded atom counts of compiled batches

    def __post_init__(self):
        if self.out_dir is not None:
            self.out_dir = str(self.out_dir)
        if self.init is not None:
            self.init = str(self.init)
        if self.buckets is not None and not isinstance(self.buckets, tuple):
            self.buckets = tuple(self.buckets)
        check(self)

    def to_dict(self) -> dict:
        """Plain data (what a checkpoint stores)."""
        return dataclasses.asdict(self)


#: the fields that make a run what it is: fixed at its start, never changed by a resume
RUN_FIELDS = ("data", "split", "limit", "hidden", "layers", "init", "p_csp", "symmetric", "seed",
              "batch_size", "lr", "warmup", "cosine", "ema_decay")
FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


class RunMismatch(ValueError):
    """A setting given at resume (or with ``init``) that contradicts the run's recorded one.
    ``say`` words it for an interface (keywords or command-line flags)."""

    def __init__(self, name: str, given, recorded, source: str):
        self.name, self.given, self.recorded, self.source = name, given, recorded, source
        super().__init__(self.say())

    def say(self, flag: str | None = None) -> str:
        shown = flag or f"{self.name}="
        sep = " " if flag else ""
        return (f"{shown}{sep}{self.given!r} contradicts {self.source}, which records "
                f"{self.name}={self.recorded!r}: leave {flag or self.name} out to continue the run "
                f"as it was, or start a new run")


#: the numbers of a run: name -> ``check_number``'s bounds (crystal_lab.arguments)
NUMBERS = {
    "epochs": {"integer": True, "minimum": 1},
    "hidden": {"integer": True, "minimum": 2},
    "layers": {"integer": True, "minimum": 1},
    "seed": {"integer": True, "minimum": 0, "maximum": MAX_SEED},
    "batch_size": {"integer": True, "minimum": 1},
    "limit": {"integer": True, "minimum": 1, "allow_none": True, "note": " (or None for all)"},
    "max_steps": {"integer": True, "minimum": 1, "allow_none": True},
    "warmup": {"integer": True, "minimum": 1, "allow_none": True},
    "lr": {"above": 0},
    "max_minutes": {"above": 0, "allow_none": True},
    "save_every_minutes": {"above": 0},
    "ema_decay": {"minimum": 0, "below": 1},
    "p_csp": {"minimum": 0, "maximum": 1, "allow_none": True},
}
#: the other settings: name -> (test, what is allowed)
OTHERS = {
    "data": (lambda x: x is None or isinstance(x, str),
             "a data set name (or None for structures given in Python)"),
    "split": (lambda x: isinstance(x, str), "a split name: train, val or test"),
    "cosine": (lambda x: isinstance(x, bool), "True or False"),
    "symmetric": (lambda x: isinstance(x, bool), "True or False"),
    "compile": (lambda x: x is None or isinstance(x, bool), "True, False or None (on CUDA)"),
    "amp": (lambda x: x is None or isinstance(x, bool), "True, False or None (on CUDA)"),
    "buckets": (lambda x: x is None or (len(x) > 0 and all(is_number(b, integer=True) and b >= 1
                                                            for b in x)),
                "whole numbers >= 1 (or None)"),
}


def check(config: TrainConfig) -> None:
    """A one-line ``ValueError`` (``WrongType`` for a wrong type, also a ``TypeError``) naming
    the setting and what is allowed, for a nonsense setting; numbers become plain ``int`` or
    ``float`` (numpy's included), as a checkpoint stores them."""
    for name, bounds in NUMBERS.items():
        setattr(config, name, check_number(name, getattr(config, name), **bounds))
    if config.hidden % 2:
        raise ValueError(f"hidden must be an even whole number >= 2, got {config.hidden!r}")
    for name, (ok, allowed) in OTHERS.items():
        if not ok(getattr(config, name)):
            raise ValueError(f"{name} must be {allowed}, got {getattr(config, name)!r}")


def settings_of(config: TrainConfig | None, settings: dict) -> dict:
    """The settings a caller gave: ``config``'s fields (all of them) and keyword ``settings``
    (which win); an unknown name is a ``TypeError`` as for any keyword."""
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise TypeError(f"train() got an unexpected keyword argument {unknown[0]!r}")
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    given = config.to_dict() if config is not None else {}
    given.update(settings)
    TrainConfig(**given)   # every given value checked now, before any slow work
    return given


def resolve(given: dict, recorded: dict | None, source: str = "the run") -> TrainConfig:
    """The run's config: ``recorded`` (a checkpoint's, may be partial) with ``given`` on top,
    where a given run field (:data:`RUN_FIELDS`) must agree with a recorded one (else
    :class:`RunMismatch`)."""
    recorded = {k: v for k, v in (recorded or {}).items() if k in FIELDS}
    for name in RUN_FIELDS:
        if name in given and name in recorded and not same(given[name], recorded[name]):
            raise RunMismatch(name, given[name], recorded[name], source)
    return TrainConfig(**{**recorded, **given})


def same(a, b) -> bool:
    """Equal as settings (a path given as str or Path, a tuple read back as a list)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b or (a is not None and b is not None and str(a) == str(b))


__all__ = ["FIELDS", "RUN_FIELDS", "RunMismatch", "TrainConfig", "check", "resolve", "settings_of"]
