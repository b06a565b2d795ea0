"""Copies of a good structure with one thing broken: the bad-input classes the tests feed to the
writers, the evaluation and the viewers (imported as ``from broken_inputs import ...``)."""
from __future__ import annotations

import numpy as np


def nan_position(atoms, index: int = 0):
    """``atoms`` with a NaN coordinate on atom ``index``."""
    bad = atoms.copy()
    bad.positions[index, 1] = np.nan
    return bad


def inf_cell(atoms):
    """``atoms`` with an infinite cell length."""
    bad = atoms.copy()
    bad.cell[0, 0] = np.inf
    return bad


def masked_atom(atoms, index: int = 0):
    """``atoms`` with atom ``index`` masked (atomic number 0, the sampler's unknown type)."""
    bad = atoms.copy()
    bad.numbers[index] = 0
    return bad
