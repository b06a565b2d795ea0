"""Quality against the number of reverse steps (notebook 03, section 3), readable at any size.

:func:`quality_steps_figure` draws what notebook 03 measures at several step counts on held-out
crystals: the structurally valid share and the match rate (top, in %, each with its 95% Wilson
interval for the number of targets) and the median minimum interatomic distance (bottom, in Å),
beside the random baseline (dotted). The x axis is logarithmic with a tick at each measured step
count and no other ("5 10 20 50", not plotly's "5 6 7 8 9 10 2 3 4 5"). The title states the
reading: which quantity changes beyond the noise of that many targets, or plainly that none does.
"""
from __future__ import annotations

import math
import re

from .labels import wrap_title

__all__ = ["quality_steps_figure", "steps_verdict", "wilson_interval"]

_STEPS = re.compile(r"^(\d+) steps?$")
_RATES = (("valid", "structurally valid", "#4c78a8"), ("match", "match rate", "#e45756"))


def wilson_interval(fraction: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% for ``z=1.96``) of a share ``fraction`` of ``n`` trials."""
    if n <= 0:
        raise ValueError(f"n must be positive, not {n}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], not {fraction}")
    centre = (fraction + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(fraction * (1 - fraction) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _by_steps(quality: dict) -> list[tuple[int, dict]]:
    """The ``"<k> steps"`` entries of ``quality`` as (k, values), in step order."""
    rows = [(int(m.group(1)), values) for key, values in quality.items()
            if (m := _STEPS.match(str(key)))]
    if len(rows) < 2:
        raise ValueError("quality needs at least two '<k> steps' entries, e.g. "
                         f"{{'5 steps': {{...}}, '50 steps': {{...}}}}; got {sorted(quality)}")
    return sorted(rows, key=lambda row: row[0])


def steps_verdict(quality: dict, n_targets: int) -> str:
    """One sentence: does validity or the match rate change from the fewest to the most steps
    beyond the noise of ``n_targets`` targets (their 95% intervals do not overlap)?"""
    rows = _by_steps(quality)
    (few, first), (many, last) = rows[0], rows[-1]
    changed = []
    for key, name, _colour in _RATES:
        lo_a, hi_a = wilson_interval(first[key], n_targets)
        lo_b, hi_b = wilson_interval(last[key], n_targets)
        if hi_a < lo_b or hi_b < lo_a:
            changed.append(f"{name} {first[key]:.0%} at {few} steps -> {last[key]:.0%} at {many}")
    if changed:
        return "; ".join(changed) + f" (beyond the noise of {n_targets} targets)"
    return (f"no difference beyond noise between {few} and {many} steps at {n_targets} targets "
            "(95% intervals overlap)")


def quality_steps_figure(quality: dict, n_targets: int, height: int = 560, width: int = 820):
    """Validity, match rate and median minimum distance against the number of steps.

    ``quality``: notebook 03's dict, ``{"5 steps": {"valid": 0.9, "match": 0.25,
    "min_distance": 1.9}, ..., "random baseline": {...}}`` (the baseline is optional);
    ``n_targets``: how many held-out crystals each value was measured on."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = _by_steps(quality)
    steps = [k for k, _ in rows]
    baseline = quality.get("random baseline")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38],
                        vertical_spacing=0.08)
    for key, name, colour in _RATES:
        values = [100 * v[key] for _, v in rows]
        bounds = [wilson_interval(v[key], n_targets) for _, v in rows]
        fig.add_trace(go.Scatter(
            x=steps, y=values, mode="lines+markers", name=name, line={"color": colour},
            marker={"size": 9}, error_y={"type": "data", "symmetric": False,
                                         "array": [100 * hi - y for (_, hi), y in zip(bounds,
                                                                                      values,
                                                                                      strict=True)],
                                         "arrayminus": [y - 100 * lo for (lo, _), y in zip(bounds,
                                                                                           values,
                                                                                           strict=True)]}),
            row=1, col=1)
        if baseline is not None:
            fig.add_trace(go.Scatter(x=[steps[0], steps[-1]], y=[100 * baseline[key]] * 2,
                                     mode="lines", line={"color": colour, "dash": "dot"},
                                     name=f"random baseline: {name}"), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=[v["min_distance"] for _, v in rows],
                             mode="lines+markers", name="median min distance",
                             line={"color": "#54a24b"}, marker={"size": 9}), row=2, col=1)
    if baseline is not None:
        fig.add_trace(go.Scatter(x=[steps[0], steps[-1]], y=[baseline["min_distance"]] * 2,
                                 mode="lines", line={"color": "#54a24b", "dash": "dot"},
                                 name="random baseline: min distance"), row=2, col=1)
    ticks = {"type": "log", "tickvals": steps, "ticktext": [str(k) for k in steps],
             "minor": {"showgrid": False, "ticks": ""}, "tickfont": {"size": 14}}
    fig.update_xaxes(**ticks)
    fig.update_xaxes(title={"text": "reverse steps (log scale)", "font": {"size": 15}},
                     row=2, col=1)
    fig.update_yaxes(title={"text": "% of targets", "font": {"size": 15}}, range=[-5, 105],
                     tickfont={"size": 14}, row=1, col=1)
    fig.update_yaxes(title={"text": "min distance (Å)", "font": {"size": 15}},
                     tickfont={"size": 14}, row=2, col=1)
    verdict = wrap_title(steps_verdict(quality, n_targets), width - 280, font=13)
    fig.update_layout(
        height=height, width=width, autosize=False,
        title={"text": f"quality against steps on {n_targets} held-out crystals<br>"
                       f"<span style='font-size:13px'>{verdict}</span>",
               "x": 0.01, "xanchor": "left", "font": {"size": 17}},
        legend={"x": 1.02, "xanchor": "left", "y": 1.0, "font": {"size": 13}},
        margin={"l": 70, "r": 230, "t": 80 + 16 * verdict.count("<br>"), "b": 60})
    return fig
