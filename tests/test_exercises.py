"""Exercises: check says right/wrong without the answer (one line per call, no return value for
the cell to show), hints show, solutions stay locked until the instructor unlocks them, and every
shipped solution passes its own check."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from crystal_lab import exercises
from crystal_lab.exercises import (
    Exercise,
    UnknownExercise,
    check,
    get_exercise,
    hide,
    hint,
    is_correct,
    judge,
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
    assert check("nb02.wrap", [0.3, 0.8, 0.5, 0.75]) is None       # nothing for "Out:" to show
    assert capsys.readouterr().out == "[nb02.wrap] Correct, well done!\n"
    assert check("nb02.wrap", [0.3, 0.8, 0.5, 1.75]) is None
    out = capsys.readouterr().out
    assert "Not quite" in out and "0.75" not in out and "hint('nb02.wrap')" in out
    assert len(out.splitlines()) == 1
    check("nb02.wrap", "not numbers")                              # a check that raises is "wrong"
    assert "could not be checked" in capsys.readouterr().out
    for unanswered in (..., None, [..., 0.8], {"x": ...}):
        check("nb02.wrap", unanswered)
        assert "No answer yet" in capsys.readouterr().out


def test_judge_and_is_correct_agree_with_check(capsys):
    for answer, expected in (([0.3, 0.8, 0.5, 0.75], True), ([0.3, 0.8, 0.5, 1.75], False),
                             ("text", False), (..., None)):
        verdict = judge("nb02.wrap", answer)
        assert verdict.ok is expected and bool(verdict) is (expected is True)
        assert is_correct("nb02.wrap", answer) is (expected is True)
        assert capsys.readouterr().out == ""                          # judge never prints
        check("nb02.wrap", answer)
        assert capsys.readouterr().out == verdict.message + "\n"


def test_a_cell_of_several_checks_shows_each_verdict_and_no_value():
    """Run like a notebook cell: the last expression's value is what "Out:" would show."""
    import contextlib
    import io

    cell = 'check("nb00.q1", "b")\ncheck("nb00.q2", "a")\ncheck("nb00.q3", ...)'
    *body, last = cell.splitlines()
    scope = {"check": check}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for line in body:
            exec(line, scope)  # noqa: S102 - the cell's lines
        value = eval(last, scope)
    lines = buf.getvalue().splitlines()
    assert value is None and len(lines) == 3
    assert [line.split("]")[0] for line in lines] == ["[nb00.q1", "[nb00.q2", "[nb00.q3"]
    assert "No answer yet" in lines[2]


@pytest.mark.parametrize("bad_id, listed", [("nb00.q9", "nb00.prompt_kinds, nb00.q1"),
                                             ("nb02.nope", "nb02.wrap"),
                                             ("nb99.wrap", "nb00, nb01"), ("wrap", "nb00, nb01"),
                                             (3, "nb00, nb01")])
def test_unknown_ids_give_one_plain_line_with_the_valid_ids(bad_id, listed, capsys):
    for show in (lambda: check(bad_id, "b"), lambda: hint(bad_id), lambda: solution(bad_id)):
        assert show() is None
        out = capsys.readouterr().out
        assert len(out.splitlines()) == 1 and "No exercise" in out and listed in out
        assert "Traceback" not in out and "KeyError" not in out
    with pytest.raises(UnknownExercise, match="No exercise") as err:
        get_exercise(bad_id)
    assert isinstance(err.value, KeyError) and not str(err.value).startswith(("'", '"'))
    assert judge(bad_id, "b").ok is None


def test_hint_shows_markdown(capsys):
    hint("nb02.wrap")
    assert "**Hint (nb02.wrap):**" in capsys.readouterr().out


def test_solution_locked_then_unlocked_by_env_or_file(locked, monkeypatch, capsys):
    solution("nb02.wrap")
    out = capsys.readouterr().out
    assert "locked" in out and "np.mod" not in out
    assert "<" not in out and "Hint block" in out   # plain text: no HTML tag printed literally
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
    if exercise_id.startswith("nb03."):
        scope["model"] = crystal_lab.load_model()
    exec(reveal(get_exercise(exercise_id).solution), scope)  # noqa: S102 - our own solution code
    assert is_correct(exercise_id, scope["answer"])


