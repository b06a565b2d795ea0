import json
import pickle
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from ase.build import bulk

import crystal_lab as cl
from crystal_lab.model import checkpoint
from crystal_lab.model.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_model
from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig
from crystal_lab.model.limits import MAX_BATCH_SIZE, MAX_SAMPLES, MAX_STEPS
from crystal_lab.prompts import PromptError


@pytest.fixture(scope="module")
def shipped():
    return load_model(device="cpu")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)).eval()


def test_shipped_model_loads_offline(shipped):
    assert isinstance(shipped, CrystalDiffusionModel)
    assert not shipped.training and shipped.device.type == "cpu"
    assert shipped.config.max_atoms == 20
    # fitted on MP-20, not the default
    assert abs(sum(shipped.config.n_atoms_hist.values()) - 1) < 1e-6


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
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.numbers, y.numbers) and np.allclose(x.positions, y.positions)
        assert np.allclose(x.cell[:], y.cell[:])
    assert not all(np.allclose(x.positions, z.positions) for x, z in zip(a, c, strict=True))


def test_batching_and_steps(shipped):
    out = shipped.sample("Na Cl", n_atoms=4, n_samples=5, batch_size=2, steps=5, seed=0,
                         progress=False)
    assert len(out) == 5 and all(a.info["steps"] == 5 for a in out)


def test_trajectory_from_noise_to_crystal(shipped):
    # the free model (space_group=1): every atom's type is masked at t=1 and revealed on the way
    trajs = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, steps=6, seed=0, space_group=1,
                           return_trajectory=True, progress=False)
    assert len(trajs) == 2 and all(len(t) == 7 for t in trajs)
    first, last = trajs[0][0], trajs[0][-1]
    assert first.info["t"] == 1.0 and last.info["t"] == 0.0
    assert (first.numbers == 0).all()                                    # all types masked at t=1
    assert set(last.get_chemical_symbols()) == {"Ba", "Ti", "O"}
    ts = [f.info["t"] for f in trajs[0]]
    assert ts == sorted(ts, reverse=True)


