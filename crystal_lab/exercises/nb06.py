"""Exercises of notebook 06 (train your own). Solutions are hidden with :func:`hide`."""
from __future__ import annotations

from crystal_lab.exercises import Exercise, hide


def _n_params(answer) -> bool:
    from crystal_lab.model import CrystalDiffusionModel, ModelConfig

    model = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))
    return int(answer) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def _atoms_per_cell(answer) -> bool:
    return int(answer) == 5


EXERCISES: dict[str, Exercise] = {
    "nb06.atoms_per_cell": Exercise(
        title="How many atoms in a perov-5 cell?",
        check=_atoms_per_cell,
        hint="Look at `len(atoms)` for a few of the training structures (the name is a clue).",
        solution=hide(
            "answer = len(train_set[0])   # 5: every perov-5 cell is one ABX3 formula unit\n"
            "check('nb06.atoms_per_cell', answer)"),
    ),
    "nb06.n_params": Exercise(
        title="How big is a tiny model?",
        check=_n_params,
        hint=("Build `CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))` and add up "
              "`p.numel()` over `model.parameters()`."),
        solution=hide(
            "from crystal_lab.model import CrystalDiffusionModel, ModelConfig\n"
            "tiny = CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))\n"
            "answer = sum(p.numel() for p in tiny.parameters() if p.requires_grad)\n"
            "check('nb06.n_params', answer)"),
    ),
}