# ----------------------------------------------------------------- checkers that cannot be fooled

def test_a_bool_is_not_a_number():
    assert is_correct("nb01.spread", 1.0)
    wrong = judge("nb01.spread", True)                   # True would be 1.0 under float()
    assert wrong.ok is False and "not True/False" in wrong.message
    assert is_correct("nb01.signal_noise", (0.6, 0.8))
    assert not is_correct("nb01.signal_noise", (True, 0.8))
    assert is_correct("nb06.atoms_per_cell", np.float64(5.0))
    assert not is_correct("nb06.atoms_per_cell", np.True_)


@pytest.mark.parametrize("exercise_id, right, wrap", [
    ("nb06.atoms_per_cell", 5, lambda x: x),
    ("nb03.network_calls", 4000, lambda x: (x, 80)),     # (Chemeleon calls, times cheaper)
])
def test_whole_numbers_are_not_truncated(exercise_id, right, wrap):
    assert is_correct(exercise_id, wrap(right))
    assert is_correct(exercise_id, wrap(float(right)))
    for wrong in (right - 0.1, right + 0.9, right + 0.5):   # int() would turn 4.9/5.9 into 4/5
        verdict = judge(exercise_id, wrap(wrong))
        assert verdict.ok is False and "whole number" in verdict.message


def test_network_calls_takes_both_answers():
    from crystal_lab.exercises.nb03 import CHEMELEON_CALLS, shipped_calls_per_sample

    ours = shipped_calls_per_sample()
    assert ours >= 1 and CHEMELEON_CALLS == 4000
    assert is_correct("nb03.network_calls", (4000, 4000 / ours))
    assert is_correct("nb03.network_calls", [4000.0, round(4000 / ours, 1)])
    for wrong in ((4000, 4000 / ours * 1.1), (2000, 4000 / ours), (4000, 4000), (4000, 1.0)):
        assert judge("nb03.network_calls", wrong).ok is False, wrong
    for one_answer in (4000, "4000", (4000,), (4000, 80, 1)):
        verdict = judge("nb03.network_calls", one_answer)
        assert verdict.ok is False and "two numbers" in verdict.message


def test_list_answers_ignore_order_but_not_multiplicity():
    from crystal_lab.exercises.checks import same_items

    assert same_items([20, 15, 10, 5], [5, 10, 15, 20])
    assert is_correct("nb05.cell_sizes", [16, 8])
    assert is_correct("nb05.cell_sizes", (8.0, 16))
    assert not is_correct("nb05.cell_sizes", [8, 8, 16])
    assert not is_correct("nb05.cell_sizes", [8])
    assert not is_correct("nb05.cell_sizes", [8.5, 16])
    assert is_correct("nb00.prompt_kinds", ["BaTiO3", "NaCl", "Li3PS4"])
    assert not is_correct("nb00.prompt_kinds", ["BaTiO3", "NaCl"])
    assert not is_correct("nb00.prompt_kinds", "NaCl Li3PS4 BaTiO3")
    assert is_correct("nb04.smact", ["CuZn", "BaTiO2", "Li3PS4", "Fe2O3", "NaCl"])


def test_uniform_sigma_takes_only_the_offered_values():
    assert is_correct("nb02.uniform_sigma", 0.5)
    assert not is_correct("nb02.uniform_sigma", 0.3)
    verdict = judge("nb02.uniform_sigma", 0.45)
    assert verdict.ok is False and "pick one of" in verdict.message


@pytest.fixture(scope="module")
def shipped():
    import crystal_lab

    return crystal_lab.load_model()


