"""Formation energy and energy above the convex hull (E_hull) against the shipped CHGNet table.

Energies come from CHGNet (:mod:`.chgnet`). Its energies are on the Materials Project scale, so
formation energies and hulls built from CHGNet energies of *every* phase are self-consistent. We
never mix CHGNet and DFT energies.

Definitions used here:

* ``energy per atom``: CHGNet's total energy / number of atoms (eV/atom), of the structure as given
  or after a bounded FIRE relaxation (:func:`~crystal_lab.evaluate.chgnet.relax`).
* ``formation energy``: E(structure)/atom - sum_i x_i mu_i, with mu_i the CHGNet energy per atom of
  the elemental reference of element i (the lowest elemental phase of MP-20, or one built from
  ASE's reference crystal where MP-20 has none).
* ``E_hull`` (energy above the convex hull): distance in eV/atom from the lower convex hull of the
  *reference* phases of the same chemical system, from pymatgen's ``PhaseDiagram``
  (``get_decomp_and_e_above_hull(..., allow_negative=True)``: a negative value means the structure
  lies *below* the reference hull: it is more stable than every known mixture of phases, or the
  reference misses a phase). Generated structures do not enter the hull.
* ``stable`` (MatterGen's S.U.N., Zeni et al. Nature 2025): E_hull below a threshold, by default
  0.1 eV/atom (MatterGen's "stable" cut; 0 would be strict thermodynamic stability).
* ``hull_complete``: every sub-system the E_hull depends on (all binaries, ...; see
  :func:`~crystal_lab.evaluate.reference_phases.subsystems`) has at least one compound in the
  reference; ``missing_subsystems`` names those that have none. Where the reference is incomplete
  the E_hull may be too low (a missing phase can only lower the hull).

The reference phases are the shipped CHGNet table of all of MP-20 val + test
(:mod:`.reference_phases`, single-point energies of the DFT-relaxed structures, computed once by
``scripts/build_reference_table.py``): nothing about the reference is computed at evaluation time.
Only the evaluated structures run through CHGNet.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structures import as_list, is_metal
from .chgnet import chgnet_energy, relax_one
from .reference_phases import ALL_SPLITS, ReferenceTable, reference_table
from .rows import row_of, rows_of
from .settings import STABILITY_THRESHOLD, StabilitySettings, progress_bar, resolve

# --------------------------------------------------------------------------- elemental references

def elemental_candidates(symbol: str) -> list[tuple[str, Any, bool]]:
    """Simple structures of one element: ``(description, Atoms, relax_cell)`` candidates.

    ASE's reference crystal (when ``ase.build.bulk`` can build it), simple cubic, fcc, bcc and
    diamond with nearest-neighbour distances from the covalent radius, and for non-metals a dimer
    in a 10 A box (positions relaxed only).
    """
    from ase import Atoms
    from ase.build import bulk
    from ase.data import atomic_numbers, covalent_radii, reference_states

    z = atomic_numbers[symbol]
    r = float(covalent_radii[z])
    out = []
    state = reference_states[z] or {}
    if state.get("symmetry") in {"fcc", "bcc", "hcp", "diamond", "sc"}:
        out.append((f"ase.build.bulk('{symbol}') {state['symmetry']}", bulk(symbol), True))
    lattice = {"sc": 2 * r, "fcc": 2 * np.sqrt(2) * r, "bcc": 4 * r / np.sqrt(3),
               "diamond": 8 * r / np.sqrt(3)}
    for kind, a in lattice.items():
        if state.get("symmetry") != kind:
            out.append((f"{kind} {symbol}, a from covalent radius", bulk(symbol, kind, a=a), True))
    if not is_metal(symbol):
        d = state["d"] if state.get("symmetry") == "diatom" else 2 * r
        dimer = Atoms(symbol * 2, positions=[[5, 5, 5 - d / 2], [5, 5, 5 + d / 2]],
                      cell=[10, 10, 10], pbc=True)
        out.append((f"{symbol}2 molecule in a 10 A box", dimer, False))
    return out



@dataclass(frozen=True)
class ElementReference:
    """The chemical potential of one element: CHGNet ``energy_per_atom``, its source, ``built``."""

    symbol: str
    energy_per_atom: float
    source: str
    built: bool = False


# --------------------------------------------------------------------------- hull

@dataclass(frozen=True)
class Stability:
    """CHGNet stability of one structure (energies in eV/atom; nan where not computed).

    ``hull_complete``: every sub-system the E_hull depends on has a compound in the reference
    (None for a structure that cannot be read); ``missing_subsystems``: those that have none
    ("Cl-Li"); ``built_references``: elements whose chemical potential comes from a built
    structure (no elemental phase in MP-20).
    """

    energy_per_atom: float
    formation_energy_per_atom: float
    e_above_hull: float
    relaxed: Any = None
    reason: str = ""
    hull_complete: bool | None = False
    missing_subsystems: tuple[str, ...] = ()
    built_references: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        """An E_hull that was computed against a complete reference."""
        return bool(self.hull_complete and np.isfinite(self.e_above_hull))

    def verdict(self, threshold: float = STABILITY_THRESHOLD) -> tuple[str, str]:
        """``(verdict, note)``: "yes", "no" or "unknown", and one plain sentence saying why.

        "yes": E_hull below ``threshold`` against a complete reference. "no": E_hull at or above
        it (also with an incomplete reference: a missing phase can only lower the hull, so the
        true E_hull is at least as high). "unknown": below the cut while the reference lacks a
        phase the hull needs (named), or no E_hull at all (the CHGNet error is named).
        """
        e = self.e_above_hull
        if not np.isfinite(e):
            return "unknown", f"unknown: no E_hull could be computed ({self.reason or 'no energy'})"
        measured = f"E_hull {e:.3f} eV/atom"
        if self.hull_complete:
            if e < threshold:
                return "yes", f"yes: {measured} is below the {threshold:g} eV/atom cut"
            return "no", f"no: {measured} is at or above the {threshold:g} eV/atom cut"
        lacks = "the reference table has no compound of " + " or ".join(self.missing_subsystems)
        if e < threshold:
            return "unknown", (f"unknown: {lacks}, so the {measured} may be too low "
                               f"(cut {threshold:g} eV/atom)")
        return "no", (f"no: {measured} is at or above the {threshold:g} eV/atom cut although "
                      f"{lacks} (a missing phase could only raise the E_hull)")


class HullReference:
    """The competing phases of every hull: the shipped CHGNet table (:mod:`.reference_phases`).

    ``splits``: which MP-20 splits supply the compounds: ``("val", "test")`` (default, all of
    MP-20 here) or ``"val"`` (the training data only). ``structures``: more reference phases of
    your own, added at their CHGNet single-point energies (give relaxed structures).
    ``table``: a :class:`ReferenceTable` to use instead of the shipped one (``splits`` is then
    ignored). ``settings``: how *evaluated* structures are treated (:class:`StabilitySettings`).
    """

    def __init__(self, splits: Sequence[str] | str = ALL_SPLITS, structures=None,
                 settings: StabilitySettings | None = None, table: ReferenceTable | None = None,
                 **overrides):
        if not isinstance(splits, (str, tuple, list)) or \
                (isinstance(splits, (tuple, list)) and not all(isinstance(x, str) for x in splits)):
            raise TypeError("HullReference(splits=...) takes split names such as 'val'; pass your "
                            "own reference phases as structures=[...]")
        self.settings = resolve(settings, **overrides)
        splits = (splits,) if isinstance(splits, str) else tuple(splits)
        table = table if table is not None else reference_table(splits)
        if structures is not None:
            table = table.with_structures(as_list(structures), progress=self.settings.progress)
        self.table: ReferenceTable = table

    def __repr__(self) -> str:
        return f"HullReference({self.table!r})"

    @property
    def progress(self) -> bool:
        return self.settings.progress

    def energy(self, structure, relax_cell: bool = True) -> tuple[float, Any]:
        """CHGNet energy per atom of a structure (or :class:`~.rows.Row`) per the settings:
        (energy, relaxed Atoms or None)."""
        s = self.settings
        row = row_of(structure)
        if s.relax:
            e, relaxed, _, _ = relax_one(row, s.steps, s.fmax, relax_cell, s.max_atoms, False)
            return e, relaxed
        return chgnet_energy(row, max_atoms=s.max_atoms, progress=False), None

    def elemental_references(self, elements: Sequence[str]) -> dict[str, ElementReference]:
        """Each element's chemical potential (see :meth:`ReferenceTable.elemental_reference`)."""
        out = {}
        for el in elements:
            e, source, built = self.table.elemental_reference(el)
            out[el] = ElementReference(el, e, source, built)
        return out

    def entries(self, elements: Sequence[str]) -> list:
        """PDEntries (CHGNet total energies) of the elemental references and every reference
        compound whose elements are a subset of ``elements``."""
        return self.table.entries(elements)

    def phase_diagram(self, elements: Sequence[str]):
        """pymatgen ``PhaseDiagram`` of the chemical system spanned by ``elements`` (cached)."""
        return self.table.phase_diagram(elements)

    def missing_subsystems(self, elements: Sequence[str]) -> list[str]:
        """Sub-systems the hull of ``elements`` depends on that have no reference compound."""
        return self.table.missing_subsystems(elements)

    def evaluate(self, structure, energy_per_atom: float | None = None) -> Stability:
        """Energy, formation energy, E_hull and reference completeness of one structure or
        :class:`~.rows.Row` (relaxed per the settings unless ``energy_per_atom`` is given)."""
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        row = row_of(structure)
        symbols = list(row.symbols)
        system = sorted(set(symbols))
        missing = tuple(self.missing_subsystems(system))
        refs = self.elemental_references(system)
        relaxed = None
        if energy_per_atom is None:
            energy_per_atom, relaxed = self.energy(row)
        counts = {el: symbols.count(el) for el in system}
        comp = Composition(counts)
        e_form = energy_per_atom - sum(counts[el] / len(symbols) * refs[el].energy_per_atom
                                       for el in system)
        entry = PDEntry(comp, energy_per_atom * len(symbols))
        _, e_hull = self.phase_diagram(system).get_decomp_and_e_above_hull(entry,
                                                                           allow_negative=True)
        reason = "" if not missing else f"incomplete reference: no compound in {', '.join(missing)}"
        return Stability(float(energy_per_atom), float(e_form), float(e_hull), relaxed, reason,
                         not missing, missing,
                         tuple(el for el in system if refs[el].built))


    def evaluate_safely(self, structure) -> Stability:
        """:meth:`evaluate`, with any error recorded in ``reason`` instead of raised (a
        structure that cannot be read at all gets its reason and ``hull_complete=None``)."""
        row = row_of(structure)
        if not row.symbols:  # not a structure, disordered or empty: nothing to read
            nan = float("nan")
            return Stability(nan, nan, nan, None, row.problem, None, ())
        try:
            return self.evaluate(row)
        except Exception as err:  # noqa: BLE001 -- recorded per structure
            return _failed(row.symbols, self, err)


