"""Exercises of notebook 01 (what is diffusion).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security.
"""
from __future__ import annotations

import numpy as np

from crystal_lab.exercises import Exercise


def _close(target, tol):
    def check(answer) -> bool:
        return bool(np.allclose(np.asarray(answer, dtype=float), target, atol=tol))
    return check


EXERCISES: dict[str, Exercise] = {
    "nb01.spread": Exercise(
        check=_close(1.0, 0.05),
        hint=(
            'After n independent steps of standard deviation `step` the variances add: the '
            'variance per axis is `step**2 * n`. Take the square root.'
        ),
        solution=(
            "zb64:eNolyUEOQDAQRuG9U/yJDY00Q9hIHKZhRBelZkZcn7B834spH2JIwbYi7HqzYPrK6ylWkafBuQ4OPVENoHx"
            "362nEelwCi4kVtjHUOGsDu+PMP2ThsDyAEB22"
        ),
    ),
    "nb01.signal_noise": Exercise(
        check=_close([0.6, 0.8], 0.01),
        hint=(
            'The forward process is x_t = sqrt(abar) * x_0 + sqrt(1 - abar) * noise. Put abar'
            ' = 0.36 into both square roots.'
        ),
        solution=(
            "zb64:eNrLzC3ILypRyE0syeBKzCsuTy1SsFXQAHH1iguLSjQM9IzNNHUUEAKGCroKYEFNBQUFZQWgAjMdoICFJgB"
            "8gRSW"
        ),
    ),
}
