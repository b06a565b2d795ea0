"""Weights files: every broken or foreign file is one CheckpointError line naming the file."""
import hashlib
import json
import pickle

import pytest
import torch

from crystal_lab.model import checkpoint
from crystal_lab.model.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_model
from crystal_lab.model.config import resolve_device
from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    checkpoint.save(
        CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)), path, half=True, note="test"
    )
    return path


def _with_sidecar(path, data: bytes):
    path.write_bytes(data)
    path.with_suffix(".json").write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest()}))
    return path


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def _broken_files(tmp_path, good: bytes):
    """(name, bytes) of files that are not loadable checkpoints."""
    return {
        "empty.pt": b"",
        "half.pt": good[: len(good) // 2],
        "tail.pt": good[:-100],
        "text.pt": b"hello, this is a text file\n",
        "noise.pt": bytes(range(256)) * 4,
        "pickle.pt": pickle.dumps({"state_dict": _Exploit()}),
        "json.pt": b'{"format": "crystal_lab/2"}',
    }


def test_broken_and_foreign_files_get_one_line_each(tmp_path, tiny_file, capsys):
    good = tiny_file.read_bytes()
    for name, data in _broken_files(tmp_path, good).items():
        path = _with_sidecar(tmp_path / name, data)
        for verify in (True, False):
            with pytest.raises(CheckpointError) as err:
                load_model(path, device="cpu", verify=verify)
            text = str(err.value)
            assert name in text and "\n" not in text, text
            assert "weights_only" not in text and "False" not in text, (
                text
            )  # never the unsafe way round
    assert "must never run" not in capsys.readouterr().out
    assert "empty.pt is not a loadable crystal_lab checkpoint: it is empty (0 bytes)" in str(
        pytest.raises(CheckpointError, load_model, tmp_path / "empty.pt").value)
    refused = pytest.raises(CheckpointError, load_model, tmp_path / "pickle.pt").value
    assert "Python objects other than tensors" in str(refused)
    assert "truncated or damaged" in str(
        pytest.raises(CheckpointError, load_model, tmp_path / "half.pt").value
    )
    assert "not a torch file" in str(
        pytest.raises(CheckpointError, load_model, tmp_path / "text.pt").value
    )


@pytest.mark.parametrize("sidecar, message", [
    ("", "tiny.json (beside tiny.pt) is not valid JSON"),
    ("{not json", "tiny.json (beside tiny.pt) is not valid JSON"),
    ("[1, 2]", "tiny.json (beside tiny.pt) records no sha256"),
    ('{"sha256": 5}', "tiny.json (beside tiny.pt) records no sha256"),
    ('{"file": "tiny.pt"}', "tiny.json (beside tiny.pt) records no sha256"),
])
def test_a_bad_sidecar_is_one_line(tmp_path, tiny_file, sidecar, message):
    path = tmp_path / "tiny.pt"
    path.write_bytes(tiny_file.read_bytes())
    path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(
        CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as err:
        load_model(path, device="cpu")
    assert "\n" not in str(err.value) and "verify=False" in str(err.value)
    assert load_model(path, device="cpu", verify=False).config.network.hidden == 16


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(CheckpointError, match="no weights at"):
        load_model(tmp_path / "nothing.pt", device="cpu")
    with pytest.raises(CheckpointError, match="is a folder, not a weights file"):
        load_model(tmp_path, device="cpu")


def test_run_checkpoints_and_weights_files_are_told_apart(tmp_path, tiny_file):
    with pytest.raises(
        CheckpointError, match="tiny.pt is a model's weights file, not a training run's checkpoint"
    ):
        checkpoint.read_run(tiny_file)
    with pytest.raises(CheckpointError, match="is a model's weights file"):
        checkpoint.read_run(DEFAULT_WEIGHTS)
    text = _with_sidecar(tmp_path / "notes.pt", b"just some notes\n")
    with pytest.raises(
        CheckpointError, match="notes.pt is not a readable training checkpoint: not a torch file"
    ):
        checkpoint.read_run(text)
    with pytest.raises(
        CheckpointError, match="notes.pt is not a loadable crystal_lab checkpoint: not a torch file"
    ):
        checkpoint.load_weights(text)
    torch.save({"model": {}, "epoch": 1}, tmp_path / "partial.pt")
    with pytest.raises(
        CheckpointError, match=r"partial.pt is not a training run's checkpoint \(no ema, optimizer"
    ):
        checkpoint.read_run(tmp_path / "partial.pt")
    run = {
        "model": checkpoint.to_dict(load_model(tiny_file)),
        "ema": checkpoint.to_dict(load_model(tiny_file)),
        "optimizer": {},
        "epoch": 1,
        "step": 2,
        "rng": {},
    }
    torch.save(run, tmp_path / "last.pt")
    assert checkpoint.read_run(tmp_path / "last.pt")["step"] == 2
    assert checkpoint.load_weights(tmp_path / "last.pt").config.network.hidden == 16
    with pytest.raises(
        CheckpointError,
        match=r"last.pt is a training run's checkpoint \(epoch 1, step 2\), not a "
        "weights file",
    ):
        load_model(tmp_path / "last.pt", verify=False)


def test_upgrade_file_keeps_the_card_and_the_model(tmp_path, tiny_file):
    path = tmp_path / "copy.pt"
    path.write_bytes(tiny_file.read_bytes())
    card = json.loads(tiny_file.with_suffix(".json").read_text()) | {"file": "copy.pt"}
    path.with_suffix(".json").write_text(json.dumps(card))
    before = load_model(path, device="cpu")
    digest = checkpoint.upgrade_file(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (
        meta["sha256"] == digest and meta["note"] == "test" and meta["bytes"] == path.stat().st_size
    )
    after = load_model(path, device="cpu")
    assert all(
        torch.equal(a, b)
        for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:x", "", "quantum:0", 3, None])
def test_unknown_devices_are_one_line(device):
    with pytest.raises((ValueError, TypeError)) as err:
        resolve_device(device)
    assert "device must be one of auto, cpu, cuda" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "CUDA", torch.device("cuda")])
def test_a_gpu_this_machine_lacks_is_one_line(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="torch finds no CUDA GPU on this machine") as err:
        load_model(device=device)
    assert "\n" not in str(err.value) and "device='cpu'" in str(err.value)
    assert resolve_device("auto").type == "cpu" and resolve_device(" CPU ").type == "cpu"


@pytest.mark.parametrize("path", [123, 1.5, ["mp20.pt"], {"path": "x"}])
def test_a_path_that_is_not_a_path_is_one_line(path):
    with pytest.raises(TypeError, match="path must be a file path") as err:
        load_model(path, device="cpu")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------ broken numbers, run files


def _poisoned(tmp_path, key, value, name="poisoned.pt"):
    torch.manual_seed(0)
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1))
    with torch.no_grad():
        model.state_dict()[key].view(-1)[:3] = value
    checkpoint.save(model, tmp_path / name)
    return model, tmp_path / name