def test_default_trajectory_keeps_its_template(shipped):
    """The default draws a symmetry template: it fixes every atom's element from the first frame
    (nothing is masked), and the finished crystal has the template's space group."""
    import spglib

    from crystal_lab.symmetry.templates import Template

    trajs = shipped.sample("Ba Ti O", n_atoms=5, n_samples=2, steps=6, seed=0,
                           return_trajectory=True, progress=False)
    assert len(trajs) == 2 and all(len(t) == 7 for t in trajs)
    for traj in trajs:
        last = traj[-1]
        template = Template.from_info(last.info["template"])
        assert traj[0].info["t"] == 1.0 and last.info["t"] == 0.0
        assert all(np.array_equal(f.numbers, last.numbers) for f in traj)
        assert set(last.get_chemical_symbols()) == {"Ba", "Ti", "O"}
        cell = (last.cell[:], last.get_scaled_positions(), last.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == template.space_group


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
    ({"prompt": "Ba Ti O", "n_atoms": 30}, "above the model's maximum of 20"),
    ({"prompt": "Qq"}, "Qq is not an element"),
    ({"prompt": "Ba Ti O", "n_atoms": 5, "n_samples": 0}, "n_samples must be a whole number >= 1"),
    ({"prompt": "Ba Ti O", "n_atoms": 5, "steps": 0},
     "steps must be a whole number >= 1 or 'full'"),
    ({"prompt": "Ba Ti O", "n_atoms": 5, "batch_size": -1},
     "batch_size must be a whole number >= 1"),
])
def test_bad_arguments_raise_clear_errors(shipped, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
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
    from crystal_lab.training.loop import read_log, train

    model = train(structures=structures, epochs=2, hidden=16, layers=1, batch_size=2,
                  out_dir=tmp_path, progress=False)
    assert (tmp_path / "last.pt").exists()
    log = read_log(tmp_path / "log.csv")
    assert log["epoch"] == [1.0, 2.0] and all(np.isfinite(log["loss"]))
    assert model.config.n_atoms_hist == {1: 0.25, 2: 0.75}
    out = model.sample("Na Cl", n_atoms=2, n_samples=2, steps=4, seed=0, progress=False)
    assert all(sorted(a.get_chemical_symbols()) == ["Cl", "Na"] for a in out)
    train(structures=structures, epochs=3, out_dir=tmp_path, resume=tmp_path / "last.pt",
          progress=False)
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


# ---------------------------------------------------------------- checkpoints and config

def v1_checkpoint(model: CrystalDiffusionModel) -> dict:
    """``model`` written the way a ``crystal_lab/1`` file holds it: a flat config, the denoiser's
    weights alone (float16) and the noise statistics as a plain dict."""
    flat = {k: v for group in model.config.to_dict().values() for k, v in group.items()}
    lat = model.noise.lattice
    return {
        "format": "crystal_lab/1",
        "config": flat,
        "state_dict": {
            k: v.half() if v.is_floating_point() else v
            for k, v in model.denoiser.state_dict().items()
        },
        "noise": {
            "sigma_min": float(model.noise.coords.sigma_min),
            "sigma_max": float(model.noise.coords.sigma_max),
            "num_elements": model.config.network.num_elements,
            "lattice": {
                "mean": lat.mean.tolist(), "std": lat.std.tolist(),
                "volume_per_atom": float(lat.volume_per_atom),
            },
        },
    }


def test_shipped_weights_are_in_the_current_format(shipped):
    raw = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    assert raw["format"] == checkpoint.FORMAT == "crystal_lab/2"
    assert set(raw["config"]) == {"network", "training", "sampler", "data"}
    # every tensor, nothing left to fill in
    assert set(raw["state_dict"]) == set(shipped.state_dict())
    assert {v.dtype for k, v in raw["state_dict"].items() if k.startswith("denoiser.")} == {
        torch.float16
    }
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    n_params = sum(p.numel() for p in shipped.denoiser.parameters())
    # float16: 2 bytes each
    assert meta["bytes"] == DEFAULT_WEIGHTS.stat().st_size < 2 * n_params + 1_000_000


def test_a_v1_file_upgrades_to_the_same_model(tmp_path):
    """A crystal_lab/1 file loads (through checkpoint.upgrade_v1); saved again it is today's format
    and loads back to the same tensors and the same samples."""
    torch.manual_seed(1)
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=2,
                                              n_atoms_hist={4: 0.5, 6: 0.5})).eval()
    model.noise.lattice.mean.add_(0.1)
    model.noise.lattice.volume_per_atom.fill_(17.5)
    path = tmp_path / "old.pt"
    torch.save(v1_checkpoint(model), path)
    old = load_model(path, device="cpu", verify=False)
    assert old.config == model.config
    assert torch.equal(old.noise.lattice.mean, model.noise.lattice.mean)
    assert old.noise.lattice.volume_per_atom.item() == 17.5
    assert torch.equal(old.noise.coords.log_sigma_grid, model.noise.coords.log_sigma_grid)
    checkpoint.save(old, tmp_path / "v2.pt", half=True)
    saved = torch.load(tmp_path / "v2.pt", weights_only=True)
    assert saved["format"] == "crystal_lab/2" and set(saved["config"]) == {
        "network", "training", "sampler", "data",
    }
    assert saved["state_dict"]["noise.lattice.mean"].dtype == torch.float32
    again = load_model(tmp_path / "v2.pt", device="cpu")
    assert again.config == old.config
    for (k, a), (k2, b) in zip(old.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and a.dtype == b.dtype and torch.equal(a, b), k   # float16 values both ways
    x = old.sample("Ba Ti O", n_atoms=6, n_samples=2, steps=4, seed=3, progress=False)
    y = again.sample("Ba Ti O", n_atoms=6, n_samples=2, steps=4, seed=3, progress=False)
    assert all(
        np.array_equal(a.positions, b.positions) and np.array_equal(a.numbers, b.numbers)
        for a, b in zip(x, y, strict=True)
    )
    broken = v1_checkpoint(model)
    del broken["noise"]["lattice"]
    torch.save(broken, path)
    with pytest.raises(CheckpointError,
                       match="old.pt: a crystal_lab/1 checkpoint with a missing or bad part"):
        load_model(path, device="cpu", verify=False)


def test_noise_tables_are_buffers_that_travel_with_the_model(tiny_model):
    """No hand-written noise state: the schedules' tables are buffers in the model's state_dict and
    follow .to() / .double() like the weights."""
    from crystal_lab.model.noise import CrystalNoise

    assert CrystalNoise.state_dict is torch.nn.Module.state_dict
    keys = set(tiny_model.state_dict())
    assert {"noise.coords.log_sigma_grid", "noise.lattice.std",
            "noise.lattice.volume_per_atom"} <= keys
    double = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)).double()
    assert double.noise.lattice.mean.dtype == torch.float64
    meta = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)).to("meta")
    assert {b.device.type for b in meta.buffers()} == {"meta"}


