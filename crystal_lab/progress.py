"""Progress bars whose notebook widget survives a reload.

tqdm's notebook bar with ``leave=False`` *closes* its widget when it finishes. The cell's output
still names that widget, so after a page reload or in a reopened notebook JupyterLab draws
"Error displaying widget: model not found" where the bar was. :func:`tqdm` is tqdm.auto's bar
with one change in a notebook: a finished ``leave=False`` bar is hidden (``display: none``) and
its widget stays open, so the saved output still finds its model. A bar that ends short of its
total (an error, an interrupt) stays in sight, red, as tqdm draws it; a run stopped on purpose sets
its total to what was done first, and ends hidden like a complete one.

:func:`status` is the one-line status of a slow step that has nothing to count (imports, loading
a model): what it is doing at once, then how long it took.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from functools import cache

__all__ = ["status", "tqdm"]


@cache
def _hiding(base: type) -> type:
    """``base`` (a tqdm notebook bar class) whose ``leave=False`` close hides the widget."""

    class HidingBar(base):
        def close(self):
            if self.disable or self.leave:
                return super().close()
            self.leave = True   # tqdm would close the widget; keep it, then hide it
            super().close()
            self.leave = False
            container = getattr(self, "container", None)
            if container is not None and not (self.total and self.n < self.total):
                container.layout.display = "none"
            return None

    HidingBar.__name__ = HidingBar.__qualname__ = f"Hiding{base.__name__}"
    return HidingBar


def tqdm(*args, notebook: bool | None = None, **kwargs):
    """A tqdm bar, as ``tqdm.auto.tqdm(*args, **kwargs)``; in a notebook (or with
    ``notebook=True``) a finished ``leave=False`` bar is hidden, not closed. ``notebook=False``:
    the plain text bar."""
    from tqdm import auto, std
    from tqdm import notebook as widget_bars

    base = {None: auto.tqdm, True: widget_bars.tqdm, False: std.tqdm}[notebook]
    if issubclass(base, widget_bars.tqdm):
        base = _hiding(base)
    return base(*args, **kwargs)


@contextmanager
def status(text: str, show: bool = True):
    """A one-line status around a slow step with nothing to count: ``"<text> ..."`` at once,
    the same line then reads ``"<text>: done in 6.8 s"`` (``"stopped after"`` when the step
    raises or is interrupted). ``show=False``: nothing is printed (the notebooks' CI size)."""
    if not show:
        yield
        return
    first = f"{text} ..."
    start = time.perf_counter()
    print(first, end="", flush=True)
    ended = "stopped after"
    try:
        yield
        ended = "done in"
    finally:
        line = f"{text}: {ended} {time.perf_counter() - start:.1f} s"
        print("\r" + line.ljust(len(first)), flush=True)
