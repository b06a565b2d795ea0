"""Exercises of notebook 05 (explore a chemical system). Solutions hidden with :func:`hide`."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide


def _count(answer) -> bool:
    from crystal_lab.explore import composition_funnel

    return int(answer) == composition_funnel("Li-S-Cl", max_coeff=3)["2+ elements"]


def _cell_sizes(answer) -> bool:
    return [int(n) for n in answer] == [8, 16]


EXERCISES: dict[str, Exercise] = {
    "nb05.count": Exercise(
        title="Count the compounds of Li-S-Cl",
        check=_count,
        hint=("`composition_funnel(['Li', 'S', 'Cl'], max_coeff=3)` returns a dict stage -> "
              "count; the last stage keeps distinct compounds with two or more elements."),
        solution=hide(
            "funnel = composition_funnel(['Li', 'S', 'Cl'], max_coeff=3)\n"
            "answer = funnel['2+ elements']\n"
            "check('nb05.count', answer)"),
    ),
    "nb05.cell_sizes": Exercise(
        title="Which cell sizes can hold Li3PS4?",
        check=_cell_sizes,
        hint=("A cell holds a whole number of formula units; Li3PS4 has 3 + 1 + 4 atoms a formula "
              "unit and the model makes cells of at most 20 atoms. `n_atoms_options` does this."),
        solution=hide(
            "answer = n_atoms_options('Li3PS4', max_atoms=20)   # [8, 16]\n"
            "check('nb05.cell_sizes', answer)"),
    ),
}
