"""E(3) invariance of the denoiser: rotate the lattice, permute atoms, translate coordinates."""
import numpy as np
import pytest
import torch
from ase import Atoms

from crystal_lab.datasets import CrystalBatch
from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2)).double().eval()
    with torch.no_grad():   # FiLM starts at zero; give it weights so the tests below exercise it
        for layer in model.denoiser.layers:
            for p in layer.film.parameters():
                p.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def crystal():
    rng = np.random.default_rng(0)
    cell = np.array([[4.1, 0.2, 0.0], [0.5, 3.7, 0.1], [0.3, -0.4, 5.2]])
    return Atoms(
        numbers=[8, 22, 56, 8, 8, 3], cell=cell, scaled_positions=rng.random((6, 3)), pbc=True
    )


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
    for a, b in zip(outputs(model, crystal), outputs(model, rotated), strict=True):
        assert torch.allclose(a, b, atol=1e-8)


def test_translation_invariance(model, crystal):
    moved = crystal.copy()
    moved.set_scaled_positions((crystal.get_scaled_positions() + [0.37, 0.81, 0.55]) % 1.0)
    for a, b in zip(outputs(model, crystal), outputs(model, moved), strict=True):
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
        score, eps, _logits = model.denoiser(frac, numbers, params, lattice, t, cond, mask)
    alone = outputs(model, small, masked=())
    assert torch.allclose(score[0, :3], alone[0][0], atol=1e-8)
    assert torch.allclose(eps[0], alone[1][0], atol=1e-8)


# ---------------------------------------------------------------- FiLM conditioning of every layer

def random_inputs(model, seed=0):
    batch, n_atoms = 3, 6   # the three conditions in `extra` below
    g = torch.Generator().manual_seed(seed)
    frac = torch.rand(batch, n_atoms, 3, generator=g)
    tokens = torch.randint(1, 90, (batch, n_atoms), generator=g)
    tokens[:, 0] = 0
    mask = torch.ones(batch, n_atoms, dtype=torch.bool)
    mask[0, 4:] = False
    lat = torch.randn(batch, 6, generator=g)
    lattice = model.noise.lattice.to_lattice(lat, mask.sum(1))
    cond = torch.zeros(batch, model.config.network.num_elements + 1)
    cond[:, [7, 21]] = 1.0
    extra = {"system": torch.tensor([0, 3, 7]), "energy": torch.tensor([-1.0, -2.0, 0.0]),
                 "energy_given": torch.tensor([True, False, True])}
    return (frac, tokens, lat, lattice, torch.rand(batch, generator=g), cond, mask), extra


def plain_layers(monkeypatch):
    """Make every message layer ignore its FiLM input: the network as it was without FiLM."""
    from crystal_lab.model import denoiser

    forward = denoiser.MessageLayer.forward
    monkeypatch.setattr(
        denoiser.MessageLayer,
        "forward",
        lambda self, h, edge, pair_mask, n_atoms, c=None: forward(
            self, h, edge, pair_mask, n_atoms
        ),
    )


@pytest.fixture(scope="module")
def shipped():
    from crystal_lab.model.checkpoint import load_model

    return load_model(device="cpu")


def test_shipped_weights_load_with_zero_film_and_compute_what_they_did(shipped, monkeypatch):
    outputs = [p for layer in shipped.denoiser.layers for p in layer.film[-1].parameters()]
    assert outputs and all(not p.any() for p in outputs)   # untrained: the modulation is zero
    args, extra = random_inputs(shipped)
    with torch.no_grad():
        for kw in ({}, extra):
            with_film = shipped.denoiser(*args, **kw)
            with monkeypatch.context() as m:
                plain_layers(m)
                without = shipped.denoiser(*args, **kw)
            for a, b in zip(with_film, without, strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize(
    "prompt,kw",
    [
        ("Ba Ti O", {"n_atoms": 5}),
        (None, {"crystal_system": "cubic"}),
        ("TiO2", {"formation_energy": -2.0}),
    ],
)
def test_shipped_samples_are_unchanged_by_the_film_layers(shipped, monkeypatch, prompt, kw):
    # mp20.pt's network for every request: the fine-tune that samples templated ones
    # (mp20_symmetric.pt, here for crystal_system=) trained its FiLM layers
    monkeypatch.setattr(shipped, "symmetric_net", None)
    run = lambda: shipped.sample(prompt, n_samples=2, steps=8, seed=4, progress=False, **kw)
    with_film = run()
    with monkeypatch.context() as m:
        plain_layers(m)
        without = run()
    for a, b in zip(with_film, without, strict=True):
        assert (a.numbers == b.numbers).all()
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell[:], b.cell[:])


def test_old_state_dicts_without_film_load_and_nonzero_film_is_kept():
    torch.manual_seed(1)
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=2))
    old = {k: v for k, v in model.state_dict().items() if ".film." not in k}
    fresh = CrystalDiffusionModel(ModelConfig(hidden=16, layers=2))
    with torch.no_grad():
        for p in fresh.denoiser.layers[0].film.parameters():
            p.fill_(0.5)
    fresh.load_state_dict(old)   # strict: the missing FiLM output layers are filled with zeros
    for layer in fresh.denoiser.layers:
        assert not any(p.any() for p in layer.film[-1].parameters())
        c = torch.randn(3, 16)
        assert not layer.film(c).any()   # the layer computes what the old weights computed
    # the input layers keep a (non-zero) initialisation, so training from old weights can learn
    # the modulation: with both layers at zero no gradient would reach either weight matrix
    assert (fresh.denoiser.layers[0].film[1].weight == 0.5).all()
    with torch.no_grad():
        for p in model.denoiser.layers[1].film.parameters():
            p.fill_(0.25)
    fresh.load_state_dict(model.state_dict())
    assert all((p == 0.25).all() for p in fresh.denoiser.layers[1].film.parameters())


