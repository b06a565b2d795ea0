"""What a person reads about one structure: formula, space group, volume, density, distances.

``as_atoms`` / ``as_list`` accept ``ase.Atoms`` or pymatgen ``Structure`` (periodic copies out).
Atoms with atomic number 0 (symbol "X") are atom types still masked during diffusion: they
have no mass, no space group and never a formula subscript of their own.
Space groups come from spglib through pymatgen's ``SpacegroupAnalyzer``.
"""
from __future__ import annotations

import re

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, chemical_symbols

__all__ = ["as_atoms", "as_list", "check_repeat", "symbol", "min_distance", "spacegroup",
           "formula", "describe", "SYMPREC"]

SYMPREC = 0.1
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


def as_atoms(x) -> Atoms:
    """Return a copy of ``x`` (ase.Atoms or pymatgen Structure) as periodic ``ase.Atoms``."""
    if isinstance(x, Atoms):
        atoms = x.copy()
    elif type(x).__name__ in ("Structure", "IStructure"):
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(x)
    else:
        raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")
    if atoms.cell.rank != 3:
        raise ValueError("structure has no 3D unit cell: a crystal needs three lattice vectors")
    atoms.pbc = True
    return atoms


def as_list(structures) -> list[Atoms]:
    """One structure or a list of them -> a non-empty list of periodic ``ase.Atoms`` copies."""
    if isinstance(structures, Atoms) or type(structures).__name__ in ("Structure", "IStructure"):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ValueError("Visualizer needs at least one structure")
    return [as_atoms(s) for s in structures]


def check_repeat(repeat) -> tuple[int, int, int]:
    """``2`` or ``(2, 1, 1)`` -> a tuple of three positive integers (ValueError otherwise)."""
    if isinstance(repeat, int):
        repeat = (repeat,) * 3
    repeat = tuple(int(r) for r in repeat)
    if len(repeat) != 3 or min(repeat) < 1:
        raise ValueError(f"repeat must be three positive integers, got {repeat}")
    return repeat


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z``; "X" for a masked atom (z = 0)."""
    return "X" if z == 0 else chemical_symbols[z]


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance in Å, periodic images included (``inf`` for none < 12 Å)."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0 or abs(atoms.cell.volume) < 1e-8:
        return float("nan")
    for cutoff in (4.0, 12.0):
        d = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(d):
            return float(d.min())
    return float("inf")


def spacegroup(atoms: Atoms, symprec: float = SYMPREC) -> str:
    """Space-group symbol and number (spglib via pymatgen), or a short reason it has none."""
    if (atoms.numbers == 0).any():
        return "n/a (masked atoms)"
    try:
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        sga = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=symprec)
        return f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception:  # noqa: BLE001 - spglib fails on degenerate cells: a description must not crash
        return "unknown"


def formula(symbols, reduce: bool = True) -> str:
    """The one formula style of every view: pymatgen's electronegativity order ("BaTiO3",
    "Ba3TiO"), reduced or with the actual counts, no "1" subscripts and no diatomic special
    cases ("Cl", not "Cl2"). ``symbols``: a list of symbols or an ``ase.Atoms``; masked atoms
    are written as a trailing "+ n X"."""
    import warnings

    from pymatgen.core import Composition

    if isinstance(symbols, Atoms):
        symbols = symbols.get_chemical_symbols()
    symbols = list(symbols)
    n_masked = sum(s == "X" for s in symbols)
    real = [s for s in symbols if s != "X"]
    text = ""
    if real:
        elements, counts = np.unique(real, return_counts=True)
        if reduce and not n_masked:
            counts = counts // np.gcd.reduce(counts)
        with warnings.catch_warnings():  # noble gases have no electronegativity: pymatgen warns
            warnings.simplefilter("ignore", UserWarning)
            comp = Composition(dict(zip(elements, counts.tolist())))
            parts = comp.formula.split()
        text = "".join(p[:-1] if re.fullmatch(r"[A-Z][a-z]?1", p) else p for p in parts)
    if n_masked:
        text = f"{text} + {n_masked} X".lstrip(" +")
    return text


def describe(atoms: Atoms) -> dict:
    """Formula, space group, volume (Å³), density (g/cm³; NaN while atom types are masked),
    minimum distance (Å, periodic) and ``t`` when ``atoms.info`` has it."""
    real = atoms.numbers[atoms.numbers > 0]
    n_masked = int((atoms.numbers == 0).sum())
    volume = float(abs(atoms.cell.volume))
    mass = float(atomic_masses[real].sum())
    info = {
        "formula": formula([symbol(int(z)) for z in atoms.numbers]),
        "n_atoms": len(atoms),
        "spacegroup": spacegroup(atoms),
        "volume": volume,
        # the density of a structure with masked (unknown) atom types is unknown too
        "density": (mass / volume * _AMU_PER_A3_TO_G_PER_CM3
                    if volume > 0 and not n_masked else float("nan")),
        "min_distance": min_distance(atoms),
    }
    if "t" in atoms.info:
        info["t"] = float(atoms.info["t"])
    return info
