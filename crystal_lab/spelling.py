"""Formulas typed in the wrong letter case, read back: ``"srtio3"`` -> ``"SrTiO3"``.

The "did you mean" of :mod:`crystal_lab.prompts` (its messages and ``suggest_prompt``) is built
on :func:`suggest_formula`.
"""
from __future__ import annotations

from ase.data import atomic_numbers


def _segmentations(text: str) -> list[list[str]]:
    """Every way to read ``text`` (any letter case) as element symbols with optional counts."""
    low = text.lower()
    out: list[list[str]] = []

    def walk(i: int, parts: list[str]) -> None:
        if i == len(low):
            out.append(parts)
            return
        for width in (2, 1):
            symbol = low[i:i + width].capitalize()
            if (
                len(symbol) == width
                and symbol.isalpha()
                and symbol in atomic_numbers
                and symbol != "X"
            ):
                j = i + width
                while j < len(low) and low[j].isdigit():
                    j += 1
                walk(j, parts + [symbol + low[i + width:j]])

    if len(low) <= 24:   # a formula of the model's size; longer text is not a case slip
        walk(0, [])
    return sorted(out, key=len)


def suggest_formula(token: str) -> str | None:
    """The formula ``token`` spells when read case-blind (``"srtio3"`` -> ``"SrTiO3"``), or None.

    Fewest symbols win (``"co"`` -> ``"Co"``, not ``"CO"``); an element may appear only once.
    """
    for parts in _segmentations(token):
        symbols = [p.rstrip("0123456789") for p in parts]
        if len(set(symbols)) == len(symbols):
            guess = "".join(parts)
            return guess if guess != token else None
    return None


__all__ = ["suggest_formula"]
