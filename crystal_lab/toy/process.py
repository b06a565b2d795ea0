"""The toy's noise process: the Gaussian DDPM of the crystal lattice, on 2D points.

``ToyNoise`` has the protocol of every noise process of the lab (:mod:`crystal_lab.model.noise`):
``add_noise(x0, t) -> (x_t, target)``, ``step(x_t, prediction, t, s) -> x_s``, ``loss`` and
``prior``, with t in [0, 1]. It is the lattice's process (:class:`crystal_lab.model.noise.lattice.
LatticeDDPM`: the cosine schedule of Nichol & Dhariwal 2021, the network predicts the noise
``eps``, DDIM steps with ``eta``) applied to points instead of lattice parameters, so a student
meets one interface in 2D and in 3D.
"""
from __future__ import annotations

import torch

from crystal_lab.model.noise.lattice import LatticeDDPM

__all__ = ["ToyNoise"]


class ToyNoise:
    """``x_t = sqrt(abar(t)) x_0 + sqrt(1 - abar(t)) eps`` on points ``(..., 2)``.

    ``step(..., eta=0)`` is DDIM (Song et al. 2021, deterministic); ``eta=1`` is the DDPM
    ancestral step (the posterior ``q(x_s | x_t, x0_hat)``). The predicted clean point
    ``x0_hat`` is clipped to ``[-clip, clip]`` (the data's range; image models clip to
    [-1, 1]), which keeps few-step samplers of a briefly trained network on the data.
    ``score(x_t, eps, t)`` is the score the noise prediction stands for,
    ``-eps / sqrt(1 - abar(t))``.
    """

    def __init__(self, s: float = 0.008, clip: float = 5.0):
        self._ddpm = LatticeDDPM(s=s)   # its schedule and update; no lattice is involved
        self.clip = float(clip)

    def alpha_bar(self, t) -> torch.Tensor:
        """The cosine schedule's ``abar(t)`` (clamped to [1e-4, 1])."""
        return self._ddpm.alpha_bar(t)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, generator=None):
        """``(x_t, eps)``: the noisy points at times ``t`` (one per point) and the noise added."""
        return self._ddpm.add_noise(x0, t, generator)

    def step(self, x_t: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor,
             s: torch.Tensor, generator=None, eta: float = 0.0) -> torch.Tensor:
        """From time ``t`` to ``s < t`` given the predicted noise (see the class docstring)."""
        abar = self.alpha_bar(t).to(x_t.dtype).unsqueeze(-1)
        x0 = self._ddpm.predict_x0(x_t, prediction, t, clip=self.clip)
        eps = (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()   # the noise of the clipped x0_hat
        return self._ddpm.step(x_t, eps, t, s, generator, eta=eta)

    def score(self, x_t: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The score ``grad log p_t(x_t)`` that the predicted noise stands for."""
        abar = self.alpha_bar(t).to(x_t.dtype).unsqueeze(-1)
        return -prediction / (1 - abar).sqrt()

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the predicted noise."""
        return self._ddpm.loss(prediction, target)

    def prior(self, shape, generator=None) -> torch.Tensor:
        """Samples at t = 1: a standard normal."""
        return self._ddpm.prior(shape, generator)