def test_model_config_groups_and_the_first_flat_names():
    from crystal_lab.model.diffusion import DataStats, NetworkConfig, TrainingConfig
    from crystal_lab.model.sampler import SamplerConfig

    c = ModelConfig(hidden=64, layers=3, default_steps=20, p_csp=0.5, n_atoms_hist={4: 1.0})
    assert c.network == NetworkConfig(hidden=64, layers=3)
    assert c.sampler == SamplerConfig(default_steps=20) and c.training == TrainingConfig(p_csp=0.5)
    assert c.data == DataStats({4: 1.0})
    # flat names read their group
    assert (c.hidden, c.default_steps, c.corrector_steps) == (64, 20, 0)
    c.corrector_steps = 1
    assert c.sampler.corrector_steps == 1
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(AttributeError, match="no setting 'hiden'"):
        ModelConfig(hiden=64)
    with pytest.raises(AttributeError, match="no setting 'hiden'"):
        _ = c.hiden
    bad = {"format": "crystal_lab/2", "config": {"network": {"width": 3}}, "state_dict": {}}
    with pytest.raises(CheckpointError, match="config does not fit"):
        checkpoint.from_dict(bad)


# ---------------------------------------------------------------- conditions, guidance, bad input

def test_old_weights_load_and_new_conditions_start_at_zero(shipped):
    """Weights without the inverse-design condition layers load; those layers are exact zeros, so
    a warm-started model computes what those weights computed."""
    from crystal_lab.model.denoiser import Denoiser

    fresh = Denoiser(hidden=16, layers=1)
    assert fresh.system.weight.abs().sum() == 0 and fresh.energy[-1].weight.abs().sum() == 0
    ckpt = v1_checkpoint(shipped)
    state = {
        k: v for k, v in ckpt["state_dict"].items() if not k.startswith(("system.", "energy."))
    }
    ckpt = {**ckpt, "state_dict": state}
    old = checkpoint.from_dict(ckpt).eval()
    B, N = 2, 3
    g = torch.Generator().manual_seed(0)
    frac, lat = torch.rand(B, N, 3, generator=g), torch.randn(B, 6, generator=g)
    tokens = torch.tensor([[8, 22, 56], [11, 17, 0]])
    mask = tokens > 0
    lattice = old.noise.lattice.to_lattice(lat, mask.sum(1))
    cond = torch.zeros(B, 101)
    cond[:, 100] = 1.0
    t = torch.tensor([0.5, 0.3])
    with torch.no_grad():
        plain = old.denoiser(frac, tokens, lat, lattice, t, cond, mask)
        asked = old.denoiser(frac, tokens, lat, lattice, t, cond, mask, system=torch.tensor([7, 2]),
                             energy=torch.tensor([-1.5, 0.0]),
                             energy_given=torch.tensor([True, False]))
    for a, b in zip(plain, asked, strict=True):
        assert torch.equal(a, b)
    bad = {**ckpt, "state_dict": {k: v for k, v in state.items() if not k.startswith("token")}}
    with pytest.raises(CheckpointError, match="do not fit"):
        checkpoint.from_dict(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": "Og1"}, r"Og is beyond this model's elements \(H to Fm, Z = 1-100\)"),
    ({"prompt": "Ba", "seed": "abc"}, r"seed must be a whole number in \[0, "),
    ({"prompt": "Ba", "seed": -1}, r"seed must be a whole number in \[0, "),
    ({"prompt": "Ba", "n_samples": 10**6},
     r"1000000 samples would take about .* h on cpu .*allow_large=True"),
    ({"prompt": "Ba", "crystal_system": "cubicc"}, "crystal_system must be one of triclinic"),
    ({"prompt": "Ba", "formation_energy": "low"}, "formation_energy must be a finite number"),
    ({"prompt": "Ba", "guidance": -1}, r"guidance must be a number in \[0, 5\] \(1 = no guidance"),
])
def test_bad_input_gets_one_line_errors(shipped, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        shipped.sample(**kwargs, progress=False)
    assert "\n" not in str(info.value)


def test_guidance_and_conditions_sample_the_prompt(tiny_model):
    """Guided and conditioned sampling honours the prompt exactly, and w = 1 is plain sampling."""
    plain = tiny_model.sample("Na Cl", n_atoms=4, n_samples=2, steps=3, seed=1, progress=False)
    same = tiny_model.sample("Na Cl", n_atoms=4, n_samples=2, steps=3, seed=1, progress=False,
                             guidance=1.0)
    for a, b in zip(plain, same, strict=True):
        assert np.allclose(a.get_scaled_positions(), b.get_scaled_positions())
    guided = tiny_model.sample("Na Cl", n_atoms=4, n_samples=2, steps=3, seed=1, progress=False,
                               guidance=2.0, crystal_system="cubic", formation_energy=-2.0)
    assert all(set(a.get_chemical_symbols()) == {"Na", "Cl"} for a in guided)
    assert not np.allclose(plain[0].get_scaled_positions(), guided[0].get_scaled_positions())


def test_fast_trainer_warm_start_and_export(tmp_path, tiny_model):
    """train(init=...) starts from a weights file with a fresh optimiser; export ships float16 EMA
    weights with a sha256 sidecar that load_model verifies."""
    from crystal_lab.training.loop import TensorData, export, lr_at, train

    checkpoint.save(tiny_model, tmp_path / "init.pt")
    structures = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43)] * 4
    for a, sg, e in zip(structures, [225, 227] * 4, [-2.0, 0.0] * 4, strict=True):
        a.info.update({"spacegroup.number": sg, "formation_energy_per_atom": e})
    data = TensorData.from_atoms(structures, max_atoms=20)
    assert data.system.tolist()[:2] == [7, 7] and data.energy.tolist()[:2] == [-2.0, 0.0]
    model = train(tensors=data, init=tmp_path / "init.pt", epochs=2, batch_size=4,
                  out_dir=tmp_path / "run", progress=False, cosine=True)
    assert model.config.hidden == tiny_model.config.hidden
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 4 and state["epoch"] == 2
    digest = export(tmp_path / "run" / "last.pt", tmp_path / "ship.pt", hardware="test")
    shipped = load_model(tmp_path / "ship.pt", device="cpu")
    assert json.loads((tmp_path / "ship.json").read_text())["sha256"] == digest
    assert next(shipped.denoiser.parameters()).dtype == torch.float32
    assert lr_at(0, 1.0, 10) == pytest.approx(0.1) and lr_at(50, 1.0, 10) == 1.0
    assert lr_at(50, 1.0, 10, progress=1.0) == pytest.approx(0.05)


