"""The 2D toy's data: particles taking random steps, and point clouds to learn.

* ``random_walk``: physical diffusion. The displacement from the start becomes Gaussian with
  variance ``step**2 * n`` per axis after ``n`` steps (central limit theorem; Einstein 1905).
* ``spiral`` / ``word``: standardised 2D point clouds for the toy DDPM.
* ``energy_distance`` (Székely & Rizzo 2013): how close two point clouds are.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["energy_distance", "random_walk", "spiral", "word"]


def random_walk(n_particles: int = 2000, n_steps: int = 200, step: float = 0.05,
                box: float | None = None, seed: int = 0) -> np.ndarray:
    """Positions ``(n_steps + 1, n_particles, 2)`` of particles starting together at the origin.

    Each step adds independent Gaussian noise of standard deviation ``step`` per axis. With
    ``box`` the particles stay inside ``[-box, box]^2`` (reflecting walls), so their
    concentration evens out to uniform instead of spreading forever.
    """
    if n_particles < 1 or n_steps < 0 or step <= 0:
        raise ValueError("need n_particles >= 1, n_steps >= 0 and step > 0")
    rng = np.random.default_rng(seed)
    x = np.zeros((n_steps + 1, n_particles, 2))
    for k in range(n_steps):
        y = x[k] + step * rng.standard_normal((n_particles, 2))
        if box is not None:  # reflect at the walls: fold y into [-box, box]
            y = np.abs((y + box) % (4 * box) - 2 * box) - box
        x[k + 1] = y
    return x


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return x / x.std()


def spiral(n: int = 2000, turns: float = 2.0, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` points on an Archimedean spiral with a little Gaussian jitter, standardised."""
    rng = np.random.default_rng(seed)
    s = np.sqrt(rng.uniform(0.02, 1.0, n))  # uniform density along the arc
    theta = 2 * math.pi * turns * s
    x = np.stack([s * np.cos(theta), s * np.sin(theta)], 1)
    return _standardise(x + noise * rng.standard_normal(x.shape))


def word(text: str = "Hi", n: int = 3000, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` points filling the letters of ``text`` (matplotlib's DejaVu Sans), standardised.

    Two or three letters come out crisp after the default 8000 training steps (about 10 s on
    one core); a long word such as "DIFFUSION" has thin strokes after standardising and its
    samples stay blurred (though still far closer to the data than the noise).
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text.strip():
        raise ValueError("word() needs some visible text")
    path = TextPath((0, 0), text, size=1.0, prop=FontProperties(family="DejaVu Sans",
                                                                 weight="bold"))
    polys = path.to_polygons()
    lo = np.min([p.min(0) for p in polys], 0)
    hi = np.max([p.max(0) for p in polys], 0)
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(o) for o in out) < n:
        cand = rng.uniform(lo, hi, (4 * n, 2))
        # even-odd rule over all glyph outlines handles the holes of letters such as O and D
        inside = np.zeros(len(cand), bool)
        for p in polys:
            from matplotlib.path import Path

            inside ^= Path(p).contains_points(cand)
        out.append(cand[inside])
    return _standardise(np.concatenate(out)[:n])


def energy_distance(a: np.ndarray, b: np.ndarray, max_points: int = 1500, seed: int = 0) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` between two point clouds
    (Székely & Rizzo 2013); zero iff the distributions agree. Subsamples to ``max_points``."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) > max_points:
        a = a[rng.choice(len(a), max_points, replace=False)]
    if len(b) > max_points:
        b = b[rng.choice(len(b), max_points, replace=False)]

    def mean_dist(p, q):
        return float(np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).mean())

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)
