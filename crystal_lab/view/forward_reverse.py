"""Watch diffusion happen to a crystal: the forward process, the reverse process, side by side.

* ``forward_frames`` / ``forward_figure`` / ``forward_noise_widget``: a crystal corrupted by the
  model's own three noise processes (``model.noise.add_noise_atoms``): fractional coordinates
  spread by a wrapped normal of width sigma(t) (they wrap around the cell), the lattice drifts as
  a DDPM with signal level alpha_bar(t), atom types are masked with probability m(t). One seed
  gives one noise draw for every t, so the slider shows one continuous path into noise.
* ``trajectory_metrics`` / ``reverse_figure`` / ``reverse_widget``: play back a sampling
  trajectory (``model.sample(..., return_trajectory=True)[i]``) with per-step curves: minimum
  interatomic distance, volume per atom and the fraction of atoms already carrying their final
  element, so one sees when the structure "decides" what it is.
* ``side_by_side``: a crystal going forward next to the model's reverse trajectory for the same
  composition, both at the same t.

Figures are plotly (they work in static exports and nbval); widgets use nglview + ipywidgets,
each with ONE persistent NGL stage whose frames are loaded once and switched by visibility
(:class:`crystal_lab.view.ngl.FrameViewer`), and sliders labelled in t.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from crystal_lab.structures import formula

from .crystal_figures import trajectory_figure
from .facts import as_atoms, min_distance
from .ngl import FrameViewer, frame_labels

__all__ = [
    "forward_figure",
    "forward_frames",
    "forward_noise_widget",
    "get_noise",
    "noise_curves",
    "noise_curves_figure",
    "reverse_figure",
    "reverse_widget",
    "side_by_side",
    "trajectory_metrics",
]


def get_noise(model=None):
    """The ``CrystalNoise`` of ``model`` (a model or a ``CrystalNoise``).

    ``None`` means the shipped model's noise processes, or the default processes when no
    weights are installed.
    """
    from crystal_lab.model.noise import CrystalNoise

    if isinstance(model, CrystalNoise):
        return model
    if model is not None:
        if not hasattr(model, "noise"):
            raise TypeError(f"expected a CrystalDiffusionModel or CrystalNoise, "
                            f"got {type(model).__name__}")
        return model.noise
    try:
        from crystal_lab.model.checkpoint import load_model

        return load_model().noise
    except Exception as err:  # noqa: BLE001 - no usable shipped weights: the processes work untrained
        warnings.warn(f"using default noise processes ({err})", stacklevel=2)
        return CrystalNoise()


def forward_frames(atoms, ts: Sequence[float], model=None, seed: int = 0) -> list[Atoms]:
    """``atoms`` noised to each time in ``ts`` (t in [0, 1]) with one noise draw (``seed``).

    Each frame has ``info["t"]``; masked atom types have atomic number 0 (symbol "X").
    The frame at t = 0 is an exact copy of ``atoms``.
    """
    atoms = as_atoms(atoms)
    noise = get_noise(model)
    ts = [float(t) for t in ts]
    if any(not 0.0 <= t <= 1.0 for t in ts):
        raise ValueError(f"times must lie in [0, 1], got {min(ts)} .. {max(ts)}")
    return [noise.add_noise_atoms(atoms, t, seed=seed) for t in ts]


def noise_curves(model=None, n: int = 101) -> dict:
    """The three noise schedules on a grid of t: ``{"t", "sigma", "alpha_bar", "mask_prob"}``.

    sigma(t): wrapped-normal width of the fractional coordinates (fraction of a cell edge);
    alpha_bar(t): fraction of the lattice signal left; mask_prob(t): chance a type is masked.
    """
    import torch

    noise = get_noise(model)
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)

    def as_np(x):
        return torch.as_tensor(x).detach().double().cpu().numpy()

    return {"t": t.numpy(), "sigma": as_np(noise.coords.sigma(t)),
            "alpha_bar": as_np(noise.lattice.alpha_bar(t)),
            "mask_prob": as_np(noise.types.mask_prob(t))}


def _curve_dict(c: dict) -> dict:
    return {"σ(t) coords": (c["t"], c["sigma"]), "ᾱ(t) lattice": (c["t"], c["alpha_bar"]),
            "mask prob (types)": (c["t"], c["mask_prob"])}


def noise_curves_figure(model=None, t: float | None = None, height: int = 320):
    """Plotly figure of sigma(t), alpha_bar(t) and the mask probability, ``t`` marked."""
    import plotly.graph_objects as go

    c = noise_curves(model)
    fig = go.Figure()
    for (name, (x, y)), color in zip(_curve_dict(c).items(), ["#1f77b4", "#d62728", "#2ca02c"],
                                     strict=True):
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", line={"color": color}))
        if t is not None:
            fig.add_trace(go.Scatter(x=[t], y=[np.interp(t, x, y)], mode="markers",
                                     marker={"color": color, "size": 10}, showlegend=False))
    if t is not None:
        fig.add_vline(x=t, line={"color": "#888", "dash": "dot"})
    fig.update_layout(height=height, width=420, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      xaxis_title="t", yaxis_range=[-0.02, 1.05], plot_bgcolor="white",
                      legend={"orientation": "h", "y": 1.12, "x": 0}, title=None)
    fig.update_xaxes(gridcolor="#e5e5e5")
    fig.update_yaxes(gridcolor="#e5e5e5")
    return fig


def forward_figure(atoms, model=None, seed: int = 0, n_frames: int = 21, height: int = 540):
    """A plotly animation of the forward process (t = 0 .. 1) with the noise schedules beside it."""
    ts = np.linspace(0.0, 1.0, n_frames)
    frames = forward_frames(atoms, ts, model=model, seed=seed)
    return trajectory_figure(frames, curves=_curve_dict(noise_curves(model)), x=ts,
                             title="forward process: crystal → noise (t = 0 → 1)", height=height)


def _frames_with_curves(frames, make_figure, title: str, css_class: str, width: str,
                        height: str):
    """One playable nglview stage over ``frames`` with an ``ipywidgets.Output`` beside it that
    redraws ``make_figure(i)`` whenever frame ``i`` is shown. The box carries ``css_class`` and
    ``.viewer``."""
    import ipywidgets as w
    from IPython.display import display

    from .boxes import SentenceHBox, sentence

    out = w.Output(layout=w.Layout(width="440px"))

    def update(i: int) -> None:
        with out:
            out.clear_output(wait=True)
            display(make_figure(i))

    viewer = FrameViewer(frames, play=True, width=width, height=height, compact=True,
                         title=title, on_change=update)
    box = SentenceHBox([viewer.widget, out], text=sentence(f"The {title}"))
    box.add_class(css_class)
    box.viewer = viewer
    return box


def forward_noise_widget(atoms, model=None, seed: int = 0, n_frames: int = 21,
                         width: str = "400px", height: str = "360px"):
    """A slider over t in [0, 1]: the crystal as the noise processes corrupt it, with the
    noise schedules beside it (current t marked). Same seed, same picture."""
    noise = get_noise(model)
    ts = np.linspace(0.0, 1.0, n_frames)
    frames = forward_frames(atoms, ts, model=noise, seed=seed)
    box = _frames_with_curves(frames, lambda i: noise_curves_figure(noise, t=float(ts[i])),
                              "forward process", "cl-forward-widget", width, height)
    box.frames = frames
    return box


def trajectory_metrics(trajectory: Sequence[Atoms]) -> dict:
    """Per-frame numbers of a sampling trajectory (frames from t = 1 to t = 0).

    ``t``; ``min_distance`` (Å, periodic); ``volume_per_atom`` (Å³); ``final_fraction``: the
    fraction of atoms whose element already equals their element in the last frame (masked
    atoms count as not yet decided).
    """
    frames = [as_atoms(a) for a in trajectory]
    if not frames:
        raise ValueError("trajectory is empty")
    n = {len(a) for a in frames}
    if len(n) != 1:
        raise ValueError(f"all frames must have the same number of atoms, got {sorted(n)}")
    final = frames[-1].numbers
    return {
        "t": np.array([a.info.get("t", np.nan) for a in frames], float),
        "min_distance": np.array([min_distance(a) for a in frames]),
        "volume_per_atom": np.array([abs(a.cell.volume) / len(a) for a in frames]),
        "final_fraction": np.array([np.mean(a.numbers == final) for a in frames]),
    }


def _x_of(frames, metrics) -> tuple[np.ndarray, str]:
    t = metrics["t"]
    if np.isfinite(t).all():
        return t, "t"
    return np.arange(len(frames), dtype=float), "step"


def reverse_figure(trajectory: Sequence[Atoms], height: int = 540, show: str = "last"):
    """A plotly animation of a sampling trajectory with per-step metric curves beside it.

    A static export shows the ``show="last"`` frame (the finished crystal); play runs from noise.
    """
    m = trajectory_metrics(trajectory)
    x, xlabel = _x_of(trajectory, m)
    vpa = m["volume_per_atom"]
    curves = {"min distance / Å": m["min_distance"],
              "volume per atom / 10 Å³": vpa / 10.0,
              "final element fraction": m["final_fraction"]}
    fig = trajectory_figure(trajectory, curves=curves, x=x, xlabel=xlabel,
                            title="reverse process: noise → crystal (t = 1 → 0)", height=height,
                            show=show)
    if xlabel == "t":  # sampling runs from t = 1 to 0: read it left to right
        fig.update_xaxes(autorange="reversed", row=1, col=2)
    return fig


def _metrics_figure(m: dict, x: np.ndarray, xlabel: str, i: int, height: int = 320):
    import plotly.graph_objects as go

    fig = go.Figure()
    series = {"min distance / Å": m["min_distance"],
              "volume per atom / 10 Å³": m["volume_per_atom"] / 10.0,
              "final element fraction": m["final_fraction"]}
    for (name, y), color in zip(series.items(), ["#1f77b4", "#d62728", "#2ca02c"], strict=True):
        y = np.where(np.isfinite(y), y, np.nan)
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers",
                                 line={"color": color}, marker={"size": 4}))
        fig.add_trace(go.Scatter(x=[x[i]], y=[y[i]], mode="markers", showlegend=False,
                                 marker={"color": color, "size": 11,
                                             "line": {"color": "black", "width": 1}}))
    fig.add_vline(x=float(x[i]), line={"color": "#888", "dash": "dot"})
    fig.update_layout(height=height, width=420, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      xaxis_title=xlabel, plot_bgcolor="white",
                      legend={"orientation": "h", "y": 1.15, "x": 0})
    if xlabel == "t":
        fig.update_xaxes(autorange="reversed")
    fig.update_xaxes(gridcolor="#e5e5e5")
    fig.update_yaxes(gridcolor="#e5e5e5")
    return fig


def reverse_widget(trajectory: Sequence[Atoms], width: str = "400px", height: str = "360px"):
    """Play back a sampling trajectory (one nglview stage, every frame loaded once) with
    per-step curves."""
    frames = [as_atoms(a) for a in trajectory]
    m = trajectory_metrics(frames)
    x, xlabel = _x_of(frames, m)
    box = _frames_with_curves(frames, lambda i: _metrics_figure(m, x, xlabel, i),
                              "reverse process", "cl-reverse-widget", width, height)
    box.metrics = m
    return box


def side_by_side(atoms, model, seed: int = 0, steps: int | None = None,
                 width: str = "360px", height: str = "320px"):
    """``atoms`` going forward next to the model's reverse trajectory for the same composition.

    The prompt is the reduced formula of ``atoms`` with ``n_atoms=len(atoms)``. One slider over
    the sampler's times shows both at the same t: data noised to t (left) and the model's
    structure at t (right).
    """
    import ipywidgets as w

    from .boxes import SentenceVBox, sentence

    atoms = as_atoms(atoms)
    if (atoms.numbers == 0).any():
        raise ValueError("side_by_side needs a crystal without masked atoms")
    formula_ = formula(atoms)
    traj = model.sample(formula_, n_atoms=len(atoms), steps=steps, seed=seed,
                        return_trajectory=True, progress=False)[0]
    ts = [float(a.info.get("t", 1.0 - k / max(len(traj) - 1, 1))) for k, a in enumerate(traj)]
    fwd = forward_frames(atoms, ts, model=model, seed=seed)
    left = FrameViewer(fwd, controls=False, compact=True, width=width, height=height,
                       title="forward: data → noise")
    right = FrameViewer(traj, controls=False, compact=True, width=width, height=height,
                        title=f"reverse: model samples {formula_}")
    slider = w.SelectionSlider(options=[(lab, k) for k, lab in enumerate(frame_labels(fwd))],
                               description="frame", layout=w.Layout(width="360px"))
    player = w.Play(value=0, min=0, max=len(traj) - 1, interval=400)
    w.jslink((player, "value"), (slider, "index"))

    def on_step(change) -> None:
        k = change["new"]
        left.show(k)
        right.show(k)

    slider.observe(on_step, names="index")
    box = SentenceVBox([w.HBox([left.widget, right.widget]), w.HBox([player, slider])],
                       text=sentence("Forward and reverse side by side", "the viewers"))
    box.forward, box.reverse, box.slider = left, right, slider
    return box