# ---------------------------------------------------------------- check(): sample's checks alone
BAD_SAMPLE_ARGUMENTS = [
    {"prompt": "Ba Ti O", "n_atoms": 30}, {"prompt": "Qq"}, {"prompt": "Og1"},
    {"prompt": "BaTiO3", "n_atoms": 7}, {"prompt": "Ba Ti O", "n_atoms": 5, "n_samples": 0},
    {"prompt": "Ba Ti O", "n_atoms": 5, "n_samples": 2.0},
    {"prompt": "Ba Ti O", "n_atoms": 5, "steps": 0},
    {"prompt": "Ba Ti O", "n_atoms": 5, "steps": "many"},
    {"prompt": "Ba Ti O", "n_atoms": 5, "steps": 10**6},
    {"prompt": "Ba Ti O", "n_atoms": 5, "batch_size": -1}, {"prompt": "Ba", "seed": "abc"},
    {"prompt": "Ba", "n_samples": 10**6}, {"prompt": "Ba", "crystal_system": "cubicc"},
    {"prompt": "Ba", "formation_energy": "low"}, {"prompt": "Ba", "guidance": -1},
    {"prompt": "Ba", "callback": 123}, {"prompt": "cubic Ba Ef=1e3"},
]


@pytest.mark.parametrize("kwargs", BAD_SAMPLE_ARGUMENTS)
def test_check_raises_exactly_what_sample_raises(tiny_model, kwargs):
    with pytest.raises((ValueError, TypeError)) as from_check:
        tiny_model.check(**kwargs)
    with pytest.raises((ValueError, TypeError)) as from_sample:
        tiny_model.sample(**kwargs, progress=False)
    assert type(from_check.value) is type(from_sample.value)
    assert str(from_check.value) == str(from_sample.value)
    assert "\n" not in str(from_check.value)


