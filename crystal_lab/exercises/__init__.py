"""Exercises for the course notebooks: check an answer, ask for a hint, see a solution.

Every notebook ``NN`` has a module ``crystal_lab.exercises.nbNN`` with a dict ``EXERCISES``
mapping ids ``"nbNN.name"`` to :class:`Exercise` records::

    from crystal_lab.exercises import Exercise, hide

    EXERCISES = {
        "nb02.wrap": Exercise(
            check=lambda a: abs(float(a) - 0.25) < 1e-6,
            hint="Fractional coordinates live in [0, 1): take the remainder.",
            solution=hide("x = 1.25 % 1.0   # 0.25"),
        ),
    }

Students call, in a notebook cell::

    from crystal_lab.exercises import check, hint, solution
    check("nb02.wrap", my_answer)    # shows right/wrong (never the answer); returns nothing
    hint("nb02.wrap")                # shows the hint (Markdown)
    solution("nb02.wrap")            # shows the solution only once the instructor unlocked them

Solutions are unlocked when the environment variable ``CRYSTAL_LAB_INSTRUCTOR=1`` is set or a
file ``~/.crystal_lab/instructor`` exists (see :func:`solutions_unlocked`).

Hiding is a workshop convenience, NOT security: solutions are stored zlib-compressed and
base64-encoded (:func:`hide`) so that they are not in plain sight when a student browses the
package source, but anyone can decode them. A check function is ordinary Python too.

Several ``check`` lines in one cell each show their own verdict (``check`` returns None, so
the cell shows no ``Out: True`` under a "Not quite"). Code that needs the verdict as a value uses
:func:`judge` (a :class:`Verdict`) or :func:`is_correct` (a bool); neither prints.

The pattern (hints in collapsible blocks, solutions hidden until asked, a check that says
right or wrong) follows the practice of workshop notebooks such as TeachOpenCADD
(https://github.com/volkamerlab/teachopencadd) and the Hugging Face diffusion models course
(https://github.com/huggingface/diffusion-models-class).
"""
from __future__ import annotations

import base64
import importlib
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "INSTRUCTOR_ENV",
    "INSTRUCTOR_FILE",
    "Exercise",
    "UnknownExercise",
    "Verdict",
    "check",
    "get_exercise",
    "hide",
    "hint",
    "is_correct",
    "judge",
    "list_exercises",
    "quiz",
    "reveal",
    "solution",
    "solutions_unlocked",
]

#: environment variable that unlocks solutions when set to "1" (or "true"/"yes")
INSTRUCTOR_ENV = "CRYSTAL_LAB_INSTRUCTOR"
#: file whose existence unlocks solutions
INSTRUCTOR_FILE = Path("~/.crystal_lab/instructor")

