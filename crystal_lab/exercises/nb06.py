"""Exercises of notebook 06 (train your own) and its quiz (``nb06.q1`` ..). Solutions are
hidden with :func:`hide`; checks use :mod:`crystal_lab.exercises.checks`."""
from __future__ import annotations

from functools import lru_cache

from crystal_lab.exercises import Exercise, hide
from crystal_lab.exercises.checks import integer, number, question


@lru_cache(maxsize=4)
def _n_params(hidden: int, layers: int) -> int:
    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    model = CrystalDiffusionModel(ModelConfig(hidden=hidden, layers=layers))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _param_ratio(answer) -> bool:
    return abs(number(answer) - _n_params(64, 2) / _n_params(32, 2)) < 0.01   # two decimals


EXERCISES: dict[str, Exercise] = {
    "nb06.atoms_per_cell": Exercise(
        title="How many atoms in a perov-5 cell?",
        check=lambda a: integer(a) == 5,
        hint="Look at `len(atoms)` for a few of the training structures (the name is a clue).",
        solution=hide(
            "answer = len(train_set[0])   # 5: every perov-5 cell is one ABX3 formula unit\n"
            "check('nb06.atoms_per_cell', answer)"),
    ),
    "nb06.param_ratio": Exercise(
        title="Double the width: how much bigger is the model?",
        check=_param_ratio,
        hint=("Predict first: a hidden x hidden matrix has hidden**2 weights. Then build "
              "`CrystalDiffusionModel(ModelConfig(hidden=h, layers=2))` for h = 32 and 64, add up "
              "`p.numel()` over `model.parameters()`, and divide (two decimals)."),
        solution=hide(
            "from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig\n"
            "def count(h):\n"
            "    m = CrystalDiffusionModel(ModelConfig(hidden=h, layers=2))\n"
            "    return sum(p.numel() for p in m.parameters() if p.requires_grad)\n"
            "answer = count(64) / count(32)   # about 3, not 4: the square matrices quadruple,\n"
            "# but embeddings and output heads that scale with hidden only double\n"
            "check('nb06.param_ratio', answer)"),
    ),
    "nb06.q1": question(
        'Your training loss halves. This means ...',
        (
            'the generated crystals are twice as good',
            ('the network predicts the noise better on average; sample quality must still be '
             'measured by generating'),
            'the model has converged',
        ),
        "zb64:eNpLAgAAYwBj",
        hint='Notebook 04: judge a model by what it generates.',
        why=(
            "zb64:eNoNi8ENgDAMA1fxlz5YgDVYIKWmVGoblFTMT36+OzmlvKWE8yG6uqM5ZEI+mlSicGrzNitopgYND+kd60B"
            "buGN6/KJn3mqEy3g7PfDSQVTVsv+HYCKT"
        ),
    ),
    "nb06.q2": question(
        "What does this package's network predict for each variable?",
        (
            'the clean crystal directly for all three',
            'the noise for all three',
            ('the score of the wrapped normal for coordinates, the added noise for the lattice, '
             'and the types of masked atoms'),
        ),
        "zb64:eNpLBgAAZABk",
        hint='Read the three loss columns and the theory of notebook 02.',
        why=(
            "zb64:eNoVzcENgzAMRuFV/mOJlA4Ax3Kt1BVCYkrUJo5sc2Aw1uhMDQO87zkXB+fwYJaUazDSERpZCCVY3HJ9gyt"
            "sIxjLrhO+wSxHGjHPryd+p29CKUfLXCfY0S4gCqt6qibcjqsvQT+UEIyL4hYWZVk67dX6ESmv664dGO5/RmUz4A="
            "="
        ),
    ),
    "nb06.q3": question(
        'Both models match 0% of a handful of prompts. What can you say?',
        (
            ('too few prompts, and both are at the floor here: this cannot rank them; use more '
             'prompts and the benchmark'),
            'the shipped model is better because it is bigger',
            'they are equally good',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='How many prompts? What is the random-search floor?',
        why=(
            "zb64:eNoVzEEOgzAMRNGrzJJk0aKqq97GkKGRCjayXXF9lO1/0q9VSq2YYRvemMzxmgtWUbVE8BSXJPIyHNa4B5T"
            "iyE5su5l/MHxUNvS/NmeL8UrxLzMwLdS1H+K/eJbHDYwlJOw="
        ),
    ),
}
