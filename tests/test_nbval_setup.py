"""The nbval set-up the test command uses (tests/conftest.py + tests/nbval_sanitize.cfg):
outputs that vary between runs are ignored, real output changes still fail."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

TESTS = Path(__file__).resolve().parent


def _notebook(path: Path, stdout: str) -> None:
    cells = [
        new_code_cell("import sys\nprint('ok')\nprint('12%|#| 1/8 [00:01<00:07, 1.1it/s]', "
                      "file=sys.stderr)",
                      outputs=[new_output("stream", name="stdout", text=stdout),
                               new_output("stream", name="stderr", text="100%|#| 8/8 [00:09]\n")]),
        new_code_cell("import uuid\nfrom IPython.display import HTML, display\n"
                      "display(HTML(f'<div id=\"{uuid.uuid4()}\">plot</div>'))",
                      outputs=[new_output("display_data", data={
                          "text/html": '<div id="0000">plot</div>',
                          "text/plain": "<IPython.core.display.HTML object>"})]),
        new_code_cell("class Thing:\n    pass\nThing()", outputs=[new_output(
            "execute_result", data={"text/plain": "<__main__.Thing at 0x7f00deadbeef>"},
            execution_count=1)]),
        new_code_cell("import time\nt0 = time.time(); print(f'sampled in {time.time() - t0 + "
                      "0.5:.2f} s')",
                      outputs=[new_output("stream", name="stdout", text="sampled in 3.21 s\n")]),
    ]
    for i, cell in enumerate(cells, start=1):
        cell.execution_count = i  # nbval treats a cell with outputs but no count as never run
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def _nbval(folder: Path, *notebooks: str) -> str:
    """Run nbval as ``make test`` does (this conftest, the sanitize file) on ``notebooks`` in
    ``folder``; its stdout and stderr."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *notebooks, "-p", "conftest",
         "-p", "no:cacheprovider", "--rootdir", str(folder), "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(TESTS / "nbval_sanitize.cfg"), "-q"],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(TESTS)},
        capture_output=True, text=True, timeout=300, check=False)
    return run.stdout + run.stderr


@pytest.mark.slow
def test_nbval_ignores_varying_outputs_but_catches_real_changes(tmp_path):
    _notebook(tmp_path / "same.ipynb", stdout="ok\n")
    _notebook(tmp_path / "changed.ipynb", stdout="ko\n")
    out = _nbval(tmp_path, "same.ipynb", "changed.ipynb")
    assert re.search(r"\b1 failed, 7 passed\b", out), out[-3000:]
    assert (
        "changed.ipynb::Cell 0" in out
        and "same.ipynb::Cell" not in out.split("short test summary")[-1]
    )


def _live_only_notebook(path: Path, stored_text: str, widget_text: bool) -> None:
    """Cells that display a widget or a plotly figure, committed stripped: the widget output
    either kept as its text/plain alone (``widget_text``) or gone whole; the figure gone."""
    def widget_output(kind, text, **kw):
        return [new_output(kind, data={"text/plain": text}, **kw)] if widget_text else []

    cells = [
        new_code_cell("import ipywidgets as widgets\nwidgets.IntSlider(description='n')",
                      outputs=widget_output("execute_result",
                                            "IntSlider(value=0, description='n')",
                                            execution_count=1)),
        new_code_cell("import plotly.graph_objects as go\ngo.Figure(go.Scatter(y=[1, 3, 2]))"),
        new_code_cell("from IPython.display import "
                      "display\ndisplay(widgets.Button())\nprint('hello')",
                      outputs=widget_output("display_data", "Button(style=ButtonStyle())")
                      + [new_output("stream", name="stdout", text=stored_text)]),
    ]
    for i, cell in enumerate(cells, start=1):
        cell.execution_count = i
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
@pytest.mark.parametrize("widget_text", [True, False], ids=["text-kept", "outputs-gone"])
def test_nbval_passes_notebooks_stored_without_widget_views_or_figures(tmp_path, widget_text):
    """A committed notebook keeps no widget views or plotly figures (tests/test_links.py),
    stripped to the widgets' text or without those outputs at all: nbval passes the cells that
    display them, and still compares their other output."""
    _live_only_notebook(tmp_path / "stripped.ipynb", "hello\n", widget_text)
    _live_only_notebook(tmp_path / "changed.ipynb", "bye\n", widget_text)
    out = _nbval(tmp_path, "stripped.ipynb", "changed.ipynb")
    assert re.search(r"\b1 failed, 5 passed\b", out), out[-3000:]
    assert "changed.ipynb::Cell 2" in out.split("short test summary")[-1], out[-3000:]


# --------------------------------------------------------------------------- two sizes
COURSE = sorted((TESTS.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _parameters(path: Path, ci: str | None) -> dict:
    """The names a notebook's ``parameters`` cell defines, run with ``CRYSTAL_LAB_CI=ci``."""
    nb = nbformat.read(path, as_version=4)
    (source,) = [c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    saved = os.environ.pop("CRYSTAL_LAB_CI", None)
    try:
        if ci is not None:
            os.environ["CRYSTAL_LAB_CI"] = ci
        scope: dict = {}
        exec(compile(source, str(path), "exec"), scope)  # noqa: S102 - the shipped cell
    finally:
        os.environ.pop("CRYSTAL_LAB_CI", None)
        if saved is not None:
            os.environ["CRYSTAL_LAB_CI"] = saved
    return {k: v for k, v in scope.items() if not k.startswith("_") and k != "os"}


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_every_notebook_has_workshop_defaults_and_a_ci_size(path):
    """One papermill ``parameters`` cell: the workshop defaults unless ``CRYSTAL_LAB_CI=1`` (what
    ``make lab``'s kernels get: no variable), and a smaller CI size with it."""
    workshop, ci = _parameters(path, None), _parameters(path, "1")
    assert workshop["CI"] is False and ci["CI"] is True
    assert _parameters(path, "0") == workshop
    assert set(workshop) == set(ci)
    assert any(workshop[k] != ci[k] for k in workshop if k != "CI")
