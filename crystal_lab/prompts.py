"""Prompts: what a student types, turned into what the model is asked to do.

Three kinds of prompt::

    None or ""                       unconditional generation
    "Ba Ti O", "Ba-Ti-O", "ba ti o", ["Ba", "Ti", "O"]
                                     a chemical system: only, and all of, these elements
    "BaTiO3", "Ba1 O3 Ti1"           a formula: crystal-structure prediction, exact composition

Every message about bad input lives in this module, one line each, naming the problem.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ase.data import atomic_numbers, chemical_symbols

from .structures import formula_text

ELEMENTS = tuple(chemical_symbols[1:])
MAX_ATOMS = 20  # the shipped MP-20 model's limit
#: The seven crystal systems, in the order of their space-group numbers (index + 1 is the
#: model's condition token; 0 means "not asked").
CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal",
                   "cubic")
_SYSTEM_FIRST_SG = (1, 3, 16, 75, 143, 168, 195)
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def crystal_system_of(spacegroup_number: int) -> str:
    """The crystal system of an international space-group number (1-230)."""
    n = int(spacegroup_number)
    if not 1 <= n <= 230:
        raise PromptError(f"space-group number must be 1-230, got {spacegroup_number!r}")
    return CRYSTAL_SYSTEMS[sum(n >= first for first in _SYSTEM_FIRST_SG) - 1]


class PromptError(ValueError):
    """A prompt or argument the model cannot honour; the message says why in one line."""


@dataclass(frozen=True)
class Condition:
    """What a prompt asks for.

    ``elements``: the allowed elements (empty: any). ``counts``: the exact composition for a
    formula prompt, scaled to ``n_atoms``. ``kind``: ``"unconditional"``, ``"chemical_system"``
    or ``"formula"``.
    """

    kind: str
    elements: tuple[str, ...] = ()
    counts: dict[str, int] | None = None
    n_atoms: int | None = None
    formula_unit: dict[str, int] | None = field(default=None, compare=False)
    crystal_system: str | None = None       # one of CRYSTAL_SYSTEMS, or None: any
    formation_energy: float | None = None   # target formation energy per atom (eV/atom), or None

    @property
    def atomic_numbers(self) -> list[int]:
        return [atomic_numbers[e] for e in self.elements]

    @property
    def text(self) -> str:
        """The prompt in its normal form: ``"Ba Ti O"`` or ``"BaTiO3"`` or ``""``."""
        if self.kind == "formula":
            return formula_text(self.formula_unit)
        return " ".join(self.elements)


def _element(token: str) -> str:
    if token in atomic_numbers and token != "X":
        return token
    if token.capitalize() in atomic_numbers and token.capitalize() != "X":
        return token.capitalize()
    raise PromptError(f"{token} is not an element")


def _check_n_atoms(n_atoms, max_atoms: int) -> None:
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, int):
        raise PromptError(f"n_atoms must be a whole number, got {n_atoms!r}")
    if n_atoms < 1:
        raise PromptError(f"n_atoms must be at least 1, got {n_atoms}")
    if n_atoms > max_atoms:
        raise PromptError(f"n_atoms={n_atoms} is above the model's maximum of {max_atoms}")


def _parse_formula(text: str) -> dict[str, int]:
    compact = re.sub(r"[\s]+", "", text)
    tokens = _TOKEN.findall(compact)
    if "".join(e + n for e, n in tokens) != compact:
        bad = _TOKEN.sub(" ", compact).split()
        raise PromptError(f"{bad[0] if bad else text!r} is not an element" if bad
                          else f"cannot read the formula {text!r}")
    counts: dict[str, int] = {}
    for symbol, number in tokens:
        symbol = _element(symbol)
        if symbol in counts:
            raise PromptError(f"{symbol} appears twice in the formula {text!r}")
        n = int(number) if number else 1
        if n < 1:
            raise PromptError(f"{symbol}{number}: a count must be at least 1")
        counts[symbol] = n
    return counts


def _split_system(items) -> tuple[str, ...]:
    elements = []
    for token in items:
        if not isinstance(token, str):
            raise PromptError(f"elements must be strings, got {token!r}")
        symbol = _element(token.strip())
        if symbol in elements:
            raise PromptError(f"{symbol} is listed twice")
        elements.append(symbol)
    return tuple(elements)


def parse_prompt(prompt, n_atoms: int | None = None, max_atoms: int = MAX_ATOMS) -> Condition:
    """Turn a prompt into a :class:`Condition`; raise :class:`PromptError` on bad input."""
    if n_atoms is not None:
        _check_n_atoms(n_atoms, max_atoms)
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        return Condition("unconditional", n_atoms=n_atoms)
    if isinstance(prompt, (list, tuple)):
        elements = _split_system(prompt)
        if not elements:
            return Condition("unconditional", n_atoms=n_atoms)
    elif isinstance(prompt, str):
        text = prompt.strip()
        tokens = [t for t in re.split(r"[\s,\-]+", text) if t]
        if any(ch.isdigit() for ch in text) or (len(tokens) == 1 and len(_TOKEN.findall(text)) > 1):
            return _formula_condition(text, n_atoms, max_atoms)
        elements = _split_system(tokens)
    else:
        raise PromptError(f"a prompt must be a string, a list of element symbols or None, "
                          f"got {type(prompt).__name__}")
    if n_atoms is not None and len(elements) > n_atoms:
        raise PromptError(f"{len(elements)} elements cannot fit in n_atoms={n_atoms}")
    return Condition("chemical_system", elements=elements, n_atoms=n_atoms)


def _formula_condition(text: str, n_atoms: int | None, max_atoms: int) -> Condition:
    counts = _parse_formula(text)
    unit = formula_unit(counts)
    unit_size = sum(unit.values())
    if n_atoms is None:
        n_atoms = sum(counts.values())
        if n_atoms > max_atoms:
            raise PromptError(f"{text} has {n_atoms} atoms, above the model's maximum of {max_atoms}")
    elif n_atoms % unit_size:
        options = valid_n_atoms(unit, max_atoms)
        raise PromptError(f"{formula_text(unit)} has {unit_size} atoms per formula unit, which does "
                          f"not divide n_atoms={n_atoms} (try {', '.join(map(str, options)) or 'fewer'})")
    scale = n_atoms // unit_size
    return Condition("formula", elements=tuple(unit), counts={e: n * scale for e, n in unit.items()},
                     n_atoms=n_atoms, formula_unit=unit)


def formula_unit(formula) -> dict[str, int]:
    """The smallest whole-number counts of a formula: ``"Li6P2S8"`` -> ``{"Li": 3, "P": 1, "S": 4}``.

    ``formula``: a formula string, a pymatgen ``Composition`` or a dict of element counts.
    """
    if isinstance(formula, str):
        counts = _parse_formula(formula)
    else:
        amounts = formula.get_el_amt_dict() if hasattr(formula, "get_el_amt_dict") else dict(formula)
        if not amounts or any(n != int(n) or n < 1 for n in amounts.values()):
            raise PromptError(f"a formula needs whole, positive counts, got {amounts}")
        counts = {str(e): int(n) for e, n in amounts.items()}
    g = math.gcd(*counts.values())
    return {e: n // g for e, n in counts.items()}


def valid_n_atoms(formula, max_atoms: int = MAX_ATOMS) -> list[int]:
    """The cell sizes a formula prompt allows: multiples of its formula unit up to ``max_atoms``.

    ``formula``: a formula string, a pymatgen ``Composition`` or a dict of element counts.
    ``"Li3PS4"`` (8 atoms a formula unit) -> ``[8, 16]``.
    """
    size = sum(formula_unit(formula).values())
    return list(range(size, max_atoms + 1, size))


def describe_prompt(prompt, n_atoms: int | None = None, max_atoms: int = MAX_ATOMS) -> str:
    """A student-facing explanation of what the model will do with ``prompt`` (one paragraph).

    Normalises the prompt, lists the valid ``n_atoms`` for a formula and warns (does not refuse)
    when SMACT finds no charge-balanced oxidation states for the composition.
    """
    try:
        cond = parse_prompt(prompt, n_atoms=n_atoms, max_atoms=max_atoms)
    except PromptError as err:
        return f"Cannot use this prompt: {err}."
    if cond.kind == "unconditional":
        size = f"{cond.n_atoms} atoms" if cond.n_atoms else "a number of atoms drawn from the training data"
        return f"Unconditional generation: any elements, {size} per cell."
    if cond.kind == "chemical_system":
        size = f"{cond.n_atoms} atoms" if cond.n_atoms else f"{len(cond.elements)} to {max_atoms} atoms"
        return (f"Chemical system {'-'.join(cond.elements)}: the model chooses a composition that "
                f"uses all of, and only, {', '.join(cond.elements)}, with {size} per cell.")
    text = (f"Formula {cond.text} (crystal-structure prediction): the composition "
            f"{formula_text(cond.counts)} is fixed and the model places {cond.n_atoms} atoms in a cell. "
            f"Valid n_atoms: {', '.join(map(str, valid_n_atoms(cond.formula_unit, max_atoms)))}.")
    if not charge_balanced(cond.formula_unit):
        text += " Warning: SMACT finds no charge-neutral oxidation states for it; it is an unlikely compound."
    return text


def charge_balanced(counts: dict[str, int]) -> bool:
    """Whether SMACT finds a charge-neutral, electronegativity-ordered set of oxidation states.

    Uses :func:`crystal_lab.evaluate.smact_validity` (CDVAE's compositional validity).
    """
    from crystal_lab.evaluate import smact_validity

    return bool(smact_validity(formula_text(counts)))
