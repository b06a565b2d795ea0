"""The CHGNet runtime: the cached model, energies of structures as given, short relaxations.

CHGNet (Deng et al., Nature Machine Intelligence 2023) is a universal machine-learned interatomic
potential trained on the Materials Project relaxation trajectories (MPtrj); its weights ship inside
the ``chgnet`` wheel, so nothing downloads. Its energies are on the Materials Project scale (with
the MP2020 corrections folded in).

* :func:`chgnet_energy`: energy per atom (eV/atom) of structures as given, batched.
* :func:`relax`: a bounded FIRE relaxation (positions and cell, ``ase.filters.FrechetCellFilter``)
  that returns the relaxed structure with its energies before and after.

Memory (Binder gives about 2 GB): CHGNet's graph grows with atoms x neighbours. Measured here: the
model alone ~0.4 GB; 8-atom NaCl 0.41 GB, 64 atoms 0.72 GB, 216 atoms 1.5 GB (forces + stress);
a denser 135-atom cell has been reported to peak near 2.9 GB (not measured here). Cells above
``MAX_ATOMS_CHGNET`` = 64 atoms (env ``CRYSTAL_LAB_CHGNET_MAX_ATOMS`` to change it) are refused
with :class:`CellTooLargeError`, and several small cells are batched only while their total stays
under it. MP-20 structures have at most 20 atoms.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np

from ..structures import like_input
from .rows import Row, row_of, rows_of
from .settings import (
    MAX_ATOMS_CHGNET,
    RELAX_FMAX,
    RELAX_STEPS,
    check_relax_arguments,
    progress_bar,
)

__all__ = ["CellTooLargeError", "InvalidCellError", "chgnet_energy", "get_chgnet", "relax"]


class CellTooLargeError(ValueError):
    """A cell with more atoms than CHGNet can handle inside the memory budget."""


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


class InvalidCellError(ValueError):
    """A cell that structural validity rejects: CHGNet's neighbour search must not see it."""


def check_valid(x) -> None:
    """Raise :class:`InvalidCellError` for a structure (or :class:`~.rows.Row`, whose verdict is
    reused) that is not structurally valid (NaN, a flat or near-singular cell, overlapping
    atoms): on such a cell the neighbour list of CHGNet's graph can grow without bound."""
    from .validation import structural_row

    verdict = structural_row(row_of(x))
    if not verdict:
        raise InvalidCellError(f"CHGNet does not evaluate an invalid structure: {verdict.reason}")


def check_size(n_atoms: int, max_atoms: int) -> None:
    """Raise :class:`CellTooLargeError` for a cell above ``max_atoms`` atoms."""
    if n_atoms > max_atoms:
        raise CellTooLargeError(
            f"{n_atoms}-atom cell is above the CHGNet cap of {max_atoms} atoms (memory: ~0.5 GB "
            f"for 5 atoms, ~2.9 GB for 135); raise max_atoms or CRYSTAL_LAB_CHGNET_MAX_ATOMS "
            f"only on a machine with more memory")


def chgnet_energy(structures, max_atoms: int = MAX_ATOMS_CHGNET, skip_too_large: bool = False,
                  progress: bool = True, skip_invalid: bool = False):
    """CHGNet energy per atom (eV/atom) of the structures as given (no relaxation).

    Small cells are batched while the batch's total atom count stays under ``max_atoms``. A cell
    above ``max_atoms`` raises :class:`CellTooLargeError`, or gives ``nan`` with
    ``skip_too_large=True``. A structurally invalid cell (see :func:`check_valid`) raises
    :class:`InvalidCellError`, or gives ``nan`` with ``skip_invalid=True``. One structure in gives
    a float out. Structures are read through their :class:`~.rows.Row` (rows are taken as they
    are): each is converted to pymatgen once.
    """
    items, single = rows_of(structures)
    energies = [float("nan")] * len(items)
    batches: list[list[int]] = []
    total = max_atoms + 1
    for i, x in enumerate(items):
        try:
            check_valid(x)
        except InvalidCellError:
            if not skip_invalid:
                raise
            continue
        n = len(x.symbols)
        if n > max_atoms:
            if not skip_too_large:
                check_size(n, max_atoms)
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
            preds = model.predict_structure([items[i].structure for i in batch], task="e",
                                            batch_size=len(batch))
        for i, p in zip(batch, preds if isinstance(preds, list) else [preds], strict=True):
            energies[i] = float(p["e"])
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return energies[0] if single else energies


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


