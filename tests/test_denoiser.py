"""E(3) invariance of the denoiser: rotate the lattice, permute atoms, translate coordinates."""
import numpy as np
import pytest
import torch
from ase import Atoms

from crystal_lab.data import CrystalBatch
from crystal_lab.model import CrystalDiffusionModel, ModelConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CrystalDiffusionModel(ModelConfig(hidden=32, layers=2)).double().eval()


@pytest.fixture(scope="module")
def crystal():
    rng = np.random.default_rng(0)
    cell = np.array([[4.1, 0.2, 0.0], [0.5, 3.7, 0.1], [0.3, -0.4, 5.2]])
    return Atoms(numbers=[8, 22, 56, 8, 8, 3], cell=cell, scaled_positions=rng.random((6, 3)), pbc=True)


def outputs(model, atoms, t=0.4, masked=(1, 4)):
    batch = CrystalBatch.from_atoms([atoms])
    frac, numbers, mask = batch.padded()
    tokens = numbers.clone()
    tokens[0, list(masked)] = 0
    n = mask.sum(1)
    params = model.noise.lattice.to_params(batch.lattice, n)
    lattice = model.noise.lattice.to_lattice(params, n)
    cond = model.condition_vector(numbers, mask, torch.tensor([False])).double()
    with torch.no_grad():
        return model.denoiser(frac, tokens, params, lattice, torch.tensor([t]).double(), cond, mask)


def test_rotation_invariance(model, crystal):
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    rotated = crystal.copy()
    rotated.set_cell(crystal.cell[:] @ q, scale_atoms=True)
    assert not np.allclose(rotated.cell[:], crystal.cell[:])
    for a, b in zip(outputs(model, crystal), outputs(model, rotated)):
        assert torch.allclose(a, b, atol=1e-8)


def test_translation_invariance(model, crystal):
    moved = crystal.copy()
    moved.set_scaled_positions((crystal.get_scaled_positions() + [0.37, 0.81, 0.55]) % 1.0)
    for a, b in zip(outputs(model, crystal), outputs(model, moved)):
        assert torch.allclose(a, b, atol=1e-8)


def test_permutation_equivariance(model, crystal):
    perm = np.array([3, 0, 5, 1, 2, 4])
    permuted = crystal[perm]
    inv = np.argsort(perm)
    score, eps, logits = outputs(model, crystal)
    score_p, eps_p, logits_p = outputs(model, permuted, masked=(int(inv[1]), int(inv[4])))
    assert torch.allclose(score[0, perm], score_p[0], atol=1e-8)
    assert torch.allclose(logits[0, perm], logits_p[0], atol=1e-8)
    assert torch.allclose(eps, eps_p, atol=1e-8)


def test_outputs_depend_on_geometry(model, crystal):
    """The invariance tests above would pass for a network that ignores its input: it must not."""
    squeezed = crystal.copy()
    squeezed.set_cell(crystal.cell[:] * 0.8, scale_atoms=True)
    shifted = crystal.copy()
    pos = crystal.get_scaled_positions()
    pos[0] += 0.2
    shifted.set_scaled_positions(pos % 1.0)
    base = outputs(model, crystal)
    for other in (outputs(model, squeezed), outputs(model, shifted)):
        assert not torch.allclose(base[0], other[0], atol=1e-4)


def test_padding_does_not_change_outputs(model, crystal):
    small = crystal[:3]
    batch = CrystalBatch.from_atoms([small, crystal])
    frac, numbers, mask = batch.padded()
    n = mask.sum(1)
    params = model.noise.lattice.to_params(batch.lattice, n)
    lattice = model.noise.lattice.to_lattice(params, n)
    cond = model.condition_vector(numbers, mask, torch.tensor([False, False])).double()
    t = torch.tensor([0.4, 0.4]).double()
    with torch.no_grad():
        score, eps, logits = model.denoiser(frac, numbers, params, lattice, t, cond, mask)
    alone = outputs(model, small, masked=())
    assert torch.allclose(score[0, :3], alone[0][0], atol=1e-8)
    assert torch.allclose(eps[0], alone[1][0], atol=1e-8)
