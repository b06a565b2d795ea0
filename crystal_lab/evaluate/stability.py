"""(Meta)stability with CHGNet: energies, bounded relaxations, formation energy and E_hull.

CHGNet (Deng et al., Nature Machine Intelligence 2023) is a universal machine-learned interatomic
potential trained on the Materials Project relaxation trajectories (MPtrj); its weights ship inside
the ``chgnet`` wheel, so nothing downloads. Its energies are on the Materials Project scale (with
the MP2020 corrections folded in), so formation energies and hulls built from CHGNet energies of
*every* phase are self-consistent. We never mix CHGNet and DFT energies.

Definitions used here:

* ``energy per atom``: CHGNet's total energy / number of atoms (eV/atom), of the structure as given
  or after a bounded FIRE relaxation (positions and cell, ``ase.filters.FrechetCellFilter``).
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
  :func:`~crystal_lab.evaluate.reference_table.subsystems`) has at least one compound in the
  reference; ``missing_subsystems`` names those that have none. Where the reference is incomplete
  the E_hull is too low and must not be ranked.

The reference phases are the shipped CHGNet table of all of MP-20 val + test
(:mod:`.reference_table`, single-point energies of the DFT-relaxed structures, computed once by
``scripts/build_reference_table.py``): nothing about the reference is computed at evaluation time.
Only the evaluated structures run through CHGNet.

Memory (Binder gives about 2 GB): CHGNet's graph grows with atoms x neighbours. Measured here: the
model alone ~0.4 GB; 8-atom NaCl 0.41 GB, 64 atoms 0.72 GB, 216 atoms 1.5 GB (forces + stress);
a denser 135-atom cell has been reported to peak near 2.9 GB (not measured here). We therefore
refuse cells above ``MAX_ATOMS`` = 64 atoms (env ``CRYSTAL_LAB_CHGNET_MAX_ATOMS`` to change it) with
:class:`CellTooLargeError`, and batch several small cells only while their total stays under it.
MP-20 structures have at most 20 atoms.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..structures import (
    as_list,
    is_metal,
    is_single,
    like_input,
    symbols_of,
    to_atoms,
    to_structure,
)
from .reference_table import ALL_SPLITS, ReferenceTable, reference_table
from .settings import (  # noqa: F401 -- the constants are re-exported (dashboard, benchmarks)
    MAX_ATOMS,
    RELAX_FMAX,
    RELAX_STEPS,
    STABILITY_THRESHOLD,
    StabilitySettings,
    progress_bar,
    resolve,
)


class CellTooLargeError(ValueError):
    """A cell with more atoms than CHGNet can handle inside the memory budget."""


# --------------------------------------------------------------------------- model

@lru_cache(maxsize=1)
def get_chgnet():
    """The pretrained CHGNet (weights from the installed wheel), loaded once on CPU and cached."""
    from chgnet.model import CHGNet

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return CHGNet.load(use_device="cpu", verbose=False)


@lru_cache(maxsize=1)
def _calculator():
    """One ASE calculator around the cached model (creating one prints; reuse it)."""
    from chgnet.model.dynamics import CHGNetCalculator

    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNetCalculator(model=get_chgnet(), use_device="cpu", on_isolated_atoms="ignore")


def _check_size(n_atoms: int, max_atoms: int) -> None:
    if n_atoms > max_atoms:
        raise CellTooLargeError(
            f"{n_atoms}-atom cell is above the CHGNet cap of {max_atoms} atoms (memory: ~0.5 GB "
            f"for 5 atoms, ~2.9 GB for 135); raise max_atoms or CRYSTAL_LAB_CHGNET_MAX_ATOMS "
            f"only on a machine with more memory")


def chgnet_energy(structures, max_atoms: int = MAX_ATOMS, skip_too_large: bool = False,
                  progress: bool = True):
    """CHGNet energy per atom (eV/atom) of the structures as given (no relaxation).

    Small cells are batched while the batch's total atom count stays under ``max_atoms``. A cell
    above ``max_atoms`` raises :class:`CellTooLargeError`, or gives ``nan`` with
    ``skip_too_large=True``. One structure in gives a float out.
    """
    items = as_list(structures)
    energies = [float("nan")] * len(items)
    batches: list[list[int]] = []
    total = max_atoms + 1
    for i, x in enumerate(items):
        n = len(symbols_of(x))
        if n > max_atoms:
            if not skip_too_large:
                _check_size(n, max_atoms)
            continue
        if total + n > max_atoms:
            batches.append([])
            total = 0
        batches[-1].append(i)
        total += n
    model = get_chgnet()
    bar = progress_bar(None, progress and len(items) > 1, "CHGNet energy", len(items))
    for batch in batches:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            preds = model.predict_structure([to_structure(items[i]) for i in batch], task="e",
                                            batch_size=len(batch))
        for i, p in zip(batch, preds if isinstance(preds, list) else [preds]):
            energies[i] = float(p["e"])
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return energies[0] if is_single(structures) else energies


# --------------------------------------------------------------------------- relaxation

RELAX_CACHE_SIZE = 256      # relaxations kept per session (least recently used dropped first)
_RELAX_CACHE: OrderedDict[str, tuple[float, Any, int, bool]] = OrderedDict()


def _fingerprint(atoms, *settings) -> str:
    h = hashlib.sha1()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.cell[:], dtype=float), 4).tobytes())
    h.update(np.round(atoms.get_scaled_positions(wrap=True), 4).tobytes())
    h.update(repr(settings).encode())
    return h.hexdigest()


def _relax_one(atoms, steps: int, fmax: float, relax_cell: bool, max_atoms: int,
               progress: bool) -> tuple[float, Any, int, bool]:
    """FIRE-relax a copy of ``atoms``: (energy per atom, relaxed Atoms, steps taken, converged)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    _check_size(len(atoms), max_atoms)
    key = _fingerprint(atoms, steps, fmax, relax_cell)
    if key in _RELAX_CACHE:
        _RELAX_CACHE.move_to_end(key)
        e, relaxed, n, ok = _RELAX_CACHE[key]
        return e, relaxed.copy(), n, ok
    work = atoms.copy()
    work.pbc = True
    work.calc = _calculator()
    target = FrechetCellFilter(work) if relax_cell else work
    converged, n = False, 0
    bar = progress_bar(None, progress, f"CHGNet relax ({len(atoms)} atoms)", steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = FIRE(target, logfile=None)
        for converged in opt.irun(fmax=fmax, steps=steps):
            if bar is not None:
                bar.update(1)
            n += 1
        energy = float(work.get_potential_energy()) / len(work)
    if bar is not None:
        bar.close()
    relaxed = work.copy()
    relaxed.calc = None
    relaxed.info.update(chgnet_energy=energy, relax_steps=max(n - 1, 0),
                        relax_converged=bool(converged))
    _RELAX_CACHE[key] = (energy, relaxed, max(n - 1, 0), bool(converged))
    while len(_RELAX_CACHE) > RELAX_CACHE_SIZE:
        _RELAX_CACHE.popitem(last=False)
    return energy, relaxed.copy(), max(n - 1, 0), bool(converged)


def relax(structures, steps: int = RELAX_STEPS, fmax: float = RELAX_FMAX, relax_cell: bool = True,
          max_atoms: int = MAX_ATOMS, progress: bool = True):
    """Bounded CHGNet relaxation (FIRE, at most ``steps`` steps, forces below ``fmax`` eV/A).

    Returns relaxed copies of the same type as the input (Atoms in, Atoms out). The CHGNet energy
    per atom, steps taken and convergence are stored in ``atoms.info`` (``chgnet_energy``,
    ``relax_steps``, ``relax_converged``) or ``structure.properties``. Cells above ``max_atoms``
    raise :class:`CellTooLargeError`. A single structure shows a per-step progress bar, a list one
    bar over structures.
    """
    items = as_list(structures)
    single = is_single(structures)
    out = []
    for x in progress_bar(items, progress and not single, "CHGNet relax"):
        _, relaxed, _, _ = _relax_one(to_atoms(x), steps, fmax, relax_cell, max_atoms,
                                      progress and single)
        result = like_input(relaxed, x)
        if result is not relaxed:
            result.properties.update(relaxed.info)
        out.append(result)
    return out[0] if single else out


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

    ``hull_complete``: every sub-system the E_hull depends on has a compound in the reference;
    ``missing_subsystems``: those that have none ("Cl-Li"); ``built_references``: elements whose
    chemical potential comes from a built structure (no elemental phase in MP-20).
    """

    energy_per_atom: float
    formation_energy_per_atom: float
    e_above_hull: float
    relaxed: Any = None
    reason: str = ""
    hull_complete: bool = False
    missing_subsystems: tuple[str, ...] = ()
    built_references: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        """An E_hull that was computed against a complete reference."""
        return bool(self.hull_complete and np.isfinite(self.e_above_hull))


class HullReference:
    """The competing phases of every hull: the shipped CHGNet table (:mod:`.reference_table`).

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

    def energy(self, atoms, relax_cell: bool = True) -> tuple[float, Any]:
        """CHGNet energy per atom of ``atoms`` per the settings: (energy, relaxed Atoms or None)."""
        s = self.settings
        if s.relax:
            e, relaxed, _, _ = _relax_one(to_atoms(atoms), s.steps, s.fmax, relax_cell,
                                          s.max_atoms, False)
            return e, relaxed
        return chgnet_energy(to_atoms(atoms), max_atoms=s.max_atoms, progress=False), None

    def elemental_references(self, elements: Sequence[str]) -> dict[str, ElementReference]:
        """The chemical potential of each element (see :meth:`ReferenceTable.elemental_reference`)."""
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
        """Energy, formation energy, E_hull and reference completeness of one structure
        (relaxed per the settings unless ``energy_per_atom`` is given)."""
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        symbols = symbols_of(structure)
        system = sorted(set(symbols))
        missing = tuple(self.missing_subsystems(system))
        refs = self.elemental_references(system)
        relaxed = None
        if energy_per_atom is None:
            energy_per_atom, relaxed = self.energy(structure)
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
        """:meth:`evaluate`, with any error recorded in ``reason`` instead of raised."""
        try:
            return self.evaluate(structure)
        except Exception as err:  # noqa: BLE001 -- recorded per structure
            return _failed(structure, self, err)


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


def _failed(structure, hull: HullReference, err: Exception) -> Stability:
    nan = float("nan")
    try:
        missing = tuple(hull.missing_subsystems(sorted(set(symbols_of(structure)))))
    except Exception:  # noqa: BLE001 -- a structure we cannot even read
        missing = ()
    return Stability(nan, nan, nan, None, f"{type(err).__name__}: {err}", False, missing)


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
    items = as_list(structures)
    out = []
    for x in progress_bar(items, hull.settings.progress and len(items) > 1, "stability"):
        out.append(hull.evaluate_safely(x))
    return out[0] if is_single(structures) else out


def e_above_hull(structures, reference=None, settings: StabilitySettings | None = None,
                 **overrides):
    """Energy above the CHGNet convex hull of the reference phases (eV/atom; see module doc)."""
    result = stability(structures, reference, settings, **overrides)
    return result.e_above_hull if is_single(structures) else [r.e_above_hull for r in result]


def formation_energy(structures, reference=None, settings: StabilitySettings | None = None,
                     **overrides):
    """CHGNet formation energy per atom against the elemental references (eV/atom)."""
    result = stability(structures, reference, settings, **overrides)
    return (result.formation_energy_per_atom if is_single(structures)
            else [r.formation_energy_per_atom for r in result])


def elemental_references(elements: Sequence[str], reference=None) -> dict[str, ElementReference]:
    """The elemental reference (chemical potential) used for each element; see module doc."""
    return hull_reference(reference).elemental_references(list(elements))
