"""Everything a person looks at.

* :mod:`.describe`: facts about one structure as text (formula, space group, volume, density);
* :mod:`.style`: element colours, the masked-atom look and the element legend;
* :mod:`.bonds`: bond and periodic-image geometry;
* :mod:`.ngl`: the nglview viewer (one persistent stage per widget), its PDB writer and
  description; :mod:`.plotly`: plotly figures and the one play/slider helper;
* :mod:`.visualizer`: ``Visualizer``; :mod:`.generate`: ``GenerateWidget``;
  :mod:`.noise`: the forward/reverse noise widgets; :mod:`.dashboard`: ``EvaluationDashboard``;
  :mod:`.badges`: the quality badges of a generated structure.

Submodules load lazily (``import crystal_lab.view`` imports no widget library).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "Visualizer": "visualizer", "FrameViewer": "ngl", "GenerateWidget": "generate",
    "EvaluationDashboard": "dashboard", "structure_figure": "plotly",
    "trajectory_figure": "plotly", "add_player": "plotly", "describe": "describe",
    "formula": "describe", "legend_html": "style", "quality_badges": "badges",
    "suggest_prompt": "generate",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'crystal_lab.view' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
