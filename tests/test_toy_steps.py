"""The toy DDPM's few-step samplers: ancestral and DDIM at any number of steps, same network."""
from __future__ import annotations

import numpy as np
import pytest

from crystal_lab import toy


@pytest.fixture(scope="module")
def trained():
    data = toy.spiral(n=600, seed=0)
    ddpm = toy.ToyDDPM(n_steps=100, hidden=64, seed=0)
    ddpm.fit(data, n_iters=800, seed=0, progress=False)
    return ddpm, data


def test_default_is_the_full_ancestral_chain(trained):
    ddpm, _ = trained
    a = ddpm.sample(50, seed=3)
    b = ddpm.sample(50, seed=3, steps=100, method="ancestral")
    np.testing.assert_array_equal(a, b)
    assert ddpm.sample(50, seed=3, return_trajectory=True).shape == (101, 50, 2)


@pytest.mark.parametrize("method", ["ancestral", "ddim"])
@pytest.mark.parametrize("steps", [1, 5, 20])
def test_trajectory_has_one_state_per_step(trained, method, steps):
    ddpm, _ = trained
    traj = ddpm.sample(40, seed=0, steps=steps, method=method, return_trajectory=True)
    assert traj.shape == (steps + 1, 40, 2) and np.isfinite(traj).all()
    assert ddpm.timesteps(steps)[0] == 100 and ddpm.timesteps(steps)[-1] == 0


def test_ddim_is_deterministic_given_the_start_and_ancestral_is_not(trained):
    ddpm, _ = trained
    ddim = ddpm.sample(30, seed=1, steps=10, method="ddim", return_trajectory=True)
    anc = ddpm.sample(30, seed=1, steps=10, method="ancestral", return_trajectory=True)
    np.testing.assert_array_equal(ddim[0], anc[0])            # same x_T for the same seed
    assert not np.allclose(ddim[-1], anc[-1])                 # fresh noise changes the path
    np.testing.assert_array_equal(ddim, ddpm.sample(30, seed=1, steps=10, method="ddim",
                                                    return_trajectory=True))


def test_few_step_samples_approach_the_data(trained):
    ddpm, data = trained
    noise = toy.energy_distance(np.random.default_rng(0).standard_normal((600, 2)), data)
    for method in ("ancestral", "ddim"):
        x = ddpm.sample(600, seed=2, steps=20, method=method)
        assert toy.energy_distance(x, data) < noise / 2, method


@pytest.mark.parametrize("kwargs, match", [({"steps": 0}, "steps must be"),
                                           ({"steps": 101}, "steps must be"),
                                           ({"steps": 2.5}, "steps must be"),
                                           ({"steps": True}, "steps must be"),
                                           ({"method": "euler"}, "method must be")])
def test_bad_arguments_give_one_line_errors(trained, kwargs, match):
    with pytest.raises(ValueError, match=match):
        trained[0].sample(10, **kwargs)
