"""The shipped CHGNet reference table of MP-20 and the convex hulls built from it.

``data/mp20_chgnet.npz`` holds one CHGNet single-point energy per atom for every structure of MP-20
val and test (18,093, made by ``scripts/build_reference_table.py``), plus elemental references
*built* from ASE's reference crystal structures for the elements that have no elemental phase in
val + test (marked ``built``). Arrays: ``row``, ``split`` (``val``/``test``/``built``),
``formula`` (reduced), ``n_atoms``, ``e_per_atom`` (eV/atom), ``built``, ``built_from``.
``row`` is the structure's index in its split as the data layer reads it
(``load_dataset("mp_20", split)[row]``, the data row after the CSV header; -1 for a built
reference). It holds no structures, no Materials Project ids and no Materials Project property
columns; it is derived from MP-20 (Materials Project via CDVAE, CC-BY 4.0). Loading it takes
milliseconds (numpy), and no CHGNet runs here.

:class:`ReferenceTable` answers three questions for a chemical system:

* which compounds compete (pymatgen ``PDEntry`` objects: CHGNet energy per atom x atoms);
* which elemental reference (chemical potential) each element gets, and whether it was built;
* which sub-systems the hull depends on have **no compound at all** in the table
  (:meth:`ReferenceTable.missing_subsystems`): there the hull is only the tie-line of the
  neighbouring phases, and an E_hull measured against it is too low. See docs/evaluation.md.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

TABLE_PATH = Path(__file__).resolve().parent / "data" / "mp20_chgnet.npz"
ALL_SPLITS = ("val", "test")


class ReferenceTableMissingError(FileNotFoundError):
    """The CHGNet reference table is not in the installed package."""


def table_path() -> Path:
    """Where the table is read from: ``$CRYSTAL_LAB_REFERENCE_TABLE`` or the packaged file."""
    return Path(os.environ.get("CRYSTAL_LAB_REFERENCE_TABLE", TABLE_PATH))


@lru_cache(maxsize=4)
def _load_arrays(path: str) -> dict[str, np.ndarray]:
    if not Path(path).exists():
        raise ReferenceTableMissingError(
            f"no CHGNet reference table at {path}: build it with scripts/build_reference_table.py")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _elements_of(formula: str) -> tuple[str, ...]:
    """Element symbols of a formula string, in order of appearance ("LiFePO4" -> Li, Fe, P, O)."""
    import re

    return tuple(dict.fromkeys(re.findall(r"[A-Z][a-z]?", formula)))


def subsystems(elements: Iterable[str]) -> list[tuple[str, ...]]:
    """The sub-systems an E_hull in ``elements`` depends on, as sorted element tuples.

    Every binary, ternary, ... strictly inside the system, and for a binary the binary itself
    (with no compound there the hull is the straight line between the two elements). The
    structure's own system with three or more elements is not required: a new ternary in a system
    with no known ternary is what a generative model should find, and the hull of its binaries is
    then the right reference.
    """
    els = sorted(set(elements))
    k = len(els)
    if k < 2:
        return []
    sizes = range(2, k + 1) if k == 2 else range(2, k)
    return [c for size in sizes for c in itertools.combinations(els, size)]


class ReferenceTable:
    """The CHGNet reference energies, restricted to some MP-20 ``splits``.

    ``splits``: ``("val", "test")`` (all of MP-20 here, the default) or ``("val",)`` (the
    training data only, e.g. to validate against held-out test structures). Compounds come from
    the selected splits only. Elemental references are the lowest-energy elemental phase of the
    selected splits; an element with none there takes the lowest elemental phase of the whole
    table, and failing that the built one (each case is named in ``source``).

    ``extra``: more reference phases as ``(formula, n_atoms, e_per_atom, name)`` tuples (for a
    hull of your own; see :meth:`with_structures`).
    """

    def __init__(self, splits: Sequence[str] = ALL_SPLITS, path: str | os.PathLike | None = None,
                 extra: Sequence[tuple[str, int, float, str]] = ()):
        self.path = Path(path) if path is not None else table_path()
        self.splits = tuple(splits)
        bad = set(self.splits) - set(ALL_SPLITS)
        if bad:
            raise ValueError(f"unknown split(s) {sorted(bad)}: choose from {ALL_SPLITS}")
        a = _load_arrays(str(self.path))
        self.row = a["row"].astype(int)
        self.split = a["split"]
        self.formula = a["formula"]
        self.n_atoms = a["n_atoms"].astype(int)
        self.e_per_atom = a["e_per_atom"].astype(float)
        self.built = a["built"].astype(bool)
        self.built_from = a["built_from"]
        self.extra = [tuple(x) for x in extra]
        self._elements = [_elements_of(str(f)) for f in self.formula]
        selected = np.isin(self.split, self.splits)
        self._by_system: dict[frozenset, list[int]] = {}
        self._elemental: dict[str, list[int]] = {}
        self._elemental_any: dict[str, list[int]] = {}
        for i, els in enumerate(self._elements):
            if len(els) == 1:
                self._elemental_any.setdefault(els[0], []).append(i)
                if selected[i] and not self.built[i]:
                    self._elemental.setdefault(els[0], []).append(i)
            elif selected[i]:
                self._by_system.setdefault(frozenset(els), []).append(i)
        self._extra_by_system: dict[frozenset, list[int]] = {}
        for j, (formula, _, _, _) in enumerate(self.extra):
            self._extra_by_system.setdefault(frozenset(_elements_of(formula)), []).append(j)
        self._diagrams: dict[frozenset, object] = {}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._by_system.values())
        return (f"ReferenceTable(splits={self.splits}, {n} compounds, "
                f"{len(self._elemental_any)} elements, {len(self.extra)} extra)")

    def with_structures(self, structures, progress: bool = False) -> ReferenceTable:
        """A copy with ``structures`` added as reference phases at their CHGNet single-point
        energies (no relaxation: give relaxed structures)."""
        from .chgnet import chgnet_energy
        from .rows import rows_of

        rows, _ = rows_of(list(structures))   # each read and converted once
        energies = chgnet_energy(rows, skip_too_large=True, skip_invalid=True,
                                 progress=progress) if rows else []
        extra = list(self.extra)
        for k, (row, e) in enumerate(zip(rows, energies, strict=True)):
            if np.isfinite(e):
                extra.append((row.reduced_formula, len(row.symbols), float(e), f"yours #{k}"))
        return ReferenceTable(self.splits, self.path, extra)

    # ------------------------------------------------------------------------------ elements
    def elements(self) -> set[str]:
        """Elements with an elemental reference (selected, other split or built)."""
        return set(self._elemental_any)

    def elemental_reference(self, element: str) -> tuple[float, str, bool]:
        """(CHGNet energy per atom, source, built) of the chemical potential of ``element``."""
        rows = self._elemental.get(element)
        where = "selected splits"
        if not rows:
            rows = [i for i in self._elemental_any.get(element, []) if not self.built[i]]
            where = "outside the selected splits"
        if not rows:
            rows = self._elemental_any.get(element, [])
        if not rows:
            raise KeyError(f"no elemental reference for {element} in the CHGNet reference table")
        i = min(rows, key=lambda r: self.e_per_atom[r])
        if self.built[i]:
            return float(self.e_per_atom[i]), f"built: {self.built_from[i]}", True
        return (float(self.e_per_atom[i]),
                f"{self.formula[i]} (MP-20 {self.split[i]} row {self.row[i]}, {where})", False)

    # ------------------------------------------------------------------------------ compounds
    def compounds(self, elements: Iterable[str]) -> list[int]:
        """Rows of the selected compounds whose elements are all in ``elements``."""
        els = sorted(set(elements))
        rows: list[int] = []
        for size in range(2, len(els) + 1):
            for combo in itertools.combinations(els, size):
                rows += self._by_system.get(frozenset(combo), [])
        return rows

    def _extra_rows(self, elements: Iterable[str]) -> list[int]:
        system = frozenset(elements)
        return [j for key, js in self._extra_by_system.items() if key <= system for j in js]

    def missing_subsystems(self, elements: Iterable[str]) -> list[str]:
        """The sub-systems (see :func:`subsystems`) with no compound in the selected table,
        as ``"Cl-Li"`` strings; empty when the reference is complete in this sense."""
        out = []
        for combo in subsystems(elements):
            key = frozenset(combo)
            has_extra = any(k == key for k in self._extra_by_system)
            if not self._by_system.get(key) and not has_extra:
                out.append("-".join(combo))
        return out

    def entries(self, elements: Sequence[str]) -> list:
        """pymatgen ``PDEntry`` objects (total CHGNet energies) of the elemental references and
        every selected compound whose elements are a subset of ``elements``."""
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        from ..structures import formula

        out = []   # each named by its formula as chemists write it (Li3PS2Cl2, not Li3P(SCl)2)
        for el in sorted(set(elements)):
            e, source, _ = self.elemental_reference(el)
            out.append(PDEntry(Composition({el: 1}), e, name=el, attribute=source))
        for i in self.compounds(elements):
            comp = Composition(str(self.formula[i]))
            scale = self.n_atoms[i] / comp.num_atoms
            out.append(PDEntry(comp * scale, self.e_per_atom[i] * self.n_atoms[i],
                               name=formula(comp), attribute=self.key(i)))
        for j in self._extra_rows(elements):
            key, n_atoms, e, name = self.extra[j]
            comp = Composition(key)
            out.append(PDEntry(comp * (n_atoms / comp.num_atoms), e * n_atoms,
                               name=formula(comp), attribute=name))
        return out

    def phase_diagram(self, elements: Sequence[str]):
        """pymatgen ``PhaseDiagram`` of the chemical system spanned by ``elements`` (cached)."""
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        key = frozenset(elements)
        if key not in self._diagrams:
            self._diagrams[key] = PhaseDiagram(self.entries(sorted(key)))
        return self._diagrams[key]

    def key(self, i: int) -> str:
        """The unique name of table row ``i``: ``"val:812"`` (split and row in the data set, the
        ``attribute`` of its ``PDEntry``) or ``"built:Al"``."""
        if self.built[i]:
            return f"built:{self.formula[i]}"
        return f"{self.split[i]}:{self.row[i]}"

    def rows(self, split: str | None = None) -> np.ndarray:
        """Indices of the table rows of one split (all measured rows when ``None``)."""
        if split is None:
            return np.flatnonzero(~self.built)
        return np.flatnonzero(self.split == split)


@lru_cache(maxsize=4)
def reference_table(splits: tuple[str, ...] = ALL_SPLITS) -> ReferenceTable:
    """The shipped table restricted to ``splits``, loaded once per session."""
    return ReferenceTable(splits)
