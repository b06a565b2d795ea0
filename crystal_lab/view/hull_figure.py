"""Figures of an evaluation: the rate bars and the phase diagram (convex hull) of a chemical
system with the generated structures on it.

The phase diagram is pymatgen's plotly ``PDPlotter`` figure made readable on a projector:
a fixed size (:data:`HULL_WIDTH` x :data:`HULL_HEIGHT`, autosize off, so it keeps its size
inside an ipywidgets tab) with at least 600 px of plot area, the colour scale starting at the
hull (0 eV/atom), the legend and colour bar outside the plot, the title wrapped clear of the
toolbar, and the generated structures as ONE marker trace of their own ("generated (n)": one
legend entry, each marker's hover text saying formula and E_hull). Text labels go to the stable
phases and the picked candidates only (by default the three lowest in E_hull), each placed
beside its point where it covers no other label and stays inside the plot
(:func:`crystal_lab.view.labels.place_labels`); every other structure is on hover.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crystal_lab.structures import formula

from .labels import place_label_texts, place_labels, ternary_px, wrap_title

__all__ = ["HULL_HEIGHT", "HULL_WIDTH", "phase_diagram_figure", "plot_coordinates",
           "summary_figure"]

HULL_WIDTH, HULL_HEIGHT = 960, 720
# px around the plot area: the legend and the colour bar live in the right margin
_MARGIN = {"l": 50, "r": 230, "t": 100, "b": 50}
N_PICKED = 3   # generated structures labelled when none are named: the lowest in E_hull
_GENERATED = "generated"


def summary_figure(rates: dict, baseline_rates: dict | None = None):
    """Plotly bars of the valid / unique / novel (/ stable / S.U.N.) rates in %, beside a
    random baseline's when given."""
    import plotly.graph_objects as go

    names, keys = ["valid", "unique", "novel"], ["validity", "uniqueness", "novelty"]
    counts = [rates["n_valid"], rates["n_unique"], rates["n_novel"]]
    if rates.get("stability_evaluated"):
        names += ["stable", "S.U.N."]
        keys += ["stability", "sun"]
        counts += [rates["n_stable"], rates["n_sun"]]
    values = [100 * rates[k] if rates[k] == rates[k] else 0 for k in keys]
    fig = go.Figure(go.Bar(x=names, y=values, name="model",
                           text=[f"{v:.0f} % ({c})" for v, c in zip(values, counts, strict=True)],
                           textposition="outside", marker_color="#4c78a8"))
    if baseline_rates is not None:
        bv = [100 * baseline_rates[k] if k in baseline_rates and
              baseline_rates[k] == baseline_rates[k] else 0 for k in keys]
        fig.add_trace(go.Bar(x=names, y=bv, name="random baseline", marker_color="#bab0ac",
                             text=[f"{v:.0f} %" for v in bv], textposition="outside"))
        fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.12})
    title = f"{rates['n']} structures"
    if rates.get("stability_evaluated"):
        title += f"; stable = CHGNet E_hull < {rates['stability_threshold']} eV/atom"
    fig.update_layout(title=title, yaxis={"title": "% of structures", "range": [0, 110]},
                      height=320, width=520, margin={"l": 50, "r": 10, "t": 50, "b": 40})
    return fig


def plot_coordinates(diagram, composition) -> tuple[float, ...]:
    """Where pymatgen's plotly phase diagram of ``diagram`` (a ``PhaseDiagram``) draws
    ``composition``: (fraction of the second element,) for a binary (the y is the formation
    energy), the ternary plot's (a, b, c) atomic fractions, the tetrahedron's (x, y, z) for a
    quaternary."""
    from pymatgen.analysis.phase_diagram import tet_coord

    n = len(diagram.elements)
    if n == 2:
        return (float(diagram.pd_coords(composition)[0]),)
    if n == 3:
        return tuple(float(composition.get_atomic_fraction(el)) for el in diagram.elements)
    if n == 4:
        return tuple(float(v) for v in tet_coord(diagram.pd_coords(composition)))
    raise ValueError(f"phase diagrams of 2 to 4 elements can be drawn, not {n}")


def _plot_side(width: int, height: int) -> float:
    """The side, in px, of the ternary triangle plotly draws in the plot area."""
    w = width - _MARGIN["l"] - _MARGIN["r"]
    h = height - _MARGIN["t"] - _MARGIN["b"]
    return min(w, h / (np.sqrt(3) / 2))


