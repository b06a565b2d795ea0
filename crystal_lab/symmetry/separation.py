"""Keep the atoms of a templated crystal apart: a collision-aware step of the projection.

Projected onto its Wyckoff sites, a crystal can still put two atoms on one point: an orbit's free
coordinate slides onto a special position, where two of its own members coincide (I4/mmm 4e at
``(0, 0, +-z)`` with ``z -> 0``), or two orbits that share a free line (R-3m 6c and 6c at
``(0, 0, z)`` and ``(0, 0, z')``) meet. The shipped network, asked only about the free directions
the template leaves, drives some of them there: measured on 40 MP-20 test targets with their
true templates (50 steps), 9 results had a pair closer than 0.5 A (4 in one orbit, 5 across
orbits, all under 0.07 A: merged atoms, never a cell too small), and 6 of 50 unconditional ones.

:func:`separate` pushes every pair closer than ``d_min`` apart along the line joining them (each
atom by the whole shortfall), and sends the pushed positions through the projection again, which
pulls each push back to its orbit's representative, averages it over the orbit and keeps only
the site's free directions. It repeats until no pair is closer (or ``iterations`` are spent).
Pinned atoms do not move; two pinned atoms closer than ``d_min`` (only a cell far too small does
that) stay as they are. Only the coordinates move, never the lattice or the elements, and
nothing about any target is used: ``d_min`` is one number for every crystal.
"""
from __future__ import annotations

import itertools

import torch

#: the shortest distance the separation allows (Angstrom): the nearest pair of 99.98% of MP-20
#: val's crystals is at least this far apart (0.75% have one under 1.0 A: O-H bonds)
MIN_SEPARATION = 0.9

_IMAGES = torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), dtype=torch.float64)
#: the direction two atoms on one point are pushed apart along (any fixed direction will do: the
#: site projection keeps its part along the free directions)
_TIE = torch.tensor([0.36, 0.48, 0.8], dtype=torch.float64)


def shortest_vectors(x: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) fractional positions and (B, 3, 3) lattices (rows) -> (B, N, N, 3) the
    Cartesian vector from atom ``j`` to the nearest periodic image of atom ``i``."""
    d = x[:, :, None] - x[:, None, :]
    d = d - torch.round(d)
    images = d[:, :, :, None] + _IMAGES.to(x)                           # (B, N, N, 27, 3)
    cart = torch.einsum("bijkc,bcd->bijkd", images, lattice)
    best = (cart * cart).sum(-1).argmin(-1)
    return torch.gather(cart, 3, best[..., None, None].expand(*best.shape, 1, 3)).squeeze(3)


def pushes(x: torch.Tensor, lattice: torch.Tensor, mask: torch.Tensor,
           d_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each atom's fractional displacement away from its too-close neighbours (B, N, 3), and the
    number of pairs closer than ``d_min`` in each crystal (B,)."""
    vec = shortest_vectors(x, lattice)
    dist = vec.norm(dim=-1)
    n = x.shape[1]
    pair = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=x.device)
    close = pair & (dist < d_min)
    tie = torch.where(torch.arange(n, device=x.device)[:, None] < torch.arange(n, device=x.device),
                      1.0, -1.0).to(x)[None, :, :, None] * _TIE.to(x)
    unit = torch.where(dist[..., None] > 1e-6, vec / dist.clamp_min(1e-6)[..., None], tie)
    shortfall = (d_min - dist).clamp_min(0.0) * close
    cart = (unit * shortfall[..., None]).sum(2)                        # (B, N, 3)
    frac = torch.linalg.solve(lattice.transpose(-1, -2), cart.transpose(-1, -2)).transpose(-1, -2)
    return frac, close.sum((1, 2)) // 2


def separate(x: torch.Tensor, lattice: torch.Tensor, mask: torch.Tensor, project,
             d_min: float = MIN_SEPARATION, iterations: int = 12) -> tuple[torch.Tensor, int]:
    """Positions ``x`` (B, N, 3, on their sites) with no pair closer than ``d_min`` where the
    sites' free directions allow it; ``project`` maps positions back onto the sites. Returns the
    positions and how many push rounds it took (0: nothing was too close)."""
    for k in range(iterations):
        move, n_close = pushes(x, lattice, mask, d_min)
        if not bool(n_close.any()):
            return x, k
        x = project(x + move)
    return x, iterations
