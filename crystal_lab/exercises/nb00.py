"""Exercises of notebook 00 (welcome), and its end-of-notebook quiz (``nb00.q1`` ..).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security. Checks use
:mod:`crystal_lab.exercises.checks`, which refuse bools as numbers, do not truncate, and ignore
the order of list answers where order means nothing.
"""
from __future__ import annotations

from crystal_lab.exercises import Exercise
from crystal_lab.exercises.checks import question, same_items

#: the prompts of exercise nb00.prompt_kinds
PROMPTS = ("NaCl", "Na Cl", "Li3PS4", "Li-P-S", "BaTiO3", "Ba Ti O")


def _formula_prompts(answer) -> bool:
    from crystal_lab.prompts import parse_prompt

    if not isinstance(answer, str):
        unknown = {a for a in answer if isinstance(a, str)} - set(PROMPTS)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not among the prompts")
    right = [p for p in PROMPTS if parse_prompt(p).kind == "formula"]
    return same_items(answer, right, kind=str)


EXERCISES: dict[str, Exercise] = {
    "nb00.prompt_kinds": Exercise(
        title="Which prompts fix the composition?",
        check=_formula_prompts,
        hint=("Run `crystal_lab.describe_prompt(p)` for each prompt and read its first words: a "
              "*formula* fixes the composition, a *chemical system* lets the model choose it."),
        solution=(
            "zb64:eNplUEtLw0AQvudXDPGQFEIo1JPiRcGT2mB7KyXMbiZkyL7Y2RL7791YPIi3YWa+5xi9BR2vktD0BlV"
            "LXxQ1C0nr1HYLbIOPCbrP/Xt3PBToZKEIT3AKMPoIAdj9HoHHP0wDiY6sqA9ZI6Q6bNp8i0kWTlNdvvpoLwb"
            "Lzbm4g1P1gS+maqB64113uF+nZzzyfledH0D7i0sCOKasnSYCuVrljYDFmQBXJyvVI0hATQLZ2IAykWRmRWk"
            "hcqAw/sPpiSxrNHkviWwDy+SFslwOLZzYux816wcy+dn7tZYio/Rcl2s97S1aP7MbpGzgVs/mG8xCdpM="
        ),
    ),
    "nb00.q1": question(
        'What does a *formula* prompt such as "NaCl" fix?',
        (
            'only which elements appear; the model picks how many of each',
            'the exact composition of the cell; the model finds the lattice and the positions',
            'the space group of the crystal',
        ),
        "zb64:eNpLAgAAYwBj",
        hint='Compare describe_prompt("NaCl") with describe_prompt("Na Cl").',
        why=(
            "zb64:eNo1jEEKAjEQBL/S7MVNQD/gSbz7h5idZQNJJsxMxPzeKHhrqqny/um8xw07S+k5oAmXZtjTmxT0IhkIxuW"
            "ksNEI+7xhxxxJ1KBGDWuUoRbyWU16tC40K7SlaImruyJUUKZC1fSfX5dHwD0vDpkm/QYLb5QRD2alH4jcp3H5ACl"
            "vOXE="
        ),
    ),
    "nb00.q2": question(
        'A cell shows *Error displaying widget*. What do you do first?',
        (
            'reinstall crystal_lab',
            'restart the kernel and run everything again',
            'reload the browser tab (the kernel keeps running) and re-run the cell',
        ),
        "zb64:eNpLBgAAZABk",
        hint='Widgets are drawn by the browser and talk to a kernel that is still alive.',
        why=(
            "zb64:eNo1y8EJgDAMRuFV/pvYgwM4hwu0NtRgaSCJFLe3Cl4/3gthn0PAdhA650IONmSNvSHd8MFJpRvpCqUqMXM"
            "rH3tMQ97SwD5mP+RyVLG/OEkb1clgHp2WB5gfJZk="
        ),
    ),
    "nb00.q3": question(
        '`check(...)` tells you *Not quite*. What does it never print?',
        (
            'the right answer',
            'why the answer could not be checked',
            'a hint of how to go on',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='Run a check with a wrong answer and read what it says.',
        why=(
            "zb64:eNo1y0EKwzAMRNGrzDIxpRfoqkdxbBGZGKlYcoxv39BQmNUfXghxDQFvJKZ0wOI0tLKzQxtGU9mxRMkYPBH"
            "lmg1qSNprhqhjo1tSXrF1h9B5/Xs5yeBMfxBHnC9wEV9WMNWPPWBauxeVq3Spmg7DKM4/VsS89eTanl+LlzjX"
        ),
    ),
}
