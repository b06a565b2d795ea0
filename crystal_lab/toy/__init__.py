"""A 2D toy diffusion that runs on any laptop in seconds (numpy + a tiny torch MLP).

* :mod:`.data`: physical diffusion (``random_walk``), point clouds (``spiral``, ``word``) and
  ``energy_distance``;
* :mod:`.process`: ``ToyNoise``, the noise process, with the ``add_noise`` / ``step`` protocol
  of the crystal processes (the lattice's cosine-schedule DDPM, on 2D points);
* :mod:`.ddpm`: ``ToyDDPM``, the network and its training and sampling.

Its figures are in :mod:`crystal_lab.view` (``random_walk_figure``, ``cloud_animation``,
``loss_figure``, ``toy_score_figure``).
"""
from __future__ import annotations

from .ddpm import ToyDDPM, ToyNet
from .distributions import energy_distance, random_walk, spiral, word
from .process import ToyNoise

__all__ = ["ToyDDPM", "ToyNet", "ToyNoise", "energy_distance", "random_walk", "spiral", "word"]
