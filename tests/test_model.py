import json
import pickle
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from ase.build import bulk

import crystal_lab as cl
from crystal_lab.model import DEFAULT_WEIGHTS, CheckpointError, CrystalDiffusionModel, ModelConfig, load_model
from crystal_lab.prompts import PromptError


@pytest.fixture(scope="module")
def shipped():
    return load_model(device="cpu")


def test_shipped_model_loads_offline(shipped):
    assert isinstance(shipped, CrystalDiffusionModel)
    assert not shipped.training and shipped.device.type == "cpu"
    assert shipped.config.max_atoms == 20
    assert abs(sum(shipped.config.n_atoms_hist.values()) - 1) < 1e-6   # fitted on MP-20, not the default


def test_chemical_system_prompt_is_honoured(shipped):
    out = shipped.sample("Ba Ti O", n_atoms=5, n_samples=6, seed=0, progress=False)
    assert len(out) == 6
    for atoms in out:
        assert len(atoms) == 5
        assert set(atoms.get_chemical_symbols()) == {"Ba", "Ti", "O"}     # only, and all of
        assert atoms.get_volume() > 0 and atoms.pbc.all()


def test_chemical_system_with_as_many_elements_as_atoms(shipped):
    out = shipped.sample(["Li", "P", "S", "Cl"], n_atoms=4, n_samples=3, seed=1, progress=False)
    assert all(sorted(a.get_chemical_symbols()) == ["Cl", "Li", "P", "S"] for a in out)


def test_formula_prompt_fixes_the_composition(shipped):
    for prompt, n_atoms, expected in [("BaTiO3", None, {"Ba": 1, "Ti": 1, "O": 3}),
                                      ("BaTiO3", 10, {"Ba": 2, "Ti": 2, "O": 6}),
                                      ("Ba1 O3 Ti1", None, {"Ba": 1, "Ti": 1, "O": 3})]:
        for atoms in shipped.sample(prompt, n_atoms=n_atoms, n_samples=2, seed=0, progress=False):
            assert Counter(atoms.get_chemical_symbols()) == expected


def test_unconditional_sizes(shipped):
    out = shipped.sample(None, n_atoms=8, n_samples=3, seed=0, progress=False)
    assert [len(a) for a in out] == [8, 8, 8] and all((a.numbers > 0).all() for a in out)
    free = shipped.sample(None, n_samples=6, seed=0, progress=False)
    assert all(1 <= len(a) <= 20 for a in free)


def test_seed_reproducible_on_same_device(shipped):
    a = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, seed=7, progress=False)
    b = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, seed=7, progress=False)
    c = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, seed=8, progress=False)
    for x, y in zip(a, b):
        assert np.array_equal(x.numbers, y.numbers) and np.allclose(x.positions, y.positions)
        assert np.allclose(x.cell[:], y.cell[:])
    assert not all(np.allclose(x.positions, z.positions) for x, z in zip(a, c))


def test_batching_and_steps(shipped):
    out = shipped.sample("Na Cl", n_atoms=4, n_samples=5, batch_size=2, steps=5, seed=0, progress=False)
    assert len(out) == 5 and all(a.info["steps"] == 5 for a in out)


def test_trajectory_from_noise_to_crystal(shipped):
    trajs = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, steps=6, seed=0, return_trajectory=True,
                           progress=False)
    assert len(trajs) == 2 and all(len(t) == 7 for t in trajs)
    first, last = trajs[0][0], trajs[0][-1]
    assert first.info["t"] == 1.0 and last.info["t"] == 0.0
    assert (first.numbers == 0).all()                                    # all types masked at t=1
    assert set(last.get_chemical_symbols()) == {"Ba", "Ti", "O"}
    ts = [f.info["t"] for f in trajs[0]]
    assert ts == sorted(ts, reverse=True)


def test_callback_can_stop_cleanly(shipped):
    seen = []

    def stop_after_three(info):
        seen.append(info["step"])
        assert len(info["atoms"]) == 2 and 0 < info["t"] < 1
        return info["step"] >= 3

    out = shipped.sample("Ba Ti O", n_atoms=5, n_samples=4, batch_size=2, steps=10, seed=0,
                         callback=stop_after_three, progress=False)
    assert seen == [1, 2, 3]
    assert len(out) == 2 and not any(a.info["complete"] for a in out)
    assert all(set(a.get_chemical_symbols()) == {"Ba", "Ti", "O"} for a in out)
    again = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, steps=3, seed=0, progress=False)
    assert all(a.info["complete"] for a in again)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt="Ba Ti O", n_atoms=30), "above the model's maximum of 20"),
    (dict(prompt="Qq"), "Qq is not an element"),
    (dict(prompt="Ba Ti O", n_atoms=5, n_samples=0), "n_samples must be a whole number >= 1"),
    (dict(prompt="Ba Ti O", n_atoms=5, steps=0), "steps must be a whole number >= 1 or 'full'"),
    (dict(prompt="Ba Ti O", n_atoms=5, batch_size=-1), "batch_size must be a whole number >= 1"),
])
def test_bad_arguments_raise_clear_errors(shipped, kwargs, message):
    with pytest.raises(PromptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        shipped.sample(progress=False, **kwargs)


def test_checksum_refusal(tmp_path):
    path = tmp_path / "mp20.pt"
    shutil.copy(DEFAULT_WEIGHTS, path)
    shutil.copy(DEFAULT_WEIGHTS.with_suffix(".json"), path.with_suffix(".json"))
    assert load_model(path, device="cpu") is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or was replaced"):
        load_model(path, device="cpu")
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="no mp20.json"):
        load_model(path, device="cpu")


class _Exploit:
    def __reduce__(self):
        return (shutil.rmtree, ("/nonexistent-crystal-lab-test",))


def test_foreign_file_never_runs_code(tmp_path):
    import hashlib

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state_dict": _Exploit()}))
    meta = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a loadable crystal_lab checkpoint"):
        load_model(path, device="cpu")
    torch.save({"hello": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not a crystal_lab checkpoint"):
        load_model(path, device="cpu", verify=False)


def test_tiny_train_then_sample_and_resume(tmp_path):
    structures = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43),
                  bulk("Cu", "fcc", a=3.6), bulk("MgO", "rocksalt", a=4.2)]
    from crystal_lab.train import read_log, train

    model = train(structures=structures, epochs=2, hidden=16, layers=1, batch_size=2,
                  out_dir=tmp_path, progress=False)
    assert (tmp_path / "last.pt").exists()
    log = read_log(tmp_path / "log.csv")
    assert log["epoch"] == [1.0, 2.0] and all(np.isfinite(log["loss"]))
    assert model.config.n_atoms_hist == {1: 0.25, 2: 0.75}
    out = model.sample("Na Cl", n_atoms=2, n_samples=2, steps=4, seed=0, progress=False)
    assert all(sorted(a.get_chemical_symbols()) == ["Cl", "Na"] for a in out)
    train(structures=structures, epochs=3, out_dir=tmp_path, resume=tmp_path / "last.pt", progress=False)
    assert read_log(tmp_path / "log.csv")["epoch"] == [1.0, 2.0, 3.0]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 6


def test_training_reduces_the_loss_on_one_crystal():
    torch.manual_seed(0)
    model = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))
    batch = cl.CrystalBatch.from_atoms([bulk("NaCl", "rocksalt", a=5.6)] * 16, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        loss = model.loss(batch, g)
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
        losses.append(float(loss["loss"]))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
