"""Plotly figures of crystals (they need no widget frontend: static exports, nbval, papermill)
and the one play/slider helper every animation in the lab uses (:func:`add_player`).

* ``structure_traces`` / ``structure_figure``: atoms (one legend entry per element, so the
  legend is the element key), the 12 cell edges, bonds drawn whole to the periodic images
  they reach (:func:`crystal_lab.view.bonds.bond_geometry`), masked atoms as open translucent
  markers labelled "X".
* ``trajectory_figure``: an animation over frames with a slider labelled in ``t``; every
  frame re-frames the camera on its own cell, so the crystal fills the view at every t.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from .bonds import bond_geometry, cell_edges, corners
from .facts import MAX_DRAWN_ATOMS, as_atoms, check_repeat, describe, symbol
from .style import BOND_COLOR, CELL_COLOR, MASKED_COLOR, MASKED_OPACITY, element_color, marker_size

__all__ = [
    "add_player",
    "scene_layout",
    "structure_figure",
    "structure_traces",
    "trajectory_figure",
]


def add_player(fig, names: Sequence[str], labels: Sequence[str], prefix: str = "t = ",
               frame_ms: int = 250, active: int = 0, redraw: bool = True):
    """Give ``fig`` a slider over its frames ``names`` (shown as ``labels``, starting at
    ``active``) and play/pause buttons; play always runs the whole animation from the first
    frame. The one helper for every animation (crystals and the toy models)."""
    names = [str(n) for n in names]
    step_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": redraw},
                     "transition": {"duration": 0}}
    slider = {"active": active, "currentvalue": {"prefix": prefix}, "pad": {"t": 40, "b": 10},
                  "len": 0.88, "x": 0.12,
                  "steps": [{"method": "animate", "label": str(lab), "args": [[n], step_args]}
                         for n, lab in zip(names, labels, strict=True)]}
    play = {"type": "buttons", "showactive": False, "x": 0.0, "y": 0, "xanchor": "left",
            "yanchor": "top",
                "pad": {"t": 45}, "buttons": [
                    {"label": "▶", "method": "animate",
                         "args": [names, {"mode": "immediate",
                                           "frame": {"duration": frame_ms, "redraw": redraw},
                                           "transition": {"duration": 0}, "fromcurrent": False}]},
                    {"label": "❚❚", "method": "animate",
                         "args": [[None], {"mode": "immediate", "frame": {"duration": 0},
                                            "transition": {"duration": 0}}]}]}
    fig.update_layout(sliders=[slider], updatemenus=[play])
    return fig


def _hover(atoms: Atoms, k: int, pos) -> str:
    z = int(atoms.numbers[k])
    f = atoms.get_scaled_positions(wrap=False)[k]
    name = "X (masked: type not decided yet)" if z == 0 else symbol(z)
    return (f"{name} #{k}<br>frac ({f[0]:.3f}, {f[1]:.3f}, {f[2]:.3f})"
            f"<br>cart ({pos[0]:.2f}, {pos[1]:.2f}, {pos[2]:.2f}) Å")


def _atom_trace(go, x, y, z, zs, name, text, scene, showlegend=True, image=False):
    masked = len(zs) > 0 and int(zs[0]) == 0
    marker = {"size": [marker_size(int(q)) for q in zs],
                  "color": [element_color(int(q)) for q in zs],
                  "opacity": MASKED_OPACITY if masked else (0.55 if image else 1.0),
                  "line": {"color": "#333333", "width": 1}}
    if masked:
        marker["symbol"] = "circle-open"
        marker["color"] = MASKED_COLOR
    return go.Scatter3d(x=x, y=y, z=z, mode="markers+text" if masked else "markers", name=name,
                        marker=marker, text=["X"] * len(zs) if masked else text,
                        textfont={"color": "#000", "size": 12},
                        hovertext=text, hoverinfo="text", showlegend=showlegend,
                        legendgroup=name, scene=scene)


def structure_traces(atoms: Atoms, bonds: bool = True, images: bool = True,
                     per_element: bool = True, scene: str = "scene") -> list:
    """Plotly traces for one structure: the 12 cell edges (trace ``"cell"``), bonds
    (``"bonds"``), atoms (one trace per element named by its symbol, ``"X (masked)"`` for
    masked atoms, or one trace ``"atoms"``) and the periodic images (``"images"``): boundary
    copies (``images=True``) and every image a drawn bond reaches."""
    import plotly.graph_objects as go

    atoms = atoms.copy()
    atoms.wrap(eps=1e-6)
    traces = []
    cx, cy, cz = cell_edges(atoms.cell)
    traces.append(go.Scatter3d(x=cx, y=cy, z=cz, mode="lines", name="cell", hoverinfo="skip",
                               line={"color": CELL_COLOR, "width": 3}, showlegend=False,
                               scene=scene))
    segments, img_idx, img_pos = bond_geometry(atoms, images=images) if bonds else ([], [], None)
    if bonds:
        bx, by, bz = [], [], []
        for p, q in segments:
            bx += [p[0], q[0], None]
            by += [p[1], q[1], None]
            bz += [p[2], q[2], None]
        traces.append(go.Scatter3d(x=bx, y=by, z=bz, mode="lines", name="bonds",
                                   hoverinfo="skip", line={"color": BOND_COLOR, "width": 5},
                                   showlegend=False, scene=scene))
    elif images:
        from .bonds import boundary_images

        img_idx, off = boundary_images(atoms)
        img_pos = (atoms.get_scaled_positions(wrap=False)[img_idx] + off) @ np.asarray(atoms.cell) \
            if img_idx else np.zeros((0, 3))
    pos = atoms.positions
    if per_element:
        groups = [(z, np.flatnonzero(atoms.numbers == z))
                  for z in sorted(set(atoms.numbers.tolist()), key=lambda z: (z == 0, z))]
        for z, idx in groups:
            name = "X (masked)" if z == 0 else symbol(int(z))
            traces.append(_atom_trace(go, pos[idx, 0], pos[idx, 1], pos[idx, 2],
                                      atoms.numbers[idx], name,
                                      [_hover(atoms, k, pos[k]) for k in idx], scene))
    else:
        idx = np.arange(len(atoms))
        zs = atoms.numbers
        traces.append(go.Scatter3d(
            x=pos[:, 0], y=pos[:, 1], z=pos[:, 2], mode="markers", name="atoms",
            marker={"size": [marker_size(int(q)) for q in zs],
                        "color": [element_color(int(q)) for q in zs],
                        "symbol": ["circle-open" if q == 0 else "circle" for q in zs],
                        "line": {"color": "#333333", "width": 1}},
            text=[_hover(atoms, k, pos[k]) for k in idx], hoverinfo="text", showlegend=False,
            scene=scene))
    if img_pos is not None and (images or len(img_idx)):
        zs = atoms.numbers[img_idx] if len(img_idx) else np.array([], int)
        traces.append(go.Scatter3d(
            x=img_pos[:, 0], y=img_pos[:, 1], z=img_pos[:, 2], mode="markers", name="images",
            marker={"size": [marker_size(int(q)) for q in zs],
                        "color": [element_color(int(q)) for q in zs], "opacity": 0.55},
            hoverinfo="skip", showlegend=False, scene=scene))
    return traces


def _points(atoms: Atoms) -> np.ndarray:
    a = atoms.copy()
    a.wrap(eps=1e-6)
    return np.vstack([corners(a.cell), a.positions])


def scene_layout(points: np.ndarray | None = None, pad: float = 0.8, zoom: float = 1.0) -> dict:
    """A plotly 3D scene without axes, orthographic, looking at the cell from a tilted view;
    with ``points`` (n, 3) the axis ranges are fitted to them, so they fill the view."""
    axis = {"visible": False, "showbackground": False}
    scene = {"xaxis": dict(axis), "yaxis": dict(axis), "zaxis": dict(axis), "aspectmode": "data",
                 "camera": {"eye": {"x": 1.15, "y": -1.25, "z": 0.7},
                             "projection": {"type": "orthographic"}}}
    if points is not None:
        lo, hi = points.min(0) - pad, points.max(0) + pad
        center, span = (lo + hi) / 2, np.maximum(hi - lo, 1e-6)
        half = span.max() / 2   # a cube around the cell: the same scale on every axis
        for k, ax in enumerate("xyz"):
            scene[f"{ax}axis"]["range"] = [float(center[k] - half), float(center[k] + half)]
        scene["aspectmode"] = "manual"
        scene["aspectratio"] = {"x": zoom, "y": zoom, "z": zoom}
    return scene


def structure_figure(atoms: Atoms, repeat=(1, 1, 1), bonds: bool = True,
                     images: bool = True, title: str | None = None, height: int = 460,
                     max_atoms: int | None = MAX_DRAWN_ATOMS):
    """A plotly 3D figure of one structure (see ``structure_traces``); the legend lists the
    elements with their colours. The scene is a cube around the cell (a tall cell is never
    clipped). More than ``max_atoms`` atoms after ``repeat`` is refused (ValueError with an
    estimate); pass a larger ``max_atoms`` (or None) to draw them anyway."""
    import plotly.graph_objects as go

    atoms = as_atoms(atoms)
    atoms = atoms.repeat(check_repeat(repeat, len(atoms), max_atoms))
    if title is None:
        d = describe(atoms)
        title = f"{d['formula']}  ·  {d['spacegroup']}  ·  {d['n_atoms']} atoms"
        if "t" in d:
            title += f"  ·  t = {d['t']:.2f}"
    fig = go.Figure(structure_traces(atoms, bonds=bonds, images=images))
    fig.update_layout(title={"text": title, "x": 0.02, "font": {"size": 14}},
                      scene=scene_layout(_points(atoms)), height=height,
                      margin={"l": 0, "r": 0, "t": 36, "b": 0}, paper_bgcolor="white",
                      legend={"itemsizing": "constant", "x": 0.0, "y": 0.92, "title": "elements"})
    return fig


def _frame_label(atoms: Atoms, k: int) -> str:
    return f"{atoms.info['t']:.2f}" if "t" in atoms.info else str(k)


CURVE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def trajectory_figure(frames: Sequence[Atoms], curves: dict | None = None,
                      x: Sequence[float] | None = None, xlabel: str = "t",
                      bonds: bool = True, title: str = "", frame_ms: int = 250,
                      height: int = 480, show: str = "first"):
    """A plotly animation over ``frames`` with a slider labelled by ``atoms.info["t"]``.

    ``curves`` (name -> values, one per frame, or name -> (xs, ys) for a dense curve) are drawn
    in a 2D panel beside the structure with a marker at the current frame's ``x`` (default: t,
    or the frame index when frames have no t). ``show`` (``"first"`` or ``"last"``) is the
    frame a static export shows; the play button always runs from the first frame. Each frame
    fits the camera to its own cell (the crystal fills the view at every t).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frames = [as_atoms(a) for a in frames]
    if not frames:
        raise ValueError("trajectory_figure needs at least one frame")
    if show not in ("first", "last"):
        raise ValueError(f"show must be 'first' or 'last', got {show!r}")
    active = 0 if show == "first" else len(frames) - 1
    curves = curves or {}
    if x is None:
        x = [a.info.get("t", k) for k, a in enumerate(frames)]
    x = [float(v) for v in x]
    if curves:
        fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.06,
                            specs=[[{"type": "scene"}, {"type": "xy"}]])
    else:
        fig = go.Figure()
    datas = _same_traces([_frame_data(frames[k], curves, x, x[k], bonds)
                          for k in range(len(frames))], len(curves))
    for tr in datas[active]:
        fig.add_trace(tr)
    for tr in _element_key(frames):
        fig.add_trace(tr)
    if curves:
        _add_curves(fig, curves, x, xlabel)
    scenes = [scene_layout(_points(a), zoom=1.3) for a in frames]   # the crystal fills its panel
    fig.frames = [go.Frame(data=d, name=str(k), traces=list(range(len(d))),
                           layout={"scene": scenes[k]})
                  for k, d in enumerate(datas)]
    add_player(fig, [str(k) for k in range(len(frames))],
               [_frame_label(a, k) for k, a in enumerate(frames)],
               prefix=f"{xlabel} = " if xlabel else "", frame_ms=frame_ms, active=active)
    fig.update_layout(scene=scenes[active], height=height,
                      # the title on the top line, the legend on its own line under it: the
                      # two never overlap, however narrow the notebook
                      title={"text": title, "x": 0.02, "y": 0.99, "yanchor": "top"},
                      margin={"l": 0, "r": 10, "t": 110 if curves else 80, "b": 0},
                      paper_bgcolor="white", plot_bgcolor="white",
                      legend={"x": 0.0, "y": 1.02, "xanchor": "left", "yanchor": "bottom",
                              "orientation": "h"})
    return fig


