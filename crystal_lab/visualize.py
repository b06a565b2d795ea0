"""Look at crystals (kept for old imports): the code lives in :mod:`crystal_lab.view`.

``crystal_lab.Visualizer`` and every name this module exported keep working.
"""
from __future__ import annotations

from .view.bonds import bond_pairs, boundary_images, cell_edges, corners
from .view.describe import as_atoms, describe, formula, min_distance, spacegroup
from .view.ngl import FrameViewer, describe_html, pdb_text, save_cif
from .view.plotly import structure_figure, structure_traces, trajectory_figure
from .view.style import MASKED_COLOR, element_color
from .view.visualizer import Visualizer

__all__ = ["Visualizer", "FrameViewer", "describe", "min_distance", "structure_figure",
           "trajectory_figure", "as_atoms", "spacegroup", "formula", "save_cif",
           "structure_traces", "pdb_text", "describe_html", "bond_pairs", "boundary_images",
           "cell_edges", "corners", "MASKED_COLOR", "element_color"]
