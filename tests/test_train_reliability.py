"""Training that loses nothing and accepts no nonsense: signals, shared run folders, resumes,
settings, and the planned stop at a time budget."""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from typing import ClassVar

import numpy as np
import pytest
import torch
import tqdm.std
from ase.build import bulk

from crystal_lab.training.batches import BUCKETS, TensorData, batch_width, batches
from crystal_lab.training.loop import read_log, train
from crystal_lab.training.run_files import atomic_save

STRUCTURES = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43),
              bulk("Cu", "fcc", a=3.6), bulk("MgO", "rocksalt", a=4.2)]
TINY = {"hidden": 16, "layers": 1, "batch_size": 2, "progress": False}


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("name,bad", [
    ("epochs", 0), ("epochs", -3), ("epochs", 2.5), ("epochs", True),
    ("lr", 0), ("lr", -1e-3), ("lr", float("nan")), ("lr", "1e-3"),
    ("hidden", 0), ("hidden", -16), ("hidden", 15), ("hidden", 32.0), ("layers", 0), ("layers", -1),
    ("batch_size", 0), ("batch_size", -64), ("batch_size", 8.0),
    ("max_minutes", 0), ("max_minutes", -1), ("max_minutes", float("inf")),
    ("save_every_minutes", 0), ("save_every_minutes", -5),
    ("ema_decay", 1.0), ("ema_decay", -0.1), ("limit", 0), ("p_csp", 1.5),
])
def test_nonsense_settings_are_refused_with_their_name(tmp_path, name, bad):
    with pytest.raises(ValueError, match=f"^{name} must be .*got {bad!r}"):
        train(structures=STRUCTURES, out_dir=tmp_path, **{**TINY, name: bad})
    assert not (tmp_path / "last.pt").exists()


def test_numpy_whole_numbers_are_accepted(tmp_path):
    train(structures=STRUCTURES, out_dir=tmp_path, epochs=np.int64(1),
          **{**TINY, "batch_size": np.int64(2)})
    assert read_log(tmp_path / "log.csv")["epoch"] == [1.0]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n", None])
def test_resume_from_something_that_is_not_a_run_checkpoint_is_a_clear_error(tmp_path, content):
    from crystal_lab.model.checkpoint import DEFAULT_WEIGHTS

    path = DEFAULT_WEIGHTS if content is None else tmp_path / "x.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="resume: .*(not a readable training checkpoint|init=)"):
        train(structures=STRUCTURES, out_dir=tmp_path / "run", resume=path, **TINY)
    with pytest.raises(ValueError, match="^resume: no checkpoint at .*missing.pt$"):
        train(structures=STRUCTURES, out_dir=tmp_path / "run", resume=tmp_path / "missing.pt",
              **TINY)


# ---------------------------------------------------------------- resume and the log

def test_resume_drops_log_rows_beyond_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(structures=STRUCTURES, epochs=2, out_dir=run, **TINY)
    early = tmp_path / "early.pt"
    early.write_bytes((run / "last.pt").read_bytes())                # step 4, epoch 2
    train(structures=STRUCTURES, epochs=4, out_dir=run, resume=run / "last.pt", **TINY)
    assert read_log(run / "log.csv")["step"] == [2, 4, 6, 8]
    train(structures=STRUCTURES, epochs=3, out_dir=run, resume=early, **TINY)
    log = read_log(run / "log.csv")
    assert log["epoch"] == [1, 2, 3] and log["step"] == [2, 4, 6]
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 6


# ------------------------------------------------------------ a new run never overwrites an old one

