"""The evaluation dashboard (kept for old imports): the code lives in
:mod:`crystal_lab.view.dashboard`, so that :mod:`crystal_lab.evaluate` holds metrics only."""
from __future__ import annotations

from crystal_lab.view.dashboard import COLUMNS, FILTERS, EvaluationDashboard

__all__ = ["EvaluationDashboard", "COLUMNS", "FILTERS"]
