"""Everything a person looks at.

* :mod:`.facts`: facts about one structure as text (formula, space group, volume, density);
* :mod:`.style`: element colours, the masked-atom look and the element legend;
* :mod:`.bonds`: bond and periodic-image geometry;
* :mod:`.ngl`: the nglview viewer (one persistent stage per widget), its PDB writer and
  description; :mod:`.crystal_figures`: plotly figures and the one play/slider helper;
* :mod:`.visualizer`: ``Visualizer`` and ``view(atoms, viewer="ngl" | "plotly")`` (ASE's ``view``);
  :mod:`.generate`: ``GenerateWidget``; :mod:`.forward_reverse`: the forward/reverse noise
  widgets; :mod:`.dashboard`: ``EvaluationDashboard``; :mod:`.badges`: the quality badges of a
  generated structure;
* :mod:`.tables` and :mod:`.hull_figure`: the dashboard's table and figures as plain functions;
* :mod:`.score`: the network's predicted score as arrows on the atoms (``score_steps``,
  ``score_figure``); :mod:`.toy_figures`: the 2D toy's figures (``toy_score_figure``: its
  learned score field); :mod:`.quality`: the model's measured quality
  beside its floor (``quality_box``); :mod:`.steps_figure`: quality against the number of
  steps (``quality_steps_figure``); :mod:`.labels`: labels placed clear of each other;
  :mod:`.boxes`: widget boxes whose text form is one sentence.

Submodules load lazily (``import crystal_lab.view`` imports no widget library).

In a Jupyter kernel, importing this package also spares the kernel's first plotly figure 5-10 s
(:func:`_skip_slow_iri_checker`).
"""
from __future__ import annotations

import importlib
import os
import sys


def _skip_slow_iri_checker() -> bool:
    """In a kernel that has not imported jsonschema yet, mark ``rfc3987_syntax`` absent.

    plotly's renderers import nbformat, whose jsonschema imports ``rfc3987_syntax`` when it is
    installed (jsonschema[format-nongpl], which Jupyter pulls in). That module compiles about 39
    Lark grammars at import: 4.6 s on a quiet core and 8-10 s under load, paid by the first
    figure of every kernel (python-jsonschema/jsonschema issue 1428). It only checks the "iri"
    format, which neither the notebook nor the plotly schema uses; without it jsonschema has no
    iri checker in this kernel, nothing else changes. Returns whether it was marked;
    ``CRYSTAL_LAB_KEEP_IRI_CHECKER=1`` keeps it."""
    if ("ipykernel" not in sys.modules or os.environ.get("CRYSTAL_LAB_KEEP_IRI_CHECKER") == "1"
            or "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules):
        return False
    sys.modules["rfc3987_syntax"] = None   # `import rfc3987_syntax` raises ImportError
    return True


_skip_slow_iri_checker()

_LAZY = {
    "Visualizer": "visualizer", "view": "visualizer", "VIEWERS": "visualizer",
    "FrameViewer": "ngl", "GenerateWidget": "generate",
    "EvaluationDashboard": "dashboard", "structure_figure": "crystal_figures",
    "trajectory_figure": "crystal_figures", "add_player": "crystal_figures", "describe": "facts",
    "legend_html": "style", "quality_badges": "badges",
    "suggest_prompt": "generate", "min_distance": "facts", "spacegroup": "facts",
    "as_atoms": "facts", "save_cif": "ngl",
    "forward_figure": "forward_reverse", "forward_frames": "forward_reverse",
         "forward_noise_widget": "forward_reverse",
    "noise_curves": "forward_reverse", "noise_curves_figure": "forward_reverse",
         "reverse_figure": "forward_reverse",
    "reverse_widget": "forward_reverse", "side_by_side": "forward_reverse",
         "trajectory_metrics": "forward_reverse",
    "get_noise": "forward_reverse", "score_steps": "score", "score_figure": "score",
         "ScoreStep": "score",
    "phase_diagram_figure": "hull_figure", "random_walk_figure": "toy_figures",
    "cloud_animation": "toy_figures", "loss_figure": "toy_figures",
    "toy_score_figure": "toy_figures", "quality_steps_figure": "steps_figure",
}
__all__ = sorted(_LAZY)  # noqa: PLE0605 (a list built from the map above)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'crystal_lab.view' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
