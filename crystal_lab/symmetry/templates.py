"""A symmetry template: a space group and its occupied Wyckoff orbits, with no coordinates.

A template is what DiffCSP++ conditions on: "Fm-3m, Na on 4a, Cl on 4b". It says which atoms
move together (one orbit = one Wyckoff position's images under the group) and which
coordinates are free; the diffusion model chooses the rest (free coordinates, lattice lengths
and angles, and the elements of open orbits).

Multiplicities are counted in the cell the model works in: the primitive cell (MP-20's CIFs are
primitive), so ``Fm-3m`` 4a counts 1 atom, not 4. ``str(template)`` writes the conventional
(International Tables) multiplicities a textbook uses: ``"Fm-3m: Na 4a, Cl 4b"``.

:func:`template_of` reads the template of a crystal with spglib; :func:`space_group_number`
reads a space group the way a person writes it (``225``, ``"Fm-3m"``, ``"Fm3m"``,
``"F m -3 m"``, ``"P6_3/mmc"``, ``"P63/mmc"``).
"""
from __future__ import annotations

import difflib
import gzip
import json
import numbers
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from ..prompts import PromptError, crystal_system_of
from ..structures import SYMPREC, to_atoms

#: atoms of the conventional cell per atom of the primitive cell, by the symbol's lattice letter
CENTERING = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "F": 4, "R": 3}
#: the normalizer's Wyckoff relabellings, per space group (built by scripts/build_template_index.py)
ALTERNATIVES_FILE = "wyckoff_alternatives.json.gz"


@dataclass(frozen=True)
class Orbit:
    """One occupied Wyckoff orbit: its letter (ITA standard setting), the number of atoms it puts
    in the primitive cell, and its element (``None``: open, chosen by the model)."""

    letter: str
    multiplicity: int
    element: str | None = None


def _orbit_key(orbit: Orbit) -> tuple:
    # spglib writes the 27th Wyckoff letter (Pmmm's alpha) as "A": it comes after "z"
    return orbit.letter == "A", orbit.letter, orbit.element or "", orbit.multiplicity


