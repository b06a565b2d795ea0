"""The 2D toy: random walk statistics, data sets, DDPM training and sampling."""
from __future__ import annotations

import numpy as np
import pytest

from crystal_lab import toy


def test_random_walk_spreads_as_a_gaussian():
    from scipy.stats import kstest

    p = toy.random_walk(n_particles=4000, n_steps=100, step=0.05, seed=1)
    assert p.shape == (101, 4000, 2) and np.all(p[0] == 0)
    std = p[-1].std(0)
    np.testing.assert_allclose(std, 0.05 * np.sqrt(100), rtol=0.05)      # variance grows as n
    assert kstest(p[-1][:, 0] / (0.05 * 10), "norm").pvalue > 1e-3


def test_random_walk_in_a_box_evens_out():
    p = toy.random_walk(n_particles=4000, n_steps=400, step=0.05, box=0.5, seed=2)
    assert p.min() >= -0.5 and p.max() <= 0.5
    counts, _ = np.histogram(p[-1][:, 0], bins=5, range=(-0.5, 0.5))
    assert counts.min() > 0.8 * counts.max()                                # nearly uniform
    fig = toy.random_walk_figure(p, step=0.05, n_frames=6)
    assert len(fig.frames) == 6


def test_point_clouds_are_standardised():
    for x in (toy.spiral(1000), toy.word("AB", 1000)):
        assert x.shape == (1000, 2)
        np.testing.assert_allclose(x.mean(0), 0, atol=1e-9)
        assert x.std() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        toy.word("   ")


def test_energy_distance_separates_clouds():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((800, 2)), rng.standard_normal((800, 2))
    assert abs(toy.energy_distance(a, b)) < 0.02
    assert toy.energy_distance(a, b + 1.0) > 0.3


def test_forward_process_ends_in_standard_normal():
    ddpm = toy.ToyDDPM(n_steps=100)
    x = toy.word("HI", 2000)
    traj = ddpm.forward(x, seed=0)
    assert traj.shape == (101, 2000, 2)
    np.testing.assert_allclose(traj[0], x)
    assert abs(traj[-1].mean()) < 0.1 and traj[-1].std() == pytest.approx(1.0, abs=0.05)


def test_toy_ddpm_trains_at_defaults_and_samples_get_closer_to_the_data():
    import torch

    data = toy.word("Hi", 3000)
    ddpm = toy.ToyDDPM()                       # notebook defaults: 100 steps, 8000 iterations
    threads = torch.get_num_threads()
    losses = ddpm.fit(data, progress=False)    # its time: benchmarks/bench_toy.py (budget 30 s)
    assert torch.get_num_threads() == threads  # the one-thread training leaves torch as it was
    assert len(losses) == 8000 and np.mean(losses[-200:]) < np.mean(losses[:100])
    traj = ddpm.sample(1500, seed=0, return_trajectory=True)
    assert traj.shape == (101, 1500, 2)
    start, end = toy.energy_distance(traj[0], data), toy.energy_distance(traj[-1], data)
    assert end < 0.25 * start, (start, end)     # measured: 0.038 -> 0.003 (data vs data: 0.002)
    fig = toy.cloud_animation(traj, data=data, n_frames=6, times=np.arange(100, -1, -1))
    assert len(fig.frames) == 6 and fig.layout.sliders[0].steps[0].label == "100"
    last = toy.cloud_animation(traj, data=data, n_frames=6, show="last")
    assert last.layout.sliders[0].active == 5
    np.testing.assert_allclose(last.data[1].x, traj[-1, :1500, 0])
    assert len(toy.loss_figure(losses).data) == 2
    with pytest.raises(ValueError):
        ddpm.fit(np.zeros((10, 3)))
