"""Symmetric training (DiffCSP++'s constrained noise, ``TrainConfig.symmetric``): the noisy
crystal keeps its own space group, the objective trains, and a symmetric run resumes."""
from __future__ import annotations

import numpy as np
import pytest
import spglib
import torch
from ase.build import bulk
from ase.spacegroup import crystal

from crystal_lab.model.noise import CrystalNoise
from crystal_lab.symmetry.noise import SymmetricNoise, crystal_sites, dataset_sites
from crystal_lab.training.batches import TensorData
from crystal_lab.training.loop import read_log, train
from crystal_lab.training.train_config import RunMismatch

# crystals with free Wyckoff coordinates (wurtzite z, rutile x, CsCl-type none, hcp none) and
# special positions only, in several crystal families
CRYSTALS = {
    225: bulk("NaCl", "rocksalt", a=5.6), 227: bulk("Si", "diamond", a=5.43),
    194: bulk("Mg", "hcp", a=3.2, c=5.2), 186: bulk("ZnO", "wurtzite", a=3.25, c=5.2, u=0.38),
    136: crystal(["Ti", "O"], basis=[(0, 0, 0), (0.305, 0.305, 0)], spacegroup=136,
                 cellpar=[4.6, 4.6, 2.96, 90, 90, 90]),
    221: crystal(["Sr", "Ti", "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                 spacegroup=221, cellpar=[3.9] * 3 + [90] * 3),
}
TINY = {"hidden": 16, "layers": 1, "batch_size": 3, "progress": False}


def group(lattice, frac, numbers, symprec=0.1):
    data = spglib.get_symmetry_dataset((np.asarray(lattice, float), np.asarray(frac, float),
                                        np.asarray(numbers)), symprec=symprec)
    return None if data is None else int(data.number)


@pytest.fixture(scope="module")
def batch():
    """The crystals as padded tensors, their sites and a fitted noise."""
    tensors = TensorData.from_atoms(list(CRYSTALS.values()), 20)
    sites = [crystal_sites(tensors.lattice[i].numpy(), tensors.frac[i, :k].numpy(),
                           tensors.numbers[i, :k].numpy())
             for i, k in enumerate(tensors.n.tolist())]
    noise = CrystalNoise()
    noise.lattice.fit(tensors.lattice, tensors.n)
    return tensors, sites, noise


def test_each_crystal_gets_its_own_group(batch):
    _, sites, _ = batch
    assert [s.template.space_group for s in sites] == list(CRYSTALS)


@pytest.mark.parametrize("t", [0.3, 0.6])
def test_the_noisy_crystal_keeps_its_space_group_and_free_noise_does_not(batch, t):
    tensors, sites, noise = batch
    x0_lat = noise.lattice.to_params(tensors.lattice, tensors.n).float()
    times = torch.full((len(sites),), t)
    kept, free_kept = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        x, target, x_lat, eps, masked = SymmetricNoise(sites).add_noise(noise, tensors.frac, x0_lat,
                                                                      tensors.numbers, times)
        lat = noise.lattice.to_lattice(x_lat, tensors.n)
        free_x, _ = noise.coords.add_noise(tensors.frac, times[:, None])
        for i, (sg, k) in enumerate(zip(CRYSTALS, tensors.n.tolist(), strict=True)):
            kept.append(group(lat[i], x[i, :k], tensors.numbers[i, :k]) == sg)
            free_kept.append(group(tensors.lattice[i], free_x[i, :k], tensors.numbers[i, :k]) == sg)
            assert torch.isfinite(target[i, :k]).all() and torch.isfinite(eps[i]).all()
            # one mask draw per orbit: equivalent atoms masked together
            orbit = torch.as_tensor(sites[i].orbit)
            for o in orbit.unique():
                assert masked[i, :k][orbit == o].unique().numel() == 1
    assert all(kept)
    assert np.mean(free_kept) < 0.5   # the free process breaks the symmetry: the check can fail


def test_crystals_without_sites_keep_the_free_noise(batch):
    tensors, sites, noise = batch
    x0_lat = noise.lattice.to_params(tensors.lattice, tensors.n).float()
    times = torch.full((len(sites),), 0.5)
    torch.manual_seed(0)
    free = (*noise.coords.add_noise(tensors.frac, times[:, None]),
            *noise.lattice.add_noise(x0_lat, times))
    torch.manual_seed(0)
    out = SymmetricNoise([None] * len(sites)).add_noise(noise, tensors.frac, x0_lat,
                                                        tensors.numbers, times)
    for a, b in zip(free, out[:4], strict=True):
        assert torch.equal(a, b)


def test_sites_are_cached_per_data_set(batch, tmp_path):
    tensors, sites, _ = batch
    args = (tensors.lattice.numpy(), tensors.frac.numpy(), tensors.numbers.numpy(),
            tensors.n.numpy())
    first = dataset_sites(*args, cache_dir=tmp_path, digest="abc")
    assert len(list(tmp_path.glob("sites-abc-*.pt"))) == 1
    again = dataset_sites(*args, cache_dir=tmp_path, digest="abc")
    for a, b, c in zip(first, again, sites, strict=True):
        assert a.template == b.template == c.template
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_allclose(a.P, b.P)


def test_the_symmetric_loss_is_finite_and_decreases(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTAL_LAB_CACHE", str(tmp_path / "cache"))
    structures = list(CRYSTALS.values())
    model = train(structures=structures, out_dir=tmp_path / "run", symmetric=True, epochs=40,
                  lr=3e-3, warmup=1, **TINY)
    log = read_log(tmp_path / "run" / "log.csv")
    assert np.isfinite(log["loss"]).all()
    assert np.mean(log["loss"][-5:]) < np.mean(log["loss"][:5])
    assert model is not None


def test_a_symmetric_run_records_the_option_and_resumes_as_if_never_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTAL_LAB_CACHE", str(tmp_path / "cache"))
    structures = list(CRYSTALS.values())
    train(structures=structures, out_dir=tmp_path / "whole", symmetric=True, epochs=4, **TINY)
    train(structures=structures, out_dir=tmp_path / "split", symmetric=True, epochs=4, max_steps=3,
          **TINY)
    state = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert state["config"]["symmetric"] is True
    with pytest.raises(RunMismatch, match="symmetric"):
        train(resume=tmp_path / "split" / "last.pt", structures=structures, symmetric=False,
              progress=False)
    train(resume=tmp_path / "split" / "last.pt", structures=structures, max_steps=100,
          progress=False)
    whole, split = (
        read_log(tmp_path / "whole" / "log.csv"),
        read_log(tmp_path / "split" / "log.csv"),
    )
    assert whole["step"] == split["step"]
    np.testing.assert_allclose(whole["loss"], split["loss"], rtol=1e-5)
    assert len(list((tmp_path / "cache" / "symmetry").glob("sites-*.pt"))) == 1
