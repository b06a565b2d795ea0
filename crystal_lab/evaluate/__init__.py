"""Evaluate generated crystals: validity, uniqueness, novelty, matching, CHGNet stability, S.U.N.,
each rate beside its random baseline.

Every function takes one ``ase.Atoms`` / pymatgen ``Structure`` or a list of them (one in, one
out). The metric definitions follow CDVAE (Xie et al., ICLR 2022), DiffCSP (Jiao et al., NeurIPS
2023) and MatterGen's S.U.N. (Zeni et al., Nature 2025); each module's docstring gives the details.
The modules import pymatgen, SMACT, CHGNet and pandas only inside the functions that need them, so
importing this package stays fast. The evaluation dashboard is :mod:`crystal_lab.view`'s.

Modules: :mod:`.validity`, :mod:`.uniqueness`, :mod:`.matching`, :mod:`.baseline`,
:mod:`.chgnet` (the CHGNet runtime), :mod:`.hull` (formation energy, E_hull), :mod:`.summary`.
"""
from __future__ import annotations

# Two functions share their module's name (validity, uniqueness). Each ``from .x import x`` runs
# after module x was first imported, so the package attribute is the function (a test checks it).
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
from .reference_table import ReferenceTable, reference_table
from .settings import MAX_ATOMS_CHGNET, STABILITY_THRESHOLD, StabilitySettings
from .summary import Summary, summarize
from .validation import Validity, smact_validity, structural_validity, validity

__all__ = [
    "MAX_ATOMS_CHGNET", "STABILITY_THRESHOLD", "CellTooLargeError", "ElementReference",
    "HullReference", "InvalidCellError", "Match", "ReferenceTable", "Stability", "StabilitySettings", "Summary",
    "Validity", "chgnet_energy", "default_matcher", "default_reference", "duplicate_groups",
    "e_above_hull", "elemental_references", "formation_energy", "get_chgnet", "hull_reference",
    "is_novel", "is_unique", "match", "match_rate", "novelty", "random_baseline",
    "reference_table", "relax", "rms_distance", "smact_validity", "stability",
    "structural_validity", "summarize", "uniqueness", "validity",
]