_HULLS: dict = {}  # (splits, settings) -> HullReference, for the shipped table


def hull_reference(reference=None, settings: StabilitySettings | None = None,
                   **overrides) -> HullReference:
    """The :class:`HullReference` for ``reference``, cached per splits and settings.

    ``reference``: None (all of MP-20, val + test), a split name or tuple (``"val"``), a
    :class:`HullReference` (returned as is) or a list of structures (added to the full table at
    their CHGNet single-point energies; not cached).
    """
    if isinstance(reference, HullReference):
        if settings is None and not any(v is not None for v in overrides.values()):
            return reference
        hull = HullReference.__new__(HullReference)
        hull.settings = resolve(settings or reference.settings, **overrides)
        hull.table = reference.table
        return hull
    s = resolve(settings, **overrides)
    if reference is None or isinstance(reference, (str, tuple)):
        splits = ALL_SPLITS if reference is None else \
            ((reference,) if isinstance(reference, str) else tuple(reference))
        key = (splits, s)
        if key not in _HULLS:
            _HULLS[key] = HullReference(splits, settings=s)
        return _HULLS[key]
    return HullReference(ALL_SPLITS, structures=reference, settings=s)


def _failed(symbols, hull: HullReference, err: Exception) -> Stability:
    """No energy: the error as ``reason``; the reference completeness still as it is."""
    nan = float("nan")
    try:
        missing = tuple(hull.missing_subsystems(sorted(set(symbols))))
        complete = not missing
    except Exception:  # noqa: BLE001 -- elements the table does not know
        missing, complete = (), None
    return Stability(nan, nan, nan, None, f"{type(err).__name__}: {err}", complete, missing)


