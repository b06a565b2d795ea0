import math

import numpy as np
import pytest
import torch
from ase.build import bulk

from crystal_lab.model.noise import (
    MASK,
    CrystalNoise,
    LatticeDDPM,
    MaskedTypes,
    WrappedNormalCoords,
    wrap_delta,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_coords_forward_statistics_and_wrap():
    coords = WrappedNormalCoords()
    x0 = torch.full((20000, 3), 0.998, dtype=torch.float64)
    x_small, _ = coords.add_noise(x0, torch.zeros(20000, dtype=torch.float64), gen())
    d = wrap_delta(x_small - x0)
    assert x_small.min() >= 0 and x_small.max() < 1                 # wrapped into the cell
    assert abs(float(d.std()) - coords.sigma_min) < 2e-4             # sigma(0) = sigma_min
    assert (x_small < 0.5).any()                                      # some crossed 1.0 -> 0.0
    x_big, _ = coords.add_noise(x0, torch.ones(20000, dtype=torch.float64), gen())
    hist = torch.histc(x_big, bins=10, min=0, max=1) / x_big.numel()
    assert torch.allclose(
        hist, torch.full((10,), 0.1, dtype=hist.dtype), atol=0.01
    )  # ~uniform at t=1


def test_coords_target_has_unit_scale_and_matches_score():
    coords = WrappedNormalCoords()
    x0 = torch.rand(4000, 3, dtype=torch.float64, generator=gen(1))
    for t in (0.1, 0.5, 0.9):
        _, target = coords.add_noise(x0, torch.full((4000,), t, dtype=torch.float64), gen(2))
        assert abs(float((target**2).mean()) - 1) < 0.1
    # at small sigma the wrapped-normal score is the Gaussian score -d / sigma^2
    from crystal_lab.model.noise import wrapped_normal_score
    d = torch.tensor([0.001, -0.002], dtype=torch.float64)
    assert torch.allclose(
        wrapped_normal_score(d, torch.tensor(0.01, dtype=torch.float64)), -d / 1e-4
    )


def test_coords_step_recovers_clean_point_with_exact_score():
    coords = WrappedNormalCoords()
    x0 = torch.rand(50, 3, dtype=torch.float64, generator=gen(3))
    t = torch.full((50,), 0.3, dtype=torch.float64)
    x_t, target = coords.add_noise(x0, t, gen(4))
    x_prev = coords.step(x_t, target, t, torch.zeros_like(t))
    assert x_prev.shape == x_t.shape
    assert wrap_delta(x_prev - x0).abs().max() < 1e-6  # Tweedie jump with the true score
    x_mid = coords.step(x_t, target, t, t / 2, gen(5), stochastic=True)
    assert x_mid.shape == x_t.shape and x_mid.min() >= 0 and x_mid.max() < 1


def test_lattice_parameters_round_trip_and_rotation_invariance():
    lat = LatticeDDPM()
    cell = torch.tensor(bulk("Ti", "hcp", a=2.95, c=4.68).cell[:], dtype=torch.float64)[None]
    n = torch.tensor([2])
    p = lat.to_params(cell, n)
    back = lat.to_lattice(p, n)
    g0, g1 = cell @ cell.transpose(1, 2), back @ back.transpose(1, 2)
    assert torch.allclose(g0, g1, atol=1e-10)                         # same lattice up to rotation
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=gen(6)))
    assert torch.allclose(lat.to_params(cell @ q, n), p, atol=1e-10)


def test_lattice_forward_statistics_and_step():
    lat = LatticeDDPM()
    x0 = torch.full((20000, 6), 1.5)
    x_t, eps = lat.add_noise(x0, torch.zeros(20000), gen())
    assert torch.allclose(x_t, x0, atol=0.05)                         # t=0: (almost) the data
    x_one, _ = lat.add_noise(x0, torch.ones(20000), gen())
    assert abs(float(x_one.mean())) < 0.05 and abs(float(x_one.std()) - 1) < 0.02   # t=1: N(0, I)
    t = torch.full((20000,), 0.6)
    x_t, eps = lat.add_noise(x0, t, gen(1))
    assert torch.allclose(lat.step(x_t, eps, t, torch.zeros_like(t)), x0, atol=1e-4)
    assert lat.step(x_t, eps, t, t / 2, gen(2), eta=1.0).shape == x0.shape
    lattice = lat.to_lattice(x_one[:100], torch.full((100,), 8))
    assert (torch.det(lattice) > 0).all()                             # every noisy lattice is valid


def test_types_forward_statistics_and_step():
    types = MaskedTypes()
    x0 = torch.randint(1, 101, (20000,), generator=gen())
    x_0, m0 = types.add_noise(x0, torch.tensor(0.0), gen())
    assert torch.equal(x_0, x0) and not m0.any()
    x_half, m = types.add_noise(x0, torch.tensor(0.5), gen(1))
    assert abs(float(m.float().mean()) - 0.5) < 0.02 and (x_half[m] == MASK).all()
    x_1, _ = types.add_noise(x0, torch.tensor(1.0), gen())
    assert (x_1 == MASK).all()
    logits = torch.zeros(20000, 100)
    allowed = torch.zeros(100, dtype=torch.bool)
    allowed[[55, 21, 7]] = True                                       # Ba, Ti, O
    x_s = types.step(x_1, logits, torch.tensor(1.0), torch.tensor(0.75), gen(2), allowed)
    revealed = x_s != MASK
    assert abs(float(revealed.float().mean()) - 0.25) < 0.02
    assert set(x_s[revealed].tolist()) == {56, 22, 8}
    x_end = types.step(x_s, logits, torch.tensor(0.75), torch.tensor(0.0), gen(3), allowed)
    assert (x_end != MASK).all() and torch.equal(x_end[revealed], x_s[revealed])


def test_crystal_noise_on_atoms_same_seed_same_picture():
    noise = CrystalNoise()
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    same = noise.add_noise_atoms(nacl, 0.0)
    assert np.allclose(same.cell, nacl.cell) and np.array_equal(same.numbers, nacl.numbers)
    assert np.allclose(
        wrap_delta(torch.tensor(same.get_scaled_positions() - nacl.get_scaled_positions())),
        0,
        atol=0.05,
    )
    a, b = noise.add_noise_atoms(nacl, 0.6, seed=3), noise.add_noise_atoms(nacl, 0.6, seed=3)
    assert np.array_equal(a.get_positions(), b.get_positions()) and a.info["t"] == 0.6
    end = noise.add_noise_atoms(nacl, 1.0)
    assert (end.numbers == 0).all() and end.get_volume() > 0
    assert not math.isclose(end.get_volume(), nacl.get_volume())


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0])
def test_schedules_are_monotone(t):
    noise = CrystalNoise()
    ts = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert (noise.coords.sigma(ts).diff() > 0).all()
    assert (noise.lattice.alpha_bar(ts).diff() <= 0).all()
    assert float(noise.types.mask_prob(torch.tensor(t))) == t