@pytest.mark.parametrize("key", ["system", "energy", "time"])
def test_film_carries_each_condition_to_every_layer(key):
    """With non-zero FiLM, a condition changes each layer's modulation (not only the input)."""
    torch.manual_seed(2)
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=3)).eval()
    with torch.no_grad():
        films = [p for layer in model.denoiser.layers for p in layer.film.parameters()]
        for p in (
            list(model.denoiser.system.parameters())
            + list(model.denoiser.energy.parameters())
            + films
        ):
            p.normal_(0, 0.3)
    args, extra = random_inputs(model)
    extra["energy_given"] = torch.ones(3, dtype=torch.bool)
    other_args, other = list(args), dict(extra)
    if key == "system":
        other["system"] = torch.tensor([5, 1, 2])
    elif key == "energy":
        other["energy"] = torch.tensor([-3.0, 0.5, -0.2])
    else:
        other_args[4] = args[4] * 0.3
    seen = {}
    hook = lambda name: lambda mod, inp, out: seen.setdefault(name, []).append(out)
    for i, layer in enumerate(model.denoiser.layers):
        layer.film.register_forward_hook(hook(i))
    with torch.no_grad():
        model.denoiser(*args, **extra)
        model.denoiser(*other_args, **other)
    assert len(seen) == 3
    for outs in seen.values():
        assert not torch.allclose(outs[0], outs[1])


# ---------------------------------------------------------------- property classifier-free guidance

class Counting(torch.nn.Module):
    """A denoiser wrapper that records the batch size of each call."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, frac, *args, **kw):
        self.calls.append(frac.shape[0])
        return self.net(frac, *args, **kw)


@pytest.mark.parametrize("w", [1.0, 2.0])
def test_property_guidance_mixes_with_and_without_the_properties(shipped, w):
    from crystal_lab.model.guidance import guided

    args, extra = random_inputs(shipped)
    net = Counting(shipped.denoiser)
    off = {k: torch.zeros_like(v) if k != "energy" else v for k, v in extra.items()}
    none = torch.zeros_like(args[5])
    none[:, -1] = 1.0
    with torch.no_grad():
        full = shipped.denoiser(*args, **extra)
        no_prop = shipped.denoiser(*args, **off)
        uncond = shipped.denoiser(*args[:5], none, args[6], **off)
        for wp in (0.5, 2.0):
            net.calls.clear()
            got = guided(net, w, *args, extra, wp)
            assert net.calls == [3 * 3 if w != 1.0 else 2 * 3]   # one batched call
            for g, f, p, u in zip(got, full, no_prop, uncond, strict=True):
                want = (u + w * (f - u) if w != 1.0 else f) + wp * (f - p)
                assert torch.allclose(g, want, rtol=1e-4, atol=1e-4)


def test_property_guidance_zero_is_no_guidance_and_costs_no_call(shipped):
    from crystal_lab.model.guidance import guided

    args, extra = random_inputs(shipped)
    net = Counting(shipped.denoiser)
    with torch.no_grad():
        plain = guided(net, 1.0, *args, extra)
        zero = guided(net, 1.0, *args, extra, 0.0)
        no_props = guided(net, 1.0, *args, {}, 3.0)   # nothing to guide: the plain call
    assert net.calls == [3, 3, 3]
    for a, b in zip(plain, zero, strict=True):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(no_props, shipped.denoiser(*args), strict=True))


@pytest.mark.parametrize("kw", [{"crystal_system": "cubic"}, {"formation_energy": -2.5},
                                {"crystal_system": "tetragonal", "guidance": 2.0}])
def test_sample_property_guidance_zero_equals_default_and_nonzero_changes_samples(shipped, kw):
    run = lambda **extra: shipped.sample("Ti O", n_atoms=6, n_samples=3, steps=10, seed=2,
                                         progress=False, **kw, **extra)
    default, zero, guided_ = run(), run(property_guidance=0), run(property_guidance=2.0)
    for a, b in zip(default, zero, strict=True):
        assert (a.numbers == b.numbers).all() and np.array_equal(a.positions, b.positions)
    assert any(not np.allclose(a.positions, b.positions) or not np.allclose(a.cell[:], b.cell[:])
               for a, b in zip(default, guided_, strict=True))
    assert shipped.config.sampler.property_guidance == 0.0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "2", [1.0]])
def test_bad_property_guidance_is_refused_in_one_line(shipped, bad):
    with pytest.raises(ValueError, match=r"property_guidance must be a number in \[0, "):
        shipped.sample("Ti O", n_atoms=3, steps=2, progress=False, crystal_system="cubic",
                       property_guidance=bad)
    with pytest.raises(ValueError, match=r"property_guidance must be a number in \[0, "):
        shipped.sample_many(["TiO2"], steps=2, progress=False, property_guidance=bad)
