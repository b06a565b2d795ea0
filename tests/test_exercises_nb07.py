"""Notebook 07's exercises: the checks judge targets against the training data, and the
shipped solution of the multiple choice passes its own check."""
from __future__ import annotations

import numpy as np

from crystal_lab.exercises import check, get_exercise, list_exercises, reveal
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


def test_stops_working_checks_the_target_against_the_data(capsys):
    e = system_formation_energies("Ti O")
    assert check("nb07.stops_working", {"system": "Ti O", "target": e.min() - MARGIN - 0.5})
    assert check("nb07.stops_working", {"system": "Ti O", "target": 0.5 + e.max()})
    assert not check("nb07.stops_working", {"system": "Ti O", "target": float(np.median(e))})
    assert check("nb07.stops_working", {"system": "Li P S Cl", "target": -1.0})  # never seen
    assert not check("nb07.stops_working", -4.0)                                 # wrong shape
    assert "could not be checked" in capsys.readouterr().out


def test_why_solution_passes_and_others_fail(capsys):
    scope = {"check": check}
    exec(reveal(get_exercise("nb07.why").solution), scope)  # noqa: S102 - our own solution code
    assert scope["answer"] == "b" and check("nb07.why", "B")
    assert not check("nb07.why", "a")
    assert not check("nb07.why", "z")


def test_registered():
    assert list_exercises("nb07") == ["nb07.stops_working", "nb07.why"]
