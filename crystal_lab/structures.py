"""Structures: one home for what every other module needs to know about a crystal.

Every function here takes an ``ase.Atoms`` or a pymatgen ``Structure`` (or ``IStructure``) and
gives the same answer for both. Three ideas live here, one of each:

* **conversion**: :func:`to_atoms`, :func:`to_structure`, :func:`like_input`, and the
  one-or-many helpers :func:`is_single` / :func:`as_list` behind the "one in, one out; a list in,
  a list out" rule of :mod:`crystal_lab.evaluate`;
* **formulas**: :func:`formula`, the one formula a person reads, as chemists write it
  (``BaTiO3``, ``Li3PS2Cl2``: no ``Cl2`` for one Cl atom, masked atoms counted as ``X``);
  :func:`reduced_formula` (pymatgen's, only the key by which structures are grouped and compared
  with MP-20) and :func:`formula_text` (counts written in the order given, the form a prompt
  takes);
* **descriptors**: :func:`space_group`, :func:`symbols_of`, :func:`is_finite`, :func:`is_metal`;
* **files**: :func:`write_cif` and :func:`cif_text`, the one CIF writer (pymatgen's
  ``CifWriter``), which refuses what a CIF cannot hold (NaN coordinates, masked atoms).

Atom type 0 is a *masked* atom (the diffusion model's absorbing state, ``"X"`` in ASE); the
helpers below accept it.

Nothing here imports the model, the evaluation or the viewers: they all import this module.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

#: spglib's tolerance for :func:`space_group`, in Angstrom (0.1, as MP-20's labels use)
SYMPREC = 0.1
#: a cell whose volume is below this fraction of a*b*c is flat (angles within ~0.06 deg of 0/180)
FLAT_CELL = 1e-3

__all__ = [
    "SYMPREC",
    "as_list",
    "cif_text",
    "formula",
    "formula_text",
    "is_finite",
    "is_metal",
    "is_single",
    "like_input",
    "reduced_formula",
    "space_group",
    "symbols_of",
    "to_atoms",
    "to_structure",
    "unreadable_reason",
    "writable_reason",
    "write_cif",
]


def _pymatgen_structure_type():
    from pymatgen.core import IStructure

    return IStructure  # the parent of Structure: both pass isinstance checks


# --------------------------------------------------------------------------- conversion

def is_single(x: Any) -> bool:
    """True for one structure (Atoms or Structure), False for a list of them."""
    return isinstance(x, (Atoms, _pymatgen_structure_type()))


def as_list(x: Any) -> list:
    """Wrap a single structure in a list; pass lists (or other iterables) through as a list.

    A dict is refused (``TypeError``): its iteration gives the keys, never the structures."""
    if is_single(x):
        return [x]
    if isinstance(x, Mapping):
        raise TypeError(f"expected ase.Atoms, pymatgen Structure or a list of them, got a "
                        f"{type(x).__name__}: pass list(d.values()) to use its values")
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise TypeError(
            f"expected ase.Atoms, pymatgen Structure or a list of them, got {type(x).__name__}"
        )
    return list(x)


def to_structure(x: Any):
    """A pymatgen ``Structure`` for an ``ase.Atoms`` or a Structure (a Structure is returned as is).

    Masked atoms become pymatgen's dummy species ``X``. A cell of zero volume has no fractional
    coordinates and raises numpy's ``LinAlgError``.
    """
    from pymatgen.core import Structure

    if isinstance(x, _pymatgen_structure_type()):
        return x
    if isinstance(x, Atoms):
        return Structure(np.asarray(x.cell[:]), x.get_chemical_symbols(),
                         x.get_scaled_positions(wrap=False), coords_are_cartesian=False,
                         validate_proximity=False)
    raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")


def to_atoms(x: Any) -> Atoms:
    """A periodic ``ase.Atoms`` for a pymatgen Structure or an ``ase.Atoms`` (Atoms are returned
    as is, not copied). pymatgen's dummy species (``X``) become atomic number 0."""
    if isinstance(x, Atoms):
        return x
    if isinstance(x, _pymatgen_structure_type()):
        from pymatgen.core import DummySpecies

        if not x.is_ordered:
            raise ValueError(unreadable_reason(x) + ": ase.Atoms holds one element per site")
        numbers = [0 if isinstance(site.specie, DummySpecies) else site.specie.Z for site in x]
        return Atoms(numbers=numbers, cell=x.lattice.matrix, scaled_positions=x.frac_coords,
                     pbc=True)
    raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")


def like_input(atoms: Atoms, original: Any):
    """``atoms`` as ``original``'s type (Atoms in -> Atoms out, Structure in -> Structure out)."""
    return atoms if isinstance(original, Atoms) else to_structure(atoms)


# --------------------------------------------------------------------------- formulas

def symbols_of(x: Any) -> list[str]:
    """Chemical symbols of a structure (``"X"`` for a masked atom), without a pymatgen object.

    A disordered pymatgen Structure (partial occupancy) has no one symbol per site: ``ValueError``.
    """
    if isinstance(x, Atoms):
        return x.get_chemical_symbols()
    if not is_single(x):
        raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")
    out = []
    for i, site in enumerate(x):
        if not site.is_ordered:
            raise ValueError(f"disordered: partial occupancy on site {i} "
                             f"({site.species.formula}): no one element per site")
        out.append(site.specie.symbol)
    return out