_ID = re.compile(r"^(nb\d{2})\.[A-Za-z0-9_]+$")
_HIDDEN_PREFIX = "zb64:"


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    ``check(answer) -> bool`` decides whether an answer is right (it may raise on a badly
    shaped answer: :func:`check` reports that as wrong). ``hint`` is Markdown. ``solution`` is
    Python code (shown as a code block) or Markdown containing ``` fences (shown as is),
    normally stored with :func:`hide`. ``title`` is optional. A multiple-choice question (the
    end-of-notebook quizzes) has its question in ``title`` and its options in ``choices``
    (labelled a, b, c, ...; the answer is a letter).
    """

    check: Callable[[Any], bool]
    hint: str
    solution: str
    title: str = ""
    choices: tuple[str, ...] = ()


# --------------------------------------------------------------------------- hiding

def hide(text: str) -> str:
    """Encode ``text`` (zlib + base64) so it is not readable at a glance. Not security."""
    packed = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    return _HIDDEN_PREFIX + packed


def reveal(text: str) -> str:
    """Inverse of :func:`hide`; plain text (without the prefix) is returned unchanged."""
    if text.startswith(_HIDDEN_PREFIX):
        return zlib.decompress(base64.b64decode(text[len(_HIDDEN_PREFIX):])).decode("utf-8")
    return text


def solutions_unlocked() -> bool:
    """True when the instructor unlocked solutions: ``CRYSTAL_LAB_INSTRUCTOR=1`` in the
    environment, or the file ``~/.crystal_lab/instructor`` exists."""
    if os.environ.get(INSTRUCTOR_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return INSTRUCTOR_FILE.expanduser().exists()


# --------------------------------------------------------------------------- registry

class UnknownExercise(KeyError):
    """An exercise id that is not registered; the message lists the valid ids."""

    def __str__(self) -> str:          # KeyError would show the message in quotes
        return str(self.args[0])


def _notebooks() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("nb[0-9][0-9].py"))


def _module_for(exercise_id: str):
    if not isinstance(exercise_id, str):
        raise UnknownExercise(f"No exercise {exercise_id!r} (an id is a string like "
                              f"'nb02.wrap'); notebooks with exercises: {', '.join(_notebooks())}")
    m = _ID.match(exercise_id)
    if not m or m.group(1) not in _notebooks():
        where = "expected 'nbNN.name', e.g. 'nb02.wrap'" if not m else "no such notebook"
        raise UnknownExercise(f"No exercise {exercise_id!r} ({where}); notebooks with "
                              f"exercises: {', '.join(_notebooks())}")
    return importlib.import_module(f"{__name__}.{m.group(1)}")


def get_exercise(exercise_id: str) -> Exercise:
    """The :class:`Exercise` registered under ``exercise_id``; :class:`UnknownExercise` (a
    KeyError) whose one-line message lists the valid ids."""
    exercises = getattr(_module_for(exercise_id), "EXERCISES", {})
    if exercise_id not in exercises:
        known = ", ".join(sorted(exercises)) or "none"
        raise UnknownExercise(f"No exercise {exercise_id!r}; the exercises of "
                              f"{exercise_id.split('.')[0]} are: {known}")
    return exercises[exercise_id]


def list_exercises(notebook: str | None = None) -> list[str]:
    """All exercise ids, or those of one notebook (``"nb02"``)."""
    names = _notebooks()
    if notebook is not None:
        names = [n for n in names if n == notebook]
    ids: list[str] = []
    for name in names:
        ids += sorted(getattr(importlib.import_module(f"{__name__}.{name}"), "EXERCISES", {}))
    return ids


# --------------------------------------------------------------------------- display

def _show_markdown(text: str) -> None:
    """Markdown in Jupyter (plain text printed too, so nbval and terminals see it)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython ships with the package's deps
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


# --------------------------------------------------------------------------- public

@dataclass(frozen=True)
class Verdict:
    """What :func:`check` says about one answer: ``ok`` is True (right), False (wrong) or None
    (no answer yet, or no such exercise); ``message`` is the line shown to the student."""

    ok: bool | None
    message: str

    def __bool__(self) -> bool:
        return self.ok is True


def _unanswered(answer: Any) -> bool:
    """``...``/None, or a container whose placeholders (``...``) are still there."""
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(v is Ellipsis for v in answer.values())
    if isinstance(answer, (tuple, list)):
        return any(v is Ellipsis for v in answer)
    return False


def judge(exercise_id: str, answer: Any) -> Verdict:
    """The :class:`Verdict` on ``answer`` (never the right answer), without printing it."""
    try:
        ex = get_exercise(exercise_id)
    except UnknownExercise as err:
        return Verdict(None, f"[{exercise_id}] {err}")
    if _unanswered(answer):
        return Verdict(None, f"[{exercise_id}] No answer yet: replace the ... with your answer, "
                             f"then run this cell again.")
    try:
        ok = bool(ex.check(answer))
    except Exception as err:  # noqa: BLE001 - a badly shaped answer is simply wrong, with a reason
        return Verdict(False, f"[{exercise_id}] Not quite: your answer could not be checked "
                              f"({type(err).__name__}: {err}). Try hint({exercise_id!r}).")
    if ok:
        return Verdict(True, f"[{exercise_id}] Correct, well done!")
    return Verdict(False, f"[{exercise_id}] Not quite, try again. Stuck? Run "
                          f"hint({exercise_id!r}).")


def is_correct(exercise_id: str, answer: Any) -> bool:
    """True when ``answer`` is right (a silent :func:`judge`)."""
    return judge(exercise_id, answer).ok is True


def check(exercise_id: str, answer: Any) -> None:
    """Check ``answer`` for exercise ``exercise_id`` and show the verdict as one line (never the
    answer). Returns None, so a cell of several checks shows each verdict once and no
    ``Out: True``/``False``; an unknown id shows one line with the valid ids."""
    print(judge(exercise_id, answer).message)


def _lookup(exercise_id: str) -> Exercise | None:
    """The exercise, or None after printing the one-line "no such exercise" message."""
    try:
        return get_exercise(exercise_id)
    except UnknownExercise as err:
        print(f"[{exercise_id}] {err}")
        return None


def quiz(notebook: str) -> None:
    """Show the multiple-choice questions of a notebook (``"nb01"``), with how to answer them.

    The questions are the exercises ``nbNN.q1``, ``nbNN.q2``, ...; answer each with
    ``check("nb01.q1", "b")``."""
    ids = [i for i in list_exercises(notebook) if re.search(r"\.q\d+$", i)]
    if not ids:
        raise KeyError(f"no quiz for notebook {notebook!r}")
    parts = []
    for k, exercise_id in enumerate(ids, 1):
        ex = get_exercise(exercise_id)
        options = "\n".join(f"- **{chr(97 + j)})** {c}" for j, c in enumerate(ex.choices))
        parts.append(f"**{k}. `{exercise_id}`** {ex.title}\n\n{options}")
    _show_markdown("\n\n".join(parts) + "\n\nAnswer with a letter: "
                   f"`check({ids[0]!r}, \"a\")`.")


def hint(exercise_id: str) -> None:
    """Show the hint of an exercise (Markdown)."""
    ex = _lookup(exercise_id)
    if ex is None:
        return
    _show_markdown(f"**Hint ({exercise_id}):** {reveal(ex.hint)}")


def solution(exercise_id: str) -> None:
    """Show the solution, only when the instructor has unlocked solutions
    (:func:`solutions_unlocked`); otherwise say they are locked and how to get a hint."""
    ex = _lookup(exercise_id)
    if ex is None:
        return
    if not solutions_unlocked():
        print(f"[{exercise_id}] Solutions are locked for now. Try hint({exercise_id!r}), "
              f"ask your instructor, or open the Hint block above the exercise.")
        return
    text = reveal(ex.solution)
    if "```" in text or ex.choices:  # Markdown (with its own code fences, or a quiz's reason)
        _show_markdown(f"**Solution ({exercise_id}):**\n\n{text}")
    else:
        _show_markdown(f"**Solution ({exercise_id}):**\n\n```python\n{text}\n```")
