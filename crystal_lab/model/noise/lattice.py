"""A DDPM on the lattice, in a rotation-invariant, always-valid coordinate system.

A lattice ``L`` (rows = lattice vectors, Angstrom) and ``L @ R`` for any rotation ``R`` are the
same crystal. We describe a lattice by the six independent entries of the matrix logarithm of
its symmetric square root ``S = (L L^T)^(1/2)``: the same numbers for every orientation, and
``expm`` of *any* symmetric matrix is symmetric positive definite, so every point of the noisy
process is a real lattice (no negative volumes or flat cells). The trace carries the volume
(``tr log S = log V``); we remove the volume expected for ``n`` atoms and standardise each entry,
then run a variance-preserving DDPM with the cosine schedule (Nichol & Dhariwal 2021),
as DiffCSP and MatterGen do on their lattice representations.
"""
from __future__ import annotations

import math

import torch
from torch import nn

_IU = (torch.tensor([0, 1, 2, 0, 0, 1]), torch.tensor([0, 1, 2, 1, 2, 2]))
_OFF = torch.tensor([1.0, 1.0, 1.0, math.sqrt(2), math.sqrt(2), math.sqrt(2)])


def _sym_fn(m: torch.Tensor, fn) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return vecs @ torch.diag_embed(fn(vals)) @ vecs.transpose(-1, -2)


class LatticeDDPM(nn.Module):
    """Forward ``x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps`` on standardised log-lattice parameters.

    Buffers (fitted from the training lattices by :meth:`fit`, saved and moved with the model):
    ``mean`` and ``std`` of the six parameters, and ``volume_per_atom`` (Angstrom^3, the volume
    scale removed before standardising). ``s`` is the cosine schedule's offset.
    """

    def __init__(self, mean=None, std=None, volume_per_atom: float = 18.0, s: float = 0.008):
        super().__init__()
        self.register_buffer(
            "mean", torch.zeros(6) if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        )
        self.register_buffer(
            "std",
            torch.full((6,), 0.2) if std is None else torch.as_tensor(std, dtype=torch.float32),
        )
        self.register_buffer(
            "volume_per_atom", torch.tensor(float(volume_per_atom), dtype=torch.float64)
        )
        self.s = s

    # --- the lattice <-> parameter map --------------------------------------------------------
    def raw_params(self, lattice: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """(B,3,3) lattices -> (B,6) log-lattice parameters, before standardisation."""
        lat = lattice.double()
        gram = lat @ lat.transpose(-1, -2)
        log_s = _sym_fn(gram, lambda v: 0.5 * torch.log(v.clamp_min(1e-12)))
        shift = torch.log(n_atoms.double() * self.volume_per_atom.double()) / 3
        log_s = log_s - shift[:, None, None] * torch.eye(3, dtype=lat.dtype, device=lat.device)
        return (log_s[:, _IU[0], _IU[1]] * _OFF.to(lat)).to(lattice.dtype)

    def to_params(self, lattice: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """(B,3,3) lattices -> (B,6) standardised parameters (the DDPM's x_0)."""
        p = self.raw_params(lattice, n_atoms)
        return (p - self.mean.to(p)) / self.std.to(p)

    def to_lattice(self, params: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """(B,6) standardised parameters -> (B,3,3) symmetric lattice matrices (always valid)."""
        p = (
            params.double() * self.std.to(params).double() + self.mean.to(params).double()
        ) / _OFF.to(params).double()
        m = torch.zeros(*p.shape[:-1], 3, 3, dtype=p.dtype, device=p.device)
        m[..., _IU[0], _IU[1]] = p
        m[..., _IU[1], _IU[0]] = p
        shift = torch.log(n_atoms.double() * self.volume_per_atom.double()) / 3
        m = m + shift[:, None, None] * torch.eye(3, dtype=p.dtype, device=p.device)
        # expm of a symmetric matrix is what _sym_fn(m, torch.exp) gives; matrix_exp needs no
        # eigendecomposition (cheaper on a GPU, and torch.compile can trace it)
        return torch.linalg.matrix_exp(m).to(params.dtype)

    def fit(self, lattices: torch.Tensor, n_atoms: torch.Tensor) -> LatticeDDPM:
        """Set the volume scale and the standardisation from training lattices."""
        lat = lattices.double()
        self.volume_per_atom.fill_(
            float(torch.exp(torch.mean(torch.log(torch.det(lat).abs() / n_atoms))))
        )
        p = self.raw_params(lat, n_atoms)
        self.mean.copy_(p.mean(0))
        self.std.copy_(p.std(0).clamp_min(1e-3))
        return self

    # --- the schedule ---------------------------------------------------------------------------
    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t)
        f = torch.cos((t + self.s) / (1 + self.s) * math.pi / 2) ** 2
        f0 = math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2
        return (f / f0).clamp(1e-4, 1.0)

    def add_noise(
        self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ):
        """Returns ``(x_t, eps)``: noisy parameters and the noise the network learns to predict."""
        abar = self.alpha_bar(t).to(x0.dtype).unsqueeze(-1)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * eps, eps

    def predict_x0(self, x_t, eps_pred, t, clip: float = 5.0):
        abar = self.alpha_bar(t).to(x_t.dtype).unsqueeze(-1)
        return ((x_t - (1 - abar).sqrt() * eps_pred) / abar.sqrt()).clamp(-clip, clip)

    def step(self, x_t: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor, s: torch.Tensor,
             generator: torch.Generator | None = None, eta: float = 0.0) -> torch.Tensor:
        """DDIM step from ``t`` to ``s < t`` (Song et al. 2021); eta=1: DDPM's ancestral step."""
        abar_t = self.alpha_bar(t).to(x_t.dtype).unsqueeze(-1)
        abar_s = torch.where(
            torch.as_tensor(s).unsqueeze(-1) > 0,
            self.alpha_bar(s).to(x_t.dtype).unsqueeze(-1),
            torch.ones_like(abar_t),
        )
        x0 = self.predict_x0(x_t, prediction, t)
        eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()
        var = eta**2 * (1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)
        noise = (
            torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            if eta > 0
            else 0.0
        )
        return (
            abar_s.sqrt() * x0 + (1 - abar_s - var).clamp_min(0).sqrt() * eps + var.sqrt() * noise
        )

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the predicted noise (the DDPM loss)."""
        return torch.nn.functional.mse_loss(prediction.to(target.dtype), target)

    def prior(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)
