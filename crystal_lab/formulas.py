"""Formulas as a student types them: ``"BaTiO3"`` read into element counts, its formula unit and
the cell sizes a formula prompt allows; and :class:`PromptError`, the one-line error of every bad
prompt (:mod:`crystal_lab.prompts` raises it for the rest of the grammar).
"""
from __future__ import annotations

import math
import re

from ase.data import atomic_numbers

#: the shipped MP-20 model's limit (also :data:`crystal_lab.prompts.MAX_ATOMS`)
MAX_ATOMS = 20
#: one element symbol and its count in a formula
TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


class PromptError(ValueError):
    """A prompt or argument the model cannot honour; the message says why in one line."""


def element_symbol(token: str) -> str:
    if token in atomic_numbers and token != "X":
        return token
    if token.capitalize() in atomic_numbers and token.capitalize() != "X":
        return token.capitalize()
    raise PromptError(f"{token} is not an element")


def parse_formula(text: str) -> dict[str, int]:
    compact = re.sub(r"[\s]+", "", text)
    tokens = TOKEN.findall(compact)
    if "".join(e + n for e, n in tokens) != compact:
        bad = TOKEN.sub(" ", compact).split()
        raise PromptError(f"{bad[0] if bad else text!r} is not an element" if bad
                          else f"cannot read the formula {text!r}")
    counts: dict[str, int] = {}
    for symbol, number in tokens:
        symbol = element_symbol(symbol)
        if symbol in counts:
            raise PromptError(f"{symbol} appears twice in the formula {text!r}")
        n = int(number) if number else 1
        if n < 1:
            raise PromptError(f"{symbol}{number}: a count must be at least 1")
        counts[symbol] = n
    return counts


def formula_unit(formula) -> dict[str, int]:
    """The smallest whole-number counts of a formula: ``"Li6P2S8"`` -> ``{"Li": 3, "P": 1,
    "S": 4}``.

    ``formula``: a formula string, a pymatgen ``Composition`` or a dict of element counts.
    """
    if isinstance(formula, str):
        counts = parse_formula(formula)
    else:
        amounts = (formula.get_el_amt_dict() if hasattr(formula, "get_el_amt_dict")
                   else dict(formula))
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