def test_check_returns_the_condition_and_does_not_sample(tiny_model):
    calls = []
    cond = tiny_model.check("cubic BaTiO3 Ef=-1.5", n_atoms=10, n_samples=3, steps=4,
                            callback=calls.append)
    assert isinstance(cond, cl.Condition)
    assert (cond.kind, cond.counts, cond.crystal_system, cond.formation_energy) == (
        "formula", {"Ba": 2, "Ti": 2, "O": 6}, "cubic", -1.5)
    assert calls == []


def test_sample_accepts_a_parsed_condition(tiny_model):
    for text, n_atoms in [("Na Cl", 4), ("NaCl", 4), ("cubic Si Ef=-0.5", 2), ("", 3)]:
        cond = cl.parse_prompt(text, n_atoms=n_atoms)
        from_text = tiny_model.sample(text, n_atoms=n_atoms, n_samples=2, steps=3, seed=5,
                                      progress=False)
        from_cond = tiny_model.sample(cond, n_samples=2, steps=3, seed=5, progress=False)
        for a, b in zip(from_text, from_cond, strict=True):
            assert np.array_equal(a.numbers, b.numbers) and np.allclose(a.positions, b.positions)
            assert a.info == b.info


def test_a_condition_is_checked_against_this_model_and_can_be_overridden(tiny_model):
    big = cl.parse_prompt("Si", n_atoms=24, max_atoms=24)
    with pytest.raises(PromptError, match="n_atoms=24 is above the model's maximum of 20"):
        tiny_model.check(big)
    cond = cl.parse_prompt("BaTiO3")
    assert tiny_model.check(cond, n_atoms=10).counts == {"Ba": 2, "Ti": 2, "O": 6}
    assert tiny_model.check(cond, crystal_system="cubic").crystal_system == "cubic"


def test_whole_numbers_accept_numpy_integers_and_refuse_the_rest(tiny_model):
    out = tiny_model.sample("Na Cl", n_atoms=np.int64(4), n_samples=np.int32(2), steps=np.int64(2),
                            seed=np.int64(3), batch_size=np.int16(1), progress=False)
    assert [len(a) for a in out] == [4, 4] and all(a.info["steps"] == 2 for a in out)
    for name in ("n_atoms", "n_samples", "steps", "seed", "batch_size"):
        for bad in (True, 1.5, 4.0, "4", [4]):
            with pytest.raises(ValueError,
                               match=f"{name} must be a whole number (>=|in) \\[?[01]") as err:
                tiny_model.check("Na Cl", **({"n_atoms": 4} | {name: bad}))
            assert repr(bad) in str(err.value)
            # n_atoms is part of the prompt; the others are numbers of the wrong type
            assert isinstance(err.value, PromptError) == (name == "n_atoms")
            assert isinstance(err.value, TypeError) == (name != "n_atoms")


# ---------------------------------------------------------------- bad input classes (sample)
@pytest.mark.parametrize("n", [21, 30])
def test_too_many_elements_without_n_atoms_is_a_plain_error(tiny_model, n):
    from ase.data import chemical_symbols

    with pytest.raises(PromptError, match=f"{n} elements cannot fit") as err:
        tiny_model.sample(chemical_symbols[1:n + 1], progress=False)
    assert "cannot be empty" not in str(err.value)


def test_sizes_the_training_data_never_saw_are_a_plain_error():
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1,
                                              n_atoms_hist={2: 1.0, 3: 0.0})).eval()
    with pytest.raises(PromptError, match="the training data hold no cell of 3 to 20 atoms"):
        model.check("Na Cl O")
    assert len(model.sample("Na Cl O", n_atoms=3, steps=2, progress=False)[0]) == 3


