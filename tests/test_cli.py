"""The ``crystal-lab`` command: argument parsing, what each subcommand calls, its files and errors.

JupyterLab is never started here: ``--dry-run`` prints the command, or ``cli.launch`` is replaced.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

import crystal_lab
from crystal_lab import cli


@pytest.fixture
def course(tmp_path):
    src = tmp_path / "course"
    src.mkdir()
    (src / "00_welcome.ipynb").write_text("{}")
    (src / "01_toy.ipynb").write_text("{}")
    return src


@pytest.fixture
def launched(monkeypatch):
    """Record the commands ``cli.launch`` would have run."""
    calls = []
    monkeypatch.setattr(cli, "launch", lambda cmd: calls.append(cmd) or 0)
    return calls


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_lab_dry_run_prints_jupyterlab_command_on_the_folder(course, capsys, launched):
    assert cli.main(["lab", "--dir", str(course), "--port", "8123", "--no-browser",
                     "--dry-run"]) == 0
    cmd = shlex.split(capsys.readouterr().out.strip())
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={course.resolve()}" in cmd
    assert str(course.resolve() / "00_welcome.ipynb") in cmd  # opens on the welcome notebook
    assert "--ServerApp.port=8123" in cmd and "--no-browser" in cmd
    assert launched == []


def test_lab_launches_and_returns_jupyters_status(course, monkeypatch):
    monkeypatch.setattr(cli, "launch", lambda cmd: 3)
    assert cli.main(["lab", "--dir", str(course)]) == 3


def test_lab_kernels_get_one_torch_thread_unless_the_user_set_one(monkeypatch):
    assert cli.lab_environment({})["OMP_NUM_THREADS"] == "1"
    assert cli.lab_environment({})["MKL_NUM_THREADS"] == "1"
    mine = cli.lab_environment({"OMP_NUM_THREADS": "4", "PATH": "/bin"})
    assert mine["OMP_NUM_THREADS"] == "4" and mine["PATH"] == "/bin"
    seen = {}
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: seen.update(env) or 0)
    assert cli.launch(["jupyter-lab"]) == 0
    assert seen["OMP_NUM_THREADS"] == "1"


def test_lab_defaults_to_the_course_notebooks(course, monkeypatch, launched):
    monkeypatch.setenv("CRYSTAL_LAB_NOTEBOOKS", str(course))
    assert cli.main(["lab"]) == 0
    assert f"--ServerApp.root_dir={course.resolve()}" in launched[0]


def test_lab_missing_folder_is_a_one_line_error(tmp_path, capsys, launched):
    assert cli.main(["lab", "--dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crystal-lab lab: error:") and err.count("\n") == 1
    assert launched == []


def test_start_creates_workspace_then_opens_it_and_keeps_student_files(course, tmp_path, capsys,
                                                                       launched):
    ws = tmp_path / "ws"
    assert cli.main(["start", str(ws), "--source", str(course)]) == 0
    assert sorted(p.name for p in ws.iterdir()) == ["00_welcome.ipynb", "01_toy.ipynb"]
    assert f"--ServerApp.root_dir={ws.resolve()}" in launched[0]
    assert "copied 2 file(s)" in capsys.readouterr().out

    (ws / "01_toy.ipynb").write_text("student work")
    assert cli.main(["start", str(ws), "--source", str(course), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "copied 0 file(s)" in out and "01_toy.ipynb" in out and "untouched" in out
    assert (ws / "01_toy.ipynb").read_text() == "student work"
    assert len(launched) == 1  # the dry run launched nothing


class FakeModel:
    def __init__(self, structures):
        self.structures = structures
        self.calls = []

    def check(self, prompt, **kwargs):
        self.calls.append(("check", prompt, kwargs))

    def sample(self, prompt, **kwargs):
        self.calls.append(("sample", prompt, kwargs))
        return self.structures


def test_sample_passes_options_and_writes_cifs_and_extxyz(nacl, batio3, tmp_path, monkeypatch,
                                                          capsys):
    model = FakeModel([batio3, batio3.copy()])
    loaded = {}

    def fake_load_model(path=None, device="auto"):
        loaded.update(path=path, device=device)
        return model

    monkeypatch.setattr(crystal_lab, "load_model", fake_load_model, raising=False)
    out = tmp_path / "samples"
    rc = cli.main(["sample", "BaTiO3", "--n-atoms", "5", "--n-samples", "2", "--steps", "7",
                   "--seed", "3", "--device", "cpu", "--out", str(out), "--quiet"])
    assert rc == 0
    assert loaded == {"path": None, "device": "cpu"}
    asked = {"n_atoms": 5, "n_samples": 2, "steps": 7, "seed": 3, "allow_large": False,
             "space_group": None}
    assert model.calls == [("check", "BaTiO3", asked), ("sample", "BaTiO3",
                                                        {**asked, "progress": False})]
    assert sorted(p.name for p in out.iterdir()) == ["000_BaTiO3.cif", "001_BaTiO3.cif",
                                                     "manifest.json", "samples.extxyz"]
    assert "wrote 2 structure(s)" in capsys.readouterr().out


def test_sample_bad_prompt_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    class Refusing:
        def check(self, prompt, **kwargs):
            raise ValueError("Xx is not an element")

        def sample(self, prompt, **kwargs):
            raise AssertionError("sample must not run after a refused check")

    monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto": Refusing(),
                        raising=False)
    assert cli.main(["sample", "Xx", "--out", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err == "crystal-lab sample: error: Xx is not an element\n"
    assert not (tmp_path / "s").exists()


def test_crystal_lab_errors_are_one_line_but_bugs_keep_their_traceback(monkeypatch, tmp_path,
                                                                     capsys):
    class CheckpointError(RuntimeError):   # any crystal_lab error is a user error
        pass

    CheckpointError.__module__ = "crystal_lab.model.checkpoint"

    def missing(path=None, device="auto"):
        raise CheckpointError("no weights at /x/mp20.pt")

    monkeypatch.setattr(crystal_lab, "load_model", missing, raising=False)
    assert cli.main(["sample", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "crystal-lab sample: error: no weights at /x/mp20.pt\n"

    def buggy(path=None, device="auto"):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(crystal_lab, "load_model", buggy, raising=False)
    with pytest.raises(ZeroDivisionError):
        cli.main(["sample", "--out", str(tmp_path)])


@pytest.mark.slow
def test_sample_with_a_real_small_model(tmp_path, monkeypatch):
    """End to end through the real model code (random weights, few steps)."""
    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    model = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))
    monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto": model,
                        raising=False)
    out = tmp_path / "s"
    assert cli.main(["sample", "Na Cl", "--n-atoms", "4", "--n-samples", "2", "--steps", "3",
                     "--seed", "0", "--out", str(out), "--quiet"]) == 0
    from crystal_lab.workspace import read_structures
    got = read_structures(out / "samples.extxyz")
    assert len(got) == 2 and all(len(a) == 4 for a in got)
    assert all(set(a.get_chemical_symbols()) <= {"Na", "Cl"} for a in got)


@pytest.fixture
def fake_train(monkeypatch):
    calls = []
    module = types.ModuleType("crystal_lab.training.loop")
    module.train = lambda **kwargs: calls.append(kwargs)
    monkeypatch.setitem(sys.modules, "crystal_lab.training.loop", module)
    return calls


def test_train_maps_every_option_to_its_keyword(fake_train, tmp_path):
    args = ["train", "--data", "perov_5", "--split", "test", "--epochs", "4", "--device", "cpu",
            "--out", str(tmp_path / "run"), "--resume", "ck.pt", "--hidden", "64", "--layers", "3",
            "--batch-size", "16", "--lr", "0.0005", "--seed", "9", "--max-minutes", "1.5",
            "--limit", "100", "--save-every", "2.5", "--max-steps", "30"]
    assert cli.main(args) == 0
    assert fake_train == [{"data": "perov_5", "split": "test", "epochs": 4, "device": "cpu",
                           "out_dir": str(tmp_path / "run"), "resume": "ck.pt", "hidden": 64,
                           "layers": 3, "batch_size": 16, "lr": 0.0005, "seed": 9,
                           "max_minutes": 1.5, "limit": 100, "save_every_minutes": 2.5,
                           "max_steps": 30}]


def test_train_leaves_unset_options_to_train_defaults(fake_train):
    assert cli.main(["train", "--epochs", "2"]) == 0
    assert fake_train == [{"epochs": 2}]


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "two", "must be a whole number >= 1, got 'two'"),
    ("--epochs", "0", "must be a whole number >= 1, got '0'"),
    ("--epochs", "-3", "must be a whole number >= 1"),
    ("--epochs", "1.5", "must be a whole number >= 1"),
    ("--hidden", "0", "must be a whole number >= 1"),
    ("--layers", "0", "must be a whole number >= 1"),
    ("--batch-size", "0", "must be a whole number >= 1"),
    ("--limit", "0", "must be a whole number >= 1"),
    ("--seed", "-1", "must be a whole number >= 0"), ("--lr", "0", "must be a number > 0, got '0'"),
    ("--lr", "-1e-3", "must be a number > 0"), ("--lr", "nan", "must be a number > 0"),
    ("--lr", "inf", "must be a number > 0"), ("--max-minutes", "-1", "must be a number > 0"),
    ("--max-minutes", "0", "must be a number > 0"),
    ("--save-every", "0", "must be a number > 0, got '0'"),
    ("--save-every", "-5", "must be a number > 0"), ("--save-every", "nan", "must be a number > 0"),
    ("--save-every", "soon", "must be a number > 0, got 'soon'"),
    ("--max-steps", "0", "must be a whole number >= 1, got '0'"),
    ("--max-steps", "-2", "must be a whole number >= 1"),
    ("--max-steps", "2.5", "must be a whole number >= 1"),
])
def test_train_refuses_nonsense_numbers(fake_train, capsys, option, value, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", f"{option}={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {message}" in err and "Traceback" not in err
    assert fake_train == []


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "argument --steps: must be a whole number >= 1 or 'full', got '0'"),
    (["--steps", "many"], "argument --steps: must be a whole number >= 1 or 'full'"),
    (["--n-samples", "0"], "argument --n-samples: must be a whole number >= 1"),
    (["--n-atoms", "2.5"], "argument --n-atoms: must be a whole number >= 1"),
    (["--seed", "-4"], "argument --seed: must be a whole number >= 0"),
])
def test_sample_refuses_nonsense_numbers(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(crystal_lab, "load_model", lambda **kw: pytest.fail("loaded"),
                        raising=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["sample", "Na Cl", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_sample_accepts_steps_full_and_allow_large(nacl, tmp_path, monkeypatch):
    model = FakeModel([nacl])
    monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto": model,
                        raising=False)
    assert cli.main(["sample", "Na Cl", "--steps", "FULL", "--allow-large", "--out",
                     str(tmp_path / "s"), "--quiet"]) == 0
    assert model.calls[-1][2]["steps"] == "full" and model.calls[-1][2]["allow_large"] is True


def test_sample_runs_never_mix_and_evaluate_reads_one_run(nacl, batio3, tmp_path, monkeypatch,
                                                          capsys):
    from crystal_lab.workspace import read_structures

    out = tmp_path / "same"
    for structures in ([nacl, nacl.copy(), nacl.copy()], [batio3], [batio3, nacl]):
        monkeypatch.setattr(crystal_lab, "load_model",
                            lambda path=None, device="auto", s=structures:
                            FakeModel(s), raising=False)
        assert cli.main(["sample", "x", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "same-2 (" in printed and "already holds a run" in printed and "same-3" in printed
    assert [len(read_structures(p)) for p in (out, tmp_path / "same-2",
                                              tmp_path / "same-3")] == [3, 1, 2]
    assert {a.get_chemical_formula() for a in read_structures(out)} == {"ClNa"}
    # an empty folder takes a run
    (tmp_path / "empty").mkdir()
    assert cli.main(["sample", "x", "--out", str(tmp_path / "empty"), "--quiet"]) == 0
    assert len(read_structures(tmp_path / "empty")) == 2


class NeverRun:
    """A model that must not be loaded or run: the output was refused before."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / ".probe").touch(exist_ok=False)
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def unwritable_outs(tmp_path):
    """--out values that must be refused before the model loads, and words of the refusal."""
    (tmp_path / "hostname").write_text("a file, like /etc/hostname")
    ro = tmp_path / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    if _can_create_in(ro):                  # root: file modes do not stop it; sysfs does
        ro = Path("/sys/fs")
        if not (ro.is_dir() and not _can_create_in(ro)):
            pytest.skip("no folder here is read-only to this user")
    yield [(tmp_path / "hostname", "hostname is a file, not a folder"),
           (tmp_path / "hostname" / "deeper" / "out", "hostname is a file, not a folder"),
           (ro, f"creating a file in {ro} failed"),
           (ro / "new" / "out", f"creating a file in {ro} failed")]
    (tmp_path / "read_only").chmod(0o755)


