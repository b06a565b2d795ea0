"""Exercises of notebook 02 (crystals as data), and its end-of-notebook quiz (``nb02.q1`` ..).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security. Checks use
:mod:`crystal_lab.exercises.checks`, which refuse bools as numbers, do not truncate, and ignore
the order of list answers where order means nothing.
"""
from __future__ import annotations

from crystal_lab.exercises import Exercise
from crystal_lab.exercises.checks import close, number, question

#: the noise levels offered in exercise nb02.uniform_sigma
SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def _uniform_sigma(answer) -> bool:
    value = number(answer)
    if value not in SIGMAS:
        raise ValueError(f"pick one of {SIGMAS}")
    return value == 0.5


EXERCISES: dict[str, Exercise] = {
    "nb02.wrap": Exercise(
        check=close([0.3, 0.8, 0.5, 0.75], 1e-6),
        hint=(
            'Fractional coordinates live in [0, 1): an atom at 1.3 is the same atom as one at'
            " 0.3 in the next cell. NumPy's `%` (remainder) or `np.mod` keeps the result in "
            '[0, 1) even for negative numbers.'
        ),
        solution=(
            "zb64:eNpLzCsuTy1SsFXIK9DLzU/RiDbUM9ZR0DXQM9JRMNAz1VEw0jM3jdVRMNQz0FRQUFBWiDYAKTDQs4D"
            "KG4DkAW8QD5M="
        ),
    ),
    "nb02.min_image": Exercise(
        check=close(0.4, 1e-3),
        hint=(
            'The difference in fractional coordinates is 0.9, but going the other way round '
            'the periodic box it is only 0.1. Take `d - round(d)` (the minimum image), then '
            'multiply by the box length in Å.'
        ),
        solution=(
            "zb64:eNpLUbBVMNCzNFXQBVIGplyJecXlqUVAwcSkYo0UoGhRfmleikaKpqaCloKJnoGCgoIyUKWJwuFWALO"
            "rDsM="
        ),
    ),
    "nb02.uniform_sigma": Exercise(
        title="When does the wrapped normal become uniform?",
        check=_uniform_sigma,
        hint=(
            'Compute the density as the sum over periodic images, '
            '`p(x) = sum_k exp(-(x - x0 + k)**2 / (2 sigma**2)) / sqrt(2 pi sigma**2)` for k in '
            '-5..5, on a grid of x in [0, 1), and find `max |p(x) - 1|` for each sigma. Why so '
            'fast? Its Fourier coefficients are `exp(-2 pi^2 n^2 sigma^2)`.'
        ),
        solution=(
            "zb64:eNpVkD1PwzAQhvf8ildisUtq8kEZKjGwUDHA0rGiyEndYjWxzdmB5N/jfAxwsmT77n3vHt2ZbIuaBh9"
            "k89HISqheUa298sJUWQHdOksB+5fd69M+6fEI40SjjXeyVixLkceTZTk/bFO8WaPek+sskiTNRbH1JsUDP8y"
            "lsyV4fWkltFl6bhPEcLNH9Y6tWY81MlHiFleO1QoF7sAKrBbrmOFc+K5lOY+l6PNfFCZFfDv9Xzn3J20Cm7L"
            "pBFd55uKYnItW9owLsp05sZLzRBr/oyjyZGITnTdx/IRVwOljMXc+FnwSZPk9ZJiUVTfe5fIvtwifCmdNPuD"
            "ZdqQVTSB/4gatPSmcVC0Hj0ZfFSR2svNeSzMuaMH1Fp3RcXWtDgMkkf5WHrKizoVmgFGSRgLxC/PnhPg="
        ),
    ),
    "nb02.q1": question(
        'Why do fractional coordinates get *wrapped* normal noise?',
        (
            'a Gaussian cannot be sampled in three dimensions',
            ('coordinates live on a torus: the wrapped normal stays in the cell and tends to the '
             'uniform distribution, a prior we can sample'),
            'it is faster to compute than a Gaussian',
        ),
        "zb64:eNpLAgAAYwBj",
        hint='What happens to a plain Gaussian of large σ on a periodic cell?',
        why=(
            "zb64:eNodjLENwjAUBVd5bawIQc0AlAxA5Zgf7ML+1n82HoCRsgELsBJKutOddM4tk3O4F7QoaGqdeJzny/Td4HH"
            "znUy+IHc2LIJhvlZ5XuGJ3wcv00GkPQXNQvSSVrU8Y8QUIhKPbbWkdpDJW4y70SAk2Lw1YjXNpz8XUTGp"
        ),
    ),
    "nb02.q2": question(
        "An atom belongs at f = 0.02; noise moved it to f = 0.97. Which way does the wrapped "
        "normal's score point?",
        (
            'towards larger f, across the cell boundary (a distance of 0.05)',
            'nowhere: the score is zero at the boundary',
            'towards smaller f, the long way through 0.5 (a distance of 0.95)',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='The score is a sum over periodic images; which image dominates?',
        why=(
            "zb64:eNotikEKgDAMBL+yRy1S1Lf4gViD7aGNJBHx9wp6G2YmBOpDwJIZjUnZHKXSzujIMcVx7rFJLY2cDf5edtY"
            "BJh8nUcYhpfkfs6jjonsAJRX77Cpn20jv+ACTqyUe"
        ),
    ),
    "nb02.q3": question(
        'At t = 0.5 in this model ...',
        (
            'half the atom types are masked, while atoms have moved only a few percent of the cell',
            'the coordinates are already uniform noise',
            'nothing has happened yet to any variable',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='Look at the printed state at t = 0.5 and at the curves of the three clocks.',
        why=(
            "zb64:eNo9jNENwjAMBVd5v0SIAZiDBUz6QiMiO7INUrenolJ/73RXilxKwWMlcnUS060yggH/KEyx9Nbo1EQdVt9"
            "xR25z1+KE80sZXDAkia7744Ae5+mKadGzmx6NUnxsCGb+S9MXnmzmvP0A05wzEA=="
        ),
    ),
}
