"""Draw assets/diffusion_schematic.png: forward and reverse diffusion on a (2D sketch of a)
crystal, with t, the three variables and the network. Run: python docs/make_schematic.py"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon

OUT = Path(__file__).resolve().parents[1] / "assets" / "diffusion_schematic.png"
COLORS = {"A": "#1f77b4", "B": "#d62728", "X": "#b0b0b0"}


def cell(ax, x0, y0, size, shear, scale, frac, types, title):
    a = np.array([size * scale, 0.0])
    b = np.array([shear * size, size / scale])
    corners = np.array([[0, 0], a, a + b, b]) + [x0, y0]
    ax.add_patch(Polygon(corners, closed=True, fill=False, lw=1.5, color="#444"))
    for (u, v), kind in zip(frac, types, strict=True):
        p = np.array([x0, y0]) + u * a + v * b
        ax.add_patch(plt.Circle(p, 0.09 * size, color=COLORS[kind], zorder=3))
        if kind == "X":
            ax.text(*p, "X", ha="center", va="center", fontsize=8, color="white", zorder=4,
                    weight="bold")
    ax.text(x0 + 0.5 * size, y0 + size * 1.28, title, ha="center", fontsize=10)


def main() -> Path:
    rng = np.random.default_rng(3)
    frac0 = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75], [0.5, 0.5]])
    types0 = ["A", "A", "A", "A", "B"]
    frac_half = np.mod(frac0 + 0.05 * rng.standard_normal(frac0.shape), 1)
    frac_one = rng.uniform(0.05, 0.95, frac0.shape)
    fig, ax = plt.subplots(figsize=(10, 4.6))
    ax.set_xlim(0, 10.6)
    ax.set_ylim(-0.4, 4.6)
    ax.axis("off")
    cell(ax, 1.0, 1.6, 1.7, 0.0, 1.0, frac0, types0, "t = 0: crystal")
    cell(ax, 4.1, 1.6, 1.7, 0.15, 1.1, frac_half, ["A", "X", "A", "X", "B"],
         "t = 0.5")
    cell(ax, 7.6, 1.6, 1.7, 0.35, 1.2, frac_one, ["X"] * 5, "t = 1: noise (prior)")
    for x1, x2 in [(2.9, 3.9), (6.2, 7.3)]:
        ax.add_artist(FancyArrowPatch((x1, 4.25), (x2, 4.25), arrowstyle="-|>", mutation_scale=18,
                                      color="#555"))
        ax.add_artist(FancyArrowPatch((x2, 1.25), (x1, 1.25), arrowstyle="-|>", mutation_scale=18,
                                      color="#08519c", lw=2))
    ax.text(5.3, 4.45, "forward q: add noise (fixed, no learning)", ha="center", fontsize=10,
            color="#555")
    ax.text(5.3, 1.35, "reverse p_θ: remove noise, one network call a step", ha="center",
            fontsize=10, color="#08519c")
    ax.add_patch(FancyBboxPatch((0.3, -0.35), 10.0, 1.2, boxstyle="round,pad=0.05",
                                fc="#eef4fb", ec="#08519c"))
    ax.text(5.3, 0.55, "network(coordinates_t, lattice_t, types_t, t): reads the noisy crystal, "
            "predicts, and the sampler steps t → s < t", ha="center", fontsize=9.5, color="#08519c")
    ax.text(5.3, 0.1, "coordinates: wrapped-normal score   ·   lattice: noise ε (log-lattice "
            "DDPM)   ·   types: masked atoms' elements", ha="center", fontsize=9, color="#08519c")
    ax.text(5.3, -0.22, "three variables, one t, three clocks: σ(t) geometric, ᾱ(t) cosine, "
            "P(mask) = t", ha="center", fontsize=8.5, color="#333")
    for kind, label, x in [("A", "element A", 0.4), ("B", "element B", 1.5),
                           ("X", "masked type", 2.6)]:
        ax.add_patch(plt.Circle((x, 4.45), 0.08, color=COLORS[kind]))
        ax.text(x + 0.15, 4.45, label, va="center", fontsize=8)
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    return OUT


if __name__ == "__main__":
    print("wrote", main())
