"""The three forward noise processes of a crystal, one module each (diffusers-style schedules).

* :class:`WrappedNormalCoords` - fractional coordinates, wrapped normal on the torus
* :class:`LatticeDDPM` - the lattice, a DDPM on rotation-invariant log-lattice parameters
* :class:`MaskedTypes` - atom types, absorbing-state discrete diffusion (D3PM / MDLM)

:class:`CrystalNoise` holds one of each, so a whole crystal can be noised to time t.
Each is a ``torch.nn.Module`` whose tables are buffers: they are saved in the model's
``state_dict`` and move with ``model.to(device)``. Each follows one protocol:
``add_noise(x0, t) -> (x_t, target)``, ``step(x_t, prediction, t, s) -> x_s``,
``prior(shape)`` (samples at t = 1) and ``loss(prediction, target, ...)``.
"""
from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from torch import nn

from .coords import WrappedNormalCoords, wrap, wrap_delta, wrapped_normal_score
from .lattice import LatticeDDPM
from .types import MASK, MaskedTypes

__all__ = [
    "MASK",
    "CrystalNoise",
    "LatticeDDPM",
    "MaskedTypes",
    "WrappedNormalCoords",
    "wrap",
    "wrap_delta",
    "wrapped_normal_score",
]


class CrystalNoise(nn.Module):
    """Coordinates, lattice and types noised together at one time ``t`` in [0, 1]."""

    def __init__(
        self,
        coords: WrappedNormalCoords | None = None,
        lattice: LatticeDDPM | None = None,
        types: MaskedTypes | None = None,
    ):
        super().__init__()
        self.coords = coords or WrappedNormalCoords()
        self.lattice = lattice or LatticeDDPM()
        self.types = types or MaskedTypes()

    def add_noise_atoms(
        self, atoms: Atoms, t: float, seed: int = 0, noise_types: bool = True
    ) -> Atoms:
        """A copy of ``atoms`` noised to time ``t`` by all three processes (masked types -> "X").

        The same ``seed`` gives the same noise for every ``t``, so a slider over t shows one
        continuous path from the crystal into noise.
        """
        # t = 0 is the crystal itself (sigma(0) = sigma_min is only the schedule's floor)
        if t <= 0:
            out = atoms.copy()
            out.info["t"] = 0.0
            return out
        dev = self.lattice.mean.device   # where the schedules' tables are (the model's device)
        g = torch.Generator(device=dev).manual_seed(seed)
        as64 = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64, device=dev)
        n = torch.tensor([len(atoms)], device=dev)
        tt = as64([float(t)])
        x_frac, _ = self.coords.add_noise(
            as64(atoms.get_scaled_positions(wrap=True))[None], tt[:, None], generator=g
        )
        lat0 = as64(atoms.cell)[None]
        x0_lat = self.lattice.to_params(lat0, n)
        x_lat, _ = self.lattice.add_noise(x0_lat, tt, generator=g)
        # the process works in a rotation-free frame; turn the result back to the crystal's axes
        rotation = torch.linalg.solve(self.lattice.to_lattice(x0_lat, n)[0], lat0[0])
        lattice = self.lattice.to_lattice(x_lat, n)[0] @ rotation
        numbers = torch.as_tensor(atoms.numbers, device=dev)[None]
        if noise_types:
            numbers, _ = self.types.add_noise(numbers, tt.float()[:, None], generator=g)
        out = Atoms(numbers=numbers[0].cpu().numpy(), cell=lattice.cpu().numpy(),
                    scaled_positions=x_frac[0].cpu().numpy(), pbc=True)
        out.info.update(atoms.info)
        out.info["t"] = float(t)
        return out
