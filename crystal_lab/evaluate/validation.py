"""Validity of generated crystals: structural (geometry) and compositional (charge balance).

Definitions (the ones every DiffCSP / CDVAE-family paper reports):

* **Structural validity** (CDVAE, Xie et al., ICLR 2022, ``scripts/eval_utils.py``
  ``structure_validity``; reused unchanged by DiffCSP, Jiao et al., NeurIPS 2023): a crystal is
  valid when the shortest distance between any two atoms, periodic images included, is at least
  0.5 A and the cell volume is at least 0.1 A^3. We also reject absurd lattices with a cell length
  above 60 A, as Chemeleon's sampling filter does, and non-finite numbers (CDVAE's ``nan_value``).
  CDVAE measures distances with pymatgen's ``Structure.distance_matrix`` (distinct sites, minimum
  image); we add an atom's distance to its own periodic images (the shortest lattice vector),
  which only changes the verdict for a cell vector shorter than 0.5 A.
* **Compositional validity** (CDVAE ``smact_validity``): a composition is valid when it is a single
  element, or every element is a metal (an alloy), or some assignment of oxidation states is charge
  neutral for the reduced formula *and* passes the Pauling electronegativity test (every cation less
  electronegative than every anion).

Which SMACT oxidation states: CDVAE called ``smact.Element(el).oxidation_states``, which in the
SMACT 2.x it used was the full SMACT default list (``oxidation_states.txt``). SMACT 3+ renamed that
list ``Element.oxidation_states_smact14`` and made ``Element.oxidation_states`` (and the default of
``smact.screening.smact_validity``) the ICSD-24 filtered list, which marks fewer compositions valid.
We use ``oxidation_states_smact14`` so that numbers are comparable with CDVAE / DiffCSP / MatterGen
tables; ``smact.screening.smact_validity(comp, oxidation_states_set="smact14")`` gives the same
answers (a test checks this).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import reduce
from math import gcd
from typing import Any

import numpy as np

from ..chemistry import charge_balanced
from ..structures import as_list, formula, is_single
from .rows import Row, row_of, rows_of

MIN_DISTANCE = 0.5   # A, CDVAE structure_validity cutoff
MIN_VOLUME = 0.1     # A^3, CDVAE
MAX_LENGTH = 60.0    # A, Chemeleon's filter for absurd lattices


@dataclass(frozen=True)
class Validity:
    """The verdict for one structure: ``valid`` and, when not valid, a one-line ``reason``."""

    valid: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.valid

    def __str__(self) -> str:
        return "valid" if self.valid else f"invalid: {self.reason}"

    def __repr__(self) -> str:
        return f"<Validity {self}>"

    def _repr_pretty_(self, p, _cycle) -> None:  # IPython / Jupyter display
        p.text(str(self))


# --------------------------------------------------------------------------- structural

def _shortest_lattice_vector(matrix: np.ndarray) -> float:
    """Length of the shortest nonzero lattice vector (an atom's distance to its own image)."""
    from pymatgen.core import Lattice

    reduced = Lattice(matrix).get_lll_reduced_lattice().matrix
    combos = np.array([c for c in itertools.product((-1, 0, 1), repeat=3) if any(c)])
    return float(np.linalg.norm(combos @ reduced, axis=1).min())


def structural_row(row: Row, cutoff: float = MIN_DISTANCE, min_volume: float = MIN_VOLUME,
                   max_length: float = MAX_LENGTH) -> Validity:
    """Structural validity of one :class:`~crystal_lab.evaluate.rows.Row`, computed once per row
    and settings (kept in ``row.verdicts``): every metric that asks again reads the verdict."""
    key = ("structural", cutoff, min_volume, max_length)
    if key not in row.verdicts:
        row.verdicts[key] = check_structure(row, cutoff, min_volume, max_length)
    return row.verdicts[key]


def check_structure(row: Row, cutoff: float = MIN_DISTANCE, min_volume: float = MIN_VOLUME,
                    max_length: float = MAX_LENGTH) -> Validity:
    """Compute structural validity, cheapest checks first (the problem of an unreadable row,
    volume, lattice lengths, an atom's own image, then the distance matrix), so a degenerate
    cell never reaches an expensive step. Call :func:`structural_row`, which keeps the verdict."""
    if row.problem:
        return Validity(False, row.problem)
    s = row.structure
    volume = abs(float(np.linalg.det(s.lattice.matrix)))
    if not volume >= min_volume:
        return Validity(False, f"cell volume {volume:.3g} Å^3 < {min_volume} Å^3")
    longest = float(max(s.lattice.abc))
    if longest > max_length:
        return Validity(
            False, f"lattice length {longest:.1f} Å > {max_length:g} Å (absurd lattice)"
        )
    self_image = _shortest_lattice_vector(s.lattice.matrix)
    if self_image < cutoff:
        return Validity(False, f"an atom is {self_image:.2f} Å from its own periodic image "
                               f"(< {cutoff} Å)")
    close = _closest_pair(s, cutoff)
    if close is not None:
        i, j, d = close
        return Validity(False, f"atoms {i} ({row.symbols[i]}) and {j} ({row.symbols[j]}) are "
                               f"{d:.2f} Å apart (< {cutoff} Å)")
    return Validity(True)


def _closest_pair(s, cutoff: float) -> tuple[int, int, float] | None:
    """The closest pair of distinct sites (periodic images included) nearer than ``cutoff``, or
    None. A neighbour list within ``cutoff``: memory grows with the atoms, not their square
    times the 27 images of pymatgen's distance matrix."""
    centers, points, offsets, dists = s.get_neighbor_list(cutoff, numerical_tol=0)
    other = (centers != points) | np.asarray(offsets).any(axis=1)
    if not other.any():
        return None
    k = int(np.argmin(np.where(other, dists, np.inf)))
    i, j = sorted((int(centers[k]), int(points[k])))
    return i, j, float(dists[k])


def structural_validity(structures, cutoff: float = MIN_DISTANCE, min_volume: float = MIN_VOLUME,
                        max_length: float = MAX_LENGTH):
    """Structural validity (CDVAE): shortest periodic distance >= 0.5 A, volume >= 0.1 A^3.

    Also flags lattices with a length above ``max_length`` (60 A, Chemeleon's filter) and
    non-finite numbers. Returns a :class:`Validity` (``valid``, ``reason``) for one structure,
    a list of them for a list. Source: CDVAE (Xie et al. 2022) ``structure_validity``.
    """
    _check_positive(cutoff=cutoff, min_volume=min_volume, max_length=max_length)
    rows, single = rows_of(structures)
    out = [structural_row(r, cutoff, min_volume, max_length) for r in rows]
    return out[0] if single else out


def _check_positive(**values) -> None:
    from ..arguments import is_number

    for name, v in values.items():
        if not is_number(v) or not np.isfinite(v) or not v > 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


# --------------------------------------------------------------------------- compositional

def _composition_key(x: Any) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """CDVAE's (elements, counts): elements by atomic number, counts divided by their gcd."""
    from pymatgen.core import Composition, Element

    if isinstance(x, str):
        x = Composition(x)
    if isinstance(x, Composition):
        amounts = {str(el): amt for el, amt in x.element_composition.items()}
        if any(abs(a - round(a)) > 1e-6 for a in amounts.values()):
            raise ValueError(f"composition {x} has non-integer amounts")
        counts = {el: round(a) for el, a in amounts.items()}
    else:
        counts = {}
        for sym in x.symbols:
            counts[sym] = counts.get(sym, 0) + 1
    if not counts:
        raise ValueError("empty composition")
    for sym in counts:
        if sym == "X" or not Element.is_valid_symbol(sym):
            raise ValueError(f"unknown element {sym!r}")
    elements = tuple(sorted(counts, key=lambda e: Element(e).Z))
    g = reduce(gcd, counts.values())
    return elements, tuple(counts[e] // g for e in elements)


def _smact_valid(elements: tuple[str, ...], counts: tuple[int, ...],
                 use_pauling_test: bool = True, include_alloys: bool = True) -> bool:
    """CDVAE's ``smact_validity(comp, count)`` with SMACT's smact14 oxidation states: the one
    implementation is :func:`crystal_lab.chemistry.charge_balanced` (cached there)."""
    return charge_balanced(
        dict(zip(elements, counts, strict=True)), use_pauling_test, include_alloys
    )


def smact_row(x: Any, use_pauling_test: bool = True, include_alloys: bool = True) -> Validity:
    """Compositional validity of one :class:`~crystal_lab.evaluate.rows.Row` (computed once per
    row and settings, kept in ``row.verdicts``), Composition or formula string."""
    if not isinstance(x, Row):
        return check_composition(x, use_pauling_test, include_alloys)
    key = ("compositional", use_pauling_test, include_alloys)
    if key not in x.verdicts:
        x.verdicts[key] = check_composition(x, use_pauling_test, include_alloys)
    return x.verdicts[key]


def check_composition(x: Any, use_pauling_test: bool = True,
                      include_alloys: bool = True) -> Validity:
    """Compute compositional validity (call :func:`smact_row`, which keeps a row's verdict)."""
    if isinstance(x, Row) and not x.symbols:
        return Validity(False, x.problem or "no atoms")
    try:
        elements, counts = _composition_key(x)
    except ValueError as err:
        return Validity(False, str(err))
    if _smact_valid(elements, counts, use_pauling_test, include_alloys):
        return Validity(True)
    symbols = [el for el, n in zip(elements, counts, strict=True) for _ in range(n)]
    return Validity(False, f"{formula(symbols)}: no charge-neutral oxidation states passing the "
                           "Pauling electronegativity test (SMACT)")


def smact_validity(structures, use_pauling_test: bool = True, include_alloys: bool = True):
    """Compositional validity: CDVAE's ``smact_validity`` rule on today's SMACT.

    Valid when the composition is one element, an all-metal alloy (``smact.metals``), or when some
    combination of oxidation states from SMACT's full default list (``oxidation_states_smact14``,
    the list CDVAE used) is charge neutral for the reduced formula and passes the Pauling
    electronegativity test. Accepts structures, pymatgen Compositions or formula strings (one or a
    list); returns :class:`Validity` (truthy when valid) or a list of them.

    Agreement with CDVAE, measured on 2,000 MP-20 test structures: run on the same (current)
    SMACT with the smact14 list, CDVAE's own code and this function agree on all 2,000. Against
    the SMACT 2.2.1 that CDVAE pinned, this function gives 90.95 % valid and CDVAE's code 91.05 %:
    4 structures differ, from two SMACT changes since then: iridium's lowest oxidation state moved
    from -2 to -3, and promethium's missing electronegativity now fails the Pauling test (CDVAE's
    ``except TypeError`` counted it as passing; the equivalent branch here no longer runs). So
    numbers from here are comparable with CDVAE-family tables to about 0.1 percentage point, not
    identical.
    Source: CDVAE (Xie et al. 2022) ``scripts/eval_utils.py``; SMACT (Davies et al. 2019).
    """
    single = is_single(structures) or isinstance(structures, str) or \
        type(structures).__name__ == "Composition"
    items = [structures] if single else as_list(structures)
    out = [smact_row(x if isinstance(x, str) or type(x).__name__ == "Composition" else row_of(x),
                     use_pauling_test, include_alloys) for x in items]
    return out[0] if single else out


# --------------------------------------------------------------------------- both

def validity(structures):
    """Overall validity (CDVAE / DiffCSP ``valid``): structurally *and* compositionally valid.

    Returns a :class:`Validity` (or a list) whose reason joins the failing checks with "; ".
    """
    rows, single = rows_of(structures)
    out = [combined(structural_row(r), smact_row(r)) for r in rows]
    return out[0] if single else out


def combined(struct: Validity, comp: Validity) -> Validity:
    """Valid when both are; the reasons joined with "; " (one reason when both say the same)."""
    reasons = list(dict.fromkeys(r.reason for r in (struct, comp) if not r.valid))
    return Validity(not reasons, "; ".join(reasons))
