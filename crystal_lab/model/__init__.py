"""The diffusion model itself: what is taught, in the order it runs.

* :mod:`.noise`: one noise process per variable (``coords``: wrapped normal on fractional
  coordinates; ``lattice``: DDPM on the log-lattice; ``types``: masked discrete diffusion), each
  with ``add_noise`` and ``step``;
* :mod:`.denoiser`: the periodic, E(3)-invariant network that predicts all three;
* :mod:`.sampler`: the reverse loop, t = 1 .. 0 in a few steps;
* :mod:`.diffusion`: ``CrystalDiffusionModel`` (network + processes + config; ``sample``, ``loss``);
* :mod:`.config`: the configs a checkpoint records; :mod:`.limits`: the size caps;
* :mod:`.checkpoint`: weights files (``load_model``).

The public names are re-exported from :mod:`crystal_lab` only.
"""
