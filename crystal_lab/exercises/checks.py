"""Building blocks for exercise checks that cannot be fooled by the shape of an answer.

Each helper raises ``TypeError``/``ValueError`` with a one-line reason on a badly shaped answer
(``check`` reports that as "not quite" with the reason) and never prints the right answer:

* :func:`number` / :func:`integer`: a bool is not a number (``True`` is not ``1.0``), and an
  integer answer must be whole (``4.9`` is not ``4``, where ``int()`` would truncate it);
* :func:`close`: a number or an array of numbers within a tolerance;
* :func:`same_items`: a list whose order does not matter (``[16, 8]`` is ``[8, 16]``);
* :func:`choice`: one letter of a multiple-choice question, stored hidden.
"""
from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["choice", "close", "integer", "number", "question", "same_items"]


def number(answer: Any) -> float:
    """``answer`` as a float; a bool, a string or a container is refused."""
    if isinstance(answer, (bool, np.bool_)):
        raise TypeError("answer a number, not True/False")
    if not isinstance(answer, numbers.Real):
        raise TypeError(f"answer a number, not {type(answer).__name__}")
    value = float(answer)
    if not np.isfinite(value):
        raise ValueError("answer a finite number")
    return value


def integer(answer: Any) -> int:
    """``answer`` as an int; ``4.0`` is accepted, ``4.9`` is refused (no truncation)."""
    value = number(answer)
    if value != round(value):
        raise ValueError(f"answer a whole number ({value:g} is not one)")
    return round(value)


def _numbers(answer: Any) -> np.ndarray:
    if isinstance(answer, (str, bytes)):
        raise TypeError("answer numbers, not text")
    items = list(answer) if isinstance(answer, Iterable) else [answer]
    return np.array([number(a) for a in items], dtype=float)


def close(target, tol: float) -> Callable[[Any], bool]:
    """A check: the answer (a number, or a sequence in this order) within ``tol`` of ``target``."""
    target = np.asarray(target, dtype=float)

    def check(answer) -> bool:
        if target.ndim == 0:
            return abs(number(answer) - float(target)) <= tol
        values = _numbers(answer)
        return values.shape == target.shape and bool(np.all(np.abs(values - target) <= tol))
    return check


def same_items(answer: Any, expected: Iterable, kind: Callable[[Any], Any] = integer) -> bool:
    """True when ``answer`` holds the same items as ``expected``, in any order (each item
    converted with ``kind``: :func:`integer` by default, ``str`` for names)."""
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
        raise TypeError("answer a list, e.g. [1, 2]")
    if kind is str:
        items = []
        for a in answer:
            if not isinstance(a, str):
                raise TypeError(f"answer a list of strings, not of {type(a).__name__}")
            items.append(a.strip())
    else:
        items = [kind(a) for a in answer]
    return Counter(items) == Counter(expected)


def choice(hidden_letter: str, n_options: int) -> Callable[[Any], bool]:
    """A check for a multiple-choice question with options a, b, ...; ``hidden_letter`` is the
    right letter stored with :func:`crystal_lab.exercises.hide`."""
    letters = "abcdefgh"[:n_options]

    def check(answer) -> bool:
        from . import reveal

        if not isinstance(answer, str) or answer.strip().lower() not in letters:
            raise TypeError(f"answer one letter: {', '.join(repr(x) for x in letters)}")
        return answer.strip().lower() == reveal(hidden_letter)
    return check


def question(text: str, choices: Iterable[str], hidden_letter: str, hint: str, why: str):
    """A multiple-choice :class:`~crystal_lab.exercises.Exercise` (for the end-of-notebook
    quizzes): ``hidden_letter`` and ``why`` (the explanation shown as the solution) are stored
    with :func:`~crystal_lab.exercises.hide`."""
    from . import Exercise

    choices = tuple(choices)
    return Exercise(check=choice(hidden_letter, len(choices)), hint=hint, solution=why,
                    title=text, choices=choices)
