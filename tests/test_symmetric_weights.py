"""The shipped model samples templated requests with its constrained fine-tune
(``mp20_symmetric.pt``) and free ones (``space_group=1``) with the free network, bit for bit."""
import os
import shutil

import numpy as np
import pytest
import torch

from crystal_lab.model.checkpoint import (
    DEFAULT_WEIGHTS,
    SYMMETRIC_WEIGHTS,
    load_model,
    symmetric_denoiser,
)
from crystal_lab.model.sampler import Request, network_for
from crystal_lab.symmetry.templates import Orbit, Template


@pytest.fixture(scope="module")
def model():
    return load_model(device="cpu")


def test_the_shipped_model_has_a_constrained_fine_tune_beside_it(model):
    assert SYMMETRIC_WEIGHTS.is_file() and SYMMETRIC_WEIGHTS.with_suffix(".json").is_file()
    net = model.symmetric_net(model.device)
    assert net is symmetric_denoiser(model.device)            # read once
    assert type(net) is type(model.denoiser)
    a, b = model.denoiser.state_dict(), net.state_dict()
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)


def test_templated_requests_get_the_fine_tune_and_free_ones_the_free_network(model):
    rock_salt = Template.make(225, [Orbit("a", 1, "Na"), Orbit("b", 1, "Cl")])
    free = [Request(2, fixed=(11, 17))]
    assert network_for(model, free) is model.denoiser
    assert network_for(model, [*free, Request(2, fixed=(11, 17), template=rock_salt)]) \
        is model.symmetric_net(model.device)


def test_only_the_shipped_weights_bring_the_fine_tune(tmp_path):
    path = tmp_path / "mp20.pt"
    shutil.copy(DEFAULT_WEIGHTS, path)
    shutil.copy(DEFAULT_WEIGHTS.with_suffix(".json"), path.with_suffix(".json"))
    assert load_model(path, device="cpu").symmetric_net is None
    # the shipped file named by a relative path is still the shipped model
    relative = os.path.relpath(DEFAULT_WEIGHTS)
    assert load_model(relative, device="cpu").symmetric_net is not None


def test_p1_is_the_free_model_and_a_space_group_uses_the_fine_tune(model):
    plain = load_model(device="cpu")
    plain.symmetric_net = None                                  # the free network for all
    kw = {"n_samples": 2, "seed": 3, "progress": False}
    for a, b in zip(model.sample("BaTiO3", space_group=1, **kw),
                    plain.sample("BaTiO3", space_group=1, **kw), strict=True):
        assert np.array_equal(a.cell.array, b.cell.array)
        assert np.array_equal(a.get_scaled_positions(), b.get_scaled_positions())
    tuned = model.sample("BaTiO3", space_group=221, **kw)
    untuned = plain.sample("BaTiO3", space_group=221, **kw)
    assert [a.info["template"] for a in tuned] == [b.info["template"] for b in untuned]
    assert not np.allclose(tuned[0].cell.array, untuned[0].cell.array)
