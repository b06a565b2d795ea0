"""Make the score visible: the network's predicted coordinate score as arrows on the atoms.

At every reverse step the denoiser predicts, for each atom, the direction in which the
probability of the clean crystal grows fastest: the score. The coordinate process turns it
into the step ``x_s = x_t + sigma_t (sigma_t - sigma_s) score`` (the drift
``mu_theta(x_t, t) - x_t`` of the talk). This module records those predictions while
``model.sample(..., return_trajectory=True)`` runs (the sampler's own step reports them to
``sample``'s callback, guidance included, so the arrows are exactly what the sampler used) and
draws them:

* :func:`score_steps` -> one :class:`ScoreStep` per reverse step: the structure at ``t``, the
  predicted score (fractional and Cartesian), and the positions the coordinate step moves the
  atoms to;
* :func:`score_figure` -> a plotly figure at the step nearest the ``t`` a student picks: atoms
  before the step, arrows along the score, and where the step takes each atom (open markers).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..arguments import check_number
from .bonds import corners
from .crystal_figures import add_player, scene_layout, structure_traces
from .facts import symbol
from .style import element_color

__all__ = ["ScoreStep", "score_figure", "score_steps"]


@dataclass
class ScoreStep:
    """One reverse step of one structure.

    ``t`` -> ``s``: the step's times. ``atoms``: the structure at ``t`` (what the network saw).
    ``score_frac`` (n, 3): the predicted score in fractional coordinates (the network's
    normalised output times the score's typical size at ``sigma_t``). ``score``: the same in
    Cartesian coordinates (Å, ``score_frac @ cell``): the direction the step moves each atom.
    ``after_frac`` (n, 3): the fractional positions after the step: the sampler's next frame
    (drawn in the cell at ``t``).
    """

    t: float
    s: float
    atoms: Atoms
    score_frac: np.ndarray
    score: np.ndarray
    after_frac: np.ndarray

    @property
    def displacement(self) -> np.ndarray:
        """(n, 3) Å: where the coordinate step moves each atom (shortest periodic image)."""
        d = self.after_frac - self.atoms.get_scaled_positions(wrap=False)
        return (d - np.round(d)) @ self.atoms.cell.array


def score_steps(model, prompt=None, n_atoms: int | None = None, seed: int = 0,
                steps: int | None = None, **sample_kwargs) -> list[ScoreStep]:
    """Sample one structure with ``model.sample(prompt, n_atoms, seed=seed, steps=steps,
    return_trajectory=True)`` and return its :class:`ScoreStep` list, t from 1 towards 0.

    Other keywords (``crystal_system``, ``formation_energy``, ``guidance``,
    ``property_guidance``) go to ``sample``. Nothing is recomputed here: each step's score and
    the positions it leads to are what the sampler's own step reports to ``sample``'s callback.
    """
    if "callback" in sample_kwargs:
        raise TypeError("score_steps records the sampler's steps through sample's callback: "
                        "it takes no callback of its own")
    reports: list[dict] = []
    trajectory = model.sample(prompt, n_atoms=n_atoms, n_samples=1, seed=seed, steps=steps,
                              return_trajectory=True, progress=False, callback=reports.append,
                              **sample_kwargs)[0]
    out = []
    for k, info in enumerate(reports):
        frame, after = trajectory[k], info["atoms"][0]
        score_frac = info["score"][0]
        out.append(ScoreStep(float(frame.info["t"]), float(info["t"]), frame.copy(), score_frac,
                             score_frac @ frame.cell.array, after.get_scaled_positions(wrap=False)))
    return out


def _nearest(records: Sequence[ScoreStep], t: float) -> ScoreStep:
    if not records:
        raise ValueError("no reverse steps to draw")
    t = check_number("t", t, minimum=0, maximum=1)
    return min(records, key=lambda r: abs(r.t - t))


def _segments(a: np.ndarray, b: np.ndarray) -> tuple[list, list, list]:
    """None-separated line segments from each row of ``a`` to the same row of ``b``."""
    xs, ys, zs = [], [], []
    for p, q in zip(a, b):
        xs += [p[0], q[0], None]
        ys += [p[1], q[1], None]
        zs += [p[2], q[2], None]
    return xs, ys, zs


def _step_traces(r: ScoreStep, arrow_length: float) -> tuple[list, float, np.ndarray]:
    """The six traces of one step (cell, atoms, arrows, arrow heads, after, the step), the
    arrow scale (Å per unit of score) and the points the view must hold."""
    import plotly.graph_objects as go

    atoms = r.atoms
    start = atoms.get_scaled_positions(wrap=False) @ atoms.cell.array
    longest = float(np.linalg.norm(r.score, axis=1).max()) if len(atoms) else 0.0
    scale = arrow_length / longest if longest > 0 else 0.0
    tips = start + scale * r.score
    after = start + r.displacement
    colours = [element_color(int(z)) for z in atoms.numbers]
    names = [symbol(int(z)) for z in atoms.numbers]
    traces = [tr for tr in structure_traces(atoms.copy(), bonds=False, images=False)
              if tr.name == "cell"]
    traces.append(go.Scatter3d(
        x=start[:, 0], y=start[:, 1], z=start[:, 2], mode="markers", name="atoms at t",
        marker={"size": 9, "color": colours, "line": {"color": "#333", "width": 1}},
        hovertext=[f"{nm} #{k}<br>|score| {np.linalg.norm(v):.2f}" for k, (nm, v) in
                   enumerate(zip(names, r.score))], hoverinfo="text"))
    ax, ay, az = _segments(start, tips)
    traces.append(go.Scatter3d(x=ax, y=ay, z=az, mode="lines", name="score (arrows)",
                               line={"color": "#d62728", "width": 6}, hoverinfo="skip"))
    heads = tips - start
    traces.append(go.Cone(x=tips[:, 0], y=tips[:, 1], z=tips[:, 2], u=heads[:, 0],
                          v=heads[:, 1], w=heads[:, 2], sizemode="absolute", sizeref=0.35,
                          anchor="tip", showscale=False,
                          colorscale=[[0, "#d62728"], [1, "#d62728"]],
                          name="score", showlegend=False, hoverinfo="skip"))
    traces.append(go.Scatter3d(
        x=after[:, 0], y=after[:, 1], z=after[:, 2], mode="markers", name="after the step",
        marker={"size": 7, "color": colours, "symbol": "circle-open",
                "line": {"color": "#333", "width": 2}}, hoverinfo="skip"))
    dx, dy, dz = _segments(start, after)
    traces.append(go.Scatter3d(x=dx, y=dy, z=dz, mode="lines", name="the step",
                               line={"color": "#555", "width": 2, "dash": "dot"},
                               hoverinfo="skip"))
    return traces, scale, np.vstack([start, tips, after, corners(atoms.cell)])


def _title(r: ScoreStep, scale: float) -> str:
    return (f"the network's score at t = {r.t:.2f} and the step to t = {r.s:.2f} "
            f"(arrows: {scale:.2g} Å per unit of score)")


def score_figure(records: Sequence[ScoreStep], t: float = 0.5, arrow_length: float = 1.5,
                 height: int = 520, slider: bool = False):
    """The score at the step nearest ``t``: the atoms at ``t`` (filled), one arrow per atom
    along the predicted score (the longest ``arrow_length`` Å long, a finite number > 0; the scale
    is in the title),
    and each atom where the step puts it (open markers, joined by a dotted line).

    ``slider=True``: every step is a frame of one figure, with a slider over t (starting at
    the step nearest ``t``) and a play button. ``fig.layout.meta`` holds ``{"t", "s",
    "scale"}`` of the shown step (arrow vector = ``scale * score``) and ``"steps"``: the t of
    every frame.
    """
    import plotly.graph_objects as go

    arrow_length = check_number("arrow_length", arrow_length, above=0, note=" (Å)")
    r = _nearest(records, t)
    shown = list(records).index(r)
    built = [_step_traces(x, arrow_length) for x in (records if slider else [r])]
    active = shown if slider else 0
    traces, scale, points = built[active]
    fig = go.Figure(traces)
    layout = {"title": {"text": _title(r, scale), "x": 0.02, "y": 0.98, "font": {"size": 14}},
              "scene": scene_layout(points, zoom=1.3), "height": height,
              "margin": {"l": 0, "r": 0, "t": 50, "b": 0},
              "legend": {"x": 0.0, "y": 0.9, "xanchor": "left", "yanchor": "top"},
              "meta": {"t": r.t, "s": r.s, "scale": scale,
                       "steps": [x.t for x in records] if slider else [r.t]}}
    if slider:
        fig.frames = [go.Frame(data=tr, name=str(k), layout={
            "scene": scene_layout(pts, zoom=1.3), "title": {"text": _title(x, sc)}})
            for k, ((tr, sc, pts), x) in enumerate(zip(built, records))]
        add_player(fig, [str(k) for k in range(len(records))],
                   [f"{x.t:.2f}" for x in records], prefix="t = ", active=active)
        layout["margin"]["b"] = 60
    fig.update_layout(**layout)
    return fig
