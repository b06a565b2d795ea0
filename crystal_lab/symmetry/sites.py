"""A template made concrete: the symmetry operations of each atom in a primitive cell.

A :class:`~crystal_lab.symmetry.templates.Template` names a space group and its Wyckoff orbits;
the projection needs numbers. For every atom ``j`` of an orbit, one operation ``(W_j, w_j)`` of
the group carries the orbit's representative onto it (``x_j = W_j x_rep + w_j``); the
representative's site is the set its stabiliser (the operations that fix it) leaves in place,
and averaging those operations' linear parts gives the projector ``P`` onto the site's free
directions (``P = 0``: a special position, pinned). All of it is written in one primitive
basis, with the group's rotations in that basis (they shape the lattice metric).

How: pyxtal builds one random crystal with exactly the template's Wyckoff sites (a distinct
stand-in element per orbit, so no two orbits can merge), spglib reduces it to its primitive
cell and lists the operations in that basis. pyxtal is imported only here, on first use (it
takes 1-2 s), and each template is realised once a process.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import spglib
from ase.data import atomic_numbers, chemical_symbols

from .templates import Template

#: lattice points of the conventional cell for each centring letter (R: hexagonal axes)
CENTRING = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "R": 3, "F": 4}
#: tolerance of the exact stand-in crystal (its coordinates are exact up to rounding)
_TIGHT = 1e-4


@dataclass(frozen=True)
class Sites:
    """A template's operations in one primitive basis (fractional coordinates, column vectors).

    Atoms are listed orbit after orbit, in the template's order. ``orbit[j]`` is atom ``j``'s
    orbit; ``W[j]``, ``w[j]`` carry that orbit's representative ``ref[orbit[j]]`` onto atom ``j``
    (``W_inv`` undoes ``W``); ``P[k]`` projects a displacement of orbit ``k``'s representative onto
    its site's free directions; ``rotations`` and ``translations`` are the group's operations
    (the rotations also shape the metric);
    ``numbers`` the atomic number per atom (0 where the orbit is open); ``lattice`` an example cell.
    """

    template: Template
    orbit: np.ndarray      # (n,) int
    W: np.ndarray          # (n, 3, 3) int
    W_inv: np.ndarray      # (n, 3, 3) int
    w: np.ndarray          # (n, 3)
    ref: np.ndarray        # (n_orbits, 3)
    P: np.ndarray          # (n_orbits, 3, 3)
    rotations: np.ndarray  # (n_ops, 3, 3) int
    translations: np.ndarray  # (n_ops, 3)
    numbers: np.ndarray    # (n,) int
    lattice: np.ndarray    # (3, 3)

    @property
    def n_atoms(self) -> int:
        return len(self.orbit)

    @property
    def free_coordinates(self) -> int:
        """How many coordinates the template leaves free (the rank of the site projectors)."""
        return int(sum(round(float(np.trace(p))) for p in self.P))


def centring(space_group: int) -> int:
    """Lattice points in the conventional cell of ``space_group`` (1, 2, 3 or 4)."""
    from pyxtal.symmetry import Group

    return CENTRING[Group(space_group).symbol[0]]


def check_orbits(template: Template) -> None:
    """Raise ``ValueError`` (one line) if an orbit names a Wyckoff letter the group lacks or a
    multiplicity its letter does not have (counted in the primitive cell)."""
    from pyxtal.symmetry import Group

    if not 1 <= template.space_group <= 230:
        raise ValueError(f"space group {template.space_group} is not one of 1-230")
    group = Group(template.space_group)
    factor = CENTRING[group.symbol[0]]
    sizes = {w.letter: w.multiplicity // factor for w in group.Wyckoff_positions}
    for o in template.orbits:
        if o.letter not in sizes:
            raise ValueError(f"{group.symbol} has no Wyckoff letter {o.letter!r} (it has "
                             f"{', '.join(sorted(sizes, key=lambda x: (x == 'A', x)))})")
        if o.multiplicity != sizes[o.letter]:
            raise ValueError(f"{group.symbol} {o.letter} puts {sizes[o.letter]} atom(s) in the "
                             f"primitive cell, not {o.multiplicity}")


def _stand_in(template: Template, seed: int):
    """A random crystal (ase.Atoms) of the template's group with its Wyckoff sites, in the
    conventional cell; orbit ``k`` is element ``k + 1``."""
    from pyxtal import pyxtal

    factor = centring(template.space_group)
    species = [chemical_symbols[k + 1] for k in range(len(template.orbits))]   # stand-ins only
    crystal = pyxtal()
    with warnings.catch_warnings():      # pyxtal's notes on growing the stand-in's volume
        warnings.simplefilter("ignore")
        crystal.from_random(
            3, template.space_group, species, [o.multiplicity * factor for o in template.orbits],
            sites=[[f"{o.multiplicity * factor}{o.letter}"] for o in template.orbits],
            force_pass=True, random_state=seed,
        )
    return crystal.to_ase()


def _primitive(atoms):
    """The stand-in crystal's primitive cell and its symmetry operations, found by spglib."""
    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.standardize_cell(cell, to_primitive=True, symprec=_TIGHT)
    reduced = spglib.niggli_reduce(lattice, eps=1e-5)
    if reduced is not None:      # x L = x' L'  with  L' = M L
        positions = positions @ np.linalg.inv(np.rint(reduced @ np.linalg.inv(lattice)))
        lattice = reduced
    positions = positions % 1.0
    data = spglib.get_symmetry_dataset((lattice, positions, numbers), symprec=_TIGHT)
    return lattice, positions, numbers, data


