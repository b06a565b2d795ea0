"""Exercises of notebook 08 (symmetry: space groups, Wyckoff positions, the projection) and its
quiz (``nb08.q1`` ..). Solutions are hidden with :func:`hide` (not security); checks use
:mod:`crystal_lab.exercises.checks`."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide
from crystal_lab.exercises.checks import integer, question

#: the group and the conventional multiplicity of its general position that the exercise asks about
GROUP, GENERAL = 225, 192


def primitive_multiplicity(space_group: int = GROUP, conventional: int = GENERAL) -> int:
    """Atoms a Wyckoff position puts in the primitive cell: its conventional multiplicity divided
    by the lattice points of the conventional cell (F: 4, I and C: 2, R: 3, P: 1)."""
    from crystal_lab.symmetry.templates import CENTERING, space_group_symbol

    return conventional // CENTERING[space_group_symbol(space_group)[0]]


def _primitive_multiplicity(answer) -> bool:
    return integer(answer) == primitive_multiplicity()


EXERCISES: dict[str, Exercise] = {
    "nb08.primitive_multiplicity": Exercise(
        title="A general position of Fm-3m in the primitive cell",
        check=_primitive_multiplicity,
        hint=("Tables list multiplicities for the conventional cell. Fm-3m's cell is face-centred: "
              "it holds 4 lattice points (the letter F), and the primitive cell the model works in "
              "holds one. `str(template)` writes conventional multiplicities, `template.orbits` "
              "primitive ones: compare them for NaCl above."),
        solution=hide(
            "from crystal_lab.symmetry.templates import CENTERING\n"
            "answer = 192 // CENTERING['F']   # 48: a quarter of the conventional cell's 192\n"
            "check('nb08.primitive_multiplicity', answer)"),
    ),
    "nb08.q1": question(
        "A model trained without symmetry makes mostly triclinic (P1) crystals, though only 4% of "
        "its training crystals are triclinic. Why?",
        (
            "the training data are mostly triclinic",
            ("an exact symmetry is a special arrangement: a small error in any coordinate or "
             "lattice parameter breaks it, and nothing in a free sampler restores it"),
            "spglib cannot find the symmetry of a generated crystal",
        ),
        hide("b"),
        hint="Compare the triclinic share of the training data with that of the free samples.",
        why=hide("**b)** Symmetric arrangements are a thin set among all arrangements: the "
                 "network's errors of a few hundredths of an Angstrom move atoms off their "
                 "special positions and the cell off its family, and spglib (rightly) sees less "
                 "symmetry. A template imposes it after every step instead."),
    ),
    "nb08.q2": question(
        "The Wyckoff position 4a of Fm-3m is ...",
        (
            ("the set of symmetry-equivalent points (4 in the conventional cell) that one atom's "
             "copies occupy, all fixed by one representative"),
            "an element that Fm-3m crystals must contain",
            "any 4 atoms of the cell, wherever they are",
        ),
        hide("a"),
        hint="Look at the orbits of NaCl in section 2: which atoms does 4a hold?",
        why=hide("**a)** A Wyckoff position is an orbit of the group acting on one point: choose "
                 "the representative (here fixed, (0, 0, 0)) and the group's operations place all "
                 "the others. The element sitting there is the crystal's business, not the "
                 "group's."),
    ),
    "nb08.q3": question(
        "With `space_group=225` the sampler returns an Fm-3m NaCl. What did the network learn, and "
        "what did the sampler impose?",
        (
            "the network learned the symmetry; the sampler only wrote it into `atoms.info`",
            "both were imposed: the network's output is not used",
            ("the sampler imposed the symmetry (each step is projected onto the template); the "
             "network still chose the lattice size and every free coordinate"),
        ),
        hide("c"),
        hint="Watch an orbit along the reverse trajectory of section 3: what moves, what is fixed?",
        why=hide("**c)** The projection keeps each orbit on its Wyckoff site and the cell in its "
                 "family after every step, so the group is exact by construction; the network's "
                 "predictions still move the free coordinates and the lattice lengths."),
    ),
}
