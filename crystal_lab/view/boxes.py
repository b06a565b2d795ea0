"""Widget boxes whose text form is one sentence.

A notebook opened without a live kernel (on GitHub, before running, after the kernel is gone)
shows a widget's ``text/plain`` form. ipywidgets writes that as the widget's repr,
``VBox(children=(HBox(...NGLWidget(...``; these boxes write one sentence instead, e.g.
"Visualizer: run this cell to open the viewer."
"""
from __future__ import annotations

import ipywidgets as w

__all__ = ["SentenceHBox", "SentenceVBox", "sentence"]


def sentence(what: str, opens: str = "the viewer") -> str:
    """The text a widget shows without a live kernel: ``"<what>: run this cell to open ..."``."""
    return f"{what}: run this cell to open {opens}."


class _Sentence:
    """A box whose repr (its ``text/plain`` form) is ``text``."""

    def __init__(self, children=(), text: str = sentence("Viewer"), **kwargs):
        super().__init__(children, **kwargs)
        self._text = text

    def __repr__(self) -> str:
        return self._text


class SentenceVBox(_Sentence, w.VBox):
    """An ``ipywidgets.VBox`` whose repr (its ``text/plain`` form) is ``text``."""


class SentenceHBox(_Sentence, w.HBox):
    """An ``ipywidgets.HBox`` whose repr (its ``text/plain`` form) is ``text``."""
