"""A symmetry template: a space group and its occupied Wyckoff orbits, with no coordinates.

A template is what DiffCSP++ conditions on: "Fm-3m, Na on 4a, Cl on 4b". It says which atoms
move together (one orbit = one Wyckoff position's images under the group) and which
coordinates are free; the diffusion model chooses the rest (free coordinates, lattice lengths
and angles, and the elements of open orbits).

Multiplicities are counted in the cell the model works in: the primitive cell (MP-20's CIFs are
primitive), so ``Fm-3m`` 4a counts 1 atom, not 4.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Orbit:
    """One occupied Wyckoff orbit: its letter (ITA standard setting), the number of atoms it puts
    in the primitive cell, and its element (``None``: open, chosen by the model)."""

    letter: str
    multiplicity: int
    element: str | None = None


@dataclass(frozen=True)
class Template:
    """A space group (1-230) and its occupied orbits, ordered by (letter, element)."""

    space_group: int
    orbits: tuple[Orbit, ...]

    @property
    def n_atoms(self) -> int:
        """Atoms in the primitive cell."""
        return sum(o.multiplicity for o in self.orbits)