@pytest.mark.parametrize("callback", [123, "print", [print], object()])
def test_a_callback_that_cannot_be_called_is_refused_before_sampling(
    tiny_model, monkeypatch, callback
):
    import crystal_lab.model.diffusion as model_module

    monkeypatch.setattr(model_module, "sample_batch",
                        lambda *a, **k: pytest.fail("sampling started"))
    with pytest.raises(TypeError, match="callback must be a function") as err:
        tiny_model.sample("Na Cl", n_atoms=2, callback=callback, progress=False)
    assert not isinstance(err.value, PromptError)      # a callback is not a prompt


@pytest.mark.parametrize("steps", [MAX_STEPS + 1, 10**6, np.int64(5000)])
def test_steps_are_capped_with_an_estimate_and_allow_large(tiny_model, monkeypatch, steps):
    import crystal_lab.model.diffusion as model_module

    with pytest.raises(PromptError,
                       match=rf"steps={int(steps)} would take about \d+ (s|min|h) on cpu "
                                          rf"for 3 structure\(s\) \(cap {MAX_STEPS}; 'full' is "
                                          r"1000\); "
                                          r"pass allow_large=True"):
        tiny_model.sample("Na Cl", n_atoms=2, n_samples=3, steps=steps, progress=False)
    assert tiny_model.check("Na Cl", n_atoms=2, steps=steps,
                            allow_large=True).elements == ("Na", "Cl")
    assert tiny_model.check("Na Cl", n_atoms=2, steps="full").kind == "chemical_system"
    seen = {}

    class Stop(Exception):
        pass

    def first_batch(net, noise, config, chunk, steps, *args, **kwargs):
        seen["steps"] = steps
        raise Stop

    monkeypatch.setattr(model_module, "sample_batch", first_batch)
    with pytest.raises(Stop):
        tiny_model.sample("Na Cl", n_atoms=2, steps=steps, allow_large=True, progress=False)
    assert seen["steps"] == int(steps)


def test_the_estimate_grows_with_samples_and_steps(tiny_model):
    base = tiny_model.estimate_seconds(10, 50)
    assert tiny_model.estimate_seconds(20, 50) == pytest.approx(2 * base)
    assert tiny_model.estimate_seconds(10, 500) == pytest.approx(10 * base)


@pytest.mark.parametrize("kwargs", [{"formation_energy": -9.0}, {"formation_energy": 2.5},
                                    {"prompt": "Na Cl Ef=-6"}])
def test_targets_outside_the_training_range_warn(tiny_model, kwargs):
    args = {"prompt": "Na Cl", "n_atoms": 2, "steps": 2, "progress": False} | kwargs
    with pytest.warns(UserWarning, match=r"outside the training data's -4.47 to 0.08 eV/atom"):
        tiny_model.sample(**args)


def test_targets_inside_the_training_range_do_not_warn(tiny_model, recwarn):
    tiny_model.sample("Na Cl", n_atoms=2, steps=2, formation_energy=-1.0, progress=False)
    assert not [w for w in recwarn if "training data" in str(w.message)]


def test_the_prompts_conditions_are_recorded_and_survive_extxyz(tiny_model, tmp_path):
    from crystal_lab.workspace import read_structures, write_structures

    out = tiny_model.sample("cubic Na Cl Ef=-2", n_atoms=2, n_samples=2, steps=2, seed=4,
                            progress=False)
    out += tiny_model.sample("Na Cl", n_atoms=2, steps=2, seed=4, crystal_system="hexagonal",
                             progress=False)
    out += tiny_model.sample("NaCl", steps=2, seed=4, progress=False)
    assert [a.info.get("crystal_system") for a in out] == ["cubic", "cubic", "hexagonal", None]
    assert [a.info.get("formation_energy_target") for a in out] == [-2.0, -2.0, None, None]
    assert [a.info["prompt"] for a in out] == ["Na Cl", "Na Cl", "Na Cl", "NaCl"]
    paths = write_structures(out, tmp_path)
    back = read_structures(paths[-1])
    assert [a.info.get("crystal_system") for a in back] == ["cubic", "cubic", "hexagonal", None]
    assert [a.info.get("formation_energy_target") for a in back] == [-2.0, -2.0, None, None]


