"""How loaded the machine is right now, as a factor for the browser tests' time limits.

A short CPU-bound probe (pure Python) measures its wall time and the CPU time it got: on a quiet
core the two agree (factor 1); with other processes competing for the cores the probe gets a
share of one and the ratio grows (about 3 with four busy processes beside it on 2 cores). The
factor needs no reference timing, so it means the same on a fast and a slow machine. Time limits
are a generous quiet-machine budget (at least 5x the measured quiet time) times this factor.
"""

from __future__ import annotations

import statistics
import time


def _probe(n: int = 1_200_000) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for i in range(n):
        total += i * i % 7
    return time.perf_counter() - wall, max(time.process_time() - cpu, 1e-6)


def load_factor(repeats: int = 5, cap: float = 10.0) -> float:
    """Median wall/CPU time of ``repeats`` probes (about 0.1 s each when quiet), between 1 and
    ``cap``."""
    ratios = [wall / cpu for wall, cpu in (_probe() for _ in range(repeats))]
    return min(max(statistics.median(ratios), 1.0), cap)
