"""Exercises of notebook 03 (generate).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security.
"""
from __future__ import annotations

from collections import Counter

from crystal_lab.exercises import Exercise


def _nacl_cells(answer) -> bool:
    structures = list(answer)
    return len(structures) == 2 and all(
        Counter(a.get_chemical_symbols()) == Counter({"Na": 4, "Cl": 4}) for a in structures)


def _n_formula_units(answer) -> bool:
    return int(answer) == 4


EXERCISES: dict[str, Exercise] = {
    "nb03.csp_nacl": Exercise(
        check=_nacl_cells,
        hint=(
            'A formula prompt fixes the composition (crystal-structure prediction). Ask for '
            '`model.sample("NaCl", n_atoms=..., n_samples=2, steps=steps, seed=0)` with the '
            'number of atoms that holds 4 formula units.'
        ),
        solution=(
            "zb64:eNo1zbEKg0AQBNA+XzGYQoVDQrBIc5W9PyByLLpJhN07cS/k92MMaYY3TDEU7c0bPDTNLI2RrsJV0VMnhUM"
            "MlJOav33528xfHSzzav7IvTDP/lKfBmoenMP0ZF0mknBPm76Eqhq7QFgi6HgbAZwxlJ20PbWlw1/jB4IULlw="
        ),
    ),
    "nb03.formula_units": Exercise(
        check=_n_formula_units,
        hint=(
            'BaTiO3 has 1 + 1 + 3 = 5 atoms per formula unit. How many units fit in 20 atoms?'
        ),
        solution=(
            "zb64:eNpLzCsuTy1SsFUwMlDQ11cwVVBQUFYwUUjLL8otzUlUKM3LLCkGALZKCoM="
        ),
    ),
}
