"""One record per evaluated input: made once, carried to every metric.

:func:`rows_of` makes one :class:`Row` per input on entry: the input is read once
(``unreadable_reason``, ``symbols_of``), converted once (``Atoms -> Structure``), and its
validity verdicts are computed at most once and kept on the row (``Row.verdicts``, filled by
:mod:`.validation`). Matching, uniqueness, novelty, CHGNet energies and relaxations, the hull and
the dashboard all read the row (its ``structure``, ``atoms``, ``symbols`` and verdicts) instead
of converting or checking the input again. A row that cannot be evaluated (None, another object,
a disordered Structure, no atoms, NaN coordinates, a cell that cannot be built) carries its
``problem`` instead, so one bad row never stops a batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..structures import (
    as_list,
    formula,
    is_single,
    reduced_formula,
    space_group,
    symbols_of,
    to_atoms,
    to_structure,
    unreadable_reason,
)


@dataclass(eq=False)
class Row:
    """One input: ``original`` as given, ``structure`` (pymatgen, None when ``problem``), its
    chemical ``symbols``, ``problem`` ("" when it can be evaluated) and ``verdicts`` (the
    validity verdicts computed so far, by their settings; see :mod:`.validation`)."""

    original: Any
    structure: Any = None
    symbols: tuple[str, ...] = ()
    problem: str = ""
    verdicts: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def n_atoms(self) -> int:
        """Atoms (sites) of the input; 0 for something that is not a structure."""
        return len(self.original) if is_single(self.original) else 0

    @cached_property
    def atoms(self):
        """The row as ``ase.Atoms``: the original when it is one, else converted once."""
        return to_atoms(self.original)

    @cached_property
    def formula(self) -> str:
        """The formula a person reads (:func:`crystal_lab.structures.formula`), "" if unknown."""
        return formula(list(self.symbols)) if self.symbols else ""

    @cached_property
    def reduced_formula(self) -> str:
        """pymatgen's reduced formula (the key structures are grouped by), "" if unknown."""
        return reduced_formula(list(self.symbols)) if self.symbols else ""

    @cached_property
    def space_group(self) -> tuple[str, int | None]:
        """``(symbol, number)`` of the structure (``("", None)`` with a problem or masked atoms)."""
        if self.problem or "X" in self.symbols:
            return "", None
        return space_group(self.structure, checked=True)


def row_of(x: Any) -> Row:
    """The :class:`Row` of one input (a structure or anything else); a Row is returned as is."""
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
    non-structure (not in a list) is a ``TypeError``, and so is a dict (its keys are not
    structures: pass ``list(d.values())``). Rows pass through unchanged.
    """
    single = is_single(structures) or isinstance(structures, Row)
    items = [structures] if single else as_list(structures)
    return [row_of(x) for x in items], single
