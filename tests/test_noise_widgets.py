"""Forward / reverse noise visualiser on a tiny randomly initialised model."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from crystal_lab.view import forward_reverse as nw


@pytest.fixture(scope="module")
def model():
    from crystal_lab import CrystalDiffusionModel, ModelConfig

    return CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))


@pytest.fixture(scope="module")
def trajectory(model):
    return model.sample("BaTiO3", n_atoms=5, steps=6, seed=0, return_trajectory=True,
                        progress=False)[0]


def test_forward_at_t0_reproduces_the_input_exactly(model, batio3):
    (x0,) = nw.forward_frames(batio3, [0.0], model=model, seed=3)
    assert x0.info["t"] == 0.0
    assert (x0.numbers == batio3.numbers).all()
    np.testing.assert_array_equal(x0.cell.array, batio3.cell.array)
    np.testing.assert_array_equal(x0.get_scaled_positions(), batio3.get_scaled_positions())


def test_forward_at_t1_matches_the_noise_distribution(model, batio3):
    from scipy.stats import kstest

    big = batio3.repeat((2, 2, 2))                       # 40 atoms
    frames = [nw.forward_frames(big, [1.0], model=model, seed=s)[0] for s in range(30)]
    frac = np.concatenate([f.get_scaled_positions(wrap=True).ravel() for f in frames])
    assert kstest(frac, "uniform").pvalue > 1e-3          # wrapped coords ~ uniform on [0, 1)
    assert np.mean([(f.numbers == 0).mean() for f in frames]) == 1.0   # every type masked
    # the lattice's standardised parameters ~ N(0, 1) (alpha_bar(1) ~ 0)
    import torch

    lat = model.noise.lattice
    params = torch.cat([lat.to_params(torch.as_tensor(f.cell.array)[None], torch.tensor([40]))
                        for f in frames]).numpy()
    assert abs(params.mean()) < 0.3 and 0.75 < params.std() < 1.3
    # the crystal's own params are far from that: the t=1 cells are not the input cell
    assert not np.allclose(frames[0].cell.array, big.cell.array, atol=0.1)


def test_forward_mid_t_is_partially_masked_and_reproducible(model, batio3):
    big = batio3.repeat((3, 3, 3))
    a = nw.forward_frames(big, [0.3, 0.6], model=model, seed=7)
    b = nw.forward_frames(big, [0.3, 0.6], model=model, seed=7)
    c = nw.forward_frames(big, [0.3, 0.6], model=model, seed=8)
    for x, y in zip(a, b, strict=True):                               # same seed, same picture
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.numbers, y.numbers)
    assert not np.array_equal(a[1].positions, c[1].positions)
    masked = [(f.numbers == 0).mean() for f in a]
    assert 0.1 < masked[0] < 0.5 < masked[1] < 0.85       # mask prob m(t) = t
    with pytest.raises(ValueError):
        nw.forward_frames(big, [1.5], model=model)


def test_noise_curves_and_figures(model, batio3):
    c = nw.noise_curves(model, n=11)
    assert c["mask_prob"][0] == 0 and c["mask_prob"][-1] == 1
    assert c["alpha_bar"][0] == pytest.approx(1.0) and c["alpha_bar"][-1] < 0.01
    assert np.all(np.diff(c["sigma"]) > 0) and np.all(np.diff(c["alpha_bar"]) <= 0)
    fig = nw.forward_figure(batio3, model=model, n_frames=5)
    assert len(fig.frames) == 5
    names = {tr.name for tr in fig.data}
    assert {"σ(t) coords", "ᾱ(t) lattice", "mask prob (types)", "cell"} <= names
    fig = nw.noise_curves_figure(model, t=0.4)
    assert fig.layout.shapes[0].x0 == 0.4


def test_forward_widget_slider_shows_noised_structures(model, batio3):
    box = nw.forward_noise_widget(batio3, model=model, n_frames=5)
    assert [f.info["t"] for f in box.frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
    viewer = box.viewer
    viewer.show(4)
    loads = [m for m in viewer.ngl._ngl_msg_archive if m.get("methodName") == "loadFile"]
    pdb = loads[-1]["args"][0]["data"]
    assert pdb.count(" MSK ") == len(batio3)             # all types masked at t = 1
    assert viewer.slider.description == "frame"          # an index and its t, not steps
    assert [lab for lab, _ in viewer.slider.options] == [
        f"{k} / 4 · t = {t}" for k, t in enumerate(["0.00", "0.25", "0.50", "0.75", "1.00"])]
    assert repr(box) == "The forward process: run this cell to open the viewer."


def test_trajectory_metrics_by_hand():
    cell = np.eye(3) * 4.0
    f1 = Atoms(numbers=[0, 0], cell=cell * 1.5, scaled_positions=[(0, 0, 0), (0.25, 0, 0)],
               pbc=True)
    f1.info["t"] = 1.0
    f2 = Atoms(numbers=[11, 0], cell=cell, scaled_positions=[(0, 0, 0), (0.5, 0, 0)], pbc=True)
    f2.info["t"] = 0.5
    f3 = Atoms(numbers=[11, 17], cell=cell, scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5)],
               pbc=True)
    f3.info["t"] = 0.0
    m = nw.trajectory_metrics([f1, f2, f3])
    np.testing.assert_allclose(m["t"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(m["min_distance"], [1.5, 2.0, np.sqrt(3) * 2])
    np.testing.assert_allclose(m["volume_per_atom"], [6 ** 3 / 2, 32, 32])
    np.testing.assert_allclose(m["final_fraction"], [0, 0.5, 1])
    with pytest.raises(ValueError):
        nw.trajectory_metrics([f1, f1.repeat((2, 1, 1))])


def test_reverse_figure_and_widget(trajectory):
    assert trajectory[0].info["t"] == 1.0 and trajectory[-1].info["t"] == 0.0
    fig = nw.reverse_figure(trajectory)
    assert len(fig.frames) == len(trajectory)
    assert {"min distance / Å", "final element fraction"} <= {tr.name for tr in fig.data}
    box = nw.reverse_widget(trajectory)
    assert box.metrics["final_fraction"][-1] == 1.0
    assert box.viewer.player.max == len(trajectory) - 1
    assert box.viewer.slider.description == "frame"
    assert box.viewer.slider.label == f"0 / {len(trajectory) - 1} · t = 1.00"
    assert repr(box) == "The reverse process: run this cell to open the viewer."
    assert "cl-reverse-widget" in box._dom_classes
    # every frame preloaded into the one stage of the widget
    assert len(box.viewer.ngl._ngl_component_ids) == len(trajectory)
    for title in (fig.layout.title.text, nw.forward_figure(trajectory[-1]).layout.title.text):
        assert "_{" not in title and "x_t" not in title and "|" not in title   # no raw LaTeX


def test_side_by_side_shares_t(model, batio3):
    box = nw.side_by_side(batio3, model, seed=0, steps=4)
    fwd, rev = box.forward.frames, box.reverse.frames
    assert len(fwd) == len(rev)
    assert [f.info["t"] for f in fwd] == pytest.approx([r.info["t"] for r in rev])
    assert sorted(rev[-1].get_chemical_symbols()) == sorted(batio3.get_chemical_symbols())
    box.slider.value = len(rev) - 1
    assert box.forward.index == box.reverse.index == len(rev) - 1
    assert box.slider.label == f"{len(rev) - 1} / {len(rev) - 1} · t = 0.00"
    assert repr(box) == "Forward and reverse side by side: run this cell to open the viewers."


def test_reverse_figure_layout_keeps_title_legend_and_crystal_apart(trajectory):
    fig = nw.reverse_figure(trajectory)
    layout = fig.layout
    assert layout.title.yanchor == "top" and layout.title.y >= 0.98      # the top line
    assert layout.legend.yanchor == "bottom" and layout.legend.y >= 1.0  # its own line, above
    assert layout.margin.t >= 100 and layout.height >= 500               # room for both
    # nothing clipped
    for frame, atoms in zip(fig.frames, trajectory, strict=True):
        scene = frame.layout.scene
        pos = atoms.positions
        for k, axis in enumerate((scene.xaxis, scene.yaxis, scene.zaxis)):
            lo, hi = axis.range
            assert lo <= pos[:, k].min() and pos[:, k].max() <= hi