def _ternary_labels(texts: Sequence[str], coords: Sequence[tuple], side: float,
                    others: Sequence[tuple] = ()):
    """One text trace for the ternary's labels (pymatgen's ternary plot has none): the stable
    compounds' formulas and the picked structures' "#i", each placed clear of the others."""
    import plotly.graph_objects as go

    points = [ternary_px(*c, side) for c in coords]
    dots = [ternary_px(*c, side) for c in others]
    positions, shown = place_label_texts(points, texts, font=13, bounds=(0, 0, side, side),
                                         others=dots)
    return go.Scatterternary(
        a=[c[0] for c in coords], b=[c[1] for c in coords], c=[c[2] for c in coords],
        mode="text", text=shown, textposition=positions,
        textfont={"size": 13, "color": "#222"}, hoverinfo="skip", showlegend=False,
        name="labels", cliponaxis=False)


def _point_labels(labels: Sequence[str], coords: Sequence[tuple],
                  picked: Sequence[int]) -> list[str]:
    """Marker texts "#i" of the picked structures: picked structures drawn at one point share
    one text ("#0, #2"); the others have none (they are on hover)."""
    groups: dict[tuple, list[int]] = {}
    for k in picked:
        groups.setdefault(tuple(round(v, 4) for v in coords[k]), []).append(k)
    text = [""] * len(labels)
    for members in groups.values():
        text[members[0]] = ", ".join(labels[k].split(" ")[0] for k in sorted(members))
    return text


def _merged_labels(diagram, coords, texts) -> tuple[list[str], list[tuple]]:
    """The ternary's label texts and points: each stable compound's formula, a picked text at
    the same point joined to it ("BaTiO3 (#0)"), the other picked texts on their own."""
    stable = [e for e in diagram.stable_entries if len(e.composition.elements) > 1]
    points = [plot_coordinates(diagram, e.composition) for e in stable]
    labels = [formula(e.composition) for e in stable]
    key = [tuple(round(v, 4) for v in p) for p in points]
    for c, text in zip(coords, texts, strict=True):
        if not text:
            continue
        here = tuple(round(v, 4) for v in c)
        if here in key:
            labels[key.index(here)] += f" ({text})"
        else:
            labels.append(text)
            points.append(c)
    return labels, points


def _picked(labels: Sequence[str], e_hull: Sequence, picked) -> list[int]:
    """Indices of the picked structures: those whose label starts with one of ``picked``
    ("#3" or "#3 BaTiO3"), or the :data:`N_PICKED` lowest in E_hull."""
    if picked is None:
        known = [k for k, e in enumerate(e_hull) if e is not None]
        return sorted(known, key=lambda k: float(e_hull[k]))[:N_PICKED]
    wanted = {str(p).split(" ")[0] for p in picked}
    chosen = [k for k, label in enumerate(labels) if label.split(" ")[0] in wanted]
    missing = wanted - {labels[k].split(" ")[0] for k in chosen}
    if missing:
        raise ValueError(f"picked {sorted(missing)}: no generated structure has that label")
    return chosen


def _restyle(fig) -> None:
    """pymatgen's figure made readable: the colour scale from the hull up, its bar in the right
    margin below the legend, and a quaternary's labels shown (pymatgen hides them)."""
    for tr in fig.data:
        marker = getattr(tr, "marker", None)
        if marker is not None and marker.colorbar is not None and \
                marker.color is not None and not isinstance(marker.color, str):
            marker.cmin, marker.cmid = 0.0, None            # the scale starts at the hull
            marker.colorbar.update(x=1.02, xanchor="left", y=0.0, yanchor="bottom", len=0.45,
                                   thickness=14, thicknessmode="pixels",
                                   title={"text": "E_hull (eV/atom)", "side": "right"})
        if (tr.name or "").startswith("Labels"):
            tr.visible = True


def _binary_positions(fig, coords, texts, width, height) -> list[str]:
    """Label positions on a binary's plot: the data mapped to the plot area's px."""
    ys = [float(y) for tr in fig.data for y in (getattr(tr, "y", None) or ())
          if y is not None] + [c[1] for c in coords]
    low, high = min(ys), max(ys)
    w = width - _MARGIN["l"] - _MARGIN["r"]
    h = height - _MARGIN["t"] - _MARGIN["b"]
    span = high - low or 1.0
    points = [(c[0] * w, (c[1] - low) / span * h) for c in coords]
    return place_labels(points, texts, font=13, bounds=(0, 0, w, h))


