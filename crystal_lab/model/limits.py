"""The caps on one sampling run, and the estimates their refusals quote.

``sample`` refuses more than :data:`MAX_SAMPLES` structures, more than :data:`MAX_STEPS` reverse
steps, and batches of more than :data:`MAX_BATCH_SIZE` structures, each with an estimate of what
it would cost, unless it is given ``allow_large=True`` (``crystal-lab sample --allow-large``).

It refuses guidance weights above :data:`MAX_GUIDANCE` and :data:`MAX_PROPERTY_GUIDANCE`
always: beyond them the shipped model's samples break (measured, see each constant), so a larger
weight teaches nothing but a broken cell.
"""
from __future__ import annotations

import numpy as np

from ..arguments import check_number
from ..prompts import PromptError

#: ``sample`` refuses more structures than this unless ``allow_large=True``
MAX_SAMPLES = 10_000
#: ``sample`` refuses more reverse steps than this unless ``allow_large=True``
MAX_STEPS = 1000
#: ``sample`` refuses batches of more structures than this unless ``allow_large=True``
MAX_BATCH_SIZE = 1024
#: the largest classifier-free guidance weight of the elements ``sample`` takes (1 = none).
#: Measured with the shipped weights at 50 steps, a sample "plausible" when every distance is
#: above 0.5 Å and the volume 5-60 Å^3 per atom: 32 "Li P S Cl" cells of 8 atoms were all
#: plausible at guidance 1 and 5, but only 81% at 10 (volumes up to 219 Å^3 per atom), 78% at 20
#: and 28% at 1000; 16 "Ti O" (3 atoms) and 16 "Ba Ti O" (5 atoms) cells were all plausible up
#: to 10, and at 1e6 a 3-atom cell of 2,266 Å^3 came out. So: at most 5.
MAX_GUIDANCE = 5.0
#: the largest property guidance weight (crystal system and energy; 0 = none, MatterGen's
#: gamma = 2 is 1). Measured as for :data:`MAX_GUIDANCE`, with ``crystal_system="cubic"`` and a
#: -2 eV/atom target: 16 "Ba Ti O" cells were all plausible from 0 to 5, but at 10 and 20 one had
#: two atoms closer than 0.5 Å; 32 more were 97% plausible from 0 to 10 and 47% at 1000; at 1e6 a
#: 3-atom "Ti O" cell of 1.4 Å^3 came out. So: at most 5, where the first break was seen.
MAX_PROPERTY_GUIDANCE = 5.0
#: structures per second at default steps, for the estimate in that refusal
#: (benchmarks/bench_model.py)
SAMPLES_PER_SECOND = {"cpu": 10.0, "cuda": 500.0}
#: memory a batch needs per pair feature (batch x atoms^2 x hidden float32 values), for the estimate
#: in that refusal: 256 cells of 20 atoms at hidden 384 peaked about 200 MB above the loaded model
BYTES_PER_PAIR_FEATURE = 8


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_seconds(n_samples: int, steps: int, default_steps: int, device: str) -> float:
    """About how long sampling takes on ``device`` ("cpu" or "cuda"): it scales with structures
    and steps from :data:`SAMPLES_PER_SECOND` at the model's default steps."""
    per_second = SAMPLES_PER_SECOND["cuda" if device == "cuda" else "cpu"]
    return n_samples * steps / default_steps / per_second


def estimate_bytes(batch_size: int, n_atoms: int, hidden: int) -> float:
    """About how much memory one batch needs while sampling (its all-pairs features dominate)."""
    return BYTES_PER_PAIR_FEATURE * batch_size * n_atoms * n_atoms * hidden


def check_size(n_samples: int, steps: int, batch_size: int, allow_large, *, seconds: float,
               batch_bytes: float, device: str, max_atoms: int, full_steps: int) -> None:
    """Refuse a run beyond the caps (one :class:`PromptError` line with the estimate) unless
    ``allow_large`` is True; ``batch_size`` is the size of the largest batch the run makes."""
    if not isinstance(allow_large, (bool, np.bool_)):
        raise PromptError(f"allow_large must be True or False, got {allow_large!r}")
    if allow_large or (
        n_samples <= MAX_SAMPLES and steps <= MAX_STEPS and batch_size <= MAX_BATCH_SIZE
    ):
        return
    took = duration(seconds)
    if n_samples > MAX_SAMPLES:
        what = (f"{n_samples} samples would take about {took} on {device} at {steps} steps (cap "
                f"{MAX_SAMPLES})")
    elif steps > MAX_STEPS:
        what = (f"steps={steps} would take about {took} on {device} for {n_samples} structure(s) "
                f"(cap {MAX_STEPS}; 'full' is {full_steps})")
    else:
        raise PromptError(f"batches of {batch_size} structures would need about "
                          f"{batch_bytes / 1e9:.1f} GB of "
                          f"memory for cells of {max_atoms} atoms (batch_size cap "
                          f"{MAX_BATCH_SIZE}); pass a "
                          f"smaller batch_size, or allow_large=True to run it anyway")
    raise PromptError(f"{what}; pass allow_large=True to run it anyway")


def check_guidance(guidance, property_guidance) -> tuple[float | None, float | None]:
    """``sample``'s guidance weights: None (the config's) or a number in the range of
    this module (where each constant says why)."""
    return (check_number("guidance", guidance, minimum=0, maximum=MAX_GUIDANCE,
                         allow_none=True, note=" (1 = no guidance; beyond that the samples break)"),
            check_number("property_guidance", property_guidance, minimum=0,
                         maximum=MAX_PROPERTY_GUIDANCE, allow_none=True,
                         note=" (0 = none; beyond that the samples break)"))


__all__ = ["MAX_BATCH_SIZE", "MAX_GUIDANCE", "MAX_PROPERTY_GUIDANCE", "MAX_SAMPLES", "MAX_STEPS",
           "check_guidance", "check_size", "duration", "estimate_bytes", "estimate_seconds"]