def stability(structures, reference=None, settings: StabilitySettings | None = None,
              *, relax: bool | None = None, steps: int | None = None, fmax: float | None = None,
              max_atoms: int | None = None, progress: bool | None = None):
    """CHGNet energy, formation energy, E_hull and reference completeness (a :class:`Stability`).

    ``reference``: see :func:`hull_reference` (default: the CHGNet table of all of MP-20).
    Evaluated structures are relaxed per ``settings`` (or the single keywords); reference phases
    never are. A cell above ``max_atoms`` or one CHGNet cannot evaluate gives nans and a
    ``reason`` instead of an error, so one bad sample does not stop a batch.
    """
    hull = hull_reference(reference, settings, relax=relax, steps=steps, fmax=fmax,
                          max_atoms=max_atoms, progress=progress)
    rows, single = rows_of(structures)
    out = []
    for row in progress_bar(rows, hull.settings.progress and len(rows) > 1, "stability"):
        out.append(hull.evaluate_safely(row))
    return out[0] if single else out


def e_above_hull(structures, reference=None, settings: StabilitySettings | None = None,
                 **overrides):
    """Energy above the CHGNet convex hull of the reference phases (eV/atom; see module doc)."""
    result = stability(structures, reference, settings, **overrides)
    return result.e_above_hull if isinstance(result, Stability) else \
        [r.e_above_hull for r in result]


def formation_energy(structures, reference=None, settings: StabilitySettings | None = None,
                     **overrides):
    """CHGNet formation energy per atom against the elemental references (eV/atom)."""
    result = stability(structures, reference, settings, **overrides)
    return (result.formation_energy_per_atom if isinstance(result, Stability)
            else [r.formation_energy_per_atom for r in result])


def elemental_references(elements: Sequence[str], reference=None) -> dict[str, ElementReference]:
    """The elemental reference (chemical potential) used for each element; see module doc."""
    return hull_reference(reference).elemental_references(list(elements))