def _frame_data(atoms: Atoms, curves: dict, x: list[float], xk: float, bonds: bool) -> list:
    """One frame's traces: the structure (at most one images trace, last), then a marker at
    ``xk`` on each curve."""
    import plotly.graph_objects as go

    data = structure_traces(atoms, bonds=bonds, images=False, per_element=False)
    data = [tr for tr in data if tr.name != "images"] + [
        tr for tr in data if tr.name == "images"][:1]
    for c, vals in enumerate(curves.values()):
        ys = vals[1] if isinstance(vals, tuple) else vals
        xs = vals[0] if isinstance(vals, tuple) else x
        yk = float(np.interp(xk, np.sort(xs), np.asarray(ys)[np.argsort(xs)]))
        data.append(go.Scatter(x=[xk], y=[yk], mode="markers", showlegend=False,
                               marker={"size": 10, "color": CURVE_COLORS[c % len(CURVE_COLORS)],
                                       "line": {"width": 1, "color": "black"}},
                               hoverinfo="skip", xaxis="x", yaxis="y"))
    return data


def _same_traces(datas: list[list], n_curves: int) -> list[list]:
    """Every frame must have the same traces: pad the images trace where a frame has none."""
    import plotly.graph_objects as go

    width = max(len(d) for d in datas)
    for d in datas:
        while len(d) < width:
            d.insert(len(d) - n_curves, go.Scatter3d(x=[], y=[], z=[], mode="markers",
                                                     name="images", showlegend=False))
    return datas


