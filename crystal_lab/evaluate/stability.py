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
  the lowest-energy elemental reference of element i (see :func:`elemental_references`).
* ``E_hull`` (energy above the convex hull): distance in eV/atom from the lower convex hull of the
  *reference* phases of the same chemical system (all reference structures whose elements are a
  subset, CHGNet-relaxed, plus the elemental references), from pymatgen's ``PhaseDiagram``
  (``get_decomp_and_e_above_hull(..., allow_negative=True)``: a negative value means the
  structure lies *below* the reference hull). Generated structures do not enter the hull.
* ``stable`` (MatterGen's S.U.N., Zeni et al. Nature 2025): E_hull below a threshold, by default
  0.1 eV/atom (MatterGen's "stable" cut; 0 would be strict thermodynamic stability).

Elemental references (documented choice): for each element we take the lowest CHGNet energy among
the pure-element structures of the reference set; for an element the reference set lacks, we relax
(<= ``steps``) a few simple structures built with ``ase.build.bulk`` (ASE's reference crystal
when it is fcc/bcc/hcp/diamond/sc; sc, fcc, bcc and diamond with nearest-neighbour distances from
the covalent radius) and, for non-metals, a dimer in a 10 A box; the lowest wins. For metals the
simple close-packed structures are near the ground state (their differences are typically tens of
meV/atom). For non-metals, measured here with CHGNet against approximate Materials Project
ground-state energies: S (dimer) -3.97 vs about -4.13 eV/atom, Se (diamond) -3.34 vs -3.50,
P (sc) -5.25 vs -5.41, Si (diamond) -5.31 vs -5.42, but B (diamond) -5.97 vs -6.68: boron's ground
state is a 12-atom icosahedral crystal. A too-high elemental reference makes formation energies too
negative and compounds look too stable: prefer a reference set that contains the element (MP-20
``val`` lacks 38 of its 87 elements, among them Al, B, Fe, Na, P, S, Ti, Zn).

Memory (Binder gives about 2 GB): CHGNet's graph grows with atoms x neighbours. Measured here: the
model alone ~0.4 GB; 8-atom NaCl 0.41 GB, 64 atoms 0.72 GB, 216 atoms 1.5 GB (forces + stress);
FIELD-NOTES report ~2.9 GB for a denser 135-atom cell. We therefore refuse cells above
``MAX_ATOMS`` = 64 atoms (env ``CRYSTAL_LAB_CHGNET_MAX_ATOMS`` to change it) with
:class:`CellTooLargeError`, and batch several small cells only while their total stays under it.
MP-20 structures have at most 20 atoms.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..structures import as_list, is_single, like_input, symbols_of, to_atoms, to_structure

MAX_ATOMS = int(os.environ.get("CRYSTAL_LAB_CHGNET_MAX_ATOMS", "64"))
STABILITY_THRESHOLD = 0.1   # eV/atom above hull (MatterGen's S.U.N. "stable")
RELAX_STEPS = 100           # FIRE step cap for relaxations
RELAX_FMAX = 0.1            # eV/A force convergence


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


def _bar(iterable, progress: bool, desc: str, total: int | None = None):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False)


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
    bar = _bar(None, progress and len(items) > 1, "CHGNet energy", len(items))
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

_RELAX_CACHE: dict[str, tuple[float, Any, int, bool]] = {}


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
        e, relaxed, n, ok = _RELAX_CACHE[key]
        return e, relaxed.copy(), n, ok
    work = atoms.copy()
    work.pbc = True
    work.calc = _calculator()
    target = FrechetCellFilter(work) if relax_cell else work
    converged, n = False, 0
    bar = _bar(None, progress, f"CHGNet relax ({len(atoms)} atoms)", steps)
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
    for x in _bar(items, progress and not single, "CHGNet relax"):
        _, relaxed, _, _ = _relax_one(to_atoms(x), steps, fmax, relax_cell, max_atoms,
                                      progress and single)
        result = like_input(relaxed, x)
        if result is not relaxed:
            result.properties.update(relaxed.info)
        out.append(result)
    return out[0] if single else out


# --------------------------------------------------------------------------- elemental references

def _is_metal(symbol: str) -> bool:
    import smact

    return symbol in smact.metals


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
    if not _is_metal(symbol):
        d = state["d"] if state.get("symmetry") == "diatom" else 2 * r
        dimer = Atoms(symbol * 2, positions=[[5, 5, 5 - d / 2], [5, 5, 5 + d / 2]],
                      cell=[10, 10, 10], pbc=True)
        out.append((f"{symbol}2 molecule in a 10 A box", dimer, False))
    return out


@dataclass(frozen=True)
class ElementReference:
    """The chemical potential of one element: CHGNet ``energy_per_atom``, the structure, its source."""

    symbol: str
    energy_per_atom: float
    atoms: Any
    source: str


# --------------------------------------------------------------------------- hull

@dataclass(frozen=True)
class Stability:
    """CHGNet stability of one structure (energies in eV/atom; nan where not computed)."""

    energy_per_atom: float
    formation_energy_per_atom: float
    e_above_hull: float
    relaxed: Any = None
    reason: str = ""


class HullReference:
    """Competing phases for hulls: a reference set with CHGNet energies, one phase diagram a system.

    ``reference``: list of Atoms/Structures (default: the training data, MP-20 val). Reference
    structures are relaxed with the same CHGNet settings the first time a chemical system needs
    them, then cached.
    """

    def __init__(self, reference=None, relax: bool = True, steps: int = RELAX_STEPS,
                 fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS, progress: bool = True):
        if reference is None:
            from .uniqueness import default_reference

            reference = default_reference()
        self.items = list(reference)
        self.element_sets = [frozenset(symbols_of(x)) for x in self.items]
        self.relax, self.steps, self.fmax = relax, steps, fmax
        self.max_atoms, self.progress = max_atoms, progress
        self._energy: dict[int, float] = {}
        self._elements: dict[str, ElementReference] = {}
        self._diagrams: dict[frozenset, Any] = {}

    # energies ---------------------------------------------------------------------------------
    def energy(self, atoms, relax_cell: bool = True) -> tuple[float, Any]:
        """CHGNet energy per atom of ``atoms`` (relaxed or not, per this reference's settings)."""
        if self.relax:
            e, relaxed, _, _ = _relax_one(to_atoms(atoms), self.steps, self.fmax, relax_cell,
                                          self.max_atoms, progress=False)
            return e, relaxed
        return chgnet_energy(atoms, self.max_atoms, progress=False), to_atoms(atoms)

    def _reference_energy(self, i: int) -> float:
        if i not in self._energy:
            try:
                self._energy[i] = self.energy(self.items[i])[0]
            except CellTooLargeError:
                self._energy[i] = float("nan")
        return self._energy[i]

    def elemental_references(self, elements: Sequence[str]) -> dict[str, ElementReference]:
        """Lowest-energy reference of each element (reference-set entries first, else built)."""
        todo = [el for el in elements if el not in self._elements]
        for el in _bar(todo, self.progress and len(todo) > 0, "elemental references"):
            pure = [i for i, s in enumerate(self.element_sets) if s == {el}]
            if pure:
                cands = [(self._reference_energy(i), to_atoms(self.items[i]),
                          f"reference set #{i} {self.items[i].info.get('material_id', '')}".strip()
                          if hasattr(self.items[i], "info") else f"reference set #{i}")
                         for i in pure]
            else:
                cands = []
                for desc, atoms, relax_cell in elemental_candidates(el):
                    e, relaxed = self.energy(atoms, relax_cell)
                    cands.append((e, relaxed, desc))
            e, atoms, source = min((c for c in cands if np.isfinite(c[0])), key=lambda c: c[0])
            self._elements[el] = ElementReference(el, e, atoms, source)
        return {el: self._elements[el] for el in elements}

    # phase diagrams ---------------------------------------------------------------------------
    def entries(self, elements: Sequence[str]) -> list:
        """PDEntries (CHGNet total energies) of the elemental references and every reference
        structure whose elements are a subset of ``elements``."""
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        system = frozenset(elements)
        refs = self.elemental_references(sorted(system))
        out = [PDEntry(Composition({el: 1}), r.energy_per_atom, name=el, attribute=r.source)
               for el, r in refs.items()]
        members = [i for i, s in enumerate(self.element_sets) if s <= system and len(s) > 1]
        for i in _bar(members, self.progress and len(members) > 0,
                      f"reference phases {'-'.join(sorted(system))}"):
            e = self._reference_energy(i)
            if np.isfinite(e):
                comp = to_structure(self.items[i]).composition
                out.append(PDEntry(comp, e * comp.num_atoms, name=comp.reduced_formula,
                                   attribute=f"reference #{i}"))
        return out

    def phase_diagram(self, elements: Sequence[str]):
        """pymatgen ``PhaseDiagram`` of the chemical system spanned by ``elements`` (cached)."""
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        system = frozenset(elements)
        if system not in self._diagrams:
            self._diagrams[system] = PhaseDiagram(self.entries(sorted(system)))
        return self._diagrams[system]

    def evaluate(self, structure, energy_per_atom: float | None = None) -> Stability:
        """Energy, formation energy and E_hull of one structure (relaxed per this reference's
        settings unless ``energy_per_atom`` is given)."""
        from pymatgen.analysis.phase_diagram import PDEntry

        atoms = to_atoms(structure)
        relaxed = None
        if energy_per_atom is None:
            energy_per_atom, relaxed = self.energy(atoms)
        system = sorted(set(atoms.get_chemical_symbols()))
        refs = self.elemental_references(system)
        comp = to_structure(atoms).composition
        e_form = energy_per_atom - sum(comp.get_atomic_fraction(el) * refs[el].energy_per_atom
                                       for el in system)
        pd = self.phase_diagram(system)
        entry = PDEntry(comp, energy_per_atom * comp.num_atoms)
        _, e_hull = pd.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return Stability(float(energy_per_atom), float(e_form), float(e_hull), relaxed)


_HULLS: list = []  # [(reference object, settings, HullReference)]: the last one used


def hull_reference(reference=None, relax: bool = True, steps: int = RELAX_STEPS,
                   fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS,
                   progress: bool = True) -> HullReference:
    """A cached :class:`HullReference` (so reference energies are computed once a session)."""
    if isinstance(reference, HullReference):
        return reference
    settings = (relax, steps, fmax, max_atoms)
    for ref, s, hull in _HULLS:
        if ref is reference and s == settings:
            hull.progress = progress
            return hull
    hull = HullReference(reference, relax, steps, fmax, max_atoms, progress)
    _HULLS[:] = [(reference, settings, hull)]
    return hull


def stability(structures, reference=None, relax: bool = True, steps: int = RELAX_STEPS,
              fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS, progress: bool = True):
    """CHGNet energy, formation energy and E_hull for each structure (a :class:`Stability`).

    Structures and reference phases are relaxed with the same settings when ``relax``. A cell
    above ``max_atoms`` or one CHGNet cannot evaluate gives nans and a ``reason`` instead of an
    error, so one bad sample does not stop a batch.
    """
    hull = hull_reference(reference, relax, steps, fmax, max_atoms, progress)
    items = as_list(structures)
    out = []
    for x in _bar(items, progress and len(items) > 1, "stability"):
        try:
            out.append(hull.evaluate(x))
        except Exception as err:  # noqa: BLE001 -- recorded per structure
            nan = float("nan")
            out.append(Stability(nan, nan, nan, None, f"{type(err).__name__}: {err}"))
    return out[0] if is_single(structures) else out


def e_above_hull(structures, reference=None, relax: bool = True, steps: int = RELAX_STEPS,
                 fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS, progress: bool = True):
    """Energy above the CHGNet convex hull of the reference phases (eV/atom; see module doc)."""
    result = stability(structures, reference, relax, steps, fmax, max_atoms, progress)
    return result.e_above_hull if is_single(structures) else [r.e_above_hull for r in result]


def formation_energy(structures, reference=None, relax: bool = True, steps: int = RELAX_STEPS,
                     fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS, progress: bool = True):
    """CHGNet formation energy per atom against the elemental references (eV/atom)."""
    result = stability(structures, reference, relax, steps, fmax, max_atoms, progress)
    return (result.formation_energy_per_atom if is_single(structures)
            else [r.formation_energy_per_atom for r in result])


def elemental_references(elements: Sequence[str], reference=None, relax: bool = True,
                         steps: int = RELAX_STEPS, fmax: float = RELAX_FMAX,
                         progress: bool = True) -> dict[str, ElementReference]:
    """The elemental reference (chemical potential) used for each element; see module doc."""
    return hull_reference(reference, relax, steps, fmax, MAX_ATOMS, progress) \
        .elemental_references(list(elements))
