"""Text labels that do not cover each other: a position beside each point, chosen greedily.

Plotly places a marker's text at one of nine positions around it (``textposition``) and never
moves it out of another label's way. :func:`place_labels` picks, label by label, the first
position whose box (estimated from the text's length and the font size, in screen pixels)
overlaps neither an earlier label, nor another point, nor the edge of the plot area; where every
position collides it takes the one that overlaps least. The browser test measures the drawn
boxes (``tests/test_browser.py``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["place_label_texts", "place_labels", "ternary_px", "wrap_title"]

# tried in this order: beside the point first, above or below it next
POSITIONS = ("top right", "top left", "bottom right", "bottom left", "middle right",
             "middle left", "top center", "bottom center")
CHAR_WIDTH = 0.62     # average glyph width of plotly's sans-serif font, in units of its size
LINE_HEIGHT = 1.25
MARKER_RADIUS = 7.0   # px kept clear around every point


def ternary_px(a: float, b: float, c: float, side: float) -> tuple[float, float]:
    """Where plotly's ternary plot (a at the top, b bottom left, c bottom right) draws the
    fractions (a, b, c), in px from the bottom-left corner (y up), for a triangle ``side`` px
    wide."""
    total = a + b + c
    a, c = a / total, c / total
    return side * (c + a / 2), side * math.sqrt(3) / 2 * a


def _box(x: float, y: float, text: str, position: str, font: float, lift: int = 0) -> tuple:
    """(x0, y0, x1, y1) of ``text`` at ``position`` around the point (x, y), y up; ``lift``
    empty lines between the point and a text above or below it."""
    width = CHAR_WIDTH * font * max(len(line) for line in text.split("<br>"))
    height = LINE_HEIGHT * font * (text.count("<br>") + 1)
    vertical, horizontal = position.split()
    gap = MARKER_RADIUS + (lift * LINE_HEIGHT * font if vertical != "middle" else 0)
    x0 = {"left": x - gap - width, "right": x + gap, "center": x - width / 2}[horizontal]
    y0 = {"top": y + gap, "bottom": y - gap - height, "middle": y - height / 2}[vertical]
    return x0, y0, x0 + width, y0 + height


def _overlap(p: tuple, q: tuple) -> float:
    dx = min(p[2], q[2]) - max(p[0], q[0])
    dy = min(p[3], q[3]) - max(p[1], q[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _outside(box: tuple, bounds: tuple | None) -> float:
    """Area of ``box`` outside ``bounds`` (x0, y0, x1, y1)."""
    if bounds is None:
        return 0.0
    inside = _overlap(box, bounds)
    return (box[2] - box[0]) * (box[3] - box[1]) - inside


def _best(x, y, text, font, fixed, bounds, lifts=(0,)) -> tuple[tuple[str, int], float]:
    """The (position, lift) of ``text`` at (x, y) that overlaps the ``fixed`` boxes least."""
    best, best_cost = (POSITIONS[0], 0), math.inf
    for lift in lifts:
        for position in POSITIONS:
            if lift and position.startswith("middle"):
                continue
            box = _box(x, y, text, position, font, lift)
            cost = sum(_overlap(box, other) for other in fixed) + _outside(box, bounds)
            if cost < best_cost:
                best, best_cost = (position, lift), cost
            if cost == 0:
                return best, 0.0
    return best, best_cost


def place_labels(points: Sequence[tuple[float, float]], texts: Sequence[str],
                 font: float = 13.0, bounds: tuple | None = None,
                 others: Sequence[tuple[float, float]] = (), passes: int = 3) -> list[str]:
    """A plotly ``textposition`` for each text (empty texts get "top right" and take no room).

    ``points``: where each text's point is drawn, in px (y up); ``bounds``: the plot area
    (x0, y0, x1, y1) the labels must stay inside (so none runs over a colour bar or legend
    beside it); ``others``: further points no label may cover. Labels are placed one by one,
    then each still colliding is moved again with all the others in place (``passes`` times)."""
    return _place(points, texts, font, bounds, others, passes, (0,))[0]


def place_label_texts(points: Sequence[tuple[float, float]], texts: Sequence[str],
                      font: float = 13.0, bounds: tuple | None = None,
                      others: Sequence[tuple[float, float]] = (), passes: int = 3,
                      max_lift: int = 2) -> tuple[list[str], list[str]]:
    """As :func:`place_labels`, for crowded points: a label may also sit one or two lines
    further above or below its point (the text padded with empty lines, ``<br>``), which
    plotly's nine positions alone cannot do. Returns (positions, texts to draw)."""
    positions, lifts = _place(points, texts, font, bounds, others, passes,
                              tuple(range(max_lift + 1)))
    drawn = []
    for text, position, lift in zip(texts, positions, lifts, strict=True):
        pad = "<br>" * lift
        drawn.append(text if not (text and lift) else
                     f"{text}{pad}" if position.startswith("top") else f"{pad}{text}")
    return positions, drawn


def _place(points, texts, font, bounds, others, passes, lifts):
    if len(points) != len(texts):
        raise ValueError(f"{len(points)} points but {len(texts)} texts")
    dots = [(x - MARKER_RADIUS, y - MARKER_RADIUS, x + MARKER_RADIUS, y + MARKER_RADIUS)
            for x, y in list(points) + list(others)]
    chosen: list = [None] * len(texts)

    def boxes(skip: int) -> list[tuple]:
        return [_box(*points[k], texts[k], chosen[k][0], font, chosen[k][1])
                for k in range(len(texts))
                if k != skip and chosen[k] is not None and texts[k]]

    costs = [0.0] * len(texts)
    for k, text in enumerate(texts):
        chosen[k], costs[k] = (_best(*points[k], text, font, boxes(k) + dots, bounds, lifts)
                               if text else (("top right", 0), 0.0))
    for _ in range(passes):
        for k in [k for k, c in enumerate(costs) if c > 0]:
            chosen[k], costs[k] = _best(*points[k], texts[k], font, boxes(k) + dots, bounds,
                                        lifts)
    return [c[0] for c in chosen], [c[1] for c in chosen]

def wrap_title(title: str, width_px: float, font: float = 17.0) -> str:
    """``title`` broken into lines (``<br>``) of at most ``width_px`` px at font size ``font``:
    a long title keeps clear of the plot's toolbar at the top right."""
    limit = max(10, int(width_px / (CHAR_WIDTH * font)))
    lines, line = [], ""
    for word in title.split():
        if line and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join([*lines, line] if line else lines)
