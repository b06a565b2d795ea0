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
  before the step, arrows along the score, and where the step takes each atom (open markers;
  a step much shorter than the arrows is drawn enlarged, the factor in the legend and title),
  with an element legend (masked atoms white, outlined).
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
from .style import MASKED_PLOT_COLOR, element_color

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
    for p, q in zip(a, b, strict=True):
        xs += [p[0], q[0], None]
        ys += [p[1], q[1], None]
        zs += [p[2], q[2], None]
    return xs, ys, zs


def _magnification(r: ScoreStep, arrow_length: float) -> float:
    """How much the drawn step is enlarged: the longest step drawn ``0.6 * arrow_length`` Å
    long when it is shorter (a step of 0.04 Å would hide under its own marker), else 1."""
    longest = float(np.linalg.norm(r.displacement, axis=1).max()) if len(r.atoms) else 0.0
    target = 0.6 * arrow_length
    return target / longest if 0 < longest < target else 1.0


def _element_keys(numbers) -> list:
    """Legend-only traces: one coloured chip per element present ("X = masked" for 0)."""
    import plotly.graph_objects as go

    keys = []
    for z in sorted({int(n) for n in numbers}, key=lambda n: (n == 0, n)):
        name = "X = masked (type not yet chosen)" if z == 0 else symbol(z)
        keys.append(go.Scatter3d(x=[None], y=[None], z=[None], mode="markers", name=name,
                                 marker={"size": 9, "color": _atom_colour(z),
                                         "line": {"color": "#333", "width": 1}},
                                 legendgroup="elements", legendgrouptitle={"text": "elements"},
                                 hoverinfo="skip"))
    return keys


def _atom_colour(z: int) -> str:
    """Element colour; a masked atom white (outlined), not the near-black of the viewer."""
    return MASKED_PLOT_COLOR if z == 0 else element_color(z)


def _step_traces(r: ScoreStep, arrow_length: float) -> tuple[list, float, float, np.ndarray]:
    """The traces of one step (cell, atoms, arrows, arrow heads, after, the step, element
    keys), the arrow scale (Å per unit of score), the step's magnification and the points the
    view must hold."""
    import plotly.graph_objects as go

    atoms = r.atoms
    start = atoms.get_scaled_positions(wrap=False) @ atoms.cell.array
    longest = float(np.linalg.norm(r.score, axis=1).max()) if len(atoms) else 0.0
    scale = arrow_length / longest if longest > 0 else 0.0
    tips = start + scale * r.score
    zoom = _magnification(r, arrow_length)
    after = start + zoom * r.displacement
    times = "" if zoom == 1.0 else f" (x{zoom:.0f})"
    colours = [_atom_colour(int(z)) for z in atoms.numbers]
    names = [symbol(int(z)) for z in atoms.numbers]
    traces = [tr for tr in structure_traces(atoms.copy(), bonds=False, images=False)
              if tr.name == "cell"]
    traces.append(go.Scatter3d(
        x=start[:, 0], y=start[:, 1], z=start[:, 2], mode="markers", name="atoms at t",
        marker={"size": 10, "color": colours, "line": {"color": "#333", "width": 2}},
        hovertext=[f"{nm} #{k}<br>|score| {np.linalg.norm(v):.2f}" for k, (nm, v) in
                   enumerate(zip(names, r.score, strict=True))], hoverinfo="text"))
    ax, ay, az = _segments(start, tips)
    traces.append(go.Scatter3d(x=ax, y=ay, z=az, mode="lines", name="score (arrows)",
                               line={"color": "#d62728", "width": 8}, hoverinfo="skip"))
    heads = tips - start
    traces.append(go.Cone(x=tips[:, 0], y=tips[:, 1], z=tips[:, 2], u=heads[:, 0],
                          v=heads[:, 1], w=heads[:, 2], sizemode="absolute",
                          sizeref=0.25 * arrow_length, anchor="tip", showscale=False,
                          colorscale=[[0, "#d62728"], [1, "#d62728"]],
                          name="score", showlegend=False, hoverinfo="skip"))
    traces.append(go.Scatter3d(
        x=after[:, 0], y=after[:, 1], z=after[:, 2], mode="markers",
        name=f"after the step{times}",
        marker={"size": 8, "color": colours, "symbol": "circle-open",
                "line": {"color": "#333", "width": 3}}, hoverinfo="skip"))
    dx, dy, dz = _segments(start, after)
    traces.append(go.Scatter3d(x=dx, y=dy, z=dz, mode="lines", name=f"the step{times}",
                               line={"color": "#1f4e9c", "width": 5, "dash": "dash"},
                               hoverinfo="skip"))
    traces += _element_keys(atoms.numbers)
    return traces, scale, zoom, np.vstack([start, tips, after, corners(atoms.cell)])


def _title(r: ScoreStep, scale: float, zoom: float = 1.0) -> str:
    step = "" if zoom == 1.0 else f"; the step drawn {zoom:.0f}x longer"
    return (f"the network's score at t = {r.t:.2f} and the step to t = {r.s:.2f}<br>"
            f"<span style='font-size:12px'>arrows: {scale:.2g} Å per unit of score{step}"
            "</span>")


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
    traces, scale, zoom, points = built[active]
    fig = go.Figure(traces)
    layout = {"title": {"text": _title(r, scale, zoom), "x": 0.02, "y": 0.97,
                        "font": {"size": 15}},
              "scene": scene_layout(points, zoom=1.3), "height": height,
              "margin": {"l": 0, "r": 0, "t": 60, "b": 0},
              "legend": {"x": 0.0, "y": 0.88, "xanchor": "left", "yanchor": "top",
                         "font": {"size": 13}, "bgcolor": "rgba(255,255,255,0.85)"},
              "meta": {"t": r.t, "s": r.s, "scale": scale, "step_zoom": zoom,
                       "steps": [x.t for x in records] if slider else [r.t]}}
    if slider:
        fig.frames = [go.Frame(data=tr, name=str(k), layout={
            "scene": scene_layout(pts, zoom=1.3), "title": {"text": _title(x, sc, zm)}})
            for k, ((tr, sc, zm, pts), x) in enumerate(zip(built, records, strict=True))]
        add_player(fig, [str(k) for k in range(len(records))],
                   [f"{x.t:.2f}" for x in records], prefix="t = ", active=active)
        layout["margin"]["b"] = 60
    fig.update_layout(**layout)
    return fig
