"""Exercises of notebook 04 (evaluate) and its quiz (``nb04.q1`` ..). Solutions are hidden
with :func:`hide` (not security); checks use :mod:`crystal_lab.exercises.checks`."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide
from crystal_lab.exercises.checks import question, same_items

#: the formulas of exercise nb04.smact
SMACT_CANDIDATES = ("NaCl", "NaCl2", "Fe2O3", "Li3PS4", "BaTiO2", "CsO3", "CuZn")


def _smact_answer(answer) -> bool:
    from crystal_lab.evaluate import smact_validity

    if isinstance(answer, str) or not all(isinstance(a, str) for a in answer):
        raise TypeError("give a list of formula strings, e.g. ['NaCl']")
    unknown = set(answer) - set(SMACT_CANDIDATES)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not among the candidates")
    right = [f for f in SMACT_CANDIDATES if smact_validity(f).valid]
    return same_items(answer, right, kind=str)


def _scaled_match(answer) -> bool:
    if not isinstance(answer, bool):
        raise TypeError("answer True or False")
    return answer is True   # StructureMatcher(scale=True) normalises the volumes first


EXERCISES: dict[str, Exercise] = {
    "nb04.smact": Exercise(
        title="Which compositions are charge neutral?",
        check=_smact_answer,
        hint=(
            "Call `smact_validity(formula)` on each candidate and keep those whose result is "
            "valid. `CuZn` is two metals: an alloy. Sodium has one oxidation state (+1); titanium "
            "has several."
        ),
        solution=hide(
            "from crystal_lab.exercises.nb04 import SMACT_CANDIDATES\n"
            "answer = [f for f in SMACT_CANDIDATES if smact_validity(f).valid]\n"
            "# ['NaCl', 'Fe2O3', 'Li3PS4', 'BaTiO2', 'CuZn']: BaTiO2 passes with Ti+2, an\n"
            "# oxidation state SMACT lists: charge neutrality alone says little about stability.\n"
            "check('nb04.smact', answer)"
        ),
    ),
    "nb04.scaled_match": Exercise(
        title="Does a cell 30 % too large still match?",
        check=_scaled_match,
        hint=(
            "Build `big = target.copy(); big.set_cell(big.cell * 1.3, scale_atoms=True)` and "
            "call `match(big, target)`. Then read pymatgen's `StructureMatcher(scale=...)` "
            "documentation."
        ),
        solution=hide(
            "big = target.copy()\n"
            "big.set_cell(big.cell * 1.3, scale_atoms=True)\n"
            "answer = bool(match(big, target))   # True: the matcher rescales both volumes first\n"
            "check('nb04.scaled_match', answer)"
        ),
    ),
    "nb04.ltol": question(
        "Predict, then measure: loosen the lattice tolerance `ltol` from 0.3 to 0.6. The match "
        "rate of the same samples ...",
        (
            "can only rise or stay the same: every pair matched at 0.3 still matches at 0.6",
            "can only fall", "is unchanged: ltol only affects the RMS distance",
        ),
        "zb64:eNpLBAAAYgBi",
        hint=(
            "Build `StructureMatcher(ltol=0.6, stol=0.5, angle_tol=10)` (from "
            "`pymatgen.analysis.structure_matcher`) and pass it: "
            "`match(csp, target, matcher=...)`; compare with the default."
        ),
        why=(
            "zb64:eNpFjcEKwjAQRH9ljjaUUhEvBQ+iH1DwA2RNtzaQJmV3Vfx7UxS8zcxjZpyjyjkcEXNWFliOLJQ8g7z"
            "nxRT8ZHkjklkoabAf4AE3HrNwDUoD5qI6EISXLCucyfwEISsdxcyUQrpHVsUr2JQfVqb0f6fYnMM4ni59By3"
            "poW32NeJX7daPUr6udttWzQfTPT7x"
        ),
    ),
    "nb04.negative_ehull": question(
        "The held-out BaTiO3 can come out with a *negative* E_hull. How can a structure lie below "
        "the hull?",
        (
            (
                "the hull is built from the reference phases, which do not include this structure; "
                "below it means lower in energy than every mix of the known phases (a new vertex), "
                "or an error in the energies"
            ),
            "formation energies are negative, so E_hull is too",
            "it is a bug: E_hull is never negative",
        ),
        "zb64:eNpLBAAAYgBi",
        hint="E_hull is the distance to the hull of *other* phases. What if the structure is "
        "better than all of them?",
        why=(
            "zb64:eNpNjrFuwzAMRH/ltiRGEGQPOhVBm6Vrx4CxLrYAWQwoyk7/voqXdiHAe3dHdp3sug6XO3wkilvtvRq"
            "xsA0JgQGuKzPem5Z7FkTHojUF3Njr1HwYa0qYac4ntufrur7huDtBBom5+P/4En3U6q1m/6pKsWk3Jl0O+G4"
            "I758fX3Qw04YXE2QO4nEmZkmV6CVDUtGWWl9bnT+YNDBtCmimtodaS06xlJiHv/N4jFJ4+AXR/VcF"
        ),
    ),
    "nb04.q1": question(
        "A batch is 100% valid, unique and novel, and matches 0 of 6 targets. "
        "What do you conclude?",
        (
            (
                "these rates are cheap filters that random structures also pass; compare with a "
                "random baseline and the match rate"
            ),
            "the matcher is broken",
            "the model is excellent",
        ),
        "zb64:eNpLBAAAYgBi",
        hint="Look at the random baseline beside the model's rates.",
        why=(
            "zb64:eNoljlEOwjAMQ6/iXyrEBbgFN8jWVIuUJtBkk3Z7Cvu05We7FLqVghdZ9Q5K7wExEIItZFHGyqqgwSANx0E"
            "q9Y7d5LNPyyrMD1Z0j4Q35MZI6fyEm55/2SnXDYPyykfSIip5zok3XfbE6yxpY374IU3dx+MLftc3CQ=="
        ),
    ),
    "nb04.q2": question(
        "SMACT passes BaTiO4. Why?",
        (
            "BaTiO4 is a known compound",
            (
                "some oxidation states in SMACT's full list balance the charges (for example Ti²⁺ "
                "with O⁻)"
            ),
            "SMACT ignores oxygen",
        ),
        "zb64:eNpLAgAAYwBj",
        hint="smact_validity uses the full smact14 oxidation-state list, not only common states.",
        why=(
            "zb64:eNrT0krS1NJSCM8syVBwSjy06VHjLh2FkEwwQyExL0XB/1HjbgWNnMziktQUHYXMNIWixKJUTYWSjFSF5Iz"
            "EovTUYoXi0lyFknyFqtSifCuoRGpytkJmsUJiEdDc3NSSzGQdhbz8EpBELtCkoko9AMzNLRE="
        ),
    ),
    "nb04.q3": question(
        "E_hull is measured against ...",
        (
            "DFT calculations run for you", "every material that exists",
            "the reference phases the hull knows; a missing competing phase makes E_hull too low",
        ),
        "zb64:eNpLBgAAZABk",
        hint="Read hull_complete and missing_subsystems in the table.",
        why=(
            "zb64:eNpNzbsKAjEQheFXOaUbUMTWUkQbxcJesnGSDOSyZGZZfHs3VrYf/OcY4wZj8IyEOKcEFowzJ4VvNcOikad"
            "GxRHUjomwOV0vd1JQoRaYBNXj9tge9nDtI2qTDEcscW3W2NU8kXIJmKIV6uOZRTro36HWisghwpY3zq8fd0t12X0"
            "B3sY26w=="
        ),
    ),
}
