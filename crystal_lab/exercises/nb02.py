"""Exercises of notebook 02 (crystals as data).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security.
"""
from __future__ import annotations

import numpy as np

from crystal_lab.exercises import Exercise


def _wrapped(answer) -> bool:
    return bool(np.allclose(np.asarray(answer, dtype=float), [0.3, 0.8, 0.5, 0.75], atol=1e-6))


def _distance(answer) -> bool:
    return abs(float(answer) - 0.4) < 1e-3


EXERCISES: dict[str, Exercise] = {
    "nb02.wrap": Exercise(
        check=_wrapped,
        hint=(
            'Fractional coordinates live in [0, 1): an atom at 1.3 is the same atom as one at'
            " 0.3 in the next cell. NumPy's `%` (remainder) or `np.mod` keeps the result in "
            '[0, 1) even for negative numbers.'
        ),
        solution=(
            "zb64:eNrLzC3ILypRyCvNLahUSCxWyCvgSswrLk8tUrAFsvVy81M0og31jHUUdA30jHQUDPRMdRSM9MxNY3UUDPU"
            "MNBUUFJQVog1ACgz0LKDyBiB5AJ+eFoM="
        ),
    ),
    "nb02.min_image": Exercise(
        check=_distance,
        hint=(
            'The difference in fractional coordinates is 0.9, but going the other way round '
            'the periodic box it is only 0.1. Take `d - round(d)` (the minimum image), then '
            'multiply by the box length in Å.'
        ),
        solution=(
            "zb64:eNpLUbBVMNCzNFXQBVIGplwpQH4KkFOUX5qXopGiqQAHygq5mXmZuaW5Cpm5iempVgq6BnqGXIl5xeWpRUB"
            "NiUnFIOVaCiZ6BlD1BnomCodbAX/nGAo="
        ),
    ),
}
