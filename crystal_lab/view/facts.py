"""What a person reads about one structure: formula, space group, volume, density, distances.

The formula is :func:`crystal_lab.structures.formula` (the lab's one formula function).

``as_atoms`` / ``periodic_copies`` accept ``ase.Atoms`` or pymatgen ``Structure`` (periodic copies
out). Atoms with atomic number 0 (symbol "X") are atom types still masked during diffusion: they
have no mass, no space group and never a formula subscript of their own.
Space groups come from spglib through pymatgen's ``SpacegroupAnalyzer``.
"""
from __future__ import annotations

import html

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, chemical_symbols

from crystal_lab.arguments import check_number
from crystal_lab.structures import SYMPREC, formula

__all__ = [
    "MAX_DRAWN_ATOMS",
    "as_atoms",
    "check_index",
    "check_repeat",
    "describe",
    "describe_html",
    "min_distance",
    "periodic_copies",
    "spacegroup",
    "symbol",
]

# The most atoms one figure or viewer draws unless the caller passes ``max_atoms``: plotly
# figures take about 2 ms an atom to build here (1024 atoms: 1.8 s on a busy 2-core machine)
# and the browser slows down long before 10^5 atoms.
MAX_DRAWN_ATOMS = 2000
_SECONDS_PER_DRAWN_ATOM = 0.002
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


def as_atoms(x) -> Atoms:
    """Return a copy of ``x`` (ase.Atoms or pymatgen Structure) as periodic ``ase.Atoms``."""
    from crystal_lab.structures import to_atoms

    atoms = to_atoms(x).copy()
    if not np.isfinite(atoms.cell.array).all():
        raise ValueError("structure has a NaN or infinite lattice: cannot draw it")
    if atoms.cell.rank != 3:
        raise ValueError("structure has no 3D unit cell: a crystal needs three lattice vectors")
    bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
    if len(bad):
        raise ValueError(f"structure has NaN or infinite positions (atom {int(bad[0])}"
                         f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}): cannot draw it")
    atoms.pbc = True
    return atoms


def periodic_copies(structures) -> list[Atoms]:
    """One structure or a list of them (:func:`crystal_lab.structures.as_list`) -> a non-empty
    list of periodic ``ase.Atoms`` copies (:func:`as_atoms`)."""
    from crystal_lab.structures import as_list

    structures = as_list(structures)
    if not structures:
        raise ValueError("Visualizer needs at least one structure")
    return [as_atoms(s) for s in structures]


def check_index(index, n: int, what: str = "structures") -> int:
    """``index`` (negative counts from the end) as a position in ``range(n)``: TypeError for a
    non-integer, IndexError outside the range."""
    i = check_number("index", index, integer=True)
    if not -n <= i < n:
        raise IndexError(f"index {i} out of range for {n} {what}")
    return i % n


def check_repeat(repeat, n_atoms: int | None = None,
                 max_atoms: int | None = MAX_DRAWN_ATOMS) -> tuple[int, int, int]:
    """``2`` or ``(2, 1, 1)`` -> a tuple of three positive integers (TypeError for non-integers,
    ValueError otherwise). With ``n_atoms`` (atoms per cell), a supercell of more than
    ``max_atoms`` atoms is refused with an estimate of the time it would take; pass a larger
    ``max_atoms`` (or None) to draw it anyway."""
    if not isinstance(repeat, (tuple, list, np.ndarray)):
        repeat = (repeat,) * 3
    repeat = tuple(check_number("repeat", r, integer=True) for r in repeat)
    if len(repeat) != 3 or min(repeat) < 1:
        raise ValueError(f"repeat must be three positive integers, got {repeat}")
    total = None if n_atoms is None else int(n_atoms) * int(np.prod(repeat))
    if total is not None and max_atoms is not None and total > max_atoms:
        seconds = total * _SECONDS_PER_DRAWN_ATOM
        raise ValueError(
            f"repeat={repeat} would draw {total} atoms (about {seconds:.0f} s to build, and a "
            f"slow browser); the cap is {max_atoms} atoms: use a smaller repeat, or pass "
            f"max_atoms={total} to draw it anyway")
    return repeat


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z``; "X" for a masked atom (z = 0)."""
    return "X" if z == 0 else chemical_symbols[z]


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance in Å, periodic images included (``inf`` for none < 12 Å)."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0 or not np.isfinite(atoms.positions).all() or \
            not np.isfinite(atoms.cell.array).all() or abs(atoms.cell.volume) < 1e-8:
        return float("nan")
    for cutoff in (4.0, 12.0):
        d = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(d):
            return float(d.min())
    return float("inf")


def spacegroup(atoms: Atoms, symprec: float = SYMPREC) -> str:
    """Space group as text, ``"Fm-3m (225)"`` (:func:`crystal_lab.structures.space_group`),
    or a short reason it has none."""
    from crystal_lab.structures import space_group

    if (atoms.numbers == 0).any():
        return "n/a (masked atoms)"
    symbol_, number = space_group(atoms, symprec=symprec)
    return f"{symbol_} ({number})" if number else "unknown"


def describe(atoms: Atoms) -> dict:
    """Formula, space group, volume (Å³), density (g/cm³; NaN while atom types are masked),
    minimum distance (Å, periodic) and ``t`` when ``atoms.info`` has it."""
    real = atoms.numbers[atoms.numbers > 0]
    n_masked = int((atoms.numbers == 0).sum())
    volume = float(abs(atoms.cell.volume))
    mass = float(atomic_masses[real].sum())
    info = {
        "formula": formula([symbol(int(z)) for z in atoms.numbers]),   # as chemists write it
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


def _fmt(x: float, unit: str, digits: int = 2) -> str:
    return f"{x:.{digits}f} {unit}" if np.isfinite(x) else "n/a"


def describe_html(atoms: Atoms, title: str = "", inline: bool = False) -> str:
    """The description beside a viewer: formula, atoms, space group, volume, density, d_min."""
    d = describe(atoms)
    esc = html.escape
    if inline:
        t = f"t = {d['t']:.2f} · " if "t" in d else ""
        head = f"<b>{esc(title)}</b><br>" if title else ""
        return (f"<div style='font-size:13px;line-height:1.5'>{head}{t}<b>{esc(d['formula'])}"
                f"</b> · {d['n_atoms']} atoms · {esc(d['spacegroup'])}<br>V = "
                f"{d['volume']:.1f} Å³ · ρ = {_fmt(d['density'], 'g/cm³')} · "
                f"d<sub>min</sub> = {_fmt(d['min_distance'], 'Å')}</div>")
    rows = [("formula", d["formula"]), ("atoms", d["n_atoms"]), ("space group", d["spacegroup"]),
            ("volume", f"{d['volume']:.1f} Å³"), ("density", _fmt(d["density"], "g/cm³")),
            ("min distance", _fmt(d["min_distance"], "Å"))]
    if "t" in d:
        rows.insert(0, ("t", f"{d['t']:.3f}"))
    body = "".join(f"<tr><td style='padding-right:8px;color:#666'>{k}</td><td>{esc(str(v))}"
                   f"</td></tr>" for k, v in rows)
    head = f"<b>{esc(title)}</b>" if title else ""
    return f"{head}<table style='font-size:13px'>{body}</table>"
