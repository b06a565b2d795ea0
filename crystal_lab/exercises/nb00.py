"""Exercises of notebook 00 (welcome).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security.
"""
from __future__ import annotations

from crystal_lab.exercises import Exercise


def _valid_sizes(answer) -> bool:
    return [int(x) for x in answer] == [5, 10, 15, 20]


EXERCISES: dict[str, Exercise] = {
    "nb00.valid_n_atoms": Exercise(
        check=_valid_sizes,
        hint=(
            'Run crystal_lab.describe_prompt("SrTiO3") and read the \'Valid n_atoms\' part: a '
            'formula unit has 5 atoms, and a cell holds a whole number of formula units, at '
            'most 20 atoms.'
        ),
        solution=(
            "zb64:eNpNi8EKgzAQBe9+xcMeqiDFtnjsN3hob6VI1IiBJBt2N0j/vjn2MAwMjAuJWLHwV9T4yZu5SuyiNn/lslp"
            "Z2M12SkwhaVM/+eXGe922lYlyWMYD76HDtS8U3/oPgBOOnbzFRhyyN8jRqYA2DDBKQTrkBCXobhFotf4s5fwBYII"
            "wGQ=="
        ),
    ),
}