def _generated_trace(diagram, entries, e_hull, picked, fig, size):
    """The one trace of the generated structures (hover: label and E_hull; text: the picked
    ones) and, for a ternary, the labels trace of stable phases and picked structures."""
    import plotly.graph_objects as go

    n = len(diagram.elements)
    labels = [label for label, _ in entries]
    hover = [f"{label}<br>E_hull {e:+.3f} eV/atom" if e is not None else label
             for label, e in zip(labels, e_hull, strict=True)]
    marker = {"symbol": "star", "size": 15, "color": "#e45756",
              "line": {"width": 1, "color": "black"}}
    coords = [plot_coordinates(diagram, entry.composition) for _, entry in entries]
    if n == 2:   # a binary's y is the formation energy: each structure its own point
        coords = [(c[0], diagram.get_form_energy_per_atom(entry))
                  for c, (_, entry) in zip(coords, entries, strict=True)]
    texts = _point_labels(labels, coords, _picked(labels, e_hull, picked))
    common = {"name": f"{_GENERATED} ({len(entries)})", "hovertext": hover,
              "hoverinfo": "text", "showlegend": True}
    if n == 2:
        return [go.Scatter(x=[c[0] for c in coords], y=[c[1] for c in coords],
                           mode="markers+text", text=texts, marker=marker,
                           textposition=_binary_positions(fig, coords, texts, *size),
                           **common)]
    if n == 3:
        label_texts, label_coords = _merged_labels(diagram, coords, texts)
        side = _plot_side(*size)
        return [go.Scatterternary(
            a=[c[0] for c in coords], b=[c[1] for c in coords], c=[c[2] for c in coords],
            mode="markers", marker={**marker, "size": 12}, cliponaxis=False, **common),
            _ternary_labels(label_texts, label_coords, side, others=coords)]
    return [go.Scatter3d(x=[c[0] for c in coords], y=[c[1] for c in coords],
                         z=[c[2] for c in coords], mode="markers+text", text=texts,
                         marker={**marker, "symbol": "diamond", "size": 7}, **common)]


def phase_diagram_figure(reference_entries: Sequence, generated: Sequence[tuple],
                         title: str = "", width: int = HULL_WIDTH, height: int = HULL_HEIGHT,
                         picked: Sequence[str] | None = None):
    """The phase diagram of the reference phases with the generated structures on it.

    ``reference_entries``: pymatgen ``PDEntry`` objects (elements and compounds of 2-4
    elements). ``generated``: ``(label, composition, energy_per_atom)`` per structure, e.g.
    ``("#3 BaTiO3", Composition("BaTiO3"), -8.1)``; each is one marker of the trace
    "generated (n)", its hover text giving the formula and E_hull against the reference hull.
    ``picked``: the labels ("#3") of the structures to label on the plot; default: the
    :data:`N_PICKED` lowest in E_hull. The stable phases are always labelled.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PDPlotter, PhaseDiagram

    diagram = PhaseDiagram(list(reference_entries))
    n = len(diagram.elements)
    if not 2 <= n <= 4:
        raise ValueError(f"phase diagrams of 2 to 4 elements can be drawn, not {n}")
    entries = [(label, PDEntry(comp, float(e) * comp.num_atoms, name=label))
               for label, comp, e in generated]
    e_hull = [diagram.get_e_above_hull(entry, allow_negative=True) for _, entry in entries]
    worst = max([float(e) for e in e_hull if e is not None] + [0.2])
    fig = PDPlotter(diagram, show_unstable=worst + 0.05, backend="plotly").get_plot(
        label_stable=True)
    _restyle(fig)
    if entries:
        fig.add_traces(_generated_trace(diagram, entries, e_hull, picked, fig, (width, height)))
    elif n == 3:
        stable = [e for e in diagram.stable_entries if len(e.composition.elements) > 1]
        fig.add_trace(_ternary_labels(
            [formula(e.composition) for e in stable],
            [plot_coordinates(diagram, e.composition) for e in stable], _plot_side(width, height)))
    fig.update_layout(
        autosize=False, width=width, height=height, showlegend=True,
        title={"text": wrap_title(title, width - _MARGIN["r"] - 60), "x": 0.02,
               "xanchor": "left", "y": 0.98, "yanchor": "top", "font": {"size": 17}},
        legend={"x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top",
                "orientation": "v", "bgcolor": "rgba(255,255,255,0.9)"},
        margin=dict(_MARGIN))
    return fig


def generated_rows(table, structures, formulas, elements) -> list[tuple]:
    """``(label, composition, energy_per_atom)`` of the rows whose CHGNet energy is known and
    whose elements lie within ``elements``: the ``generated`` argument of
    :func:`phase_diagram_figure`."""
    from crystal_lab.structures import to_structure

    rows = []
    for i in table.index:
        e = table.at[i, "energy_per_atom"]
        if not np.isfinite(e):   # no CHGNet energy (an invalid row may have no structure)
            continue
        comp = to_structure(structures[i]).composition
        if {el.symbol for el in comp.elements} <= set(elements):
            rows.append((f"#{i} {formulas[i]}", comp, float(e)))
    return rows
