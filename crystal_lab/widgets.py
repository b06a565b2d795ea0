"""The generate widget (kept for old imports): the code lives in
:mod:`crystal_lab.view.generate`."""
from __future__ import annotations

from .view.generate import CRYSTAL_SYSTEMS, GenerateWidget, format_seconds, suggest_prompt

__all__ = ["GenerateWidget", "format_seconds", "suggest_prompt", "CRYSTAL_SYSTEMS"]
