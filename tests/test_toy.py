"""The 2D toy: random walk statistics, data sets, DDPM training and sampling."""
from __future__ import annotations

import numpy as np
import pytest

from crystal_lab import toy
from crystal_lab.view import cloud_animation, loss_figure, random_walk_figure, toy_score_figure


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
    fig = random_walk_figure(p, step=0.05, n_frames=6)
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
    fig = cloud_animation(traj, data=data, n_frames=6, times=np.arange(100, -1, -1))
    assert len(fig.frames) == 6 and fig.layout.sliders[0].steps[0].label == "100"
    last = cloud_animation(traj, data=data, n_frames=6, show="last")
    assert last.layout.sliders[0].active == 5
    np.testing.assert_allclose(last.data[1].x, traj[-1, :1500, 0])
    assert len(loss_figure(losses).data) == 2
    with pytest.raises(ValueError):
        ddpm.fit(np.zeros((10, 3)))


def test_toy_noise_has_the_crystal_protocol_and_the_lattice_schedule():
    import torch

    from crystal_lab.model.noise.lattice import LatticeDDPM

    noise = toy.ToyNoise()
    t = torch.tensor([0.0, 0.3, 0.7, 1.0])
    np.testing.assert_allclose(noise.alpha_bar(t), LatticeDDPM().alpha_bar(t))  # one schedule
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    x_t, eps = noise.add_noise(x0, t, generator=torch.Generator().manual_seed(1))
    ab = noise.alpha_bar(t)[:, None]
    np.testing.assert_allclose(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-6)
    # with the true noise, one DDIM step to s = 0 recovers x0 (up to the clip at 5)
    back = noise.step(x_t[1:3], eps[1:3], t[1:3], torch.zeros(2))
    np.testing.assert_allclose(back, x0[1:3], atol=1e-5)
    np.testing.assert_allclose(noise.score(x_t, eps, t), -eps / (1 - ab).sqrt())
    ddpm = toy.ToyDDPM(n_steps=50)
    np.testing.assert_allclose(ddpm.alpha_bar, noise.alpha_bar(torch.arange(51) / 50), rtol=1e-5)
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="n_steps must be"):
            toy.ToyDDPM(n_steps=bad)


def test_toy_score_figure_draws_the_networks_score_and_moving_samples():
    ddpm = toy.ToyDDPM(n_steps=20, hidden=32, seed=0)
    data = toy.spiral(400, seed=0)
    ddpm.fit(data, n_iters=200, seed=0, progress=False)
    fig = toy_score_figure(ddpm, data=data, steps=5, n_points=50, grid=5)
    assert len(fig.frames) == 5 and fig.layout.meta["t"] == [1.0, 0.8, 0.6, 0.4, 0.2]
    traj = ddpm.sample(50, seed=0, steps=5, method="ddim", return_trajectory=True)
    for k, frame in enumerate(fig.frames):
        arrows, samples = frame.data
        np.testing.assert_allclose(np.c_[samples.x, samples.y], traj[k])   # samples at that t
        x = np.array(arrows.x, dtype=float).reshape(-1, 3)
        y = np.array(arrows.y, dtype=float).reshape(-1, 3)
        starts, vectors = np.c_[x[:, 0], y[:, 0]], np.c_[x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]]
        _, score = ddpm.predict(starts, fig.layout.meta["t"][k])
        np.testing.assert_allclose(vectors, fig.layout.meta["scale"][k] * score, atol=1e-9)
        assert len(starts) == 25
