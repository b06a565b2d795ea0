"""Exercises: check says right/wrong without the answer, hints show, solutions stay locked
until the instructor unlocks them, and every shipped solution passes its own check."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from crystal_lab import exercises
from crystal_lab.exercises import (
    Exercise,
    check,
    get_exercise,
    hide,
    hint,
    list_exercises,
    reveal,
    solution,
    solutions_unlocked,
)


@pytest.fixture
def locked(monkeypatch, tmp_path):
    """No instructor variable and a HOME without ~/.crystal_lab/instructor."""
    monkeypatch.delenv(exercises.INSTRUCTOR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not solutions_unlocked()
    return tmp_path


def test_hide_round_trips_and_hides():
    text = "answer = np.mod(x, 1.0)"
    packed = hide(text)
    assert packed.startswith("zb64:") and "np.mod" not in packed
    assert reveal(packed) == text
    assert reveal("plain text") == "plain text"


def test_check_prints_verdict_without_the_answer(capsys):
    assert check("nb02.wrap", [0.3, 0.8, 0.5, 0.75]) is True
    assert "Correct" in capsys.readouterr().out
    assert check("nb02.wrap", [0.3, 0.8, 0.5, 1.75]) is False
    out = capsys.readouterr().out
    assert "Not quite" in out and "0.75" not in out and "hint('nb02.wrap')" in out
    assert check("nb02.wrap", "not numbers") is False        # a check that raises is "wrong"
    assert "could not be checked" in capsys.readouterr().out
    assert check("nb02.wrap", ...) is False
    assert "No answer yet" in capsys.readouterr().out


def test_unknown_ids_give_clear_errors():
    with pytest.raises(KeyError, match="expected 'nbNN.name'"):
        check("wrap", 1)
    with pytest.raises(KeyError, match="no exercises for notebook 'nb99'"):
        check("nb99.wrap", 1)
    with pytest.raises(KeyError, match="known here: .*nb02.wrap"):
        check("nb02.nope", 1)


def test_hint_shows_markdown(capsys):
    hint("nb02.wrap")
    assert "**Hint (nb02.wrap):**" in capsys.readouterr().out


def test_solution_locked_then_unlocked_by_env_or_file(locked, monkeypatch, capsys):
    solution("nb02.wrap")
    out = capsys.readouterr().out
    assert "locked" in out and "np.mod" not in out
    monkeypatch.setenv(exercises.INSTRUCTOR_ENV, "1")
    solution("nb02.wrap")
    assert "np.mod" in capsys.readouterr().out
    monkeypatch.setenv(exercises.INSTRUCTOR_ENV, "0")
    assert not solutions_unlocked()
    (locked / ".crystal_lab").mkdir()
    (locked / ".crystal_lab" / "instructor").touch()
    assert solutions_unlocked()
    solution("nb02.wrap")
    assert "np.mod" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", list_exercises())
def test_every_exercise_is_registered_well(exercise_id):
    ex = get_exercise(exercise_id)
    assert isinstance(ex, Exercise) and callable(ex.check)
    assert ex.hint.strip()
    assert ex.solution.startswith("zb64:"), "store solutions with hide(), not in plain sight"
    assert reveal(ex.solution).strip()


@pytest.mark.parametrize("exercise_id", ["nb00.valid_n_atoms", "nb01.spread",
                                         "nb01.signal_noise", "nb02.wrap", "nb02.min_image",
                                         "nb03.formula_units"])
def test_shipped_solution_passes_its_check(exercise_id, capsys):
    scope = {"np": np}
    exec(reveal(get_exercise(exercise_id).solution), scope)  # noqa: S102 - our own solution code
    assert check(exercise_id, scope["answer"]) is True


def test_nb03_solution_gives_nacl_cells_with_a_tiny_model(capsys):
    from crystal_lab.model import CrystalDiffusionModel, ModelConfig

    scope = {"model": CrystalDiffusionModel(ModelConfig(hidden=32, layers=2)), "steps": 3}
    exec(reveal(get_exercise("nb03.csp_nacl").solution), scope)  # noqa: S102 - our own solution code
    assert check("nb03.csp_nacl", scope["answer"]) is True
    assert check("nb03.csp_nacl", scope["answer"][:1]) is False


def test_notebook_modules_are_found_by_prefix():
    mod = importlib.import_module("crystal_lab.exercises.nb02")
    assert set(mod.EXERCISES) == {i for i in list_exercises("nb02")}