@dataclass(frozen=True)
class Template:
    """A space group (1-230) and its occupied orbits, ordered by (letter, element)."""

    space_group: int
    orbits: tuple[Orbit, ...]

    @classmethod
    def make(cls, space_group: int, orbits) -> Template:
        """A template with its orbits in the canonical order (equal templates compare equal)."""
        return cls(int(space_group), tuple(sorted(orbits, key=_orbit_key)))

    @property
    def n_atoms(self) -> int:
        """Atoms in the primitive cell."""
        return sum(o.multiplicity for o in self.orbits)

    @property
    def symbol(self) -> str:
        """The short Hermann-Mauguin symbol, e.g. ``"Fm-3m"``, ``"P6_3/mmc"``."""
        return space_group_symbol(self.space_group)

    @property
    def crystal_system(self) -> str:
        """One of :data:`crystal_lab.prompts.CRYSTAL_SYSTEMS`."""
        return crystal_system_of(self.space_group)

    @property
    def counts(self) -> dict[str, int]:
        """Atoms of each element in the primitive cell (open orbits are left out)."""
        counts: Counter = Counter()
        for orbit in self.orbits:
            if orbit.element is not None:
                counts[orbit.element] += orbit.multiplicity
        return dict(counts)

    @property
    def is_open(self) -> bool:
        """True when at least one orbit has no element yet."""
        return any(o.element is None for o in self.orbits)

    @property
    def pattern(self) -> tuple:
        """The template without its elements: (space group, ((letter, multiplicity), ...))."""
        return self.space_group, tuple(sorted((o.letter, o.multiplicity) for o in self.orbits))

    def with_elements(self, elements) -> Template:
        """The same orbits (in this order) with these elements (one per orbit; None = open)."""
        elements = list(elements)
        if len(elements) != len(self.orbits):
            raise ValueError(
                f"{len(elements)} elements for the {len(self.orbits)} orbits of {self}"
            )
        return Template.make(self.space_group, [Orbit(o.letter, o.multiplicity, e)
                                                for o, e in zip(self.orbits, elements,
                                                                strict=True)])

    def canonical(self) -> Template:
        """The same crystal's template with the smallest letters among its equivalent descriptions:
        an origin shift or axis change that keeps the group (its Euclidean normalizer) relabels
        Wyckoff positions, so rock salt is "Na 4a, Cl 4b" or "Na 4b, Cl 4a" by where the origin
        sits. Compare templates of crystals through this form."""
        return _canonical(self)

    def opened(self) -> Template:
        """The canonical template of the orbits alone (every element ``None``): the space group and
        Wyckoff pattern, for comparing structure types."""
        return _canonical(self.with_elements([None] * len(self.orbits)))

    def info(self) -> dict[str, Any]:
        """A JSON-able dict (for ``atoms.info["template"]``); :meth:`from_info` reads it back."""
        return {"space_group": self.space_group, "symbol": self.symbol,
                "orbits": [[o.letter, o.multiplicity, o.element] for o in self.orbits]}

    @classmethod
    def from_info(cls, info: dict | str) -> Template:
        """The template of an :meth:`info` dict (or its JSON text)."""
        if isinstance(info, str):
            info = json.loads(info)
        try:
            orbits = [Orbit(str(letter), int(mult), None if element is None else str(element))
                      for letter, mult, element in info["orbits"]]
            return cls.make(int(info["space_group"]), orbits)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError("not a template's info (space_group and orbits [letter, "
                             "multiplicity, "
                             f"element]): {error}") from None

    def __str__(self) -> str:
        factor = CENTERING[self.symbol[0]]
        sites = [f"{o.element + ' ' if o.element else ''}{o.multiplicity * factor}{o.letter}"
                 for o in self.orbits]
        return f"{self.symbol}: {', '.join(sites)}"


@lru_cache(maxsize=1)
def _alternatives() -> dict[int, list[dict[str, str]]]:
    """Per space group, the Wyckoff relabellings of its normalizer (from pyxtal's table of
    Wyckoff sets, shipped as ``data/wyckoff_alternatives.json.gz``)."""
    data = json.loads(gzip.decompress(resources.files("crystal_lab.symmetry").joinpath(
        "data", ALTERNATIVES_FILE).read_bytes()))
    return {int(sg): [dict(zip(data["letters"][sg].split(), row.split(),
                               strict=True)) for row in rows]
            for sg, rows in data["alternatives"].items()}


@lru_cache(maxsize=65536)
def _canonical(template: Template) -> Template:
    best, best_key = None, sorted(_orbit_key(o) for o in template.orbits)
    for relabel in _alternatives().get(template.space_group, ()):
        key = sorted(_orbit_key(Orbit(relabel[o.letter], o.multiplicity,
                                      o.element)) for o in template.orbits)
        if key < best_key:
            best, best_key = relabel, key
    if best is None:
        return template
    return Template.make(template.space_group, [Orbit(best[o.letter], o.multiplicity, o.element)
                                               for o in template.orbits])


# --------------------------------------------------------------------------- reading a crystal