def _element_key(frames: list[Atoms]) -> list:
    """One legend entry per element of any frame (the traces hold no points)."""
    import plotly.graph_objects as go

    zs = sorted({int(z) for a in frames for z in a.numbers}, key=lambda z: (z == 0, z))
    return [go.Scatter3d(
        x=[None], y=[None], z=[None], mode="markers", name="X (masked)" if z == 0 else
        symbol(z), legendgroup="elements", hoverinfo="skip", scene="scene",
        marker={"size": 8, "color": element_color(z), "symbol": "circle-open" if z == 0
                else "circle", "opacity": MASKED_OPACITY if z == 0 else 1.0}) for z in zs]


def _add_curves(fig, curves: dict, x: list[float], xlabel: str) -> None:
    """The curves as lines in the right-hand panel."""
    import plotly.graph_objects as go

    for c, (name, vals) in enumerate(curves.items()):
        xs, ys = vals if isinstance(vals, tuple) else (x, vals)
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines", name=name,
                                 line={"color": CURVE_COLORS[c % len(CURVE_COLORS)], "width": 2}),
                      row=1, col=2)
    fig.update_xaxes(title_text=xlabel, gridcolor="#e5e5e5", row=1, col=2)
    fig.update_yaxes(gridcolor="#e5e5e5", row=1, col=2)
