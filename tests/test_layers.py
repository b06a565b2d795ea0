"""The code's shape, checked: the layer and no-cycle contracts (import-linter, configured in
pyproject.toml) and ruff's configured rules over the code, the tests, the benchmarks, scripts,
the notebooks, deploy/ and docs/.

Both tools come with the ``test`` extra; a missing tool fails here rather than skipping.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """The tool installed beside this Python (the venv's), else the one on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
                          check=False)


def test_imports_keep_the_layers_and_have_no_cycles():
    done = _run([_tool("lint-imports"), "--no-cache"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def test_ruff_finds_nothing():
    done = _run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise",
                 "crystal_lab", "tests", "benchmarks", "scripts", "notebooks", "deploy",
                 "docs"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_layer_contract_names_every_top_level_module():
    """A new module must be placed in a layer, or the contract would not check it."""
    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10
        import tomli as tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    package = ROOT / "crystal_lab"
    present = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    present |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    assert present - named == set(), f"modules in no layer: {sorted(present - named)}"
    assert named - present == set(), f"layers naming no module: {sorted(named - present)}"


def test_the_packages_all_lists_every_public_name_and_submodule():
    import crystal_lab

    assert sorted(crystal_lab.__all__) == sorted({*crystal_lab._LAZY, *crystal_lab._SUBMODULES})


def test_the_pre_commit_hook_strips_live_only_outputs_and_keeps_the_rest(tmp_path):
    import json

    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert hooks["ruff"]["entry"].startswith("ruff check")
    assert "lint-imports" in hooks["import-layers"]["entry"]
    assert hooks["strip-live-outputs"]["entry"] == "python scripts/strip_live_outputs.py"

    def out(data):
        return {"output_type": "display_data", "data": data, "metadata": {}}

    text = {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    image = out({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    nb = {"metadata": {"widgets": {"state": {}}, "kernelspec": {"name": "python3"}}, "nbformat": 4,
          "cells": [{"cell_type": "markdown", "source": "![x](attachment:x.png)",
                     "attachments": {"x.png": {"image/png": "iVBORw0KGgo="}}, "metadata": {}},
                    {"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1,
                     "outputs": [
                        text, image,
                        out({"application/vnd.plotly.v1+json": {}, "text/html": "<div></div>"}),
                        out({"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                             "text/plain": "VBox()"}),
                        out({"text/html": "<script>Plotly.newPlot('id', [])</script>"}),
                        out({"application/vnd.jupyter.widget-state+json": {}})]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    script = [sys.executable, str(ROOT / "scripts" / "strip_live_outputs.py"), str(path)]
    first = subprocess.run(script, capture_output=True, text=True, check=False)
    assert first.returncode == 1 and "stripped" in first.stdout
    got = json.loads(path.read_text())
    assert got["metadata"] == {"kernelspec": {"name": "python3"}}
    assert got["cells"][0]["attachments"] == nb["cells"][0]["attachments"]
    assert got["cells"][1]["outputs"] == [text, image]
    again = subprocess.run(script, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and again.stdout == ""


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines():
    """One idea a module: a file that grows past this holds several and should be split."""
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "crystal_lab").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


MAX_FUNCTION_LINES = 60


def _long_functions(package: Path, limit: int) -> dict[str, int]:
    """Every function or method under `package` longer than `limit` lines, def line to last line."""
    import ast

    long = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long[f"{path.relative_to(package.parent)}:{node.lineno} {node.name}"] = lines
    return long


def test_no_function_is_over_60_lines():
    """A function a reader can hold in one screen; ruff's C901 bounds its complexity beside this."""
    long = _long_functions(ROOT / "crystal_lab", MAX_FUNCTION_LINES)
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_function_length_check_counts_from_def_to_last_line(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    body = "\n".join(f"x{i} = {i}" for i in range(59))
    indented = body.replace("x", "        x")
    (package / "a.py").write_text(f"def fits():\n{body.replace('x', '    x')}\n\n\nclass C:\n"
                                  f"    def over(self):\n{indented}\n        return x0\n")
    assert _long_functions(package, 60) == {"pkg/a.py:64 over": 61}


def test_run_notebook_stores_no_materials_project_id():
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("run_notebook",
                                                  ROOT / "scripts" / "run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="mp-1234 BaTiO3\n"),
                    nbformat.v4.new_output("execute_result", data={
                        "text/plain": "mvc-77", "text/html": "<td>mp-5</td>"})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    outs = module.strip(nb).cells[0].outputs
    assert outs[0]["text"] == "MATERIAL_ID BaTiO3\n"
    assert outs[1]["data"] == {"text/plain": "MATERIAL_ID", "text/html": "<td>MATERIAL_ID</td>"}
