"""The three forward noise processes of a crystal, one module each (diffusers-style schedules).

* :class:`WrappedNormalCoords` - fractional coordinates, wrapped normal on the torus
* :class:`LatticeDDPM` - the lattice, a DDPM on rotation-invariant log-lattice parameters
* :class:`MaskedTypes` - atom types, absorbing-state discrete diffusion (D3PM / MDLM)

:class:`CrystalNoise` holds one of each, so a whole crystal can be noised to time t.
"""
from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from .coords import WrappedNormalCoords, wrap, wrap_delta, wrapped_normal_score
from .lattice import LatticeDDPM
from .types import MASK, MaskedTypes

__all__ = ["CrystalNoise", "WrappedNormalCoords", "LatticeDDPM", "MaskedTypes", "MASK",
           "wrap", "wrap_delta", "wrapped_normal_score"]


class CrystalNoise:
    """Coordinates, lattice and types noised together at one time ``t`` in [0, 1]."""

    def __init__(self, coords: WrappedNormalCoords | None = None, lattice: LatticeDDPM | None = None,
                 types: MaskedTypes | None = None):
        self.coords = coords or WrappedNormalCoords()
        self.lattice = lattice or LatticeDDPM()
        self.types = types or MaskedTypes()

    def to(self, device) -> CrystalNoise:
        """Move the schedules' tables to ``device`` (the model does this when it moves)."""
        self.coords.to(device)
        self.lattice.to(device)
        return self

    def add_noise_atoms(self, atoms: Atoms, t: float, seed: int = 0, noise_types: bool = True) -> Atoms:
        """A copy of ``atoms`` noised to time ``t`` by all three processes (masked types -> "X").

        The same ``seed`` gives the same noise for every ``t``, so a slider over t shows one
        continuous path from the crystal into noise.
        """
        if t <= 0:   # t = 0 is the crystal itself (sigma(0) = sigma_min is only the schedule's floor)
            out = atoms.copy()
            out.info["t"] = 0.0
            return out
        g = torch.Generator().manual_seed(seed)
        n = torch.tensor([len(atoms)])
        tt = torch.tensor([float(t)], dtype=torch.float64)
        frac = torch.as_tensor(atoms.get_scaled_positions(wrap=True), dtype=torch.float64)
        x_frac, _ = self.coords.add_noise(frac[None], tt[:, None], generator=g)
        lat0 = torch.as_tensor(np.asarray(atoms.cell), dtype=torch.float64)[None]
        x0_lat = self.lattice.to_params(lat0, n)
        x_lat, _ = self.lattice.add_noise(x0_lat, tt, generator=g)
        # the process works in a rotation-free frame; turn the result back to the crystal's orientation
        rotation = torch.linalg.solve(self.lattice.to_lattice(x0_lat, n)[0], lat0[0])
        lattice = self.lattice.to_lattice(x_lat, n)[0] @ rotation
        numbers = torch.as_tensor(atoms.numbers)[None]
        if noise_types:
            numbers, _ = self.types.add_noise(numbers, tt.float()[:, None], generator=g)
        out = Atoms(numbers=numbers[0].numpy(), cell=lattice.numpy(), scaled_positions=x_frac[0].numpy(),
                    pbc=True)
        out.info.update(atoms.info)
        out.info["t"] = float(t)
        return out

    def state_dict(self) -> dict:
        return {"sigma_min": self.coords.sigma_min, "sigma_max": self.coords.sigma_max,
                "lattice": self.lattice.state_dict(), "num_elements": self.types.num_elements}

    @classmethod
    def from_state_dict(cls, state: dict) -> "CrystalNoise":
        lat = state["lattice"]
        return cls(WrappedNormalCoords(state["sigma_min"], state["sigma_max"]),
                   LatticeDDPM(lat["mean"], lat["std"], lat["volume_per_atom"]),
                   MaskedTypes(state["num_elements"]))
