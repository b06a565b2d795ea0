"""Evaluate generated crystals: validity, uniqueness, novelty, matching, CHGNet stability, S.U.N.,
each rate beside its random baseline.

Every function takes one ``ase.Atoms`` / pymatgen ``Structure`` or a list of them (one in, one
out). The metric definitions follow CDVAE (Xie et al., ICLR 2022), DiffCSP (Jiao et al., NeurIPS
2023) and MatterGen's S.U.N. (Zeni et al., Nature 2025); each module's docstring gives the details.
The modules import pymatgen, SMACT, CHGNet, pandas and ipywidgets only inside the functions that
need them, so importing this package stays fast.
"""
from __future__ import annotations

# Three functions share their module's name (validity, uniqueness, stability). Each
# ``from .x import x`` runs after module x was first imported, so the package attribute is the
# function (a test checks this).
from .baseline import random_baseline
from .matching import Match, match, match_rate, rms_distance
from .reference_table import ReferenceTable, reference_table
from .settings import StabilitySettings
from .stability import (
                        MAX_ATOMS,
                        STABILITY_THRESHOLD,
                        CellTooLargeError,
                        ElementReference,
                        HullReference,
                        Stability,
                        chgnet_energy,
                        e_above_hull,
                        elemental_references,
                        formation_energy,
                        get_chgnet,
                        hull_reference,
                        relax,
                        stability,
)
from .summary import Summary, summarize
from .uniqueness import (
                        default_matcher,
                        default_reference,
                        duplicate_groups,
                        is_novel,
                        is_unique,
                        novelty,
                        uniqueness,
)
from .validity import Validity, smact_validity, structural_validity, validity

__all__ = [
    "MAX_ATOMS", "STABILITY_THRESHOLD", "CellTooLargeError", "ElementReference",
    "HullReference", "Match", "ReferenceTable", "Stability",
    "StabilitySettings", "Summary", "Validity", "chgnet_energy",
    "default_matcher", "default_reference", "duplicate_groups", "e_above_hull",
    "elemental_references", "formation_energy", "get_chgnet", "hull_reference", "is_novel",
    "is_unique", "match", "match_rate", "novelty", "random_baseline", "reference_table", "relax", "rms_distance", "smact_validity",
    "stability", "structural_validity", "summarize", "uniqueness", "validity",
]