@pytest.mark.parametrize("held", [("last.pt", "log.csv"), ("last.pt",), ("log.csv",)])
@pytest.mark.parametrize("start", [{}, {"init": "from_run"}])
def test_a_new_run_into_a_folder_holding_a_run_is_refused_and_changes_nothing(
    tmp_path, held, start
):
    first = tmp_path / "first"
    train(structures=STRUCTURES, epochs=1, out_dir=first, **TINY)
    run = tmp_path / "run"
    run.mkdir()
    for name in held:
        (run / name).write_bytes((first / name).read_bytes())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    kwargs = {"init": first / "last.pt"} if start else {}
    if "last.pt" in held:
        message = (f"{run} already holds a training run ({', '.join(held)}); a new run there would "
                   f"overwrite it: continue it with resume='{run / 'last.pt'}', or train into a "
                   "new out_dir")
    else:
        message = f"{run} already holds an earlier run's log.csv (no last.pt to resume from)"
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        train(structures=STRUCTURES, epochs=2, out_dir=run, **kwargs, **TINY)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before


def test_a_folder_without_a_run_is_free_and_a_resume_continues_in_place(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine\n")   # other files are not a run
    train(structures=STRUCTURES, epochs=1, out_dir=run, **TINY)
    train(structures=STRUCTURES, epochs=2, out_dir=run, resume=run / "last.pt", **TINY)
    assert (
        read_log(run / "log.csv")["epoch"] == [1, 2] and (run / "notes.txt").read_text() == "mine\n"
    )


# ---------------------------------------------------------------- the planned stop

class Recorder(tqdm.std.tqdm):
    """The real tqdm bar, writing to a string; records (n, total, last line) of each closed bar."""

    closed: ClassVar[list] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "file": io.StringIO()})

    def close(self):
        if not self.disable:   # tqdm disables a bar as it closes it: recorded once
            Recorder.closed.append((self.n, self.total, str(self)))
        super().close()


@pytest.fixture
def bars(monkeypatch):
    import tqdm.auto

    Recorder.closed = []
    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    return Recorder.closed


def test_time_budget_stop_reads_as_planned_and_no_bar_is_left_unfinished(tmp_path, bars, capsys):
    many = STRUCTURES * 50   # 100 batches an epoch: the 0.01 s budget ends inside the first
    with warnings.catch_warnings():
        # e.g. "Converting a tensor with requires_grad=True to a scalar"
        warnings.simplefilter("error")
        train(structures=many, epochs=1000, out_dir=tmp_path, max_minutes=0.01 / 60,
              **{**TINY, "progress": True})
    out = capsys.readouterr().out
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (f"stopped at the {0.01 / 60:g}-minute budget after {state['epoch']} epochs "
            f"({state['step']} steps)") in out
    assert state["epoch"] < 1000
    # one bar, over the budget's one second, full
    assert len(bars) == 1 and bars[0][0] == bars[0][1] == 1
    assert "100%" in bars[0][2] and "epoch=1" in bars[0][2] and "loss=" in bars[0][2]


@pytest.mark.parametrize("epochs", [1, 3, 6])
def test_a_whole_run_has_one_bar_over_its_epochs(tmp_path, bars, epochs):
    train(structures=STRUCTURES, epochs=epochs, out_dir=tmp_path, **{**TINY, "progress": True})
    assert [(n, total) for n, total, *_ in bars] == [(epochs, epochs)]
    assert f"{epochs}/{epochs}" in bars[0][2] and "loss=" in bars[0][2]
    # a resumed run: the same one bar, starting where the run stopped
    train(structures=STRUCTURES, epochs=epochs + 2, out_dir=tmp_path, resume=tmp_path / "last.pt",
          **{**TINY, "progress": True})
    assert [(n, total) for n, total, *_ in bars[1:]] == [(epochs + 2, epochs + 2)]


@pytest.mark.parametrize("max_steps", [1, 5])
def test_a_max_steps_stop_ends_its_one_bar_full(tmp_path, bars, max_steps):
    train(structures=STRUCTURES, epochs=100, out_dir=tmp_path, max_steps=max_steps,
          **{**TINY, "progress": True})
    assert len(bars) == 1 and bars[0][0] == bars[0][1] >= 1


