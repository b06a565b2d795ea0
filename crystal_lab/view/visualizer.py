"""``Visualizer``: look at a list of crystals (or one trajectory) with nglview or plotly.

* ``view(index, repeat)``: one persistent nglview stage (ball-and-stick, element colours,
  unit cell) with an element legend, an index slider, a short description (formula, space
  group, volume, density, minimum distance) and a "Save CIF" button
  (:class:`crystal_lab.view.ngl.FrameViewer`);
* ``view_trajectory()``: the same viewer with a play button and a slider in t; every frame is
  loaded once into the stage and playback switches which one is visible. nglview's own ASE
  trajectory adaptor keeps frame 0's cell and species and only moves positions, which is wrong
  for a diffusion trajectory whose cell and atom types change every step;
* ``plot(index, repeat)`` / ``plot_trajectory()``: plotly 3D figures that need no widget
  frontend (static exports, nbval, papermill).

``view(atoms, viewer="ngl" | "plotly")`` is ASE's ``ase.visualize.view`` for the lab: one call,
one backend module each (:mod:`.ngl`, :mod:`.crystal_figures`).
"""
from __future__ import annotations

from pathlib import Path

from ase import Atoms

from .crystal_figures import structure_figure, trajectory_figure
from .facts import MAX_DRAWN_ATOMS, check_index, describe, periodic_copies
from .ngl import FrameViewer, save_cif

__all__ = ["VIEWERS", "Visualizer", "view"]

#: ``view``'s backends: the interactive nglview stage, or a plotly figure (static exports, nbval)
VIEWERS = ("ngl", "plotly")


class Visualizer:
    """Show a list of crystals (or one trajectory) with nglview or plotly.

    >>> vis = Visualizer(atoms_list)   # doctest: +SKIP
    >>> vis.view(index=0)              # nglview widget box   # doctest: +SKIP
    >>> vis.plot(index=0)              # plotly Figure        # doctest: +SKIP
    """

    def __init__(self, structures):
        self.structures = periodic_copies(structures)

    def __len__(self) -> int:
        return len(self.structures)

    def __getitem__(self, index: int) -> Atoms:
        return self.structures[self._index(index)]

    def _index(self, index: int) -> int:
        return check_index(index, len(self.structures))

    def describe(self, index: int = 0) -> dict:
        """Formula, space group, volume, density and minimum distance of one structure."""
        return describe(self[index])

    def view(self, index: int = 0, repeat=(1, 1, 1), width: str = "420px",
             height: str = "380px", max_atoms: int | None = MAX_DRAWN_ATOMS):
        """An nglview widget box: viewer, legend, description, Save-CIF button, index slider.
        A supercell above ``max_atoms`` atoms is refused (pass a larger ``max_atoms``)."""
        viewer = FrameViewer(self.structures, index=self._index(index), repeat=repeat,
                             width=width, height=height, max_atoms=max_atoms)
        return viewer.widget

    def view_trajectory(self, repeat=(1, 1, 1), interval_ms: int = 300, width: str = "420px",
                        height: str = "380px", max_atoms: int | None = MAX_DRAWN_ATOMS):
        """Play the structures as frames in one stage (cell and species of every frame)."""
        viewer = FrameViewer(self.structures, index=0, repeat=repeat, play=True,
                             interval_ms=interval_ms, width=width, height=height,
                             max_atoms=max_atoms)
        return viewer.widget

    def plot(self, index: int = 0, repeat=(1, 1, 1), bonds: bool = True, images: bool = True,
             height: int = 460, max_atoms: int | None = MAX_DRAWN_ATOMS):
        """A plotly 3D figure of one structure (works without a widget frontend). A supercell
        above ``max_atoms`` atoms (default 2000) is refused with an estimate of its cost; pass
        a larger ``max_atoms`` to draw it anyway."""
        return structure_figure(self[index], repeat=repeat, bonds=bonds, images=images,
                                height=height, max_atoms=max_atoms)

    def plot_trajectory(self, bonds: bool = True, frame_ms: int = 250, height: int = 480,
                        show: str = "last"):
        """A plotly animation of all structures, with a slider showing ``atoms.info["t"]``.

        ``show="last"``: a static export shows the last frame (the finished crystal of a
        sampling trajectory); play runs from the first.
        """
        return trajectory_figure(self.structures, bonds=bonds, frame_ms=frame_ms, height=height,
                                 show=show)

    def save_cif(self, index: int, path) -> Path:
        """Write structure ``index`` to ``path`` as CIF; returns the path."""
        return save_cif(self[index], path)


def view(atoms, viewer: str = "ngl", index: int = 0, **options):
    """Show one crystal or a list of them, ASE-style: ``view(atoms)``, ``view(atoms, "plotly")``.

    ``atoms``: an ``ase.Atoms``, a pymatgen ``Structure`` or a list of them (the ngl viewer gets an
    index slider). ``options`` go to :meth:`Visualizer.view` (ngl: ``repeat``, ``width``,
    ``height``, ``max_atoms``) or :meth:`Visualizer.plot` (plotly: ``repeat``, ``bonds``,
    ``images``, ``height``, ``max_atoms``).
    """
    if viewer not in VIEWERS:
        raise ValueError(f"viewer must be one of {', '.join(map(repr, VIEWERS))}, got {viewer!r}")
    vis = Visualizer(atoms)
    return vis.view(index, **options) if viewer == "ngl" else vis.plot(index, **options)