def _operation_to(rotations, translations, x_from, x_to) -> tuple[np.ndarray, np.ndarray]:
    """The first operation carrying ``x_from`` onto ``x_to`` (mod 1), its translation chosen so
    that ``W x_from + w = x_to`` holds without wrapping."""
    images = np.einsum("kij,j->ki", rotations, x_from) + translations
    d = images - x_to
    hit = np.flatnonzero(np.abs(d - np.round(d)).max(1) < 10 * _TIGHT)
    k = int(hit[0])
    return rotations[k], translations[k] - np.round(d[k])


def _site_projector(rotations, translations, x) -> np.ndarray:
    """The mean of the linear parts of the operations that fix ``x``: the projector onto the
    site's free directions (the identity is always among them)."""
    images = np.einsum("kij,j->ki", rotations, x) + translations
    d = images - x
    fixes = np.abs(d - np.round(d)).max(1) < 10 * _TIGHT
    return rotations[fixes].astype(float).mean(0)


def _check(template: Template, data, numbers) -> str | None:
    """Why the stand-in crystal does not realise the template (None: it does)."""
    if data is None:
        return "spglib found no symmetry"
    if data.number != template.space_group:
        return (f"its sites have the symmetry of space group {data.number}, not "
                f"{template.space_group}")
    counts = np.bincount(numbers - 1, minlength=len(template.orbits))
    want = [o.multiplicity for o in template.orbits]
    if list(counts) != want:
        return f"its orbits hold {list(counts)} atoms in the primitive cell, not {want}"
    return None


@functools.lru_cache(maxsize=512)
def realise(template: Template, tries: int = 4) -> Sites:
    """The template's per-atom operations in a primitive cell (cached per template).

    Raises ``ValueError`` (one line) if the template cannot be realised: a letter the group does
    not have, multiplicities that do not match, or sites that always have more symmetry than
    the group (every atom on a special position of a higher group).
    """
    check_orbits(template)
    why = "pyxtal could not place the sites"
    for seed in range(tries):
        try:
            atoms = _stand_in(template, seed)
        except Exception as err:  # noqa: BLE001 - pyxtal raises many types for bad sites
            why = str(err).splitlines()[0] if str(err) else type(err).__name__
            continue
        lattice, positions, numbers, data = _primitive(atoms)
        why = _check(template, data, numbers)
        if why is None:
            return _build(template, lattice, positions, numbers, data)
    raise ValueError(f"template {_describe(template)} cannot be realised: {why}")


def _describe(template: Template) -> str:
    return f"{template.space_group} " + " ".join(
        f"{o.multiplicity}{o.letter}" for o in template.orbits
    )


def _build(template: Template, lattice, positions, numbers, data) -> Sites:
    rot = np.asarray(data.rotations)
    trans = np.asarray(data.translations)
    orbit, lin, w, ref, proj, z = [], [], [], [], [], []   # W, w and P of the docstring
    for k, o in enumerate(template.orbits):
        members = np.flatnonzero(numbers == k + 1)
        x_rep = positions[members[0]]
        ref.append(x_rep)
        proj.append(_site_projector(rot, trans, x_rep))
        for j in members:
            lin_j, wj = _operation_to(rot, trans, x_rep, positions[j])
            orbit.append(k)
            lin.append(lin_j)
            w.append(wj)
            z.append(atomic_numbers[o.element] if o.element else 0)
    lin = np.array(lin, dtype=int)
    lin_inv = np.rint(np.linalg.inv(lin)).astype(int)
    return Sites(template, np.array(orbit), lin, lin_inv, np.array(w, dtype=float),
                 np.array(ref, dtype=float),
                 np.array(proj, dtype=float), rot.astype(int), trans.astype(float),
                 np.array(z, dtype=int), np.asarray(lattice, float))
