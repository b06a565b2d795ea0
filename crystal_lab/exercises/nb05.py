"""Exercises of notebook 05 (explore a chemical system) and its quiz (``nb05.q1`` ..).
Solutions hidden with :func:`hide`; checks use :mod:`crystal_lab.exercises.checks`."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide
from crystal_lab.exercises.checks import integer, question, same_items


def _count(answer) -> bool:
    from crystal_lab.explore import composition_funnel

    return integer(answer) == composition_funnel("Li-S-Cl", max_coeff=3)["2+ elements"]


def _cell_sizes(answer) -> bool:
    return same_items(answer, [8, 16])


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
    "nb05.q1": question(
        'SMACT charge neutrality says that a composition ...',
        (
            'is stable',
            'exists as a crystal',
            ('could balance its charges with some listed oxidation states; nothing about a '
             'structure or its stability'),
        ),
        "zb64:eNpLBgAAZABk",
        hint='LiS passes in section 1.',
        why=(
            "zb64:eNody8ENgDAIAMBV+EqqA7iBYzQIhljBFHy4vY3fSw6RJkTYEjSgAvl1e2iqG4i25L4ONSaOqP2dm/updhQ"
            "wT4hHREnZsoxo+9+WD3nKHP8="
        ),
    ),
    "nb05.q2": question(
        'A candidate has E_hull = -0.2 eV/atom, and its row says hull_complete = False (no Li-S '
        'compound in the reference). Do you believe it is stable?',
        (
            ('no: the hull lacks competing phases, so E_hull is flattering; compare with all known '
             'phases (and DFT) first'),
            'yes, if it is also novel',
            'yes: a negative E_hull means a new stable compound',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='Read missing_subsystems for that row.',
        why=(
            "zb64:eNodyjEOgCAMRuGr/KsMXsCDOCOptBGpoWXw9iLbl5cXQlxCwC7O2h3OhKT3Qy4145Aam5DNzL0UyLAqWDJ"
            "viPWFeevJeyPoOTd7zen+WVFULxtLPAqtH8DkJg4="
        ),
    ),
    "nb05.q3": question(
        'Li-P-S-Cl: 986 charge-neutral coefficient tuples but 781 compounds. Why fewer?',
        (
            'tuples such as Li2S2 and LiS are the same compound',
            'SMACT rejects 205 more',
            'the cell-size limit of 20 atoms',
        ),
        "zb64:eNpLBAAAYgBi",
        hint="Compare Composition('Li2S2').reduced_formula with 'LiS'.",
        why=(
            "zb64:eNo1zMEJwCAMRuFV/mtz6ADdoUOIRhrQRDTZv1Lo9ePxiNJBhDuay2i8YBWmjGqzR0sIFUea/GG2Piy0XPB"
            "nJ6HKbWOoLxRZLpodk0tkLv9hnS+8qSPS"
        ),
    ),
}
