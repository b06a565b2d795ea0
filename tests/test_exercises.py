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
    quiz,
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


@pytest.mark.parametrize("exercise_id", ["nb00.prompt_kinds", "nb01.spread",
                                         "nb01.signal_noise", "nb01.score", "nb02.wrap",
                                         "nb02.min_image", "nb02.uniform_sigma",
                                         "nb03.network_calls", "nb05.cell_sizes",
                                         "nb06.param_ratio"])
def test_shipped_solution_passes_its_check(exercise_id, capsys):
    import crystal_lab
    from crystal_lab.explore import n_atoms_options

    scope = {"np": np, "crystal_lab": crystal_lab, "check": check,
             "n_atoms_options": n_atoms_options}
    exec(reveal(get_exercise(exercise_id).solution), scope)  # noqa: S102 - our own solution code
    assert check(exercise_id, scope["answer"]) is True


# ----------------------------------------------------------------- checkers that cannot be fooled

def test_a_bool_is_not_a_number(capsys):
    assert check("nb01.spread", 1.0) is True
    assert check("nb01.spread", True) is False          # True would be 1.0 under float()
    assert "not True/False" in capsys.readouterr().out
    assert check("nb01.signal_noise", (0.6, 0.8)) is True
    assert check("nb01.signal_noise", (True, 0.8)) is False
    assert check("nb06.atoms_per_cell", np.float64(5.0)) is True
    assert check("nb06.atoms_per_cell", np.True_) is False


@pytest.mark.parametrize("exercise_id, right", [("nb06.atoms_per_cell", 5),
                                                ("nb03.network_calls", 4000)])
def test_whole_numbers_are_not_truncated(exercise_id, right, capsys):
    assert check(exercise_id, right) is True
    assert check(exercise_id, float(right)) is True
    for wrong in (right - 0.1, right + 0.9, right + 0.5):   # int() would turn 4.9/5.9 into 4/5
        assert check(exercise_id, wrong) is False
    assert "whole number" in capsys.readouterr().out


def test_list_answers_ignore_order_but_not_multiplicity():
    from crystal_lab.exercises.checks import same_items

    assert same_items([20, 15, 10, 5], [5, 10, 15, 20])
    assert check("nb05.cell_sizes", [16, 8]) is True
    assert check("nb05.cell_sizes", (8.0, 16)) is True
    assert check("nb05.cell_sizes", [8, 8, 16]) is False
    assert check("nb05.cell_sizes", [8]) is False
    assert check("nb05.cell_sizes", [8.5, 16]) is False
    assert check("nb00.prompt_kinds", ["BaTiO3", "NaCl", "Li3PS4"]) is True
    assert check("nb00.prompt_kinds", ["BaTiO3", "NaCl"]) is False
    assert check("nb00.prompt_kinds", "NaCl Li3PS4 BaTiO3") is False
    assert check("nb04.smact", ["CuZn", "BaTiO2", "Li3PS4", "Fe2O3", "NaCl"]) is True


def test_uniform_sigma_takes_only_the_offered_values(capsys):
    assert check("nb02.uniform_sigma", 0.5) is True
    assert check("nb02.uniform_sigma", 0.3) is False
    assert check("nb02.uniform_sigma", 0.45) is False
    assert "pick one of" in capsys.readouterr().out


@pytest.fixture(scope="module")
def shipped():
    import crystal_lab

    return crystal_lab.load_model()


def test_csp_nacl_accepts_only_the_asked_for_samples(shipped, capsys):
    from ase.build import bulk

    answer = shipped.sample("NaCl", n_atoms=8, n_samples=2, steps=10, seed=0, progress=False)
    assert check("nb03.csp_nacl", answer) is True
    assert check("nb03.csp_nacl", answer[:1]) is False                       # one structure
    assert check("nb03.csp_nacl", [answer[0], answer[0]]) is False           # the same one twice
    other_seed = shipped.sample("NaCl", n_atoms=8, n_samples=2, steps=10, seed=1, progress=False)
    assert check("nb03.csp_nacl", other_seed) is False
    rocksalt = bulk("NaCl", "rocksalt", a=5.64, cubic=True)                  # any Na4Cl4
    assert check("nb03.csp_nacl", [rocksalt, rocksalt.copy()]) is False
    assert "not generated by model.sample" in capsys.readouterr().out


def test_nb03_solution_runs(shipped, capsys):
    scope = {"model": shipped, "steps": 10, "check": check}
    exec(reveal(get_exercise("nb03.csp_nacl").solution), scope)  # noqa: S102 - our own solution code
    assert check("nb03.csp_nacl", scope["answer"]) is True


# ----------------------------------------------------------------- quizzes

@pytest.mark.parametrize("notebook", [f"nb{k:02d}" for k in range(7)])
def test_every_notebook_has_a_three_question_quiz(notebook, capsys):
    ids = [i for i in list_exercises(notebook) if i.split(".")[1].startswith("q")]
    assert ids == [f"{notebook}.q1", f"{notebook}.q2", f"{notebook}.q3"]
    quiz(notebook)
    shown = capsys.readouterr().out
    for exercise_id in ids:
        ex = get_exercise(exercise_id)
        assert len(ex.choices) >= 3 and ex.title in shown
        right = reveal(ex.solution)[2]                     # the reason starts "**b)** ..."
        assert check(exercise_id, right.upper()) is True
        for wrong in "abcd"[:len(ex.choices)]:
            if wrong != right:
                assert check(exercise_id, wrong) is False
        assert check(exercise_id, 1) is False              # a letter, not a number
    assert "Correct" not in shown


def test_stored_notebook_outputs_give_no_answer_away():
    import json
    from pathlib import Path

    for path in sorted(Path(__file__).parents[1].glob("notebooks/0*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            text = json.dumps(cell.get("outputs", []))
            assert "Correct, well done" not in text, path.name
            assert "**Solution (" not in text, path.name


def test_notebook_modules_are_found_by_prefix():
    mod = importlib.import_module("crystal_lab.exercises.nb02")
    assert set(mod.EXERCISES) == {i for i in list_exercises("nb02")}
