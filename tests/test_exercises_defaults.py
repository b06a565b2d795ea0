"""No exercise can be passed by a value the notebook itself hands the student.

For every exercise cell of every course notebook (a cell that calls ``check("nbNN.name", ...)``),
the answer the cell builds is filled, in place of each ``...``, with every value the notebook offers
before the student has thought: each parameter of its ``parameters`` cell (at the CI size and at the
workshop defaults; lists also item by item; not its on/off switches; for a dict answer such as
``{"system": system, "target": ...}``, the parameters named after the slot) and each number or
quoted string written in the exercise cell itself (its comments included). The check must not accept
any of them.
"""
from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from crystal_lab.exercises import get_exercise, judge, list_exercises

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("0*.ipynb"))
CHECK = re.compile(r"""check\(\s*["'](nb\d\d\.\w+)["']\s*,\s*(.+?)\)\s*(?:#.*)?$""", re.MULTILINE)
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])")
QUOTED = re.compile(r"""(["'])([^"'\n]{1,40})\1""")


def _cells(nb: dict, kind: str = "code") -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _parameters(nb: dict, ci: bool) -> dict:
    """The names the notebook's ``parameters`` cell defines, run at one size."""
    (source,) = ["".join(c["source"]) for c in nb["cells"]
                 if "parameters" in c.get("metadata", {}).get("tags", [])]
    saved = os.environ.get("CRYSTAL_LAB_CI")
    os.environ["CRYSTAL_LAB_CI"] = "1" if ci else "0"
    try:
        scope: dict = {}
        exec(compile(source, "parameters", "exec"), scope)  # noqa: S102 - the shipped cell
    finally:
        if saved is None:
            os.environ.pop("CRYSTAL_LAB_CI", None)
        else:
            os.environ["CRYSTAL_LAB_CI"] = saved
    return {k: v for k, v in scope.items() if not k.startswith("_") and k not in {"os", "CI"}}


def _slot(template: str) -> str | None:
    """The key of a dict answer whose value is the ``...`` (``"target"``), else None."""
    found = re.search(r"""["'](\w+)["']\s*:\s*\.\.\.""", template)
    return found.group(1) if found else None


def _offered(params: list[dict], cell: str, exercise_id: str, slot: str | None) -> list:
    """Every value the notebook offers for this exercise (for a named slot of a dict answer,
    the parameters named after it: ``targets`` for ``"target"``)."""
    values = []
    for scope in params:
        for name, value in scope.items():
            if isinstance(value, bool) or (slot and not name.startswith(slot)):
                continue   # a switch (progress bars) or another quantity, not a value to hand in
            values.append(value)
            if isinstance(value, (list, tuple)):
                values += list(value)
    values += [float(n) if "." in n else int(n) for n in NUMBER.findall(cell)]
    values += [s for _, s in QUOTED.findall(cell) if s != exercise_id]
    return values


def _template(cell: str, exercise_id: str) -> str:
    """The expression of the answer the cell checks, e.g. ``{"system": system, "target": ...}``."""
    argument = next(m.group(2).strip() for m in CHECK.finditer(cell) if m.group(1) == exercise_id)
    if argument == "...":
        return "..."
    found = re.search(rf"^{re.escape(argument)}\s*=\s*(.+?)(?:\s+#.*)?$", cell, re.MULTILINE)
    assert found, f"{exercise_id}: cannot find what {argument!r} is in its cell"
    return found.group(1)


def _exercise_cells() -> list[tuple[str, str, list[dict]]]:
    out = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        params = [_parameters(nb, ci=True), _parameters(nb, ci=False)]
        for cell in _cells(nb):
            out += [(m.group(1), cell, params) for m in CHECK.finditer(cell)]
    return out


CELLS = _exercise_cells()


def test_every_exercise_has_a_cell_in_its_notebook():
    assert sorted({exercise_id for exercise_id, _, _ in CELLS}) == list_exercises()


@pytest.mark.parametrize("exercise_id, cell, params", CELLS, ids=[c[0] for c in CELLS])
def test_no_notebook_default_passes_the_check(exercise_id, cell, params):
    get_exercise(exercise_id)
    template = _template(cell, exercise_id)
    expression = ast.parse(template.replace("...", "__offered__"), mode="eval")
    code = compile(expression, exercise_id, "eval")
    tried = 0
    for value in _offered(params, cell, exercise_id, _slot(template)):
        for scope in params:
            answer = eval(code, {**scope, "__offered__": value})
            verdict = judge(exercise_id, answer)
            assert verdict.ok is not True, (
                f"{exercise_id} accepts {answer!r}, a value its notebook already offers")
            tried += 1
    assert tried > 0
