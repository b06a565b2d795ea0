"""Figures for a projector: labels placed clear of each other, titles wrapped clear of the
toolbar, quality against steps with readable log axes and a stated reading."""
from __future__ import annotations

import pytest

from crystal_lab.view.labels import _box, _overlap, place_labels, ternary_px, wrap_title
from crystal_lab.view.steps_figure import quality_steps_figure, steps_verdict, wilson_interval


def test_labels_of_close_points_do_not_overlap():
    """Three phases on one edge, 30 px apart (closer than Ti2O3, TiO2, TiO in the 670 px triangle)
    and a picked structure above them: one position for all would overlap; the placed boxes do not,
    and stay inside the plot."""
    points = [(300.0, 100.0), (330.0, 100.0), (360.0, 100.0), (330.0, 130.0)]
    texts = ["Ti2O3", "TiO2", "TiO", "#0, #2"]
    positions = place_labels(points, texts, bounds=(0, 0, 600, 520))
    same = [_box(x, y, t, "top right", 13) for (x, y), t in zip(points, texts, strict=True)]
    assert any(_overlap(a, b) > 0 for i, a in enumerate(same) for b in same[i + 1:])
    boxes = [_box(x, y, t, p, 13) for (x, y), t, p in zip(points, texts, positions, strict=True)]
    assert all(_overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(b[0] >= 0 and b[2] <= 600 and b[1] >= 0 for b in boxes)


def test_a_label_at_the_right_edge_turns_left():
    """A point at the plot's right edge: its label goes left, not over the colour bar."""
    (position,) = place_labels([(598.0, 200.0)], ["BaTiO3"], bounds=(0, 0, 600, 520))
    assert position.endswith("left")


def test_ternary_px_puts_the_corners_where_plotly_draws_them():
    assert ternary_px(1, 0, 0, 600) == pytest.approx((300, 300 * 3 ** 0.5))   # a: top
    assert ternary_px(0, 1, 0, 600) == pytest.approx((0, 0))                   # b: bottom left
    assert ternary_px(0, 0, 1, 600) == pytest.approx((600, 0))                 # c: bottom right


def test_wrap_title_keeps_lines_short():
    title = "Ba-O-Ti: CHGNet hull of the reference phases and the generated structures"
    lines = wrap_title(title, 400, font=17).split("<br>")
    assert len(lines) == 2 and all(len(line) <= 400 / (0.62 * 17) for line in lines)
    assert " ".join(lines) == title


def test_wilson_interval():
    low, high = wilson_interval(0.25, 16)
    assert low == pytest.approx(0.1018, abs=1e-3) and high == pytest.approx(0.4950, abs=1e-3)
    assert wilson_interval(1.0, 16)[1] == 1.0 and wilson_interval(0.0, 16)[0] == 0.0
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0.5, 0)


def _quality(valid, match, dist=(1.2, 1.6, 1.9, 2.0)):
    steps = [5, 10, 20, 50]
    q = {f"{k} steps": {"valid": v, "match": m, "min_distance": d}
         for k, v, m, d in zip(steps, valid, match, dist, strict=True)}
    q["random baseline"] = {"valid": 0.3, "match": 0.0, "min_distance": 0.9}
    return q


def test_flat_quality_is_called_noise_and_a_real_change_is_named():
    flat = _quality([1.0, 1.0, 1.0, 1.0], [0.25, 0.25, 0.25, 0.25])
    assert steps_verdict(flat, 16).startswith("no difference beyond noise between 5 and 50")
    rising = _quality([0.2, 0.6, 0.9, 1.0], [0.25, 0.25, 0.25, 0.25])
    verdict = steps_verdict(rising, 16)
    assert verdict.startswith("structurally valid 20% at 5 steps -> 100% at 50")
    assert "match rate" not in verdict


def test_quality_steps_figure_has_readable_log_axes():
    fig = quality_steps_figure(_quality([1.0] * 4, [0.25] * 4), n_targets=16)
    for axis in (fig.layout.xaxis, fig.layout.xaxis2):
        assert axis.type == "log" and list(axis.tickvals) == [5, 10, 20, 50]
        assert list(axis.ticktext) == ["5", "10", "20", "50"]   # no "6 7 8 9" minor labels
    assert "no difference beyond noise" in fig.layout.title.text
    names = [tr.name for tr in fig.data]
    assert {"structurally valid", "match rate", "median min distance"} <= set(names)
    rates = next(tr for tr in fig.data if tr.name == "match rate")
    assert list(rates.y) == [25.0] * 4 and rates.error_y.array[0] > 0   # % with its interval
    assert fig.layout.width >= 800 and fig.layout.height >= 500
    with pytest.raises(ValueError, match="at least two '<k> steps' entries"):
        quality_steps_figure({"5 steps": {}}, n_targets=4)


def test_crowded_points_on_an_edge_get_lifted_labels():
    """Ti2O3, Ti3O5, TiO2 17 px apart on the bottom edge of a 658 px triangle (the dashboard's
    CHGNet hull): no room below, so labels sit one or two lines higher, padded with <br>."""
    from crystal_lab.view.labels import place_label_texts

    points = [(395.0, 0.0), (411.0, 0.0), (439.0, 0.0)]
    texts = ["Ti2O3", "Ti3O5", "TiO2"]
    positions, drawn = place_label_texts(points, texts, bounds=(0, 0, 658, 570))
    lifts = [d.count("<br>") for d in drawn]
    boxes = [_box(x, y, t, p, 13, k) for (x, y), t, p, k in zip(points, texts, positions, lifts,
                                                                strict=True)]
    assert all(_overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert any(lifts) and all(d.replace("<br>", "") == t for d, t in zip(drawn, texts, strict=True))
    assert place_labels(points, texts, bounds=(0, 0, 658, 570))   # the one-line variant runs