def test_csp_nacl_accepts_only_the_asked_for_samples(shipped, capsys):
    from ase.build import bulk

    answer = shipped.sample("NaCl", n_atoms=8, n_samples=2, steps=10, seed=0, progress=False)
    assert is_correct("nb03.csp_nacl", answer)
    assert not is_correct("nb03.csp_nacl", answer[:1])                       # one structure
    assert not is_correct("nb03.csp_nacl", [answer[0], answer[0]])           # the same one twice
    other_seed = shipped.sample("NaCl", n_atoms=8, n_samples=2, steps=10, seed=1, progress=False)
    assert not is_correct("nb03.csp_nacl", other_seed)
    rocksalt = bulk("NaCl", "rocksalt", a=5.64, cubic=True)                  # any Na4Cl4
    verdict = judge("nb03.csp_nacl", [rocksalt, rocksalt.copy()])
    assert verdict.ok is False and "not generated by model.sample" in verdict.message


def test_nb03_solution_runs(shipped, capsys):
    scope = {"model": shipped, "steps": 10, "check": check}
    exec(reveal(get_exercise("nb03.csp_nacl").solution), scope)  # noqa: S102 - our own solution code
    assert is_correct("nb03.csp_nacl", scope["answer"])


# ----------------------------------------------------------------- quizzes

@pytest.mark.parametrize("notebook", [f"nb{k:02d}" for k in range(9)])
def test_every_notebook_has_a_three_question_quiz(notebook, capsys):
    ids = [i for i in list_exercises(notebook) if i.split(".")[1].startswith("q")]
    assert ids == [f"{notebook}.q1", f"{notebook}.q2", f"{notebook}.q3"]
    quiz(notebook)
    shown = capsys.readouterr().out
    for exercise_id in ids:
        ex = get_exercise(exercise_id)
        assert len(ex.choices) >= 3 and ex.title in shown
        right = reveal(ex.solution)[2]                     # the reason starts "**b)** ..."
        assert is_correct(exercise_id, right.upper())
        for wrong in "abcd"[:len(ex.choices)]:
            if wrong != right:
                assert judge(exercise_id, wrong).ok is False
        assert judge(exercise_id, 1).ok is False           # a letter, not a number
    assert "Correct" not in shown


def _stored_notebooks():
    import json
    from pathlib import Path

    paths = sorted(Path(__file__).parents[1].glob("notebooks/0*.ipynb"))
    assert len(paths) == 9
    return [(path.name, json.loads(path.read_text())) for path in paths]


def test_stored_notebook_outputs_give_no_answer_away():
    import json

    for name, nb in _stored_notebooks():
        for cell in nb["cells"]:
            text = json.dumps(cell.get("outputs", []))
            assert "Correct, well done" not in text, name
            assert "**Solution (" not in text, name


def test_stored_check_cells_show_verdicts_not_values():
    """Every cell that calls check() shows one verdict line a call and no ``Out:`` value."""
    seen = 0
    for name, nb in _stored_notebooks():
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or "check(" not in source:
                continue
            seen += 1
            kinds = [o["output_type"] for o in cell.get("outputs", [])]
            assert "execute_result" not in kinds, (name, source[:60])
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
            assert text.count("No answer yet") == source.count("check("), (name, source[:60])
    assert seen >= 20


def test_stored_outputs_hold_no_figures_widgets_or_stuck_bars():
    """Plotly figures, widget views and widget state are not committed (their text fallback is),
    and no progress bar was frozen into a stored output."""
    import re

    bar = re.compile(r"\d+%\|")
    for name, nb in _stored_notebooks():
        assert "widgets" not in nb.get("metadata", {}), name
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                for key in ("application/vnd.plotly.v1+json",
                            "application/vnd.jupyter.widget-view+json",
                            "application/vnd.jupyter.widget-state+json"):
                    assert key not in data, (name, cell.get("id"), key)
                text = "".join(out.get("text", "")) + "".join(data.get("text/plain", ""))
                assert not bar.search(text), (name, cell.get("id"), text[:80])


def test_notebook_modules_are_found_by_prefix():
    mod = importlib.import_module("crystal_lab.exercises.nb02")
    assert set(mod.EXERCISES) == {i for i in list_exercises("nb02")}
