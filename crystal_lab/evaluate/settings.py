"""One frozen settings object for the CHGNet stability evaluation.

``StabilitySettings`` holds the six settings (relax, steps, fmax, max_atoms, threshold, progress)
that ``stability``, ``e_above_hull``, ``formation_energy``, ``summarize`` and the dashboard share.
Each of those functions also accepts the single keywords as overrides, e.g.
``summarize(x, steps=30)`` is ``summarize(x, settings=StabilitySettings(steps=30))``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from ..arguments import check_number

#: the largest cell CHGNet evaluates (memory; see :mod:`.chgnet`). Not the model's atom limit.
MAX_ATOMS_CHGNET = int(os.environ.get("CRYSTAL_LAB_CHGNET_MAX_ATOMS", "64"))
STABILITY_THRESHOLD = 0.1   # eV/atom above hull (MatterGen's S.U.N. "stable")
RELAX_STEPS = 100           # FIRE step cap for relaxations
#: the most FIRE steps one relaxation may take (1000 steps: about 6 min for 20 atoms on one
#: shared core); env ``CRYSTAL_LAB_MAX_RELAX_STEPS`` to raise it
MAX_RELAX_STEPS = int(os.environ.get("CRYSTAL_LAB_MAX_RELAX_STEPS", "1000"))
#: measured: 30 FIRE steps of a 20-atom MP-20 cell took 10.6 s (one thread, load average ~7)
SECONDS_PER_STEP = 0.35
RELAX_FMAX = 0.1            # eV/A force convergence


def check_relax_arguments(steps, fmax) -> None:
    """``ValueError`` unless ``steps`` is a whole number >= 0 and ``fmax`` a finite number > 0."""
    check_number("steps", steps, integer=True, minimum=0)
    if steps > MAX_RELAX_STEPS:
        minutes = steps * SECONDS_PER_STEP / 60
        raise ValueError(
            f"steps={steps} FIRE steps would take up to about {minutes:.0f} min per structure; the "
            f"cap is {MAX_RELAX_STEPS} (set CRYSTAL_LAB_MAX_RELAX_STEPS to raise it)"
        )
    check_number("fmax", fmax, above=0, note=" (eV/A)")


@dataclass(frozen=True)
class StabilitySettings:
    """How evaluated structures go through CHGNet, and the "stable" cut.

    ``relax``: relax each evaluated structure (FIRE, at most ``steps`` steps, forces below
    ``fmax`` eV/A, cell too) before taking its energy; ``False`` uses the energy as given.
    ``max_atoms``: larger cells are refused (memory). ``threshold``: E_hull (eV/atom) below which a
    structure counts as stable. ``progress``: show progress bars. The reference phases are never
    relaxed: they come from the shipped table.
    """

    relax: bool = True
    steps: int = RELAX_STEPS
    fmax: float = RELAX_FMAX
    max_atoms: int = MAX_ATOMS_CHGNET
    threshold: float = STABILITY_THRESHOLD
    progress: bool = True

    def __post_init__(self):
        if not isinstance(self.relax, (bool, np.bool_)):
            raise TypeError(f"relax must be True or False, got {self.relax!r}")
        check_relax_arguments(self.steps, self.fmax)
        check_number("max_atoms", self.max_atoms, integer=True, minimum=1)
        check_number("threshold", self.threshold,
                     note=f" of eV/atom (MatterGen's cut is {STABILITY_THRESHOLD})")
        if not isinstance(self.progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False, got {self.progress!r}")

    def replace(self, **changes) -> StabilitySettings:
        """A copy with ``changes`` (None values are ignored)."""
        return resolve(self, **changes)


def resolve(settings: StabilitySettings | None = None, **overrides) -> StabilitySettings:
    """``settings`` (default: the defaults) with the non-None keyword ``overrides`` applied."""
    base = settings if settings is not None else StabilitySettings()
    if not isinstance(base, StabilitySettings):
        raise TypeError(f"settings must be a StabilitySettings, got {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(StabilitySettings)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)}: choose from {sorted(names)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **changes) if changes else base


def progress_bar(iterable, progress: bool, desc: str, total: int | None = None):
    """``iterable`` in a tqdm bar when ``progress`` is on (the evaluation's one bar helper)."""
    if not progress:
        return iterable
    # a finished bar is hidden, not closed (after a reload: no "model not found")
    from ..progress import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False)