@pytest.mark.parametrize("case", range(4))
def test_sample_refuses_an_unwritable_out_before_loading_the_model(tmp_path, monkeypatch, capsys,
                                                                   unwritable_outs, case):
    out, words = unwritable_outs[case]
    monkeypatch.setattr(crystal_lab, "load_model", NeverRun, raising=False)
    before = sorted(tmp_path.rglob("*"))
    assert cli.main(["sample", "Na Cl", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("crystal-lab sample: error: ") and words in err and err.count("\n") == 1
    ), err
    assert sorted(tmp_path.rglob("*")) == before                          # no DIR-2 made either


@pytest.mark.parametrize("out, written", [
    ("new/deeper/run", "new/deeper/run"),          # missing parents are made
    ("empty", "empty"),                            # an empty folder takes the run
    ("notes", "notes"),                            # so does one without structure files
    ("done", "done-2"),                            # a folder holding a run: the next free name
])
def test_sample_writes_where_it_can(nacl, tmp_path, monkeypatch, capsys, out, written):
    from crystal_lab.workspace import read_structures, write_structures

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("try NaCl")
    write_structures([nacl], tmp_path / "done")
    monkeypatch.setattr(crystal_lab, "load_model",
                        lambda path=None, device="auto": FakeModel([nacl, nacl]), raising=False)
    assert cli.main(["sample", "x", "--out", str(tmp_path / out), "--quiet"]) == 0
    assert f"to {tmp_path / written}" in capsys.readouterr().out
    assert len(read_structures(tmp_path / written)) == 2


def test_sample_from_a_run_checkpoint_says_how_to_export_it(tmp_path, capsys):
    import torch

    from crystal_lab.model import checkpoint
    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    weights = checkpoint.to_dict(CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)))
    for name in ("last.pt", "step_500.pt"):
        torch.save({"model": weights, "ema": weights, "optimizer": {}, "epoch": 2, "step": 8,
                    "rng": {}},
                   tmp_path / name)
        assert cli.main(["sample", "Na Cl", "--model", str(tmp_path / name), "--out",
                         str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"crystal-lab sample: error: {name} is a training run's checkpoint "
                              "(epoch 2, step 8), not a weights file: turn it into weights with "
                              "crystal_lab.training.loop.export(") and err.count("\n") == 1, err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("out", ["", "  "])
def test_sample_refuses_an_empty_out(out, monkeypatch, capsys):
    monkeypatch.setattr(crystal_lab, "load_model", NeverRun, raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["sample", "Na Cl", "--out", out])
    assert exit_.value.code == 2 and "--out: must name a folder" in capsys.readouterr().err


@pytest.mark.parametrize("trial", range(3))
def test_sample_runs_started_together_never_share_a_folder(nacl, tmp_path, monkeypatch, trial):
    """Real processes, released at once, all writing --out shared: a folder each, whole."""
    import multiprocessing

    from ase.build import bulk

    from crystal_lab.workspace import read_structures, write_structures

    # imports done before the race
    write_structures([nacl], tmp_path / "warm")
    fork, n = multiprocessing.get_context("fork"), 4
    barrier = fork.Barrier(n)

    def run(k):
        structures = [bulk("Cu", a=3.0 + k)] * (k + 1)
        monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto":
                            FakeModel(structures), raising=False)
        barrier.wait()
        sys.exit(cli.main(["sample", "Cu", "--out", str(tmp_path / "shared"), "--quiet"]))

    procs = [fork.Process(target=run, args=(k,)) for k in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    folders = sorted(tmp_path.glob("shared*"))
    assert [f.name for f in folders] == ["shared"] + [f"shared-{j}" for j in range(2, n + 1)]
    sizes = set()
    for folder in folders:                     # each folder holds one run, whole: one writer's
        got = read_structures(folder)
        a = {round(x.cell.cellpar()[0] * 2 ** 0.5, 6) for x in got}
        assert len(a) == 1 and len(got) == round(a.pop() - 3.0) + 1 == len(
            list(folder.glob("*.cif"))
        )
        sizes.add(len(got))
    assert sizes == set(range(1, n + 1))


@pytest.mark.parametrize("device, message", [
    ("cuda", "device='cuda': torch finds no CUDA GPU on this machine"),
    ("cuda:1", "device='cuda:1': torch finds no CUDA GPU on this machine"),
    ("tpu", "device must be one of auto, cpu, cuda, cuda:N, mps, got 'tpu'"),
])
def test_sample_on_a_device_this_machine_lacks_is_one_line(monkeypatch, tmp_path, capsys, device,
                                                           message):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["sample", "Na Cl", "--device", device, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crystal-lab sample: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_train_from_the_wrong_kind_of_file_is_one_line(tmp_path, capsys):
    from crystal_lab.model.checkpoint import DEFAULT_WEIGHTS

    notes = tmp_path / "notes.txt"
    notes.write_text("not weights\n")
    cases = [(["--resume", str(DEFAULT_WEIGHTS)],
              ("mp20.pt is a model's weights file, not a training run's "
                                                   "checkpoint (last.pt): start a new run from "
                                                   "these weights with init= (crystal-lab train "
                                                   "--init")),
             (["--resume", str(notes)],
              "notes.txt is not a readable training checkpoint: not a torch file"),
             (["--init", str(notes)],
              "notes.txt is not a loadable crystal_lab checkpoint: not a torch file"),
             (["--resume", str(tmp_path / "nope.pt")],
              f"resume: no checkpoint at {tmp_path / 'nope.pt'}"),
             (["--init", str(tmp_path / "nope.pt")], "no weights at"),
             (["--device", "tpu"], "device must be one of auto, cpu, cuda")]
    for argv, message in cases:
        assert cli.main(["train", "--out", str(tmp_path / "run"), "--limit", "4", *argv]) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith("crystal-lab train: error: ") and message in err and err.count("\n") == 1
        ), err


@pytest.fixture
def tiny_data(monkeypatch):
    """``crystal-lab train`` on four small crystals instead of a data set read from disk."""
    from ase.build import bulk

    import crystal_lab.training.run

    structures = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43),
                  bulk("Cu", "fcc", a=3.6), bulk("MgO", "rocksalt", a=4.2)]
    monkeypatch.setattr(crystal_lab.training.run, "load_dataset",
                        lambda name, split, limit=None: structures[:limit])
    return ["--hidden", "16", "--layers", "1", "--batch-size", "2", "--device", "cpu"]


