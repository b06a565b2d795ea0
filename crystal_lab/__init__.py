"""crystal_lab: a Jupyter lab for diffusion models that generate crystal structures.

The public API is importable from here; heavy modules (torch, pymatgen, nglview) load
lazily on first use so that ``import crystal_lab`` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "load_model": "crystal_lab.model.checkpoint",
    "CheckpointError": "crystal_lab.model.checkpoint",
    "CrystalDiffusionModel": "crystal_lab.model.diffusion",
    "ModelConfig": "crystal_lab.model.diffusion",
    "load_dataset": "crystal_lab.datasets",
    "read_csv": "crystal_lab.datasets",
    "CrystalBatch": "crystal_lab.datasets",
    "parse_prompt": "crystal_lab.prompts",
    "describe_prompt": "crystal_lab.chemistry",
    "PromptError": "crystal_lab.prompts",
    "Condition": "crystal_lab.prompts",
    "Visualizer": "crystal_lab.view",
    "GenerateWidget": "crystal_lab.view",
    "EvaluationDashboard": "crystal_lab.view",
    "summarize": "crystal_lab.evaluate",
    "save_results": "crystal_lab.workspace",
}
_SUBMODULES = {"structures", "arguments", "paths", "formulas", "spelling", "datasets", "prompts",
               "chemistry", "model", "symmetry", "training", "evaluate", "view", "toy", "explore",
               "exercises", "workspace", "cli"}

#: the public names and the submodules (tests/test_layers.py checks it against the two maps)
__all__ = [
    "CheckpointError", "Condition", "CrystalBatch", "CrystalDiffusionModel", "EvaluationDashboard",
    "GenerateWidget", "ModelConfig", "PromptError", "Visualizer", "arguments", "chemistry", "cli",
    "datasets", "describe_prompt", "evaluate", "exercises", "explore", "formulas", "load_dataset",
    "load_model", "model", "parse_prompt", "paths", "prompts", "read_csv", "save_results",
    "spelling", "structures", "summarize", "symmetry", "toy", "training", "view", "workspace",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"crystal_lab.{name}")
    else:
        raise AttributeError(f"module 'crystal_lab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
