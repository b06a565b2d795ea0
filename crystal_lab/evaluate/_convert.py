"""Small helpers shared by the evaluation modules: accept ase.Atoms or pymatgen Structures.

Every public function in :mod:`crystal_lab.evaluate` accepts one structure or a list of them,
each an ``ase.Atoms`` or a ``pymatgen.core.Structure``. One structure in gives one answer out;
a list in gives a list out.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def is_single(x: Any) -> bool:
    """True for one structure (Atoms or Structure), False for a list of them."""
    from ase import Atoms
    from pymatgen.core import Structure

    return isinstance(x, (Atoms, Structure))


def as_list(x: Any) -> list:
    """Wrap a single structure in a list; pass lists (or other iterables) through as a list."""
    if is_single(x):
        return [x]
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise TypeError(f"expected ase.Atoms, pymatgen Structure or a list of them, got {type(x).__name__}")
    return list(x)


def to_structure(x: Any):
    """Return a pymatgen Structure for an ase.Atoms or Structure (no copy for a Structure)."""
    from ase import Atoms
    from pymatgen.core import Structure

    if isinstance(x, Structure):
        return x
    if isinstance(x, Atoms):
        return Structure(x.cell[:], x.get_chemical_symbols(), x.get_scaled_positions(wrap=False),
                         coords_are_cartesian=False, validate_proximity=False)
    raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")


def to_atoms(x: Any):
    """Return an ase.Atoms (periodic in 3D) for an ase.Atoms or Structure (no copy for Atoms)."""
    from ase import Atoms
    from pymatgen.core import Structure

    if isinstance(x, Atoms):
        return x
    if isinstance(x, Structure):
        return Atoms(numbers=[site.specie.Z for site in x], cell=x.lattice.matrix,
                     scaled_positions=x.frac_coords, pbc=True)
    raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")


def like_input(atoms, original):
    """Return ``atoms`` as the same type as ``original`` (Atoms in -> Atoms out)."""
    from pymatgen.core import Structure

    return to_structure(atoms) if isinstance(original, Structure) else atoms


def symbols_of(x: Any) -> list[str]:
    """Chemical symbols of a structure without building a pymatgen object."""
    from ase import Atoms

    if isinstance(x, Atoms):
        return x.get_chemical_symbols()
    return [site.specie.symbol for site in x]


def reduced_formula(x: Any) -> str:
    """pymatgen reduced formula ("NaCl") of a structure, a Composition or a formula string."""
    import warnings

    from pymatgen.core import Composition

    if isinstance(x, str):
        x = Composition(x)
    if not isinstance(x, Composition):
        counts: dict[str, int] = {}
        for s in symbols_of(x):
            counts[s] = counts.get(s, 0) + 1
        if not counts:
            return ""
        x = Composition(counts)
    with warnings.catch_warnings():  # formulas sort by electronegativity: noble gases warn
        warnings.simplefilter("ignore", UserWarning)
        return x.reduced_formula


def is_finite(x: Any) -> bool:
    """True when the cell and all coordinates are finite numbers."""
    from ase import Atoms

    if isinstance(x, Atoms):
        cell, coords = np.asarray(x.cell[:]), x.positions
    else:
        cell, coords = x.lattice.matrix, x.frac_coords
    return bool(np.isfinite(cell).all() and np.isfinite(coords).all())
