"""One record per evaluated row: the structure converted to pymatgen once, and why not when not.

Every metric of :mod:`crystal_lab.evaluate` reads a :class:`Row` instead of converting its input
again: :func:`rows_of` builds them once on entry (one ``Atoms -> Structure`` conversion per
structure), and a row that cannot be evaluated (None, another object, a disordered Structure,
no atoms, NaN coordinates, a cell that cannot be built) carries its ``problem`` instead, so one
bad row never stops a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..structures import (
    as_list,
    formula,
    is_single,
    reduced_formula,
    symbols_of,
    to_atoms,
    to_structure,
    unreadable_reason,
)


@dataclass(eq=False)
class Row:
    """One input structure: ``original`` as given, ``structure`` (pymatgen, None when
    ``problem``), its chemical ``symbols`` and ``problem`` ("" when it can be evaluated)."""

    original: Any
    structure: Any = None
    symbols: tuple[str, ...] = ()
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    @cached_property
    def atoms(self):
        """The row as ``ase.Atoms`` (the original when it is one)."""
        return to_atoms(self.original)

    @cached_property
    def formula(self) -> str:
        """The formula a student reads (:func:`crystal_lab.structures.formula`), "" if unknown."""
        return formula(list(self.symbols)) if self.symbols else ""

    @cached_property
    def reduced_formula(self) -> str:
        """pymatgen's reduced formula (the key structures are grouped by), "" if unknown."""
        return reduced_formula(self.structure if self.structure is not None else
                               self.original) if self.symbols else ""


def row_of(x: Any) -> Row:
    """The :class:`Row` of one input (a structure or anything else)."""
    if isinstance(x, Row):
        return x
    problem = unreadable_reason(x)
    symbols: tuple[str, ...] = ()
    if not problem or problem.startswith("non-finite"):
        symbols = tuple(symbols_of(x))  # the composition of a NaN structure is still known
    if problem:
        return Row(x, None, symbols, problem)
    volume = abs(float(np.linalg.det(np.asarray(x.cell[:] if hasattr(x, "cell")
                                                else x.lattice.matrix, dtype=float))))
    if not volume > 1e-9:
        return Row(x, None, symbols, f"cell volume {volume:.3g} Å^3: a flat or missing cell")
    try:
        structure = to_structure(x)
    except Exception as err:  # noqa: BLE001 -- any failure to build the cell is the verdict
        return Row(x, None, symbols, f"cannot build a periodic cell: {type(err).__name__}: {err}")
    return Row(x, structure, symbols)


def rows_of(structures) -> tuple[list[Row], bool]:
    """``(rows, single)``: one :class:`Row` per input, and whether one structure was given.

    ``None`` and other non-structures inside a list become rows with a problem; a bare
    non-structure (not in a list) is a ``TypeError``.
    """
    single = is_single(structures) or isinstance(structures, Row)
    items = [structures] if single else as_list(structures)
    return [row_of(x) for x in items], single
