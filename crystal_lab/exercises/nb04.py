"""Exercises of notebook 04 (evaluate). Solutions are hidden with :func:`hide` (not security)."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide

#: the formulas of exercise nb04.smact
SMACT_CANDIDATES = ("NaCl", "NaCl2", "Fe2O3", "Li3PS4", "BaTiO2", "CsO3", "CuZn")


def _smact_answer(answer) -> bool:
    from crystal_lab.evaluate import smact_validity

    if isinstance(answer, str) or not all(isinstance(a, str) for a in answer):
        raise TypeError("give a list of formula strings, e.g. ['NaCl']")
    unknown = set(answer) - set(SMACT_CANDIDATES)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not among the candidates")
    right = {f for f in SMACT_CANDIDATES if smact_validity(f).valid}
    return set(answer) == right


def _scaled_match(answer) -> bool:
    if not isinstance(answer, bool):
        raise TypeError("answer True or False")
    return answer is True   # StructureMatcher(scale=True) normalises the volumes first


EXERCISES: dict[str, Exercise] = {
    "nb04.smact": Exercise(
        title="Which compositions are charge neutral?",
        check=_smact_answer,
        hint=("Call `smact_validity(formula)` on each candidate and keep those whose result is "
              "valid. `CuZn` is two metals: an alloy. Sodium has one oxidation state (+1); titanium has several."),
        solution=hide(
            "from crystal_lab.exercises.nb04 import SMACT_CANDIDATES\n"
            "answer = [f for f in SMACT_CANDIDATES if smact_validity(f).valid]\n"
            "# ['NaCl', 'Fe2O3', 'Li3PS4', 'BaTiO2', 'CuZn']: BaTiO2 passes with Ti+2, an\n"
            "# oxidation state SMACT lists: charge neutrality alone says little about stability.\n"
            "check('nb04.smact', answer)"),
    ),
    "nb04.scaled_match": Exercise(
        title="Does a cell 30 % too large still match?",
        check=_scaled_match,
        hint=("Build `big = target.copy(); big.set_cell(big.cell * 1.3, scale_atoms=True)` and "
              "call `match(big, target)`. Then read pymatgen's `StructureMatcher(scale=...)` "
              "documentation."),
        solution=hide(
            "big = target.copy()\n"
            "big.set_cell(big.cell * 1.3, scale_atoms=True)\n"
            "answer = bool(match(big, target))   # True: the matcher rescales both volumes first\n"
            "check('nb04.scaled_match', answer)"),
    ),
}
