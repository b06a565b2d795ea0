"""Student workspaces (``crystal-lab start``) and the results zip (``save_results``)."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import ase.io
import numpy as np
import pytest
from broken_inputs import masked_atom, nan_position

from crystal_lab import workspace
from crystal_lab.paths import unique_path
from crystal_lab.workspace import (
    create_workspace,
    read_structures,
    save_results,
    write_structures,
)


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
    assert got["cells"][1] == {
        "cell_type": "code",
        "source": "6 * 7",
        "execution_count": None,
        "outputs": [],
    }
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
    for dest in (tmp_path / "afile", tmp_path / "afile" / "ws"):      # before any copy
        with pytest.raises(NotADirectoryError, match="afile is a file, not a folder"):
            create_workspace(dest, source=course)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "course"]
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

    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["cif"] == \
        ["000_NaCl.cif", "001_BaTiO3.cif"]
    from_folder = read_structures([tmp_path / "out"])  # a run folder: the run its manifest names
    from_cifs = read_structures(sorted((tmp_path / "out").glob("*.cif")))
    from_xyz = read_structures(tmp_path / "out" / "structures.extxyz")
    for got in (from_folder, from_cifs, from_xyz):
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
        assert rows == [
            {"formula": "NaCl", "valid": "True"},
            {"formula": "BaTiO3", "valid": "False"},
        ]
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


# ------------------------------------------------------------------------- nothing lost or mixed

def test_unique_path_never_returns_an_existing_path(tmp_path):
    target = tmp_path / "first_sample.cif"
    assert unique_path(target) == target
    target.write_text("1")
    assert unique_path(target) == tmp_path / "first_sample-2.cif"
    (tmp_path / "first_sample-2.cif").write_text("2")
    assert unique_path(target) == tmp_path / "first_sample-3.cif"
    folder = tmp_path / "run"
    folder.mkdir()
    assert unique_path(folder) == tmp_path / "run-2"
    assert unique_path(tmp_path / "results.zip") == tmp_path / "results.zip"


@pytest.mark.parametrize(
    "make_bad,words", [(lambda a: nan_position(a, 1), "NaN"), (masked_atom, "masked")]
)
def test_unwritable_rows_are_refused_naming_the_row_and_nothing_is_written(
        nacl, batio3, tmp_path, make_bad, words):
    batch = [nacl, batio3, make_bad(nacl)]
    with pytest.raises(ValueError, match=rf"row 2: .*{words}"):
        write_structures(batch, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=rf"1 of 3 structure\(s\): row 2: .*{words}"):
        save_results(tmp_path / "r.zip", batch)
    assert not (tmp_path / "r.zip").exists()


def test_a_second_run_into_one_folder_is_refused(nacl, batio3, tmp_path):
    write_structures([nacl], tmp_path / "out")
    with pytest.raises(FileExistsError, match="earlier run.*out-2"):
        write_structures([batio3], tmp_path / "out")
    assert [a.get_chemical_formula() for a in read_structures(tmp_path / "out")] == ["ClNa"]
    (tmp_path / "cifs").mkdir()
    (tmp_path / "cifs" / "mine.cif").write_text((tmp_path / "out" / "000_NaCl.cif").read_text())
    with pytest.raises(FileExistsError, match="earlier run"):  # any structure file counts
        write_structures([batio3], tmp_path / "cifs")


def test_a_folder_holding_two_runs_is_read_as_its_manifest_run(nacl, batio3, tmp_path):
    write_structures([nacl, nacl], tmp_path / "out")
    stray = tmp_path / "out" / "000_BaTiO3.cif"  # a file from another run, copied in by hand
    write_structures([batio3], tmp_path / "other")
    stray.write_text((tmp_path / "other" / "000_BaTiO3.cif").read_text())
    with pytest.warns(UserWarning, match="ignored 1 structure file.*000_BaTiO3.cif"):
        got = read_structures(tmp_path / "out")
    assert [a.get_chemical_formula() for a in got] == ["ClNa", "ClNa"]


def test_save_results_never_overwrites_an_earlier_zip(nacl, batio3, tmp_path):
    first = save_results(tmp_path / "r.zip", nacl)
    second = save_results(tmp_path / "r.zip", batio3)
    assert (first.name, second.name) == ("r.zip", "r-2.zip")
    with zipfile.ZipFile(first) as zf:
        assert "structures/000_NaCl.cif" in zf.namelist()
    with zipfile.ZipFile(second) as zf:
        assert "structures/000_BaTiO3.cif" in zf.namelist()


@pytest.mark.parametrize("content", ["", "data_broken\n_cell_length_a 5\nloop_\n_atom_site_label\n",
                                     "not a cif at all {"])
def test_malformed_cifs_are_reported_by_name_and_count(nacl, tmp_path, content):
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "a_good.cif").write_text((write_structures([nacl], tmp_path / "w")[0]).read_text())
    (folder / "b_bad.cif").write_text(content)
    (folder / "c_bad.cif").write_text(content)
    with pytest.warns(UserWarning, match=r"skipped 2 of 3 .*b_bad.cif.*c_bad.cif"):
        got = read_structures(folder)
    assert [a.get_chemical_formula() for a in got] == ["ClNa"]
    with pytest.raises(ValueError, match="could not read any structure.*b_bad.cif"):
        read_structures(folder / "b_bad.cif")
