"""Figures of the 2D toy (:mod:`crystal_lab.toy`): plotly animations with a time slider.

* ``random_walk_figure``: particles spreading and the histogram of their x coordinate;
* ``cloud_animation``: a point cloud going forward (data -> noise) or back;
* ``loss_figure``: the training loss;
* ``toy_score_figure``: the learned score as arrows over the plane, with samples moving
  along it step by step.
"""
from __future__ import annotations

import math

import numpy as np

from .crystal_figures import add_player

__all__ = ["cloud_animation", "loss_figure", "random_walk_figure", "toy_score_figure"]


def random_walk_figure(positions: np.ndarray, step: float | None = None, n_frames: int = 21,
                       bins: int = 40, height: int = 420):
    """Animation: particles (left) and the histogram of their x coordinate (right).

    With ``step`` (the walk's step size), the Gaussian the walk tends to,
    ``N(0, step**2 * n)``, is drawn over the histogram.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    last = positions.shape[0] - 1
    ks = np.unique(np.linspace(0, last, n_frames).round().astype(int))
    lim = float(np.abs(positions).max()) * 1.05 + 1e-9
    edges = np.linspace(-lim, lim, bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    xs = np.linspace(-lim, lim, 300)

    def data(k):
        p = positions[k]
        h, _ = np.histogram(p[:, 0], edges, density=True)
        out = [go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name="particles",
                          marker={"size": 3, "color": "#1f77b4", "opacity": 0.5}),
               go.Bar(x=centers, y=h, width=width, name="histogram of x",
                      marker_color="#9ecae1", xaxis="x2", yaxis="y2")]
        if step is not None:
            var = max(step ** 2 * k, 1e-12)
            g = np.exp(-xs ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
            out.append(go.Scatter(x=xs, y=np.minimum(g, 1e3), mode="lines", name="N(0, step²·n)",
                                  line={"color": "#d62728"}, xaxis="x2", yaxis="y2"))
        return out

    fig = make_subplots(rows=1, cols=2, subplot_titles=("particles", "concentration along x"))
    for tr in data(ks[-1]):  # a static export shows the end state; play runs from step 0
        fig.add_trace(tr, row=1, col=1 if tr.name == "particles" else 2)
    ymax = max(np.histogram(positions[k][:, 0], edges, density=True)[0].max() for k in ks[1:]) \
        if len(ks) > 1 else 1.0
    fig.frames = [go.Frame(data=data(k), name=str(k)) for k in ks]
    add_player(fig, [str(k) for k in ks], [str(k) for k in ks], "step ", active=len(ks) - 1)
    fig.update_xaxes(range=[-lim, lim])
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", row=1, col=1)
    fig.update_yaxes(range=[0, 1.15 * ymax], row=1, col=2)
    fig.update_layout(height=height, plot_bgcolor="white", margin={"l": 30, "r": 10, "t": 40,
                                                                   "b": 10},
                      legend={"x": 0.75, "y": 1.0})
    return fig


def cloud_animation(trajectory: np.ndarray, data: np.ndarray | None = None, n_frames: int = 26,
                    title: str = "", times: np.ndarray | None = None, height: int = 440,
                    max_points: int = 1500, show: str = "first"):
    """Animate point clouds ``(K, n, 2)`` (forward or reverse) with the data as a grey ghost.

    ``times`` labels each of the K states (default: the state index). ``show``: the state a
    static export shows, ``"first"`` or ``"last"`` (play always starts from the first).
    """
    if show not in ("first", "last"):
        raise ValueError(f"show must be 'first' or 'last', got {show!r}")
    import plotly.graph_objects as go

    n_states = trajectory.shape[0]
    times = np.arange(n_states) if times is None else np.asarray(times)
    ks = np.unique(np.linspace(0, n_states - 1, n_frames).round().astype(int))
    pts = trajectory[:, :max_points]
    lim = float(np.percentile(np.abs(pts), 99.5)) * 1.1 + 1e-9
    base = []
    if data is not None:
        d = np.asarray(data)[:max_points]
        base.append(go.Scatter(x=d[:, 0], y=d[:, 1], mode="markers", name="data",
                               marker={"size": 3, "color": "#c7c7c7"}))

    def cloud(k):
        return go.Scatter(x=pts[k, :, 0], y=pts[k, :, 1], mode="markers", name="points",
                          marker={"size": 3, "color": "#1f77b4", "opacity": 0.7})

    active = 0 if show == "first" else len(ks) - 1
    fig = go.Figure(base + [cloud(ks[active])])
    fig.frames = [go.Frame(data=[cloud(k)], traces=[len(base)], name=str(k)) for k in ks]
    add_player(fig, [str(k) for k in ks], [str(times[k]) for k in ks], "t = ", active=active)
    fig.update_xaxes(range=[-lim, lim], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", showgrid=False, zeroline=False)
    fig.update_layout(title=title, height=height, width=height + 150, plot_bgcolor="white",
                      margin={"l": 20, "r": 10, "t": 40, "b": 10}, legend={"x": 1.02, "y": 1.0})
    return fig


def loss_figure(losses, smooth: int = 50, height: int = 300):
    """Training loss per iteration with a running mean over ``smooth`` iterations."""
    import plotly.graph_objects as go

    losses = np.asarray(losses, float)
    k = max(1, min(smooth, len(losses)))
    run = np.convolve(losses, np.ones(k) / k, mode="valid")
    fig = go.Figure([go.Scatter(y=losses, mode="lines", name="loss",
                                line={"color": "#c6dbef", "width": 1}),
                     go.Scatter(x=np.arange(k - 1, len(losses)), y=run, mode="lines",
                                name=f"mean of {k}", line={"color": "#08519c"})])
    fig.update_layout(height=height, xaxis_title="iteration", yaxis_title="MSE on ε",
                      plot_bgcolor="white", margin={"l": 50, "r": 10, "t": 20, "b": 40})
    return fig


def _arrows(x: np.ndarray, v: np.ndarray) -> tuple[list, list]:
    """Line segments from ``x`` along ``v`` (None-separated, for one plotly trace)."""
    xs, ys = [], []
    for (a, b), (da, db) in zip(x, v, strict=True):
        xs += [a, a + da, None]
        ys += [b, b + db, None]
    return xs, ys


def toy_score_figure(ddpm, data: np.ndarray | None = None, steps: int = 20, n_points: int = 300,
                     grid: int = 17, seed: int = 0, height: int = 520):
    """The toy network's learned score as arrows over the plane, with samples moving along it.

    One frame per reverse step of a ``steps``-step deterministic (DDIM) sampler: the score
    ``-eps_theta(x, t) / sqrt(1 - abar_t)`` on a ``grid`` x ``grid`` lattice of points at that
    step's t (arrows scaled so the longest is one grid spacing; the scale is in the legend), and
    the ``n_points`` samples at that t. ``data`` is drawn as a grey ghost. ``fig.layout.meta``
    holds ``{"t": [...], "scale": [...]}`` per frame.
    """
    import plotly.graph_objects as go

    traj = ddpm.sample(n_points, seed=seed, steps=steps, method="ddim", return_trajectory=True)
    ts = [k / ddpm.T for k in ddpm.timesteps(steps)][:-1]   # the t of each step's prediction
    lim = float(np.percentile(np.abs(traj), 99.5)) * 1.1 + 1e-9
    axis = np.linspace(-lim, lim, grid)
    gx, gy = np.meshgrid(axis, axis)
    points = np.c_[gx.ravel(), gy.ravel()]
    spacing = axis[1] - axis[0]
    base = []
    if data is not None:
        d = np.asarray(data)[:1500]
        base.append(go.Scatter(x=d[:, 0], y=d[:, 1], mode="markers", name="data",
                               marker={"size": 3, "color": "#d9d9d9"}, hoverinfo="skip"))
    scales, frames = [], []
    for k, t in enumerate(ts):
        _, score = ddpm.predict(points, t)
        longest = float(np.linalg.norm(score, axis=1).max())
        scale = spacing / longest if longest > 0 else 0.0
        scales.append(scale)
        ax_, ay_ = _arrows(points, scale * score)
        frames.append([
            go.Scatter(x=ax_, y=ay_, mode="lines", name=f"score at t = {t:.2f}",
                       line={"color": "#d62728", "width": 1.5}, hoverinfo="skip"),
            go.Scatter(x=traj[k, :, 0], y=traj[k, :, 1], mode="markers",
                       name="samples", marker={"size": 4, "color": "#1f77b4", "opacity": 0.8})])
    fig = go.Figure(base + frames[0])
    fig.frames = [go.Frame(data=f, traces=[len(base), len(base) + 1], name=str(k))
                  for k, f in enumerate(frames)]
    add_player(fig, [str(k) for k in range(len(ts))], [f"{t:.2f}" for t in ts], "t = ")
    fig.update_xaxes(range=[-lim, lim], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", showgrid=False, zeroline=False)
    fig.update_layout(title="the learned score (arrows) and the samples following it",
                      height=height, width=height + 170, plot_bgcolor="white",
                      margin={"l": 20, "r": 10, "t": 40, "b": 10},
                      legend={"x": 1.02, "y": 1.0, "xanchor": "left"},
                      meta={"t": ts, "scale": scales})
    return fig
