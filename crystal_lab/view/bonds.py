"""Bond and periodic-image geometry: which atoms are bonded, and what a picture must draw.

A bond is a contact closer than 1.1 x the sum of covalent radii (``ase.neighborlist``).
Pictures draw bonds the way the Materials Project's crystal viewer does: a bond that leaves
the cell is drawn whole, to the periodic image of its partner, and that image is drawn too,
so no stick ends in empty space (:func:`bond_geometry`).
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
from ase import Atoms

__all__ = ["bond_geometry", "bond_pairs", "boundary_images", "cell_edges", "corners"]


def corners(cell) -> np.ndarray:
    """The 8 corners of the cell (Cartesian, Å)."""
    return np.array(list(itertools.product((0, 1), repeat=3)), float) @ np.asarray(cell)


def cell_edges(cell):
    """x, y, z lists of the 12 cell edges, separated by ``None`` (3 entries per edge)."""
    cell = np.asarray(cell)
    xs, ys, zs = [], [], []
    for a in itertools.product((0, 1), repeat=3):
        for k in range(3):
            if a[k] == 0:
                b = list(a)
                b[k] = 1
                p, q = np.array(a, float) @ cell, np.array(b, float) @ cell
                xs += [p[0], q[0], None]
                ys += [p[1], q[1], None]
                zs += [p[2], q[2], None]
    return xs, ys, zs


@functools.cache
def _is_metal(z: int) -> bool:
    from crystal_lab.structures import is_metal

    return z > 0 and is_metal(z)


def bond_pairs(atoms: Atoms, scale: float = 1.1, max_bonds: int = 8):
    """Bonded pairs ``(i, j, shift)``: closer than ``scale`` x the sum of covalent radii.

    Two kinds of contact are left out because they crowd the picture of ionic crystals:
    metal-metal contacts (unless every atom is a metal) and all contacts of an atom with more
    than ``max_bonds`` of them (e.g. the 12-coordinated perovskite A site). Masked atoms
    (Z = 0) get no bonds.
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list

    if (atoms.numbers > 0).sum() < 1 or abs(atoms.cell.volume) < 1e-8:
        return []
    cut = [
        c * scale if z > 0 else 0.0
        for c, z in zip(natural_cutoffs(atoms), atoms.numbers, strict=True)
    ]
    i, j, shifts = neighbor_list("ijS", atoms, cut)
    metal = np.array([_is_metal(int(z)) for z in atoms.numbers])
    keep_metal_bonds = bool(metal[atoms.numbers > 0].all())
    pairs = [(a, b, s) for a, b, s in zip(i, j, shifts, strict=True)
             if keep_metal_bonds or not (metal[a] and metal[b])]
    count = np.bincount([a for a, _, _ in pairs], minlength=len(atoms))
    return [(a, b, s) for a, b, s in pairs if count[a] <= max_bonds and count[b] <= max_bonds]


def boundary_images(atoms: Atoms, tol: float = 1e-3):
    """Periodic images of atoms lying on cell faces, edges and corners (the other copies of a
    corner atom, ...). Returns ``(indices, fractional offsets)`` relative to the wrapped atoms."""
    frac = atoms.get_scaled_positions(wrap=True)
    frac[np.abs(frac - 1) < tol] = 0.0
    idx, out = [], []
    for k, f in enumerate(frac):
        on = [d for d in range(3) if f[d] < tol]
        for r in range(1, len(on) + 1):
            for dims in itertools.combinations(on, r):
                g = np.zeros(3)
                g[list(dims)] = 1.0
                idx.append(k)
                out.append(g)
    return idx, np.array(out, float).reshape(-1, 3)


def bond_geometry(atoms: Atoms, images: bool = True, tol: float = 1e-3):
    """What to draw for ``atoms`` (wrapped into the cell first): ``(segments, image_idx,
    image_pos)``.

    ``segments``: bonds as pairs of Cartesian end points, each end on a drawn atom.
    ``image_idx`` / ``image_pos``: the periodic images to draw besides the cell's atoms: with
    ``images=True`` the boundary copies of face/edge/corner atoms, and always the images that
    a bond leaving the cell reaches. Each bond is drawn once from the atom inside the cell.
    """
    atoms = atoms.copy()
    atoms.wrap(eps=1e-6)
    cell = np.asarray(atoms.cell)
    frac = atoms.get_scaled_positions(wrap=False)
    drawn: dict[tuple, tuple[int, np.ndarray]] = {}   # rounded frac position -> (atom, frac)
    if images:
        for k, off in zip(*boundary_images(atoms, tol), strict=True):
            f = frac[k] + off
            drawn[tuple(np.round(f, 3))] = (k, f)
    segments, seen = [], set()
    for a, b, s in bond_pairs(atoms):
        p, q = frac[a], frac[b] + s
        key = (a, b, tuple(s)) if a < b else (b, a, tuple(-s))
        if a == b:
            key = (a, a, max(tuple(s), tuple(-s)))
        if key in seen:
            continue
        seen.add(key)
        segments.append((p @ cell, q @ cell))
        if np.any(s):
            drawn.setdefault(tuple(np.round(q, 3)), (int(b), q))
    inside = {tuple(np.round(f, 3)) for f in frac}
    extra = [(k, f) for key, (k, f) in drawn.items() if key not in inside]
    idx = [k for k, _ in extra]
    pos = np.array([f for _, f in extra], float).reshape(-1, 3) @ cell
    return segments, idx, pos
