"""crystal_lab: a Jupyter lab for diffusion models that generate crystal structures.

The public API is importable from here; heavy modules (torch, pymatgen, nglview) load
lazily on first use so that ``import crystal_lab`` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "load_model": "crystal_lab.checkpoint",
    "CheckpointError": "crystal_lab.checkpoint",
    "CrystalDiffusionModel": "crystal_lab.model",
    "ModelConfig": "crystal_lab.model",
    "load_dataset": "crystal_lab.data",
    "read_csv": "crystal_lab.data",
    "CrystalBatch": "crystal_lab.data",
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
_SUBMODULES = {"structures", "spelling", "data", "prompts", "chemistry", "limits", "noise", "denoiser",
               "sampler", "config", "model", "checkpoint", "train", "evaluate", "view", "toy", "explore",
               "exercises", "workspace", "cli"}

#: the public names and the submodules (tests/test_layers.py checks it against the two maps)
__all__ = [
    "CheckpointError", "Condition", "CrystalBatch", "CrystalDiffusionModel", "EvaluationDashboard",
    "GenerateWidget", "ModelConfig", "PromptError", "Visualizer", "checkpoint", "chemistry", "cli",
    "config", "data", "denoiser", "describe_prompt", "evaluate", "exercises", "explore", "limits",
    "load_dataset", "load_model", "model", "noise", "parse_prompt", "prompts", "read_csv", "sampler",
    "save_results", "spelling", "structures", "summarize", "toy", "train", "view", "workspace",
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
