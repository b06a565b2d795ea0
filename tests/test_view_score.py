"""The score made visible: the arrows are the denoiser's own coordinate score at that t, and
the step they draw is the step the sampler took."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ase.data import atomic_numbers

from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig
from crystal_lab.prompts import CRYSTAL_SYSTEMS
from crystal_lab.view import score_figure, score_steps


@pytest.fixture(scope="module")
def model():
    """An untrained model whose zero-initialised layers (the crystal-system embedding, the energy
    and FiLM output layers) are made random, so that every condition changes the score."""
    torch.manual_seed(0)
    model = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.3)
    return model


def _denoiser_score(model, atoms, t, elements, guidance=1.0, property_guidance=0.0,
                    crystal_system=None, formation_energy=None):
    """The network's coordinate score for ``atoms`` at ``t``, computed here from scratch, one
    network call per variant: the inputs the sampler gives the denoiser (the allowed elements,
    the crystal-system token, the energy target), mixed as classifier-free guidance
    ``uncond + w (full - uncond) + wp (full - no_property)``."""
    n = len(atoms)
    frac = torch.tensor(atoms.get_scaled_positions(wrap=False), dtype=torch.float32)[None]
    tokens = torch.tensor(atoms.numbers, dtype=torch.long)[None]
    lattice = torch.tensor(atoms.cell.array, dtype=torch.float32)[None]
    n_atoms = torch.tensor([n])
    params = model.noise.lattice.to_params(lattice, n_atoms)
    cond = torch.zeros(1, model.denoiser.num_elements + 1)
    for el in elements:
        cond[0, atomic_numbers[el] - 1] = 1.0
    mask = torch.ones(1, n, dtype=torch.bool)
    none = torch.zeros_like(cond)
    none[0, -1] = 1.0
    props = {}
    if crystal_system is not None:
        props["system"] = torch.tensor([CRYSTAL_SYSTEMS.index(crystal_system) + 1])
    if formation_energy is not None:
        props |= {"energy": torch.tensor([formation_energy]), "energy_given": torch.tensor([True])}
    dropped = {k: (v if k == "energy" else torch.zeros_like(v)) for k, v in props.items()}

    def net(c, extra):
        with torch.no_grad():
            return model.denoiser(frac, tokens, params, lattice, torch.tensor([t]), c, mask,
                                  **extra)[0]

    full = net(cond, props)
    pred = full if guidance == 1.0 else net(none, dropped) + guidance * (full - net(none, dropped))
    if props and property_guidance:
        pred = pred + property_guidance * (full - net(cond, dropped))
    sigma = model.noise.coords.sigma(torch.tensor([t], dtype=torch.float64))
    rms = model.noise.coords.score_rms(sigma).item()
    return pred[0].double().numpy() * rms


@pytest.mark.parametrize("prompt, n_atoms, steps", [("NaCl", 2, 5), ("BaTiO3", 5, 4),
                                                      ("Ba Ti O", 5, 3)])
def test_arrows_are_the_denoisers_score_converted_to_cartesian(model, prompt, n_atoms, steps):
    records = score_steps(model, prompt, n_atoms=n_atoms, seed=3, steps=steps)
    assert len(records) == steps
    assert [round(r.t, 6) for r in records] == [round(1 - k / steps, 6) for k in range(steps)]
    elements = ["Na", "Cl"] if prompt == "NaCl" else ["Ba", "Ti", "O"]
    for r in records:
        expected = _denoiser_score(model, r.atoms, r.t, elements)
        np.testing.assert_allclose(r.score_frac, expected, rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose(r.score, expected @ r.atoms.cell.array, rtol=2e-3,
                                   atol=2e-3)
        assert np.abs(r.score).max() > 0                # an untrained net still points somewhere


def test_the_drawn_step_is_the_step_the_sampler_took(model):
    steps = 4
    records = score_steps(model, "NaCl", n_atoms=2, seed=5, steps=steps)
    trajectory = model.sample("NaCl", n_atoms=2, seed=5, steps=steps, return_trajectory=True,
                              progress=False)[0]
    for k, r in enumerate(records):
        np.testing.assert_allclose(r.atoms.get_scaled_positions(),
                                   trajectory[k].get_scaled_positions(), atol=1e-6)
        nxt = trajectory[k + 1].get_scaled_positions()
        d = r.after_frac - nxt
        np.testing.assert_allclose(d - np.round(d), 0, atol=1e-4)   # same positions, mod 1
        assert r.s == pytest.approx(trajectory[k + 1].info["t"])


def test_score_figure_draws_the_arrows_at_the_picked_t(model):
    records = score_steps(model, "NaCl", n_atoms=2, seed=1, steps=5)
    fig = score_figure(records, t=0.55, arrow_length=1.5)
    r = min(records, key=lambda x: abs(x.t - 0.55))
    assert fig.layout.meta["t"] == pytest.approx(r.t) and r.t == pytest.approx(0.6)
    scale = fig.layout.meta["scale"]
    arrows = next(tr for tr in fig.data if tr.name == "score (arrows)")
    xs = np.array(arrows.x, dtype=float).reshape(-1, 3)   # start, tip, None per atom
    ys = np.array(arrows.y, dtype=float).reshape(-1, 3)
    zs = np.array(arrows.z, dtype=float).reshape(-1, 3)
    vectors = np.c_[xs[:, 1] - xs[:, 0], ys[:, 1] - ys[:, 0], zs[:, 1] - zs[:, 0]]
    np.testing.assert_allclose(vectors, scale * r.score, atol=1e-9)
    assert np.linalg.norm(vectors, axis=1).max() == pytest.approx(1.5)
    after = next(tr for tr in fig.data if tr.name.startswith("after the step"))
    start = r.atoms.get_scaled_positions(wrap=False) @ r.atoms.cell.array
    zoom = fig.layout.meta["step_zoom"]          # a short step is drawn enlarged, and says so
    np.testing.assert_allclose(np.c_[after.x, after.y, after.z], start + zoom * r.displacement)
    steps = np.linalg.norm(np.c_[after.x, after.y, after.z] - start, axis=1)
    assert steps.max() >= 0.6 * 1.5 - 1e-9 or zoom == 1.0
    assert (zoom == 1.0) == ("x" not in after.name)
    legend = {tr.name for tr in fig.data if tr.legendgroup == "elements"}
    assert {"Na", "Cl"} <= legend or "X = masked (type not yet chosen)" in legend
    assert "t = 0.60" in fig.layout.title.text and "t = 0.40" in fig.layout.title.text
    with pytest.raises(ValueError, match=r"t must be a number in \[0, 1\]"):
        score_figure(records, t=1.5)


def test_arrows_follow_classifier_free_guidance(model):
    records = score_steps(model, "NaCl", n_atoms=2, seed=2, steps=3, guidance=2.0)
    assert len(records) == 3
    for r in records:
        expected = _denoiser_score(model, r.atoms, r.t, ["Na", "Cl"], guidance=2.0)
        np.testing.assert_allclose(r.score_frac, expected, rtol=2e-3, atol=2e-4)
        plain = _denoiser_score(model, r.atoms, r.t, ["Na", "Cl"])
        assert not np.allclose(r.score_frac, plain, atol=1e-4)   # guidance changed them


def test_score_figure_with_a_slider_has_every_step(model):
    records = score_steps(model, "NaCl", n_atoms=2, seed=1, steps=4)
    fig = score_figure(records, t=0.5, slider=True)
    assert len(fig.frames) == 4 and fig.layout.meta["steps"] == [r.t for r in records]
    assert [s.label for s in fig.layout.sliders[0].steps] == ["1.00", "0.75", "0.50", "0.25"]
    assert fig.layout.sliders[0].active == 2 and fig.layout.meta["t"] == pytest.approx(0.5)
    for frame, r in zip(fig.frames, records, strict=True):
        arrows = next(tr for tr in frame.data if tr.name == "score (arrows)")
        xs = np.array(arrows.x, dtype=float).reshape(-1, 3)
        ys = np.array(arrows.y, dtype=float).reshape(-1, 3)
        zs = np.array(arrows.z, dtype=float).reshape(-1, 3)
        v = np.c_[xs[:, 1] - xs[:, 0], ys[:, 1] - ys[:, 0], zs[:, 1] - zs[:, 0]]
        np.testing.assert_allclose(np.linalg.norm(v, axis=1).max(), 1.5)
        np.testing.assert_allclose(v / np.linalg.norm(v, axis=1).max(),
                                   r.score / np.linalg.norm(r.score, axis=1).max(), atol=1e-9)
        assert f"t = {r.t:.2f}" in frame.layout.title.text


COMBINATIONS = [{k: v for k, v in zip(("guidance", "property_guidance", "crystal_system",
                                       "formation_energy"), values, strict=True) if v is not None}
                for values in itertools.product((None, 2.0), (None, 1.0), (None, "cubic"),
                                                (None, -1.5))]


@pytest.mark.parametrize("kwargs", COMBINATIONS, ids=lambda kw: ",".join(kw) or "plain")
def test_the_figure_is_the_sampler_under_every_argument(model, kwargs):
    """Arrows: the guided score computed here from scratch; the step drawn: the sampler's real
    next frame, for every combination of guidance, property guidance, crystal system and
    energy target (the figure once drifted up to 0.059 from the sampler under guidance)."""
    steps = 3
    records = score_steps(model, "Ti O", n_atoms=3, seed=4, steps=steps, **kwargs)
    trajectory = model.sample("Ti O", n_atoms=3, seed=4, steps=steps, return_trajectory=True,
                              progress=False, **kwargs)[0]
    assert len(records) == steps
    for k, r in enumerate(records):
        np.testing.assert_array_equal(r.atoms.get_scaled_positions(),
                                      trajectory[k].get_scaled_positions())
        d = r.after_frac - trajectory[k + 1].get_scaled_positions()
        np.testing.assert_allclose(d - np.round(d), 0, atol=1e-6)
        expected = _denoiser_score(model, r.atoms, r.t, ["Ti", "O"], kwargs.get("guidance", 1.0),
                                   kwargs.get("property_guidance", 0.0),
                                   kwargs.get("crystal_system"), kwargs.get("formation_energy"))
        np.testing.assert_allclose(r.score_frac, expected, rtol=2e-3, atol=2e-4)


def test_the_property_guidance_changes_the_arrows(model):
    """Property guidance is not a no-op on the drawn score (else the test above proves little)."""
    plain = score_steps(model, "Ti O", n_atoms=3, seed=4, steps=2, crystal_system="cubic")
    pushed = score_steps(model, "Ti O", n_atoms=3, seed=4, steps=2, crystal_system="cubic",
                         property_guidance=1.0)
    assert not np.allclose(plain[0].score_frac, pushed[0].score_frac, atol=1e-4)


@pytest.mark.parametrize("bad, error", [(-1.0, ValueError), (0, ValueError), (float("nan"),
                                                                              ValueError),
                                        (float("inf"), ValueError), ("2", TypeError), (True,
                                                                                       TypeError)])
def test_arrow_length_must_be_a_positive_finite_number(model, bad, error):
    records = score_steps(model, "NaCl", n_atoms=2, seed=1, steps=2)
    with pytest.raises(error, match=r"arrow_length must be a number > 0 \(Å\), got "):
        score_figure(records, arrow_length=bad)
    with pytest.raises(error, match=r"t must be a number in \[0, 1\]"):
        score_figure(records, t=bad if bad != 0 else 2)
    assert score_figure(records, arrow_length=np.float32(0.5)).layout.meta["scale"] > 0
