"""Evaluate generated crystals: validity, uniqueness, novelty, matching, CHGNet stability, S.U.N.,
each rate beside its random baseline.

Every function takes one ``ase.Atoms`` / pymatgen ``Structure`` or a list of them (one in, one
out). The metric definitions follow CDVAE (Xie et al., ICLR 2022), DiffCSP (Jiao et al., NeurIPS
2023) and MatterGen's S.U.N. (Zeni et al., Nature 2025); each module's docstring gives the details.
The modules import pymatgen, SMACT, CHGNet and pandas only inside the functions that need them, so
importing this package stays fast. The evaluation dashboard is :mod:`crystal_lab.view`'s.

Modules (no function shares its module's name): :mod:`.validation` (``validity``,
``structural_validity``, ``smact_validity``), :mod:`.duplicates` (``uniqueness``, ``novelty``),
:mod:`.matching` (``match``, ``match_rate``), :mod:`.baseline`, :mod:`.chgnet` (the CHGNet runtime),
:mod:`.hull` (formation energy, E_hull, ``stability``), :mod:`.reference_phases` (the shipped CHGNet
table, ``reference_table``), :mod:`.training_index` (MP-20 val by formula, for novelty),
:mod:`.rows` (one record per input, made once), :mod:`.summary` (``summarize``).
"""
from __future__ import annotations

from .baseline import random_baseline
from .chgnet import CellTooLargeError, InvalidCellError, chgnet_energy, get_chgnet, relax
from .duplicates import (
    default_matcher,
    default_reference,
    duplicate_groups,
    is_novel,
    is_unique,
    novelty,
    uniqueness,
)
from .hull import (
    ElementReference,
    HullReference,
    Stability,
    e_above_hull,
    elemental_references,
    formation_energy,
    hull_reference,
    stability,
)
from .matching import Match, match, match_rate, rms_distance
from .reference_phases import ReferenceTable, reference_table
from .settings import MAX_ATOMS_CHGNET, STABILITY_THRESHOLD, StabilitySettings
from .summary import Summary, summarize
from .validation import Validity, smact_validity, structural_validity, validity

__all__ = [
    "MAX_ATOMS_CHGNET", "STABILITY_THRESHOLD", "CellTooLargeError", "ElementReference",
    "HullReference", "InvalidCellError", "Match", "ReferenceTable", "Stability",
    "StabilitySettings", "Summary", "Validity", "chgnet_energy", "default_matcher",
    "default_reference", "duplicate_groups", "e_above_hull", "elemental_references",
    "formation_energy", "get_chgnet", "hull_reference",
    "is_novel", "is_unique", "match", "match_rate", "novelty", "random_baseline",
    "reference_table", "relax", "rms_distance", "smact_validity", "stability",
    "structural_validity", "summarize", "uniqueness", "validity",
]
