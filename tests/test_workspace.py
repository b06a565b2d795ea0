"""Student workspaces (``crystal-lab start``) and the results zip (``save_results``)."""
from __future__ import annotations

import csv
import json
import io
import zipfile

import ase.io
import numpy as np
import pytest

from crystal_lab import workspace
from crystal_lab.workspace import create_workspace, read_structures, save_results, write_structures


@pytest.fixture
def course(tmp_path):
    """A fake course folder: two notebooks, a picture, and things a student must not get."""
    src = tmp_path / "course"
    (src / "images").mkdir(parents=True)
    (src / "solutions").mkdir()
    (src / ".ipynb_checkpoints").mkdir()
    (src / "00_welcome.ipynb").write_text('{"course": 0}')
    (src / "01_toy.ipynb").write_text('{"course": 1}')
    (src / "images" / "cell.png").write_bytes(b"\x89PNG fake")
    (src / "solutions" / "01_toy_solution.ipynb").write_text("answers")
    (src / ".ipynb_checkpoints" / "00_welcome-checkpoint.ipynb").write_text("old")
    (src / "conftest.py").write_text("# test plumbing")
    return src


def test_create_workspace_copies_notebooks_and_pictures_only(course, tmp_path):
    report = create_workspace(tmp_path / "ws", source=course)
    got = sorted(str(p.relative_to(tmp_path / "ws")) for p in (tmp_path / "ws").rglob("*")
                 if p.is_file())
    assert got == ["00_welcome.ipynb", "01_toy.ipynb", "images/cell.png"]
    assert sorted(map(str, report.copied)) == got
    assert report.skipped == []
    assert json.loads((tmp_path / "ws" / "01_toy.ipynb").read_text()) == {"course": 1}


def test_create_workspace_gives_students_output_cleared_notebooks(course, tmp_path):
    """Stored outputs (and any answer visible in them) never reach a student's copy; markdown,
    code and attachments do."""
    nb = {"cells": [{"cell_type": "markdown", "source": "# Hi", "attachments": {"a.png": {}}},
                    {"cell_type": "code", "source": "6 * 7", "execution_count": 3,
                     "outputs": [{"output_type": "execute_result", "data": {"text/plain": "42"}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (course / "02_answers.ipynb").write_text(json.dumps(nb))
    create_workspace(tmp_path / "ws", source=course)
    got = json.loads((tmp_path / "ws" / "02_answers.ipynb").read_text())
    assert got["cells"][1] == {"cell_type": "code", "source": "6 * 7", "execution_count": None, "outputs": []}
    assert got["cells"][0] == nb["cells"][0]


def test_create_workspace_never_overwrites_student_files(course, tmp_path):
    ws = tmp_path / "ws"
    create_workspace(ws, source=course)
    (ws / "01_toy.ipynb").write_text("my edits")          # the student worked on notebook 1
    (ws / "00_welcome.ipynb").unlink()                      # and deleted notebook 0
    (course / "02_new.ipynb").write_text('{"course": 2}')  # the course gained a notebook
    (course / "01_toy.ipynb").write_text('{"course": "1 v2"}')

    report = create_workspace(ws, source=course)

    assert (ws / "01_toy.ipynb").read_text() == "my edits"
    assert sorted(map(str, report.copied)) == ["00_welcome.ipynb", "02_new.ipynb"]
    assert sorted(map(str, report.skipped)) == ["01_toy.ipynb", "images/cell.png"]
    assert "01_toy.ipynb" in report.summary() and "untouched" in report.summary()


def test_create_workspace_refuses_bad_destinations(course, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        create_workspace(tmp_path / "afile", source=course)
    with pytest.raises(ValueError, match="course folder itself"):
        create_workspace(course, source=course)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_workspace(tmp_path / "ws", source=tmp_path / "missing")


def test_notebooks_dir_honours_env_and_explains_when_missing(course, tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTAL_LAB_NOTEBOOKS", str(course))
    assert workspace.notebooks_dir() == course
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CRYSTAL_LAB_NOTEBOOKS", str(empty))
    monkeypatch.setattr(workspace, "__file__", str(tmp_path / "pkg" / "workspace.py"))
    with pytest.raises(FileNotFoundError, match="no course notebooks found"):
        workspace.notebooks_dir()


def test_write_and_read_structures_round_trip(nacl, batio3, tmp_path):
    batio3.info["seed"] = 7
    batio3.info["trajectory"] = [1, 2]  # not a scalar: dropped, not a crash
    paths = write_structures([nacl, batio3], tmp_path / "out")
    assert [p.name for p in paths] == ["000_NaCl.cif", "001_BaTiO3.cif", "structures.extxyz"]

    from_cifs = read_structures([tmp_path / "out"])  # a folder: its CIF files
    from_xyz = read_structures(tmp_path / "out" / "structures.extxyz")
    for got in (from_cifs, from_xyz):
        assert [a.get_chemical_formula() for a in got] == ["ClNa", "BaO3Ti"]
        np.testing.assert_allclose(got[1].cell.array, batio3.cell.array, atol=1e-6)
        np.testing.assert_allclose(got[1].get_scaled_positions(), batio3.get_scaled_positions(),
                                   atol=1e-6)
    assert from_xyz[1].info["seed"] == 7


def test_read_structures_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_structures(tmp_path / "nope.cif")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="unknown structure format"):
        read_structures(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no .cif"):
        read_structures(tmp_path)


def test_save_results_zip_has_structures_table_and_figures(nacl, batio3, tmp_path):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    table = [{"formula": "NaCl", "valid": True}, {"formula": "BaTiO3", "valid": False}]
    from pymatgen.io.ase import AseAtomsAdaptor

    out = save_results(tmp_path / "session", [nacl, AseAtomsAdaptor.get_structure(batio3)],
                       table=table, figures={"energy histogram": fig})
    assert out == tmp_path / "session.zip"
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert names == {"README.txt", "evaluation.csv", "structures/000_NaCl.cif",
                         "structures/001_BaTiO3.cif", "structures/structures.extxyz",
                         "figures/energy_histogram.html", "figures/plotly.min.js"}
        rows = list(csv.DictReader(io.StringIO(zf.read("evaluation.csv").decode())))
        assert rows == [{"formula": "NaCl", "valid": "True"}, {"formula": "BaTiO3", "valid": "False"}]
        html = zf.read("figures/energy_histogram.html").decode()
        assert 'src="plotly.min.js"' in html  # one shared copy of plotly.js, works offline
        frames = ase.io.read(io.StringIO(zf.read("structures/structures.extxyz").decode()),
                             index=":", format="extxyz")
        assert [len(a) for a in frames] == [2, 5]
        assert "structures/001_BaTiO3.cif" in zf.read("README.txt").decode()


def test_save_results_matplotlib_figure_and_dataframe(nacl, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = save_results(tmp_path / "r.zip", nacl, table=pd.DataFrame({"e": [0.5]}), figures=[fig])
    plt.close(fig)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("figures/figure_00.png")[:4] == b"\x89PNG"
        assert zf.read("evaluation.csv").decode().splitlines() == ["e", "0.5"]


def test_save_results_rejects_nothing_and_unknown_figures(nacl, tmp_path):
    with pytest.raises(ValueError, match="nothing to save"):
        save_results(tmp_path / "r.zip")
    with pytest.raises(TypeError, match="plotly or matplotlib"):
        save_results(tmp_path / "r.zip", nacl, figures={"x": object()})
