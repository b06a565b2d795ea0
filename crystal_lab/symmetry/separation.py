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


def _image_terms(lattice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 27 neighbouring cell shifts ``k`` and, per lattice, ``2 k G`` and ``k G k``."""
    images = _IMAGES.to(lattice)
    k_gram = images @ (lattice @ lattice.transpose(-1, -2))               # (B, 27, 3)
    return images, 2 * k_gram, (k_gram * images).sum(-1)[:, None, None]


def shortest_vectors(x: torch.Tensor, lattice: torch.Tensor, terms=None) -> torch.Tensor:
    """(B, N, 3) fractional positions and (B, 3, 3) lattices (rows) -> (B, N, N, 3) the
    Cartesian vector from atom ``j`` to the nearest periodic image of atom ``i``."""
    images, two_k_gram, k_gram_k = terms or _image_terms(lattice)
    d = x[:, :, None] - x[:, None, :]
    d = d - torch.round(d)
    # |(d + k) L|^2 = d G d + 2 k G d + k G k: the image nearest to each pair, without the
    # (B, N, N, 27, 3) tensor of image vectors
    best = images[(torch.einsum("bijc,bkc->bijk", d, two_k_gram) + k_gram_k).argmin(-1)]
    return torch.einsum("bijc,bcd->bijd", d + best, lattice)


def _pushes(vec: torch.Tensor, close: torch.Tensor, tie: torch.Tensor, lattice: torch.Tensor,
            d_min: float) -> torch.Tensor:
    """Each atom's fractional displacement (B, N, 3) away from its too-close neighbours (``close``,
    (B, N, N)): along the line from the neighbour, by the pair's whole shortfall."""
    dist = vec.norm(dim=-1)
    unit = torch.where(dist[..., None] > 1e-6, vec / dist.clamp_min(1e-6)[..., None], tie)
    shortfall = (d_min - dist).clamp_min(0.0) * close
    cart = (unit * shortfall[..., None]).sum(2)                           # (B, N, 3)
    return torch.linalg.solve(lattice.transpose(-1, -2), cart.transpose(-1, -2)).transpose(-1, -2)


def separate(x: torch.Tensor, lattice: torch.Tensor, mask: torch.Tensor, project,
             d_min: float = MIN_SEPARATION, iterations: int = 12) -> tuple[torch.Tensor, int]:
    """Positions ``x`` (B, N, 3, on their sites) with no pair closer than ``d_min`` where the
    sites' free directions allow it; ``project`` maps positions back onto the sites. Returns the
    positions and how many push rounds it took (0: nothing was too close)."""
    n = x.shape[1]
    order = torch.arange(n, device=x.device)
    pair = mask[:, :, None] & mask[:, None, :] & (order[:, None] != order)
    tie = torch.where(order[:, None] < order, 1.0, -1.0).to(x)[None, :, :, None] * _TIE.to(x)
    terms = _image_terms(lattice)
    for k in range(iterations):
        vec = shortest_vectors(x, lattice, terms)
        close = pair & ((vec * vec).sum(-1) < d_min * d_min)
        if not bool(close.any()):
            return x, k
        x = project(x + _pushes(vec, close, tie, lattice, d_min))
    return x, iterations