def template_of(structure, symprec: float = SYMPREC) -> Template:
    """The template of an ``ase.Atoms`` or pymatgen ``Structure``: its space group (spglib at
    ``symprec``), one :class:`Orbit` per set of symmetry-equivalent atoms, with spglib's Wyckoff
    letter and the number of atoms the orbit puts in the primitive cell (any input cell, primitive
    or conventional, gives the same template).

    >>> from ase.build import bulk
    >>> str(template_of(bulk("NaCl", "rocksalt", a=5.64, cubic=True)))
    'Fm-3m: Na 4a, Cl 4b'
    """
    import spglib

    atoms = to_atoms(structure)
    if len(atoms) == 0 or 0 in atoms.numbers:
        raise ValueError("template_of needs a crystal with every atom's element known")
    cell = (np.asarray(atoms.cell[:]), atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise ValueError(f"spglib found no symmetry at symprec={symprec} (a degenerate cell?)")
    # pure translations of the input cell: how many primitive cells it holds
    n_cells = sum(bool(np.array_equal(r, np.eye(3, dtype=int))) for r in dataset.rotations)
    symbols = atoms.get_chemical_symbols()
    members = Counter(int(i) for i in dataset.crystallographic_orbits)
    orbits = [Orbit(str(dataset.wyckoffs[i]), count // n_cells, symbols[i])
              for i, count in members.items()]
    return Template.make(int(dataset.number), orbits)


# --------------------------------------------------------------------------- space-group symbols

def _key(symbol: str) -> str:
    return symbol.replace(" ", "").replace("_", "").lower()


def _spellings(sg) -> set[str]:
    """The symbols of one spglib setting: short, full, and "P 2_1/c = P 1 2_1/n 1"'s parts; in a
    monoclinic setting also the full symbol without its 1s (P 1 2_1/n 1 -> P2_1/n)."""
    names = {sg.international_short, sg.international_full, *sg.international.split("=")}
    if 3 <= sg.number <= 15:
        names |= {" ".join(p for p in name.split() if p != "1") for name in set(names)}
    return {name.strip() for name in names}


@lru_cache(maxsize=1)
def _symbol_tables() -> tuple[dict[int, str], dict[str, int], dict[str, int]]:
    """(number -> standard short symbol, symbol key -> number, key without bars -> number)."""
    import spglib

    standard: dict[int, str] = {}
    keys: dict[str, int] = {}
    for hall in range(1, 531):  # every setting spglib knows: P2_1/n and P2_1/c both mean 14
        sg = spglib.get_spacegroup_type(hall)
        standard.setdefault(sg.number, sg.international_short)
        for symbol in _spellings(sg):
            keys[_key(symbol)] = sg.number
    unbarred: dict[str, set[int]] = {}
    for key, number in keys.items():  # "Fm3m" (the old cubic symbols) when unambiguous
        unbarred.setdefault(key.replace("-", ""), set()).add(number)
    loose = {key: next(iter(n)) for key, n in unbarred.items() if len(n) == 1}
    return standard, keys, loose


def space_group_symbol(number: int) -> str:
    """The standard short Hermann-Mauguin symbol of a space-group number: 225 -> ``"Fm-3m"``."""
    return _symbol_tables()[0][space_group_number(number)]


def space_group_number(value) -> int:
    """A space-group number (1-230) from what a person writes: ``225``, ``"225"``, ``"Fm-3m"``,
    ``"Fm3m"``, ``"F m -3 m"``, ``"F 4/m -3 2/m"``, ``"P6_3/mmc"``, ``"P63/mmc"``, ``"P2_1/n"``.

    Anything else raises :class:`~crystal_lab.prompts.PromptError` with one line (and the closest
    symbol, when there is one).
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if 1 <= int(value) <= 230:
            return int(value)
        raise PromptError(f"space-group numbers run from 1 to 230, got {value}")
    if isinstance(value, numbers.Real) and not isinstance(value,
                                                          bool) and float(value).is_integer():
        return space_group_number(int(value))
    if not isinstance(value, str) or not value.strip():
        raise PromptError(f"a space group is a number (225) or a symbol (Fm-3m), got {value!r}")
    text = value.strip()
    if text.isdigit():
        return space_group_number(int(text))
    standard, keys, loose = _symbol_tables()
    key = _key(text)
    number = keys.get(key) or loose.get(key)
    if number is not None:
        return number
    close = difflib.get_close_matches(text, list(standard.values()), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}, {keys[_key(close[0])]}?)" if close else ""
    raise PromptError(f"unknown space group {text!r}{hint}: give a number 1-230 or a "
                      f"Hermann-Mauguin symbol such as Fm-3m")