@pytest.mark.parametrize("steps", [1, 3])
def test_train_stops_at_max_steps_and_says_why(tiny_data, tmp_path, capsys, steps):
    import torch

    run = tmp_path / "run"
    assert cli.main(["train", *tiny_data, "--epochs", "50", "--max-steps", str(steps),
                     "--save-every", "0.5", "--out", str(run)]) == 0
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["step"] == steps
    assert f"stopped at max_steps={steps} after {state['epoch']} epochs ({steps} steps); " \
           f"checkpoint saved to {run / 'last.pt'}" in capsys.readouterr().out


def test_train_into_a_folder_holding_a_run_is_refused_in_the_commands_words(
    tiny_data, tmp_path, capsys
):
    run = tmp_path / "run"
    assert cli.main(["train", *tiny_data, "--epochs", "1", "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"}
    capsys.readouterr()
    for again in (["--epochs", "2"], ["--epochs", "2", "--init", str(run / "last.pt")]):
        assert cli.main(["train", *tiny_data, *again, "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert err == (f"crystal-lab train: error: {run} already holds a training run (last.pt, "
                       "log.csv); a new run there would overwrite it: continue it with --resume "
                       f"{run / 'last.pt'}, or train into a new --out folder\n")
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before
    assert cli.main(["train", *tiny_data, "--epochs", "2", "--out", str(run), "--resume",
                     str(run / "last.pt")]) == 0


def test_train_flags_are_train_config_fields():
    import dataclasses

    from crystal_lab.training.train_config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {dest for dest, _, _ in cli.TRAIN_OPTIONS.values()} - fields == {"resume"}


@pytest.fixture
def recorded_data(monkeypatch):
    """``crystal-lab train`` on small crystals; records the data set each run asked for."""
    from ase.build import bulk

    import crystal_lab.training.run

    structures = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43),
                  bulk("Cu", "fcc", a=3.6), bulk("MgO", "rocksalt", a=4.2)] * 2
    asked = []

    def load(name, split, limit=None):
        asked.append((name, split, limit))
        return structures[:limit]

    monkeypatch.setattr(crystal_lab.training.run, "load_dataset", load)
    return asked


RUN = ["--data", "perov_5", "--split", "test", "--limit", "6", "--hidden", "16", "--layers", "1",
       "--batch-size", "2", "--lr", "0.002", "--seed", "4", "--epochs", "2", "--device", "cpu"]


def test_a_bare_resume_continues_the_run_it_names(recorded_data, tmp_path, capsys):
    import torch

    run = tmp_path / "run"
    assert cli.main(["train", *RUN, "--max-steps", "3", "--out", str(run)]) == 0
    # budget spent: nothing more
    assert cli.main(["train", "--resume", str(run / "last.pt")]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 3
    assert cli.main(["train", "--resume", str(run / "last.pt"), "--max-steps", "5"]) == 0
    state = torch.load(run / "last.pt", weights_only=True)
    assert (state["step"], state["config"]["max_steps"],
            state["config"]["out_dir"]) == (5, 5, str(run))
    assert recorded_data == [("perov_5", "test", 6)] * 3
    assert not (tmp_path / "runs").exists()   # no default folder made on the way


@pytest.mark.parametrize("flag, value, recorded", [
    ("--data", "mp_20", "'perov_5'"), ("--split", "val", "'test'"), ("--limit", "4", "6"),
    ("--hidden", "32", "16"), ("--layers", "2", "1"), ("--batch-size", "4", "2"),
                                                   ("--lr", "0.01", "0.002"),
    ("--seed", "0", "4"), ("--cosine", None, "False"),
])
def test_a_resume_flag_that_contradicts_the_run_is_one_line(recorded_data, tmp_path, capsys, flag,
                                                            value, recorded):
    run = tmp_path / "run"
    assert cli.main(["train", *RUN, "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    given = [flag] if value is None else [flag, value]
    assert cli.main(["train", "--resume", str(run / "last.pt"), "--epochs", "3", *given]) == 2
    err = capsys.readouterr().err
    shown = "True" if value is None else repr(value) if flag in ("--data", "--split") else value
    name = flag[2:].replace("-", "_")
    assert err == (f"crystal-lab train: error: {flag} {shown} contradicts the run in "
                   f"{run / 'last.pt'}, which records {name}={recorded}: leave {flag} out to "
                   "continue the run as it was, or start a new run\n")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("flag, value", [("--hidden", "32"), ("--layers", "2")])
def test_hidden_and_layers_under_init_are_honoured_or_refused(
    recorded_data, tmp_path, capsys, flag, value
):
    import torch

    assert cli.main(["train", *RUN, "--out", str(tmp_path / "a")]) == 0
    init = ["--init", str(tmp_path / "a" / "last.pt"), "--limit", "4", "--device", "cpu",
            "--batch-size", "2"]
    capsys.readouterr()
    assert cli.main(["train", *init, flag, value, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crystal-lab train: error: {flag} {value} contradicts the init weights "
                          "last.pt, which records") and err.count("\n") == 1
    same = {"--hidden": "16", "--layers": "1"}[flag]
    assert cli.main(["train", *init, flag, same, "--epochs", "1", "--out",
                     str(tmp_path / "c")]) == 0
    assert torch.load(tmp_path / "c" / "last.pt", weights_only=True)["config"]["hidden"] == 16


def test_train_refusals_are_one_line_with_exit_2(recorded_data, tmp_path, capsys):
    from crystal_lab.training.run_files import RunLock

    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["train", *RUN, "--out", str(a)]) == 0
    assert cli.main(["train", *RUN, "--out", str(b)]) == 0
    (tmp_path / "file").write_text("x")
    capsys.readouterr()
    with RunLock(tmp_path / "held"):   # a live run holds the folder
        cases = [(["train", *RUN, "--out", str(tmp_path / "held")],
                  "is in use by another training run (pid"),
                 (["train", "--resume", str(a / "last.pt"), "--out", str(b)],
                  f"{b} holds another training run"),
                 (["train", *RUN, "--out", str(tmp_path / "file")], "is a file, not a folder"),
                 (["train", "--resume", str(a / "last.pt"), "--data", "carbon_24"],
                  "--data 'carbon_24' contradicts")]
        for argv, message in cases:
            assert cli.main(argv) == 2
            err = capsys.readouterr().err
            assert (
                err.startswith("crystal-lab train: error: ")
                and message in err
                and err.count("\n") == 1
            ), err


def test_two_trainings_started_together_into_one_folder_never_share_it(tmp_path):
    import csv

    run = tmp_path / "run"
    argv = [sys.executable, "-m", "crystal_lab.cli", "train", "--data", "perov_5", "--limit", "8",
            "--hidden", "16",
            "--layers", "1", "--batch-size", "4", "--epochs", "3", "--device", "cpu", "--out",
            str(run)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    err = next(e for code, e in results if code == 2)
    assert err.startswith("crystal-lab train: error: ") and err.count("\n") == 1
    assert ("in use by another training run" in err) or ("already holds a training run" in err)
    with open(run / "log.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [2, 4, 6]   # one run's rows only


def test_evaluate_reads_files_and_prints_the_summary(nacl, batio3, tmp_path, monkeypatch, capsys):
    from crystal_lab.workspace import write_structures

    write_structures([nacl, batio3], tmp_path / "gen")
    seen = []
    module = types.ModuleType("crystal_lab.evaluate")
    module.summarize = lambda structures, **kw: (
        seen.append((structures, kw))
        or types.SimpleNamespace(text=lambda: f"{len(structures)} structures\nvalid: 50.0 %")
    )
    monkeypatch.setitem(sys.modules, "crystal_lab.evaluate", module)

    assert cli.main(["evaluate", str(tmp_path / "gen"), "--no-stability"]) == 0
    structures, kwargs = seen[0]
    assert [a.get_chemical_formula() for a in structures] == ["ClNa", "BaO3Ti"]
    assert kwargs == {"stability": False}
    assert capsys.readouterr().out.splitlines() == ["2 structures", "valid: 50.0 %"]


@pytest.mark.slow
def test_evaluate_with_the_real_summary(nacl, tmp_path, capsys):
    """Through crystal_lab.evaluate.summarize (no CHGNet), table and CSV included."""
    from crystal_lab.workspace import write_structures

    write_structures([nacl], tmp_path / "gen")
    csv_path = tmp_path / "eval.csv"
    assert cli.main(["evaluate", str(tmp_path / "gen" / "structures.extxyz"), "--no-stability",
                     "--table", "--csv", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert "1 structures" in out and "NaCl" in out
    assert csv_path.exists() and "NaCl" in csv_path.read_text()


def test_evaluate_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "missing.cif")]) == 2
    assert capsys.readouterr().err.startswith("crystal-lab evaluate: error:")


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "crystal-lab"
    assert script.exists(), "crystal-lab is not installed: pip install -e '.[test]'"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0
    assert out.stdout.strip() == f"crystal-lab {crystal_lab.__version__}"


@pytest.mark.parametrize("argv, message", [
    (["--n-samples", "20000"],
     r"20000 samples would take about .* pass --allow-large to run it anyway"),
    (["--steps", "5000"], r"steps=5000 would take about .* pass --allow-large to run it anyway"),
])
def test_sample_caps_name_the_cli_flag(monkeypatch, tmp_path, capsys, argv, message):
    import re

    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1))
    monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto": model,
                        raising=False)
    assert cli.main(["sample", "Na Cl", "--n-atoms", "2", *argv, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "allow_large=True" not in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("flag, expected", [("225", 225), ("Fm-3m", "Fm-3m"), ("1", 1)])
def test_sample_space_group_reaches_check_and_sample(nacl, tmp_path, monkeypatch, flag, expected):
    """``--space-group`` is passed on as asked (a number or a symbol; the model parses it)."""
    model = FakeModel([nacl])
    monkeypatch.setattr(crystal_lab, "load_model", lambda path=None, device="auto": model,
                        raising=False)
    rc = cli.main(["sample", "NaCl", "--space-group", flag, "--out", str(tmp_path / "s"),
                   "--quiet"])
    assert rc == 0
    assert [kw["space_group"] for _, _, kw in model.calls] == [expected, expected]