def relax_one(row: Row, steps: int, fmax: float, relax_cell: bool, max_atoms: int,
              progress: bool) -> tuple[float, Any, int, bool]:
    """FIRE-relax a copy of the row's atoms: (energy per atom, relaxed Atoms, steps taken,
    converged). ``row``: a :class:`~.rows.Row` (its validity verdict is reused) or a structure.

    The relaxed Atoms carry ``info["chgnet_energy_before"]`` (the energy per atom as given),
    ``info["chgnet_energy"]`` (after), ``relax_steps`` and ``relax_converged``. Results are cached
    per structure and settings (the :data:`RELAX_CACHE_SIZE` most recent).
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    check_relax_arguments(steps, fmax)
    row = row_of(row)
    check_size(row.n_atoms, max_atoms)
    check_valid(row)
    atoms = row.atoms
    key = _fingerprint(atoms, int(steps), float(fmax), relax_cell)
    if key in _RELAX_CACHE:
        _RELAX_CACHE.move_to_end(key)
        e, relaxed, n, ok = _RELAX_CACHE[key]
        return e, relaxed.copy(), n, ok
    work = atoms.copy()
    work.pbc = True
    work.calc = _calculator()
    target = FrechetCellFilter(work) if relax_cell else work
    converged, n = False, 0
    bar = progress_bar(None, progress, f"CHGNet relax ({len(atoms)} atoms)", int(steps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = float(work.get_potential_energy()) / len(work)
        opt = FIRE(target, logfile=None)
        for step_converged in opt.irun(fmax=fmax, steps=int(steps)):
            converged = step_converged
            if bar is not None:
                bar.update(1)
            n += 1
        energy = float(work.get_potential_energy()) / len(work)
    if bar is not None:
        bar.close()
    relaxed = work.copy()
    relaxed.calc = None
    taken = max(n - 1, 0)
    relaxed.info.update(chgnet_energy_before=before, chgnet_energy=energy, relax_steps=taken,
                        relax_converged=bool(converged))
    _RELAX_CACHE[key] = (energy, relaxed, taken, bool(converged))
    while len(_RELAX_CACHE) > RELAX_CACHE_SIZE:
        _RELAX_CACHE.popitem(last=False)
    return energy, relaxed.copy(), taken, bool(converged)


def relax(structures, steps: int = RELAX_STEPS, fmax: float = RELAX_FMAX, relax_cell: bool = True,
          max_atoms: int = MAX_ATOMS_CHGNET, progress: bool = True):
    """A short CHGNet relaxation (FIRE, at most ``steps`` steps, until forces < ``fmax`` eV/A).

    Returns relaxed copies of the same type as the input (Atoms in, Atoms out; one in, one out)
    with the energies before and after: ``info["chgnet_energy_before"]`` and
    ``info["chgnet_energy"]`` (eV/atom), plus ``relax_steps`` and ``relax_converged``
    (``structure.properties`` for a pymatgen Structure). ``relax_cell=False`` keeps the cell.
    Cells above ``max_atoms`` raise :class:`CellTooLargeError`, structurally invalid ones
    :class:`InvalidCellError`. A single structure shows a per-step progress bar, a list one bar
    over structures.

    >>> relaxed = relax(atoms, steps=30)                                    # doctest: +SKIP
    >>> relaxed.info["chgnet_energy_before"], relaxed.info["chgnet_energy"]  # doctest: +SKIP
    """
    check_relax_arguments(steps, fmax)
    items, single = rows_of(structures)
    out = []
    for row in progress_bar(items, progress and not single, "CHGNet relax"):
        _, relaxed, _, _ = relax_one(row, steps, fmax, relax_cell, max_atoms, progress and single)
        result = like_input(relaxed, row.original)
        if result is not relaxed:
            result.properties.update(relaxed.info)
        out.append(result)
    return out[0] if single else out