@pytest.mark.parametrize("key", ["denoiser.token.weight", "denoiser.time.0.bias",
                                 "denoiser.lattice_in.2.weight", "noise.lattice.std"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_weights_with_nan_or_inf_are_refused_at_load_naming_the_tensor(tmp_path, key, value):
    model, path = _poisoned(tmp_path, key, value)
    for load in (lambda: load_model(path, device="cpu"), lambda: checkpoint.load_weights(path),
                 lambda: checkpoint.from_dict(checkpoint.to_dict(model), "in memory")):
        with pytest.raises(CheckpointError, match=rf"tensor {key} holds \d+ NaN/inf value") as err:
            load()
        assert "\n" not in str(err.value) and "diverged" in str(err.value)


def test_a_run_checkpoint_with_nan_weights_is_refused_by_every_loader(tmp_path):
    from crystal_lab.training.loop import export

    model, _ = _poisoned(tmp_path, "denoiser.cond.weight", float("nan"))
    run = {"model": checkpoint.to_dict(model), "ema": checkpoint.to_dict(model), "optimizer": {},
           "epoch": 4, "step": 40, "rng": {}}
    torch.save(run, tmp_path / "last.pt")
    for load in (lambda: checkpoint.load_weights(tmp_path / "last.pt"),
                 lambda: export(tmp_path / "last.pt", tmp_path / "weights.pt")):
        with pytest.raises(CheckpointError, match=r"last.pt \(EMA\)|last.pt \(its EMA weights\)"):
            load()
    assert not (tmp_path / "weights.pt").exists()


@pytest.fixture
def run_file(tmp_path, tiny_file):
    model = load_model(tiny_file, device="cpu")
    return {"model": checkpoint.to_dict(model), "ema": checkpoint.to_dict(model), "optimizer": {},
            "epoch": 3, "step": 12, "rng": {}}


@pytest.mark.parametrize("name, sidecar", [("last.pt", False), ("epoch_3.pt", False),
                                           ("mine.ckpt", False), ("last.pt", True)])
def test_load_model_recognises_a_run_checkpoint_and_says_how_to_export_it(tmp_path, run_file, name,
                                                                          sidecar):
    path = tmp_path / name
    torch.save(run_file, path)
    if sidecar:
        _with_sidecar(path, path.read_bytes())
    for verify in (True, False):
        with pytest.raises(CheckpointError) as err:
            load_model(path, device="cpu", verify=verify)
        text = str(err.value)
        assert text.startswith(f"{name} is a training run's checkpoint (epoch 3, step 12)"), text
        assert f"crystal_lab.training.loop.export('{path}', 'weights.pt')" in text
        assert "verify=False" not in text and "\n" not in text
    # and the way out it names works: the exported weights load
    from crystal_lab.training.loop import export

    export(path, tmp_path / "weights.pt")
    assert load_model(tmp_path / "weights.pt", device="cpu").config.network.hidden == 16


@pytest.mark.parametrize("content", [pickle.dumps({"frac": _Exploit()}), b"plain text\n", b"",
                                     "weights", "a dict of other things"])
def test_tensor_data_load_speaks_one_line(tmp_path, tiny_file, capsys, content):
    from crystal_lab.training.batches import TensorData

    path = tmp_path / "train.pt"
    if content == "weights":
        path.write_bytes(tiny_file.read_bytes())
    elif content == "a dict of other things":
        torch.save({"x": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        TensorData.load(path)
    text = str(err.value)
    assert "train.pt" in text and "TensorData" in text and "\n" not in text, text
    assert "weights_only" not in text and "must never run" not in capsys.readouterr().out


def test_tensor_data_round_trips(tmp_path, nacl):
    from crystal_lab.training.batches import TensorData

    data = TensorData.from_atoms([nacl, nacl], max_atoms=4)
    data.save(tmp_path / "train.pt")
    back = TensorData.load(tmp_path / "train.pt")
    assert torch.equal(back.frac, data.frac) and torch.equal(back.n, data.n)


def test_a_failed_save_keeps_the_old_weights_whole(tmp_path, tiny_file, monkeypatch):
    from crystal_lab import paths

    path = tmp_path / "mine.pt"
    for suffix in (".pt", ".json"):
        path.with_suffix(suffix).write_bytes(tiny_file.with_suffix(suffix).read_bytes())
    before = path.read_bytes()

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paths.os, "replace", disk_full)
    bigger = CrystalDiffusionModel(ModelConfig(hidden=32, layers=1))
    with pytest.raises(OSError, match=r"cannot write .*mine.pt \(No space left on device\)$"):
        checkpoint.save(bigger, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "mine.json",
        "mine.pt",
    ]
    assert load_model(path, device="cpu").config.network.hidden == 16  # still verified, still whole


@pytest.mark.parametrize("where, words", [("a_file/w.pt", "a_file is a file, not a folder"),
                                          ("a_folder", "is a folder: give a file name")])
def test_save_refuses_a_path_it_cannot_write_in_one_line(tmp_path, where, words):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(OSError, match=words) as err:
        checkpoint.save(CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)), tmp_path / where)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a_file", "a_folder"]