@pytest.mark.parametrize("prompts", ["TiO2", "Na Cl", cl.parse_prompt("NaCl"), None, 5, {"NaCl"}])
def test_sample_many_refuses_anything_but_a_list_of_prompts(tiny_model, prompts):
    with pytest.raises(PromptError, match="sample_many takes a list of prompts"):
        tiny_model.sample_many(prompts, progress=False)


def test_sample_many_takes_texts_and_conditions(tiny_model):
    out = tiny_model.sample_many(["NaCl", cl.parse_prompt("Si", n_atoms=2), ("Mg", "O")],
                                 n_atoms=[2, None, 4], steps=2, seed=0, progress=False)
    assert [len(a) for a in out] == [2, 2, 4]
    assert [a.info["prompt"] for a in out] == ["NaCl", "Si", "Mg O"]
    with pytest.raises(PromptError, match="steps=2000 would take"):
        tiny_model.sample_many(["NaCl"], steps=2000, progress=False)


@pytest.mark.parametrize("batch_size", [MAX_BATCH_SIZE + 1, 5000, 10**6])
def test_batch_size_is_capped_with_a_memory_estimate(tiny_model, batch_size):
    n = min(batch_size, MAX_SAMPLES)
    with pytest.raises(
        PromptError,
        match=rf"batches of {n} structures would need about [\d.]+ GB of memory .*"
        rf"\(batch_size cap {MAX_BATCH_SIZE}\).*allow_large=True",
    ):
        tiny_model.check("Na Cl", n_atoms=2, n_samples=n, batch_size=batch_size)
    # a batch larger than the run is only as large as the run
    assert tiny_model.check("Na Cl", n_atoms=2, n_samples=3, batch_size=batch_size).n_atoms == 2
    assert tiny_model.check("Na Cl", n_atoms=2, n_samples=n, batch_size=batch_size,
                            allow_large=True)
    assert tiny_model.estimate_bytes(2 * batch_size) == pytest.approx(
        2 * tiny_model.estimate_bytes(batch_size)
    )


@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"])
def test_allow_large_must_be_a_bool(tiny_model, value):
    with pytest.raises(PromptError, match="allow_large must be True or False"):
        tiny_model.check("Na Cl", n_atoms=2, n_samples=10**6, allow_large=value)
    with pytest.raises(PromptError, match="allow_large must be True or False"):
        tiny_model.sample_many(["NaCl"], allow_large=value, progress=False)


def test_sample_many_takes_numpy_sizes(tiny_model):
    out = tiny_model.sample_many(["NaCl", "MgO"], n_atoms=np.array([2, 4]), steps=2, seed=0,
                                 progress=False)
    assert [len(a) for a in out] == [2, 4]


# the shipped model's free samples (space group 1, P1), measured on main at 65f5cc8 (before the
# sampler's step was factored out, when the free model was the default): refactoring the sampler
# must not move them
SHIPPED_SAMPLES = [
    ({"space_group": 1},
     [[0.9914, 0.4987, 0.1327], [0.1959, 0.6645, 0.5315], [0.6649, 0.1169, 0.4734],
      [0.8494, 0.2796, 0.8688], [0.3406, 0.2907, 0.8238]],
     [3.85, 3.756, 6.663, 103.318, 106.186, 91.58]),
    # the same with guidance and a crystal-system word: space group 1 still samples freely
    ({"guidance": 2.0, "property_guidance": 1.0, "crystal_system": "cubic", "space_group": 1},
     [[0.0415, 0.2305, 0.0203], [0.0372, 0.616, 0.5768], [0.5393, 0.1096, 0.5804],
      [0.0267, 0.1329, 0.6437], [0.5396, 0.6773, 0.0162]],
     [4.032, 4.006, 4.71, 97.997, 90.938, 89.81]),
]


@pytest.mark.parametrize("kwargs, positions, cellpar", SHIPPED_SAMPLES)
def test_the_shipped_model_samples_what_it_sampled(shipped, kwargs, positions, cellpar):
    atoms = shipped.sample("Ba Ti O", n_atoms=5, seed=11, steps=6, progress=False, **kwargs)[0]
    assert atoms.get_chemical_formula() == "BaO3Ti"
    np.testing.assert_allclose(atoms.get_scaled_positions(), positions, atol=2e-4)
    np.testing.assert_allclose(atoms.cell.cellpar(), cellpar, atol=2e-3)


