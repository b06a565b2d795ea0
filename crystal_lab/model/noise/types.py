"""Discrete diffusion on atom types: the absorbing-state ("masked") D3PM.

Forward: each atom's element is replaced by a MASK token with probability ``m(t) = t``
(Austin et al. 2021, D3PM with an absorbing state; Sahoo et al. 2024, MDLM, continuous time).
At t = 1 every atom is masked. The network predicts, for each masked atom, a distribution over
the elements. Reverse step from t to s < t: each still-masked atom is revealed with probability
``(m(t) - m(s)) / m(t)`` by sampling from that distribution, restricted to the allowed elements.
Revealed atoms stay revealed. Token 0 is MASK; tokens 1..N are atomic numbers.
"""
from __future__ import annotations

import torch
from torch import nn

MASK = 0


class MaskedTypes(nn.Module):
    """The masking schedule ``m(t) = t``: no tables (no buffers), only the protocol. The number
    of elements is the width of the network's logits."""

    def mask_prob(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t).clamp(0.0, 1.0)

    def add_noise(
        self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ):
        """Returns ``(x_t, masked)``: tokens with some replaced by MASK, and which ones were."""
        u = torch.rand(x0.shape, generator=generator, device=x0.device)
        masked = u < self.mask_prob(t).to(x0.device).float()
        return torch.where(masked, torch.full_like(x0, MASK), x0), masked

    def step(
        self,
        x_t: torch.Tensor,
        prediction: torch.Tensor,
        t: torch.Tensor,
        s: torch.Tensor,
        generator: torch.Generator | None = None,
        allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reveal some masked atoms. ``prediction``: logits (..., num_elements) over atomic numbers
        1..num_elements; ``allowed``: a boolean mask of the same shape (or broadcastable)."""
        logits = prediction.float()
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(logits, -1).reshape(-1, logits.shape[-1])
        draw = torch.multinomial(probs, 1, generator=generator).reshape(x_t.shape) + 1
        m_t, m_s = self.mask_prob(t).to(x_t.device), self.mask_prob(s).to(x_t.device)
        p_reveal = ((m_t - m_s) / m_t.clamp_min(1e-12)).float()
        u = torch.rand(x_t.shape, generator=generator, device=x_t.device)
        reveal = (x_t == MASK) & (u < p_reveal)
        return torch.where(reveal, draw, x_t)

    def loss(self, logits: torch.Tensor, x0: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the predicted element at the masked atoms only (MDLM's objective up to
        its time weighting); written without data-dependent shapes, so compiled code can run it."""
        ce = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), (x0 - 1).clamp_min(0).flatten(), reduction="none"
        )
        return (ce * masked.flatten()).sum() / masked.sum().clamp_min(1)

    def prior(self, shape, generator=None, device=None) -> torch.Tensor:
        """Samples at t = 1: every atom masked."""
        del generator   # nothing random here; the argument keeps the three processes' signature
        return torch.full(shape, MASK, dtype=torch.long, device=device)
