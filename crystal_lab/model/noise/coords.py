"""Wrapped-normal noise on fractional coordinates (a variance-exploding process on the torus).

Fractional coordinates live on the 3-torus [0, 1)^3: an atom leaving the cell at 1.0 re-enters
at 0.0. Adding Gaussian noise of width sigma and wrapping gives the *wrapped normal*
distribution; as sigma grows to about 0.5 it becomes uniform on the cell, the prior we sample
from. The network learns the score of the wrapped normal (DiffCSP, Jiao et al. 2023, eq. 6),
normalised by its root mean square so that every noise level has a target of unit size.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Fractional coordinates into [0, 1)."""
    return x - torch.floor(x)


def wrap_delta(d: torch.Tensor) -> torch.Tensor:
    """A fractional displacement into [-0.5, 0.5): the shortest way round the torus."""
    return d - torch.round(d)


def wrapped_normal_score(d: torch.Tensor, sigma: torch.Tensor, n_images: int = 4) -> torch.Tensor:
    """d/dx log p(x) of a wrapped normal centred at 0, at displacement ``d`` (sum over images)."""
    k = torch.arange(-n_images, n_images + 1, dtype=d.dtype, device=d.device)
    shifted = wrap_delta(d).unsqueeze(-1) + k                   # (..., 2K+1)
    s2 = (sigma**2).unsqueeze(-1)
    logw = -shifted**2 / (2 * s2)
    w = torch.softmax(logw, dim=-1)
    return -(w * shifted).sum(-1) / sigma**2


@lru_cache(maxsize=4)
def _score_rms_table(sigma_min: float, sigma_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """E|score|^2 as a function of log sigma, by quadrature (for target normalisation): a grid of
    256 log sigma values and the score's RMS at each. About 0.7 s on one CPU thread, so it is
    computed once per (sigma_min, sigma_max) in a process, however many models are built."""
    sig = torch.exp(
        torch.linspace(math.log(sigma_min), math.log(sigma_max), 256, dtype=torch.float64)
    )
    x = torch.linspace(-0.5, 0.5, 4001, dtype=torch.float64)[:-1]
    k = torch.arange(-6, 7, dtype=torch.float64)
    dens = torch.exp(-(x[None, :, None] + k) ** 2 / (2 * sig[:, None, None] ** 2)).sum(-1)
    dens = dens / dens.sum(-1, keepdim=True)
    score = wrapped_normal_score(x[None, :].expand(len(sig), -1), sig[:, None], n_images=6)
    return torch.log(sig), torch.sqrt((dens * score**2).sum(-1))


class WrappedNormalCoords(nn.Module):
    """Forward process ``x_t = wrap(x_0 + sigma(t) * eps)`` and its reverse step.

    ``sigma(t) = sigma_min^(1-t) * sigma_max^t`` (geometric, as in DiffCSP), t in [0, 1].
    Buffers (saved with the model, moved with it): ``sigma_min``, ``sigma_max`` and the table of
    the score's root mean square over log sigma that normalises the training target.
    """

    def __init__(self, sigma_min: float = 0.005, sigma_max: float = 0.5):
        super().__init__()
        self.register_buffer("sigma_min", torch.tensor(float(sigma_min), dtype=torch.float64))
        self.register_buffer("sigma_max", torch.tensor(float(sigma_max), dtype=torch.float64))
        grid, table = _score_rms_table(float(sigma_min), float(sigma_max))
        self.register_buffer("log_sigma_grid", grid.clone())   # clones: loading a state dict
        self.register_buffer("score_rms_table", table.clone())  # writes into the buffers

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64 if not torch.is_tensor(t) else t.dtype)
        return self.sigma_min.to(t) ** (1 - t) * self.sigma_max.to(t) ** t

    def score_rms(self, sigma: torch.Tensor) -> torch.Tensor:
        """Root mean square of the wrapped-normal score at noise level ``sigma`` (interpolated)."""
        grid, values = self.log_sigma_grid, self.score_rms_table
        ls = torch.log(sigma.to(grid.dtype)).clamp(grid[0], grid[-1])
        i = torch.searchsorted(grid, ls).clamp(1, len(grid) - 1)
        w = (ls - grid[i - 1]) / (grid[i] - grid[i - 1])
        return ((1 - w) * values[i - 1] + w * values[i]).to(sigma.dtype)

    def add_noise(
        self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ):
        """Noise fractional coordinates ``x0`` (..., 3) to time ``t`` (broadcastable to x0[..., 0]).

        Returns ``(x_t, target)``: the noisy coordinates and the normalised score to learn.
        """
        sigma = self.sigma(t).to(x0.dtype).expand(x0.shape[:-1]).unsqueeze(-1)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = wrap(x0 + sigma * eps)
        target = wrapped_normal_score(sigma * eps, sigma) / self.score_rms(sigma)
        return x_t, target

    def step(self, x_t: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor, s: torch.Tensor,
             generator: torch.Generator | None = None, stochastic: bool = False) -> torch.Tensor:
        """Move from time ``t`` to an earlier time ``s`` given the predicted normalised score.

        Deterministic (``stochastic=False``): the DDIM / exponential-integrator update of the
        probability-flow ODE, ``x_s = x_t + sigma_t (sigma_t - sigma_s) * score``; it jumps to the
        Tweedie denoised estimate ``x_t + sigma_t^2 score`` when ``s = 0``. Stochastic: the
        ancestral variance-exploding step (reverse SDE), fresh noise of the posterior's width.
        """
        shape = x_t.shape[:-1]
        sigma_t = self.sigma(t).to(x_t.dtype).expand(shape).unsqueeze(-1)
        s = torch.as_tensor(s, device=x_t.device).expand(shape)
        sigma_s = torch.where(s.unsqueeze(-1) > 0, self.sigma(s).to(x_t.dtype).unsqueeze(-1),
                              torch.zeros_like(sigma_t))
        score = prediction * self.score_rms(sigma_t)
        if not stochastic:
            return wrap(x_t + sigma_t * (sigma_t - sigma_s) * score)
        var = sigma_t**2 - sigma_s**2
        eps = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        return wrap(x_t + var * score + torch.sqrt(var * sigma_s**2 / sigma_t**2) * eps)

    def correct(self, x: torch.Tensor, prediction: torch.Tensor, t: torch.Tensor,
                generator: torch.Generator | None = None, step_lr: float = 0.4) -> torch.Tensor:
        """One Langevin corrector move at fixed time ``t`` (the "corrector" of DiffCSP's and
        Chemeleon's predictor-corrector samplers): ``x + d * score + sqrt(2 d) * z``,
        ``d = step_lr sigma^2``."""
        sigma = self.sigma(t).to(x.dtype).expand(x.shape[:-1]).unsqueeze(-1)
        d = step_lr * sigma**2
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return wrap(x + d * prediction * self.score_rms(sigma) + torch.sqrt(2 * d) * eps)

    def loss(
        self, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared error of the predicted normalised score over the real atoms (B,N,3)."""
        m = mask[..., None].to(target.dtype)
        return ((prediction.to(target.dtype) - target) ** 2 * m).sum() / (3 * m.sum())

    def prior(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """Samples at t = 1: uniform in the cell (a wrapped normal of sigma 0.5 is near uniform)."""
        return torch.rand(shape, generator=generator, device=device, dtype=dtype)