def test_the_callback_sees_every_step_and_the_score_it_used(tiny_model):
    """The callback runs after every step, the last included, with the score that step used;
    asking to stop after the last step changes nothing (the structures are finished)."""
    seen = []

    def record(info):
        seen.append(info)
        return info["step"] == info["n_steps"]

    out = tiny_model.sample("Na Cl", n_atoms=3, n_samples=2, steps=4, seed=0, callback=record,
                            progress=False)
    assert [i["step"] for i in seen] == [1, 2, 3, 4] and seen[-1]["t"] == 0.0
    assert all(a.info["complete"] for a in out)
    assert all(len(i["score"]) == 2 and i["score"][0].shape == (3, 3) for i in seen)
    assert all(np.isfinite(s).all() for i in seen for s in i["score"])
    plain = tiny_model.sample("Na Cl", n_atoms=3, n_samples=2, steps=4, seed=0, progress=False)
    for a, b in zip(out, plain, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)


@pytest.mark.parametrize("name, bad, error", [
    ("guidance", 1e6, ValueError), ("guidance", 5.5, ValueError), ("guidance", -1, ValueError),
    ("guidance", float("nan"), ValueError), ("guidance", "2", TypeError),
    ("property_guidance", 1e6, ValueError), ("property_guidance", 5.5, ValueError),
    ("property_guidance", float("inf"), ValueError), ("property_guidance", True, TypeError),
    ("seed", -1, ValueError), ("seed", 2**63, ValueError), ("seed", 3.0, TypeError),
])
def test_guidance_and_seeds_have_a_range_checked_before_sampling(
    tiny_model, monkeypatch, name, bad, error
):
    """Guidance weights beyond the measured bounds of model.limits are refused with the reason
    (the samples break), seeds outside the signed 64-bit range too, before any work."""
    import crystal_lab.model.diffusion as model_module
    from crystal_lab.model.limits import MAX_GUIDANCE, MAX_PROPERTY_GUIDANCE

    monkeypatch.setattr(model_module, "sample_batch",
                        lambda *a, **k: pytest.fail("sampling started"))
    with pytest.raises(error, match=rf"^{name} must be a") as err:
        tiny_model.sample("Ti O", n_atoms=3, crystal_system="cubic", progress=False, **{name: bad})
    assert not isinstance(err.value, PromptError) and "\n" not in str(err.value)
    if name != "seed":
        assert "samples break" in str(err.value)
        with pytest.raises(error, match=rf"^{name} must be a"):
            tiny_model.sample_many(["TiO2"], progress=False,
                                   **{name: bad}) if name == "property_guidance" \
                else tiny_model.check("Ti O", **{name: bad})
    # MatterGen's gamma = 2 stays allowed
    assert MAX_GUIDANCE >= 2 and MAX_PROPERTY_GUIDANCE >= 1


def test_guidance_at_the_bounds_is_accepted(tiny_model):
    from crystal_lab.model.limits import MAX_GUIDANCE, MAX_PROPERTY_GUIDANCE

    out = tiny_model.sample("cubic Ti O", n_atoms=3, steps=2, seed=2**63 - 1, progress=False,
                            guidance=MAX_GUIDANCE,
                            property_guidance=np.float32(MAX_PROPERTY_GUIDANCE))
    assert len(out) == 1 and out[0].info["seed"] == 2**63 - 1


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "0"])
def test_a_training_seed_out_of_range_is_refused_before_the_data_are_read(
    tmp_path, monkeypatch, seed
):
    """train(seed=-1) once failed in numpy only after parsing the whole data set (11.6 s)."""
    from crystal_lab.training import loop, run

    monkeypatch.setattr(run, "load_dataset", lambda *a, **k: pytest.fail("the data were read"))
    with pytest.raises(ValueError, match=r"^seed must be a whole number in \[0, "):
        loop.train(data="mp_20", split="train", out_dir=tmp_path, epochs=1, seed=seed,
                   progress=False)
    assert not any(tmp_path.iterdir())
