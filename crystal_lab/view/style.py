"""Colours, sizes and the element legend shared by the nglview and plotly views.

Element colours are the Jmol colours and sizes follow the covalent radii tabulated in ASE
(``ase.data.colors.jmol_colors``, ``ase.data.covalent_radii``; Cordero et al., Dalton Trans.
2008, 2832), the same scheme NGL's "element" colouring uses, so a legend chip matches the
sphere in either view. A masked atom (atomic number 0, "X") is drawn as a translucent
near-black sphere labelled "X": a colour at least 85 RGB units away from every element's.
"""
from __future__ import annotations

import html

import numpy as np
from ase.data import covalent_radii
from ase.data.colors import jmol_colors

from .facts import symbol

__all__ = [
    "BOND_COLOR",
    "CELL_COLOR",
    "MASKED_COLOR",
    "MASKED_OPACITY",
    "MASKED_PLOT_COLOR",
    "element_color",
    "legend_html",
    "marker_size",
]

MASKED_COLOR = "#202020"
MASKED_OPACITY = 0.35
MASKED_PLOT_COLOR = "#ffffff"   # a masked atom in plotly figures: white, outlined (Ti is grey)
CELL_COLOR = "#303030"
BOND_COLOR = "#909090"


def element_color(z: int) -> str:
    """``"#rrggbb"`` of element ``z`` (Jmol), ``MASKED_COLOR`` for a masked atom."""
    if z == 0:
        return MASKED_COLOR
    r, g, b = (round(255 * c) for c in jmol_colors[int(z)])
    return f"#{r:02x}{g:02x}{b:02x}"


def marker_size(z: int) -> float:
    """Plotly marker size of element ``z`` (grows with the covalent radius)."""
    return 11.0 if z == 0 else 9.0 + 16.0 * float(covalent_radii[int(z)])


def legend_html(numbers) -> str:
    """An element legend: one colour chip and symbol per element present (masked "X" last,
    drawn as the viewer draws it: translucent, labelled)."""
    zs = sorted({int(z) for z in np.asarray(numbers)}, key=lambda z: (z == 0, z))
    chips = []
    for z in zs:
        if z == 0:
            chip = (f"<span style='display:inline-block;width:13px;height:13px;border-radius:50%;"
                    f"background:{MASKED_COLOR};opacity:{MASKED_OPACITY};"
                    f"border:1px dashed #000;vertical-align:middle'></span>")
            name = "X = masked (type not decided yet)"
        else:
            chip = (f"<span style='display:inline-block;width:13px;height:13px;border-radius:50%;"
                    f"background:{element_color(z)};border:1px solid #555;"
                    f"vertical-align:middle'></span>")
            name = html.escape(symbol(z))
        chips.append(f"<span class='cl-legend-item' style='margin-right:10px;white-space:nowrap'>"
                     f"{chip} {name}</span>")
    return f"<div class='cl-legend' style='font-size:13px;line-height:1.8'>{''.join(chips)}</div>"