def test_a_run_that_fails_leaves_its_bar_unfinished(tmp_path, bars, monkeypatch):
    import crystal_lab.training.run as tr

    calls = []

    def failing(fn):
        def call(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("out of memory")
            return fn(*args, **kwargs)
        return call

    monkeypatch.setattr(tr, "compiled", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        train(structures=STRUCTURES, epochs=4, out_dir=tmp_path, compile=True,
              **{**TINY, "progress": True})
    assert [(n, total) for n, total, *_ in bars] == [(1, 4)]   # not drawn as finished


def test_quiet_run_prints_nothing_at_its_budget(tmp_path, capsys):
    train(structures=STRUCTURES * 20, epochs=1000, out_dir=tmp_path, max_minutes=0.01 / 60, **TINY)
    assert capsys.readouterr().out == ""
    assert (tmp_path / "last.pt").exists()


# ---------------------------------------------------------------- signals and a shared out_dir

# A background job of a non-interactive shell (CI under nohup, `make test &`) starts with SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler: the run takes the handler a
# terminal's Ctrl-C would find.
RUNNER = textwrap.dedent("""
    import signal
    import sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from ase.build import bulk
    from crystal_lab.training.loop import train
    structures = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43)] * 10
    train(structures=structures, epochs=10**6, hidden=16, layers=1, batch_size=2,
          out_dir=sys.argv[1], progress=False, save_every_minutes=1000)
""")


def start_run(out_dir):
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(out_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while (
        not (out_dir / "log.csv").exists() or len(read_log(out_dir / "log.csv").get("step", [])) < 1
    ):
        assert proc.poll() is None, proc.stderr.read()   # the run died before its first log row
        time.sleep(0.2)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_a_checkpoint_and_a_second_run_into_the_folder_is_refused(tmp_path, sig):
    proc = start_run(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="in use by another training run .*pid"):
            train(structures=STRUCTURES, epochs=1, out_dir=tmp_path, **TINY)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0
    if sig == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM
    else:
        assert "KeyboardInterrupt" in err
    assert f"stopped at {sig.name} after" in out and "resume with resume=" in out
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    # beyond the first epoch's log row: the interrupted epoch's steps too
    assert state["step"] >= 10
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    # the lock went with the process: the run resumes in the same folder
    # the run's own data
    again = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43)] * 10
    train(structures=again, epochs=state["epoch"] + 1, resume=tmp_path / "last.pt", progress=False)


def test_concurrent_checkpoint_writes_never_share_a_temporary_file(tmp_path, monkeypatch):
    real_save, names = torch.save, []

    def slow_save(obj, f):
        names.append(str(f))
        time.sleep(0.2)
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", slow_save)
    threads = [threading.Thread(target=atomic_save, args=({"who": i},
                                                          tmp_path / "last.pt")) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 3 and all(os.path.dirname(n) == str(tmp_path) for n in names)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["who"] in (0, 1, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# ---------------------------------------------------------------- atom-count buckets

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_bucketed_batches_keep_each_batch_within_one_bucket(seed, drop_last):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 21, size=int(rng.integers(50, 400)))
    plan = batches(sizes, 16, np.random.default_rng(seed), drop_last=drop_last, buckets=BUCKETS)
    seen = np.concatenate(plan)
    assert len(seen) == len(set(seen.tolist()))
    if drop_last:
        assert all(len(b) == 16 for b in plan) and len(sizes) - len(seen) < 16
    else:
        assert sorted(seen.tolist()) == list(range(len(sizes)))
    widths = [batch_width(sizes, b, BUCKETS, 20) for b in plan]
    assert set(widths) <= set(BUCKETS)
    assert all(sizes[b].max() <= w for b, w in zip(plan, widths, strict=True))
    # padding is what the bucket needs, not the data set's 20 atoms
    assert np.mean(widths) < 20


def test_bucket_padding_gives_the_same_tensors_on_the_real_atoms():
    data = TensorData.from_atoms(STRUCTURES + [bulk("NaCl", "rocksalt", a=5.6, cubic=True)],
                                 max_atoms=20)
    data.fit_params(__import__("crystal_lab").CrystalDiffusionModel())
    idx = torch.tensor([0, 2])
    small = data.batch(idx, trim=True)
    wide = data.batch(idx, width=10)
    assert small[0].shape[1] == 2 and wide[0].shape[1] == 10
    assert torch.equal(wide[0][:, :2], small[0]) and torch.equal(wide[2][:, :2], small[2])
    assert not wide[2][:, 2:].any() and not wide[1][:, 2:].any()
    with pytest.raises(ValueError, match="do not fit the largest bucket"):
        batches(np.array([3, 25]), 2, np.random.default_rng(0), buckets=BUCKETS)


@pytest.mark.parametrize("max_steps", [1, 3, 7])
def test_max_steps_stops_there_with_a_checkpoint(tmp_path, capsys, max_steps):
    train(structures=STRUCTURES, epochs=100, out_dir=tmp_path, max_steps=max_steps,
          **{**TINY, "progress": True})
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == max_steps
    assert (
        f"stopped at max_steps={max_steps} after {state['epoch']} epochs" in capsys.readouterr().out
    )


def test_a_backward_pass_that_fails_to_compile_falls_back_to_eager_code(
    tmp_path, monkeypatch, capsys
):
    """torch.compile can fail only when the backward graph is compiled (e.g. a C++ compiler
    error on a CPU): the run goes on eagerly instead of crashing."""
    import crystal_lab.training.run as tr

    class Broken(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            raise RuntimeError("CppCompileError: C++ compile error")

    def fake_compiled(fn):
        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            return {**out, "loss": Broken.apply(out["loss"])}
        return call

    monkeypatch.setattr(tr, "compiled", fake_compiled)
    train(structures=STRUCTURES, epochs=2, out_dir=tmp_path, compile=True, **TINY)
    assert "torch.compile failed in the backward pass (CppCompileError" in capsys.readouterr().out
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 4


# ---------------------------------------------------------------- a run is one thing: exact resume

def weights(path):
    state = torch.load(path, weights_only=True)
    return {f"{part}.{k}": v for part in ("model",
                                          "ema") for k, v in state[part]["state_dict"].items()}


def log_rows(path):
    """The log's rows without the wall-clock column."""
    return [row[:-1] for row in (line.split(",") for line in path.read_text().splitlines())]


# 2 batches an epoch: mid-epoch and at an epoch's end
@pytest.mark.parametrize("stop", [1, 2, 3, 5])
def test_a_run_stopped_and_resumed_is_the_run_never_stopped(tmp_path, stop):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(structures=STRUCTURES, epochs=3, out_dir=whole, **TINY)
    train(structures=STRUCTURES, epochs=3, out_dir=parts, max_steps=stop, **TINY)
    assert torch.load(parts / "last.pt", weights_only=True)["step"] == stop
    train(structures=STRUCTURES, resume=parts / "last.pt", max_steps=100, progress=False)
    a, b = weights(whole / "last.pt"), weights(parts / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert log_rows(parts / "log.csv") == log_rows(whole / "log.csv")
    assert read_log(parts / "log.csv")["step"] == [2, 4, 6]


def test_the_checkpoint_records_the_whole_config(tmp_path):
    from crystal_lab.training.train_config import FIELDS

    train(structures=STRUCTURES, epochs=2, out_dir=tmp_path, seed=7, lr=2e-3, cosine=True,
          p_csp=0.5, **TINY)
    config = torch.load(tmp_path / "last.pt", weights_only=True)["config"]
    assert set(config) == set(FIELDS)
    assert {k: config[k] for k in ("data", "hidden", "layers", "batch_size", "seed", "lr", "cosine",
                                   "p_csp",
                                   "epochs", "warmup")} == {"data": None, "hidden": 16, "layers": 1,
                                                            "batch_size": 2, "seed": 7, "lr": 2e-3,
                                                            "cosine": True, "p_csp": 0.5,
                                                            "epochs": 2, "warmup": 500}


@pytest.mark.parametrize("first, again, trained", [
    # a bare resume keeps the step budget: nothing more
    ({"max_steps": 3}, {}, 0), ({"max_steps": 3}, {"max_steps": 3}, 0),
    ({"max_steps": 3}, {"max_steps": 5}, 2),
    ({"epochs": 2}, {}, 0),                         # ... and the epoch budget
    ({"epochs": 2}, {"epochs": 2}, 0),
    ({"epochs": 1}, {"epochs": 3}, 4),
])
def test_budgets_count_the_whole_run(tmp_path, monkeypatch, first, again, trained):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)   # a resume writes into its run's folder, not a default one here
    tmp_path = tmp_path / "run"
    train(structures=STRUCTURES, out_dir=tmp_path, **{"epochs": 100, **first}, **TINY)
    before = torch.load(tmp_path / "last.pt", weights_only=True)["step"]
    log_before = (tmp_path / "log.csv").read_text()
    train(structures=STRUCTURES, resume=tmp_path / "last.pt", progress=False, **again)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == before + trained
    if not trained:
        assert (tmp_path / "log.csv").read_text() == log_before   # no row for nothing done
    steps = read_log(tmp_path / "log.csv")["step"]
    assert steps == sorted(set(steps))
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("setting, value", [("hidden", 32), ("layers", 2), ("batch_size", 4),
                                            ("lr", 0.01),
                                            ("seed", 3), ("cosine", True), ("ema_decay", 0.9),
                                            ("p_csp", 1.0), ("warmup", 10)])
def test_a_resume_refuses_a_setting_that_contradicts_the_run(tmp_path, setting, value):
    from crystal_lab.training.train_config import RunMismatch

    train(structures=STRUCTURES, epochs=1, out_dir=tmp_path, **TINY)
    recorded = torch.load(tmp_path / "last.pt", weights_only=True)["config"][setting]
    before = (tmp_path / "last.pt").read_bytes()
    message = (f"^{setting}={value!r} contradicts the run in {tmp_path / 'last.pt'}, which records "
               f"{setting}={recorded!r}: leave {setting} out")
    with pytest.raises(RunMismatch, match=re.escape(message).replace("\\^", "^")):
        train(structures=STRUCTURES, epochs=2, resume=tmp_path / "last.pt", progress=False,
              **{setting: value})
    assert (tmp_path / "last.pt").read_bytes() == before
    # the same value as recorded is no contradiction
    train(structures=STRUCTURES, epochs=2, resume=tmp_path / "last.pt", progress=False,
          **{setting: recorded})
    assert read_log(tmp_path / "log.csv")["epoch"] == [1, 2]


@pytest.mark.parametrize("other", [STRUCTURES[:3], STRUCTURES[::-1],
                                   [bulk("Cu", "fcc", a=3.7)] + STRUCTURES[1:]])
def test_a_resume_on_other_data_is_refused(tmp_path, other):
    train(structures=STRUCTURES, epochs=1, out_dir=tmp_path, **TINY)
    with pytest.raises(ValueError, match="^resume: the training data differ from the run's"):
        train(structures=other, epochs=2, resume=tmp_path / "last.pt", progress=False)
    with pytest.raises(ValueError, match=r"trained on structures given in Python \(data=None\)"):
        train(epochs=2, resume=tmp_path / "last.pt", progress=False)


@pytest.mark.parametrize("setting, value", [("hidden", 32), ("layers", 3)])
def test_init_weights_decide_the_network_size_and_a_contradiction_is_refused(tmp_path, setting,
                                                                             value):
    from crystal_lab.training.train_config import RunMismatch

    train(structures=STRUCTURES, epochs=1, out_dir=tmp_path / "a", **TINY)
    init = tmp_path / "a" / "last.pt"
    with pytest.raises(RunMismatch,
                       match=f"^{setting}={value} contradicts the init weights last.pt, which "
                                          f"records {setting}={TINY[setting]}"):
        train(structures=STRUCTURES, epochs=1, out_dir=tmp_path / "b", init=init,
              **{**TINY, setting: value})
    assert not (tmp_path / "b" / "last.pt").exists()
    model = train(structures=STRUCTURES, epochs=1, out_dir=tmp_path / "c", init=init,
                  progress=False)
    config = torch.load(tmp_path / "c" / "last.pt", weights_only=True)["config"]
    assert (config["hidden"], config["layers"], config["warmup"]) == (16, 1, 100)
    assert (model.config.hidden, model.config.layers) == (16, 1)


# ----------------------------------------------------------- a resume never writes into another run

def test_a_resume_into_a_folder_holding_another_run_is_refused_and_changes_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train(structures=STRUCTURES, epochs=1, out_dir=a, **TINY)
    train(structures=STRUCTURES, epochs=2, out_dir=b, **TINY)
    before = {p.name: p.read_bytes() for p in b.iterdir() if p.name != ".lock"}
    with pytest.raises(ValueError,
                       match=f"^{b} holds another training run .*: resume into {a}, or into a new"):
        train(structures=STRUCTURES, epochs=3, resume=a / "last.pt", out_dir=b, progress=False)
    (b / "last.pt").unlink()
    before.pop("last.pt")
    with pytest.raises(ValueError, match=f"^{b} holds another run's log.csv"):
        train(structures=STRUCTURES, epochs=3, resume=a / "last.pt", out_dir=b, progress=False)
    assert {p.name: p.read_bytes() for p in b.iterdir() if p.name != ".lock"} == before


def test_a_resume_into_a_new_folder_carries_the_log_and_the_old_folder_stays(tmp_path):
    a, c = tmp_path / "a", tmp_path / "c"
    train(structures=STRUCTURES, epochs=1, out_dir=a, **TINY)
    old = {p.name: p.read_bytes() for p in a.iterdir() if p.name != ".lock"}
    train(structures=STRUCTURES, epochs=2, resume=a / "last.pt", out_dir=c, progress=False)
    assert read_log(c / "log.csv")["step"] == [2, 4]
    assert {p.name: p.read_bytes() for p in a.iterdir() if p.name != ".lock"} == old
    # the copy is the same run: resuming its older checkpoint into it is allowed
    train(structures=STRUCTURES, epochs=3, resume=a / "last.pt", out_dir=c, progress=False)
    assert read_log(c / "log.csv")["step"] == [2, 4, 6]


def test_an_out_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine\n")
    with pytest.raises(NotADirectoryError, match=f"^{path} is a file, not a folder"):
        train(structures=STRUCTURES, epochs=1, out_dir=path, **TINY)
    assert path.read_text() == "mine\n"


# ---------------------------------------------------------------- TensorData files

@pytest.mark.parametrize("content", ["pickle", "text", "empty", "dict"])
def test_tensor_data_load_of_a_wrong_file_is_one_line(tmp_path, content):
    import pickle

    from crystal_lab.model.checkpoint import CheckpointError

    path = tmp_path / "data.pt"
    if content == "pickle":
        # a class: not weights-only
        path.write_bytes(pickle.dumps(threading.Lock.__name__) + pickle.dumps(object))
        torch.save({"x": io.BytesIO}, path, _use_new_zipfile_serialization=True)
    elif content == "text":
        path.write_text("frac,numbers\n1,2\n")
    elif content == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"frac": torch.zeros(2, 3, 3)}, path)
    with pytest.raises(CheckpointError) as err:
        TensorData.load(path)
    message = str(err.value)
    assert (
        message.startswith("data.pt is not ")
        and "\n" not in message
        and "weights_only" not in message
    )
    data = TensorData.from_atoms(STRUCTURES, max_atoms=20)
    data.save(tmp_path / "good.pt")
    again = TensorData.load(tmp_path / "good.pt")
    assert again.digest() == data.digest() and torch.equal(again.frac, data.frac)


# ---------------------------------------------------------------- SIGTERM, then a bare --resume

P5 = ["--data", "perov_5", "--split", "val", "--limit", "32", "--hidden", "32", "--layers", "1",
      "--batch-size", "8", "--epochs", "12", "--device", "cpu", "--save-every", "1000"]


def crystal_lab_train(*argv):
    return [sys.executable, "-m", "crystal_lab.cli", "train", *argv]


def test_sigterm_mid_run_then_a_bare_resume_continues_the_same_run(tmp_path):
    """perov_5 (not the default mp_20), 32 crystals, a 32x1 network: stopped by SIGTERM after its
    first epoch, resumed by ``--resume D/last.pt`` alone, it ends as the same run never stopped."""
    whole, run = tmp_path / "whole", tmp_path / "run"
    reference = subprocess.Popen(crystal_lab_train(*P5, "--out", str(whole)),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen(crystal_lab_train(*P5, "--out", str(run)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        while not (run / "log.csv").exists() or len(read_log(run / "log.csv").get("step", [])) < 1:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
        assert reference.wait(timeout=300) == 0, reference.stderr.read()
    finally:
        proc.kill()
        reference.kill()
    assert proc.returncode == -signal.SIGTERM and "stopped at SIGTERM after" in out, err
    stopped = torch.load(run / "last.pt", weights_only=True)
    assert 4 <= stopped["step"] < 48            # 4 steps an epoch, 12 epochs: stopped on the way
    resumed = subprocess.run(crystal_lab_train("--resume", str(run / "last.pt")),
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["config"] == torch.load(whole / "last.pt",
                                         weights_only=True)["config"] | {"out_dir": str(run)}
    assert (state["config"]["data"], state["config"]["limit"],
            state["config"]["hidden"]) == ("perov_5", 32, 32)
    assert (state["epoch"], state["step"]) == (12, 48)
    a, b = weights(whole / "last.pt"), weights(run / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)   # the same data, batches, noise and steps
    steps = read_log(run / "log.csv")["step"]
    assert steps == [4 * k for k in range(1, 13)]    # no row twice, none missing
    assert log_rows(run / "log.csv") == log_rows(whole / "log.csv")


# --------------------------------------------------------- TrainConfig as the run's one description

def test_a_train_config_and_keywords_describe_the_same_run(tmp_path):
    from crystal_lab.training.train_config import TrainConfig

    config = TrainConfig(epochs=2, hidden=16, layers=1, batch_size=2, out_dir=str(tmp_path / "a"))
    train(config, structures=STRUCTURES, progress=False)
    train(structures=STRUCTURES, epochs=2, out_dir=tmp_path / "b", **TINY)
    a, b = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        train(structures=STRUCTURES, epoch=2, out_dir=tmp_path / "c", **TINY)
    with pytest.raises(TypeError, match="config must be a TrainConfig, got str"):
        train("mp_20", out_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="^seed must be a whole number in .*got -1"):
        TrainConfig(seed=-1)


def test_evaluate_gives_the_same_losses_twice_and_changes_nothing(tmp_path):
    from crystal_lab.training.loop import evaluate

    model = train(structures=STRUCTURES, epochs=1, out_dir=tmp_path, **TINY)
    held_out = TensorData.from_atoms([bulk("KCl", "rocksalt", a=6.3),
                                      bulk("Al", "fcc", a=4.05)] * 3, 20)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    first = evaluate(model, held_out, batch_size=4, seed=1)
    assert evaluate(model, held_out, batch_size=4, seed=1) == first
    # the noise draws are the seed's
    assert evaluate(model, held_out, batch_size=4, seed=2) != first
    assert set(first) == {"loss", "coord", "lattice",
                          "types"} and all(np.isfinite(list(first.values())))
    assert torch.equal(torch.get_rng_state(), rng) and not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
