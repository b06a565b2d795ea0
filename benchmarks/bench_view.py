"""How much the Generate widget's quality badges add to a run, measured side by side.

Samples ``n`` structures with the shipped model (default steps), then times
:func:`crystal_lab.view.badges.structure_quality` (structural validity, SMACT, volume per
atom, space group) on the results, and the nglview PDB text of one frame. Run:
``python benchmarks/bench_view.py [n]``.
"""
from __future__ import annotations

import sys
import time


def main(n: int = 3) -> None:
    from crystal_lab import load_model
    from crystal_lab.view.badges import structure_quality
    from crystal_lab.view.ngl import pdb_text

    model = load_model()
    t0 = time.perf_counter()
    results = model.sample("Ba Ti O", n_atoms=5, n_samples=n, seed=0, progress=False)
    sampling = time.perf_counter() - t0
    structure_quality(
        results[0]
    )  # imports (pymatgen, SMACT, spglib) once, as the first run of a widget
    t0 = time.perf_counter()
    for a in results:
        structure_quality(a)
    badges = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a in results:
        pdb_text(a)
    pdb = time.perf_counter() - t0
    print(f"sampling {n} structures ({model.config.default_steps} steps): {sampling:.2f} s")
    print(f"quality badges for {n} structures: {badges * 1000:.0f} ms "
          f"({100 * badges / sampling:.1f} % of the sampling time)")
    print(f"nglview PDB text for {n} structures: {pdb * 1000:.1f} ms")


def pymatviz_vs_hand(repeats: int = 5) -> None:
    """The plotly fallback: pymatviz's ``structure_3d`` against crystal_lab's own figure, on
    cubic BaTiO3 (needs ``pip install pymatviz``; skipped without it)."""
    from ase import Atoms

    from crystal_lab.structures import to_structure
    from crystal_lab.view.crystal_figures import structure_figure

    try:
        t0 = time.perf_counter()
        import pymatviz
    except ImportError:
        print("pymatviz not installed: no comparison")
        return
    print(f"import pymatviz: {time.perf_counter() - t0:.1f} s")
    bto = Atoms("BaTiO3", scaled_positions=[(0, 0, 0), (.5, .5, .5), (.5, .5, 0), (.5, 0, .5),
                                            (0, .5, .5)], cell=[4, 4, 4], pbc=True)
    for name, make in (("pymatviz.structure_3d", lambda: pymatviz.structure_3d(
            to_structure(bto), show_bonds=True)), ("crystal_lab structure_figure",
                                                   lambda: structure_figure(bto))):
        make()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fig = make()
        ms = (time.perf_counter() - t0) / repeats * 1000
        print(f"{name}: {ms:.0f} ms per figure, {len(fig.data)} traces")


if __name__ == "__main__":
    pymatviz_vs_hand()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