def _counts(symbols: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in symbols:
        counts[s] = counts.get(s, 0) + 1
    return counts


def _amounts(x: Any) -> dict[str, float]:
    """Element -> amount of a structure, a list of symbols, a ``Composition``, a formula string or
    a mapping of counts (masked atoms as ``"X"``; order kept as given)."""
    from pymatgen.core import Composition

    if isinstance(x, str):
        x = Composition(x)
    if isinstance(x, Composition):
        return dict(x.get_el_amt_dict())
    if isinstance(x, Mapping):
        return {str(el): n for el, n in x.items() if n}
    if isinstance(x, (list, tuple)):
        return _counts(x)
    return _counts(symbols_of(x))


def _chemist_order(counts: Mapping[str, float]) -> list[str]:
    """The elements of ``counts`` in pymatgen's electronegativity order (cations first:
    ``Ba Ti O``, ``Li P S Cl``), the order chemists write formulas in."""
    from pymatgen.core import Composition

    with warnings.catch_warnings():  # noble gases have no electronegativity: pymatgen warns
        warnings.simplefilter("ignore", UserWarning)
        return [re.match(r"[A-Z][a-z]?", p)[0] for p in Composition(counts).formula.split()]


def reduced_formula(x: Any) -> str:
    """pymatgen's reduced formula: the *key* structures are grouped and matched by (never shown).

    ``"NaCl"``; ``"Cl2"`` for chlorine, ``"P(SCl)2"`` for PS2Cl2: pymatgen's own conventions, as
    in MP-20's ``pretty_formula``, so a generated structure finds its MP-20 counterparts. ``x``:
    anything :func:`formula` takes. ``""`` when there are no atoms. What a person reads is
    :func:`formula`.
    """
    from pymatgen.core import Composition

    counts = _amounts(x)
    if not counts:
        return ""
    with warnings.catch_warnings():  # formulas sort by electronegativity: noble gases warn
        warnings.simplefilter("ignore", UserWarning)
        return Composition(counts).reduced_formula


def _number(n: float) -> str:
    return "" if n == 1 else (str(round(n)) if abs(n - round(n)) < 1e-8 else f"{n:g}")


def formula_text(counts: Mapping[str, int | float]) -> str:
    """Counts written in the order given, a count of 1 left out: ``{"Ba": 1, "Ti": 1, "O": 3}``
    -> ``"BaTiO3"``. This is the form a formula prompt takes (no groups, no reordering)."""
    return "".join(f"{el}{_number(n)}" for el, n in counts.items())


def formula(x: Any, reduce: bool = True) -> str:
    """The formula a person reads, as chemists write it: ``"BaTiO3"``, ``"NaCl"``, ``"TiO2"``,
    ``"Li3PS2Cl2"``; ``"Cl"`` (not pymatgen's ``"Cl2"``), ``"Cl + 1 X"`` while a type is masked.

    The one formula of every output, table, label and file name of the lab. ``x``: an
    ``ase.Atoms``, a pymatgen Structure or ``Composition``, a list of chemical symbols, a formula
    string or a mapping of counts. Elements come in pymatgen's electronegativity order (not ASE's
    Hill order ``BaO3Ti``, nor pymatgen's grouped ``Li3P(SCl)2``). ``reduce``: divide the counts by
    their greatest common divisor (``reduce=False``: the whole cell, ``"Ba2Ti2O6"``). Masked
    atoms (``"X"``) are counted at the end, and then the formula is never reduced (the
    composition is not known yet).
    """
    amounts = _amounts(x)
    n_masked = amounts.pop("X", 0)
    text = ""
    if amounts:
        whole = all(abs(n - round(n)) < 1e-8 for n in amounts.values())
        if reduce and not n_masked and whole:
            g = int(np.gcd.reduce([round(n) for n in amounts.values()]))
            amounts = {el: n / g for el, n in amounts.items()}
        text = formula_text({el: amounts[el] for el in _chemist_order(amounts)})
    if n_masked:
        text = f"{text} + {_number(n_masked) or 1} X".lstrip(" +")
    return text


# --------------------------------------------------------------------------- descriptors

def space_group(x: Any, symprec: float = SYMPREC, *,
                checked: bool = False) -> tuple[str, int | None]:
    """(Hermann-Mauguin symbol, number) from spglib via pymatgen, e.g. ``("Fm-3m", 225)``.

    ``("", None)`` when there is none to give: masked atoms (their types are not known yet), a
    disordered structure, or a cell spglib cannot analyse (zero or near-zero volume, NaN
    coordinates). ``checked=True``: the caller has already found ``x`` readable (finite, ordered,
    no masked atoms), and those checks are skipped.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if not checked and (unreadable_reason(x) or "X" in symbols_of(x)):  # spglib crashes on NaN
        return "", None
    cell = np.asarray(x.cell[:] if isinstance(x, Atoms) else x.lattice.matrix, dtype=float)
    lengths = np.linalg.norm(cell, axis=1)
    if not abs(np.linalg.det(cell)) > FLAT_CELL * float(np.prod(lengths)):
        return "", None  # a flat cell: spglib needs seconds on it and finds nothing
    try:
        sga = SpacegroupAnalyzer(to_structure(x), symprec=symprec)
        return sga.get_space_group_symbol(), int(sga.get_space_group_number())
    except Exception:  # noqa: BLE001 -- spglib fails on degenerate cells: a descriptor must not crash
        return "", None


def is_finite(x: Any) -> bool:
    """True when the cell and all coordinates are finite numbers."""
    if isinstance(x, Atoms):
        cell, coords = np.asarray(x.cell[:]), x.positions
    else:
        cell, coords = x.lattice.matrix, x.frac_coords
    return bool(np.isfinite(cell).all() and np.isfinite(coords).all())


def is_metal(element: str | int) -> bool:
    """Whether an element (symbol or atomic number) is a metal, by pymatgen's ``Element.is_metal``.

    pymatgen counts alkali, alkaline-earth, transition, post-transition metals, lanthanides and
    actinides; metalloids (B, Si, Ge, As, Sb, Te, Po) are not metals. SMACT's ``smact.metals``
    differs on Ge, Sb and Po (metals there) and on Pm and the superheavy elements (missing
    there); :func:`crystal_lab.evaluate.smact_validity` keeps ``smact.metals`` for its alloy rule
    on purpose, to agree with CDVAE. Atomic number 0 (a masked atom) is not a metal.
    """
    from pymatgen.core import Element

    if isinstance(element, (int, np.integer)):
        return int(element) > 0 and Element.from_Z(int(element)).is_metal
    return Element(element).is_metal


# --------------------------------------------------------------------------- files

def unreadable_reason(x: Any) -> str:
    """Why ``x`` is not one ordered crystal that can be evaluated (``""`` when it is).

    ``"not a structure: ..."`` (None, a string, any other object), ``"disordered: partial
    occupancy on site 0"`` (a pymatgen Structure with fractional occupancies), ``"no atoms"``,
    ``"non-finite lattice or coordinates (NaN/inf)"``. Cheap: nothing is converted.
    """
    if not is_single(x):
        got = "None" if x is None else type(x).__name__
        return f"not a structure: expected ase.Atoms or pymatgen Structure, got {got}"
    if not isinstance(x, Atoms):
        for i, site in enumerate(x):
            if not site.is_ordered:
                return f"disordered: partial occupancy on site {i} ({site.species.formula})"
    if len(x) == 0:
        return "no atoms"
    if not is_finite(x):
        return "non-finite lattice or coordinates (NaN/inf)"
    return ""


def writable_reason(x: Any) -> str:
    """Why ``x`` cannot be written as a CIF (``""`` when it can): not a structure, no atoms,
    non-finite cell or coordinates, or masked / unknown atoms (``"X"``). Partial occupancy is
    written as it is."""
    reason = unreadable_reason(x)
    if reason and not reason.startswith("disordered"):
        return reason
    if len(x) == 0:
        return "no atoms"
    if not is_finite(x):
        return "non-finite lattice or coordinates (NaN/inf)"
    if isinstance(x, Atoms):
        masked = [i for i, z in enumerate(x.numbers) if z == 0]
    else:
        from pymatgen.core import DummySpecies

        masked = [i for i, site in enumerate(x)
                  if any(isinstance(sp, DummySpecies) for sp in site.species)]
    if masked:
        return (f"{len(masked)} masked or unknown atom(s) (X, first at site {masked[0]}): their "
                "element is not known yet")
    return ""


def cif_text(x: Any) -> str:
    """The CIF of one structure (pymatgen's ``CifWriter``, all sites in P1).

    Raises ``ValueError`` for what a CIF cannot hold (see :func:`writable_reason`).
    """
    from pymatgen.io.cif import CifWriter

    reason = writable_reason(x)
    if reason:
        raise ValueError(f"cannot write a CIF: {reason}")
    return str(CifWriter(to_structure(x)))


def write_cif(x: Any, path, keep_existing: bool = False) -> Path:
    """Write one structure (Atoms or Structure) to the CIF file ``path``; return the path written.

    The one CIF writer of the lab. Refuses NaN/inf coordinates, masked or unknown (``"X"``) atoms
    and empty structures with a ``ValueError``, and a path it could not write (a read-only
    folder, a file where a folder is wanted, a folder at ``path``) with a one-line ``OSError``:
    both before anything is written. The file appears whole (written beside it, then renamed).
    An existing file at ``path`` is replaced; ``keep_existing=True`` keeps it and writes to the
    first free ``name-2.cif``, ``name-3.cif``, ..., claimed atomically
    (:func:`crystal_lab.paths.write_new`): two processes saving at once never share a name.
    """
    from crystal_lab.paths import check_file, write_atomic, write_new

    path = check_file(path, next_free=keep_existing)
    text = cif_text(x)
    return write_new(path, text) if keep_existing else write_atomic(path, text)
