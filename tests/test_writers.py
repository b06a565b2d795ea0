"""Writers that never collide, and outputs checked before the work (``crystal_lab.paths`` and
what uses it: ``save_results``, ``write_structures``, ``write_cif``, the Save buttons).

Collisions are tested with real processes (forked, released together at a barrier), several
trials each: every process must get a name of its own and every file must hold what its writer
wrote. Read-only folders are real: a folder with mode 0o555, or, for root (whom file modes do not
stop), a kernel folder that refuses every new file.
"""
from __future__ import annotations

import json
import multiprocessing
import sys
import zipfile
from pathlib import Path

import pytest
from ase.build import bulk

from crystal_lab import paths, structures, workspace
from crystal_lab.paths import check_folder, claim_file, claim_folder, unique_path
from crystal_lab.structures import write_cif
from crystal_lab.workspace import read_structures, save_results, write_structures

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the race tests fork processes")

N_PROCESSES, N_TRIALS = 4, 3


def released_together(target, n: int = N_PROCESSES) -> list[int]:
    """Run ``target(k)`` in ``n`` forked processes released at once; their exit codes."""
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(n)

    def run(k):
        barrier.wait()
        target(k)

    procs = [fork.Process(target=run, args=(k,)) for k in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [p.exitcode for p in procs]


def _creatable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.touch(exist_ok=False)
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def read_only(tmp_path):
    """A folder this user cannot create files in."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not _creatable(folder):
            yield folder
        elif Path("/sys/fs").is_dir() and not _creatable(Path("/sys/fs")):
            yield Path("/sys/fs")                      # root: sysfs refuses new files even to root
        else:
            pytest.skip("no folder here is read-only to this user")
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------------------- claims under a race


@pytest.mark.parametrize("trial", range(N_TRIALS))
def test_processes_saving_one_zip_name_never_share_a_file(tmp_path, trial):
    saves = 12
    save_results(tmp_path / "warm" / "w.zip", table={"a": [1]})    # imports done before the race

    def saver(k):
        got = [str(save_results(tmp_path / "r.zip", table={"writer": [k], "save": [i]}))
               for i in range(saves)]
        (tmp_path / f"report-{k}.json").write_text(json.dumps(got))

    assert released_together(saver) == [0] * N_PROCESSES
    reported = {(k, i): Path(p) for k in range(N_PROCESSES)
                for i, p in enumerate(json.loads((tmp_path / f"report-{k}.json").read_text()))}
    assert len(set(reported.values())) == N_PROCESSES * saves            # a name each
    assert sorted(tmp_path.glob("r*.zip")) == sorted(reported.values())  # and nothing else
    for (k, i), path in reported.items():                                # each holds its own save
        with zipfile.ZipFile(path) as zf:
            assert zf.read("evaluation.csv").decode().split() == ["writer,save", f"{k},{i}"]


@pytest.mark.parametrize("trial", range(N_TRIALS))
def test_processes_saving_one_cif_name_never_share_a_file(tmp_path, trial):
    write_cif(bulk("Cu"), tmp_path / "warm" / "w.cif")                # imports done before the race
    def saver(k):
        for i in range(3):
            atoms = bulk("NaCl", "rocksalt", a=5.0 + k + 0.1 * i)
            path = write_cif(atoms, tmp_path / "first_sample.cif", keep_existing=True)
            (tmp_path / f"{k}-{i}.txt").write_text(str(path))

    assert released_together(saver) == [0] * N_PROCESSES
    written = {(k, i): Path((tmp_path / f"{k}-{i}.txt").read_text())
               for k in range(N_PROCESSES) for i in range(3)}
    assert len(set(written.values())) == len(written) == len(list(tmp_path.glob("*.cif")))
    for (k, i), path in written.items():
        cell = read_structures(path)[0].cell.cellpar()[0] * 2 ** 0.5     # fcc primitive a/sqrt 2
        assert cell == pytest.approx(5.0 + k + 0.1 * i, abs=1e-4)


@pytest.mark.parametrize("trial", range(N_TRIALS))
def test_processes_claiming_one_folder_never_share_it(tmp_path, trial):
    write_structures([bulk("Cu")], tmp_path / "warm")                 # imports done before the race
    def writer(k):
        out = write_structures([bulk("Cu", a=3.0 + k)] * (k + 1), tmp_path / "out", next_free=True)
        (tmp_path / f"{k}.txt").write_text(str(out[0].parent))

    assert released_together(writer) == [0] * N_PROCESSES
    folders = {k: Path((tmp_path / f"{k}.txt").read_text()) for k in range(N_PROCESSES)}
    assert sorted(folders.values()) == sorted(
        [tmp_path / "out"] + [tmp_path / f"out-{j}" for j in range(2, N_PROCESSES + 1)]
    )
    for k, folder in folders.items():
        got = read_structures(folder)
        assert len(got) == k + 1 == len(list(folder.glob("*.cif")))
        assert {round(a.cell.cellpar()[0] * 2 ** 0.5, 6) for a in got} == {3.0 + k}


def test_claims_in_one_process(tmp_path):
    assert claim_file(tmp_path / "a" / "x.cif") == tmp_path / "a" / "x.cif"   # parents made
    assert claim_file(tmp_path / "a" / "x.cif") == tmp_path / "a" / "x-2.cif"
    with pytest.raises(FileExistsError, match="x.cif already exists"):
        claim_file(tmp_path / "a" / "x.cif", next_free=False)
    (tmp_path / "run").mkdir()
    assert claim_folder(tmp_path / "run", "m") == tmp_path / "run"            # an existing folder
    assert claim_folder(tmp_path / "run", "m") == tmp_path / "run-2"
    (tmp_path / "run-3").write_text("a file, not a folder")
    assert claim_folder(tmp_path / "run", "m") == tmp_path / "run-4"
    assert unique_path(tmp_path / "run") == tmp_path / "run-5"
    with pytest.raises(FileExistsError, match="is taken"):
        claim_folder(tmp_path / "run", "m", next_free=False)


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paths.os, "replace", full_disk)
    with pytest.raises(OSError, match=r"cannot write .*r.zip \(No space left on device\)$"):
        save_results(tmp_path / "r.zip", table={"a": [1]})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- checked before the work


def _bad_outputs(tmp_path, read_only):
    """name -> (an output folder that cannot be written, words of its refusal)."""
    (tmp_path / "hostname").write_text("a file")
    return {
        "a file": (tmp_path / "hostname", "is a file, not a folder"),
        "a file as a parent": (tmp_path / "hostname" / "out", "hostname is a file, not a folder"),
        "a read-only folder": (read_only, f"creating a file in {read_only} failed"),
        "inside a read-only folder": (
            read_only / "new" / "out",
            f"creating a file in {read_only} failed",
        ),
    }


@pytest.fixture
def no_work(monkeypatch):
    """The slow part of a write (the CIF text) must not start for an output that is refused."""
    def work(x):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(structures, "cif_text", work)


def _never(*args, **kwargs):
    raise AssertionError("the work started before the output was checked")


@pytest.mark.parametrize("case", ["a file", "a file as a parent", "a read-only folder",
                                  "inside a read-only folder"])
def test_writers_refuse_an_unwritable_output_before_the_work(tmp_path, read_only, no_work, case):
    folder, words = _bad_outputs(tmp_path, read_only)[case]
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    figure = type("Figure", (), {"to_html": _never})()   # a figure that must never be drawn
    calls = [lambda: write_structures([nacl], folder),
             lambda: write_structures([nacl], folder, next_free=True),
             lambda: workspace.check_run_folder(folder),
             lambda: check_folder(folder)]
    if case != "a file":          # a file name inside the folder
        calls += [lambda: write_cif(nacl, folder / "x.cif"),
                  lambda: write_cif(nacl, folder / "x.cif", keep_existing=True),
                  lambda: save_results(folder / "r.zip", figures={"f": figure})]
    before = sorted(tmp_path.rglob("*"))
    for call in calls:
        with pytest.raises(OSError) as err:
            call()
        assert words in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert sorted(tmp_path.rglob("*")) == before        # nothing made, not even a -2 folder


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_output_name_is_refused(empty, nacl):
    with pytest.raises(ValueError, match="no output folder given"):
        write_structures([nacl], empty)
    with pytest.raises(ValueError, match="no output file given"):
        write_cif(nacl, empty)


def test_write_cif_replaces_whole_and_refuses_a_folder(tmp_path, nacl, batio3):
    path = write_cif(nacl, tmp_path / "sub" / "x.cif")
    assert write_cif(batio3, path) == path
    assert read_structures(path)[0].get_chemical_formula() == "BaO3Ti"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.cif"]    # no temporary left
    with pytest.raises(IsADirectoryError, match="is a folder: give a file name"):
        write_cif(nacl, tmp_path / "sub")
    assert write_cif(nacl, tmp_path / "sub", keep_existing=True) == tmp_path / "sub-2"


# ------------------------------------------------------------------------- the Save buttons


def test_save_cif_button_shows_a_read_only_folder_in_its_status_line(tmp_path, read_only, nacl):
    from crystal_lab.view.ngl import FrameViewer

    viewer = FrameViewer([nacl], save_dir=read_only)
    viewer._save_clicked(viewer.save_button)              # must not raise: a button cannot
    assert f"creating a file in {read_only} failed" in viewer.save_status.value
    viewer.save_dir = tmp_path / "mine"
    viewer._save_clicked(viewer.save_button)
    viewer._save_clicked(viewer.save_button)
    assert sorted(p.name for p in viewer.save_dir.iterdir()) == ["NaCl_0-2.cif", "NaCl_0.cif"]
    assert "NaCl_0-2.cif" in viewer.save_status.value


def test_generate_save_shows_a_read_only_folder_in_its_status_line(tmp_path, read_only, nacl):
    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig
    from crystal_lab.view import GenerateWidget

    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1))
    g = GenerateWidget(model, prompt="NaCl", n_atoms=2, save_dir=read_only)
    g.results = [nacl]
    g._on_save()
    assert "Save failed" in g.status.value
    assert f"creating a file in {read_only} failed" in g.status.value
    g.save_dir = tmp_path / "mine"
    g._on_save()
    g._on_save()
    assert len(list((tmp_path / "mine").glob("*.zip"))) == 2 and "Saved" in g.status.value
