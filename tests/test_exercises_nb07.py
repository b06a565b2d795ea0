"""Notebook 07's exercises: the checks judge targets against the training data, and the
shipped solution of the multiple choice passes its own check."""
from __future__ import annotations

import re

import numpy as np

from crystal_lab.exercises import check, get_exercise, is_correct, judge, list_exercises, reveal
from crystal_lab.exercises.nb07 import MARGIN, system_formation_energies, training_table


def test_training_table_is_mp20_val():
    df = training_table()
    assert len(df) == 9047
    assert {"formula", "elements", "crystal_system", "formation_energy"} <= set(df.columns)
    assert df["formation_energy"].between(-4.5, 0.1).all()
    assert set(df["crystal_system"]) == {"triclinic", "monoclinic", "orthorhombic", "tetragonal",
                                         "trigonal", "hexagonal", "cubic"}


def test_system_formation_energies_match_the_element_set_exactly():
    e = system_formation_energies("Ti O")
    assert len(e) > 0 and e.min() < -2.5
    assert np.array_equal(e, system_formation_energies("O-Ti"))   # order and form do not matter
    assert len(system_formation_energies("Li P S Cl")) == 0       # not in MP-20 val


def test_stops_working_checks_the_target_against_the_data():
    e = system_formation_energies("Ti O")
    assert is_correct("nb07.stops_working", {"system": "Ti O", "target": e.min() - MARGIN - 0.5})
    assert is_correct("nb07.stops_working", {"system": "Ti O", "target": 0.5 + e.max()})
    assert not is_correct("nb07.stops_working", {"system": "Ti O", "target": float(np.median(e))})
    assert is_correct("nb07.stops_working", {"system": "Li P S Cl", "target": -1.0})  # never seen
    wrong_shape = judge("nb07.stops_working", -4.0)
    assert wrong_shape.ok is False and "could not be checked" in wrong_shape.message


def test_the_notebook_placeholder_is_not_an_answer():
    """The exercise cell as shipped (``...`` where the target goes) is "no answer yet", and the
    cell's comment offers no value that would pass."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "07_inverse_design.ipynb")
                    .read_text())
    (cell,) = [c for c in nb["cells"] if c["cell_type"] == "code"
               and 'check("nb07.stops_working"' in "".join(c["source"])]
    source = "".join(cell["source"])
    scope = {"system": "Ti O", "check": check, "answers": []}
    exec(source.replace('check("nb07.stops_working", answer)',  # noqa: S102 - the shipped cell
                        "answers.append(answer)"), scope)
    verdict = judge("nb07.stops_working", scope["answers"][0])
    assert verdict.ok is None and "No answer yet" in verdict.message
    # no number in the cell passes
    for number in re.findall(r"(?<![\w.])[-+]?\d+(?:\.\d+)?", source):
        assert not is_correct("nb07.stops_working", {"system": "Ti O", "target": float(number)})


def test_why_solution_passes_and_others_fail(capsys):
    scope = {"check": check}
    exec(reveal(get_exercise("nb07.why").solution), scope)  # noqa: S102 - our own solution code
    assert scope["answer"] == "b" and is_correct("nb07.why", "B")
    assert "Correct" in capsys.readouterr().out
    assert not is_correct("nb07.why", "a")
    assert not is_correct("nb07.why", "z")


def test_registered():
    assert list_exercises("nb07") == ["nb07.q1", "nb07.q2", "nb07.q3", "nb07.stops_working",
                                      "nb07.why"]
