"""The denoiser: a periodic, E(3)-invariant message-passing network (CSPNet family).

Inputs for a batch of B crystals padded to N atoms: noisy fractional coordinates (B,N,3),
atom tokens (B,N) (0 = masked), noisy log-lattice parameters (B,6), time t (B,), and the
condition: a multi-hot vector of the allowed elements (B,E+1, the last entry the "no condition"
flag), optionally a crystal-system token (B,) (0 = not asked, 1-7 = triclinic ... cubic) and a
formation-energy target (B,) in eV/atom with a flag saying whether it is asked (B,). Outputs: the
normalised coordinate score (B,N,3), the lattice noise (B,6) and element logits (B,N,E).

Why it is invariant (the property tests check each):
* rotation: the lattice enters only through rotation-invariant parameters (see
  ``noise/lattice.py``) and lengths; fractional coordinates do not change when a crystal rotates;
* translation: atoms interact only through differences of fractional coordinates, fed as
  Fourier features sin/cos(2 pi k d), which are periodic, so wrapping does not matter;
* permutation: every atom pair is used and messages are averaged.
Following DiffCSP (Jiao et al. 2023), messages run over all pairs of atoms in a cell.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .noise.coords import wrap_delta

N_SYSTEMS = 7   # crystal systems, triclinic ... cubic (prompts.CRYSTAL_SYSTEMS)
NEW_CONDITION_KEYS = ("system.", "energy.")   # absent from weights made before they existed


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (Vaswani et al. 2017; DDPM)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / half
    )
    args = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], -1)


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


class MessageLayer(nn.Module):
    """One round of all-pairs messages: m_ij = phi(h_i, h_j, edge_ij, lattice), then
    h_i += psi(h_i, mean_j m_ij).

    The normalised node features are modulated by the condition ``c`` (B, hidden) as in DiT's
    adaLN (Peebles & Xie 2023): ``x = norm(h) * (1 + scale(c)) + shift(c)``. The ``film`` map
    is low-rank (hidden -> ``rank`` -> 2 hidden: DiT's full hidden -> 2 hidden map would add 27% to
    a 384x6 network's weights) and its output layer starts at zero, so a fresh layer (or one loaded
    from weights without it) is the plain layer.
    """

    def __init__(self, hidden: int, d_edge: int, rank: int = 32):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(hidden, rank), nn.Linear(rank, 2 * hidden))
        nn.init.zeros_(self.film[2].weight)
        nn.init.zeros_(self.film[2].bias)
        self.src, self.dst = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden, bias=False)
        self.edge = nn.Linear(d_edge, hidden, bias=False)
        self.msg = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.update = mlp(2 * hidden, hidden, hidden)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights saved before the layer had ``film`` lack it: its output layer is filled with
        # zeros, which makes the layer compute exactly what those weights computed, and its input
        # layer keeps this module's random initialisation, so that training from them can learn it
        out_layer = f"{len(self.film) - 1}."
        for name, value in self.film.state_dict().items():
            fill = torch.zeros_like(value) if name.startswith(out_layer) else value.clone()
            state_dict.setdefault(f"{prefix}film.{name}", fill)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, h, edge, pair_mask, n_atoms, c=None):
        x = self.norm(h)
        if c is not None:
            scale, shift = self.film(c).chunk(2, -1)
            x = x * (1 + scale[:, None]) + shift[:, None]
        # the first linear layer of phi, split: O(N) for the nodes and O(N^2) only for the edges
        m = self.msg(self.src(x)[:, :, None] + self.dst(x)[:, None, :] + self.edge(edge))
        agg = (m * pair_mask[..., None]).sum(2) / n_atoms[:, None, None]
        return h + self.update(torch.cat([x, agg], -1))


class Denoiser(nn.Module):
    """The score network of :mod:`crystal_lab.model.diffusion` (its tensors: the module docstring).

    Conditioning: the time, the allowed elements and the optional crystal system and
    formation-energy target form one condition vector ``c`` (B, hidden). It is added once to the
    node features (with the lattice embedding) and modulates every message layer through that
    layer's zero-initialised scale/shift (``MessageLayer.film``), so the condition reaches every
    depth. ``system=None`` / ``energy=None`` leave that condition out (classifier-free training
    drops them on their own).

    Sizes: ``hidden`` features per atom, ``layers`` message layers, ``num_elements`` element
    tokens (0 = masked), ``n_freq`` Fourier frequencies and ``n_rbf`` radial basis functions for
    the pair features, ``film_rank`` the rank of each layer's condition modulation.
    """

    def __init__(self, hidden: int = 128, layers: int = 4, num_elements: int = 100,
                 n_freq: int = 8, n_rbf: int = 16, film_rank: int = 32):
        super().__init__()
        self.hidden, self.num_elements = hidden, num_elements
        self.n_freq, self.n_rbf = n_freq, n_rbf
        self.register_buffer(
            "freqs",
            2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32),
            persistent=False,
        )
        self.register_buffer("rbf_centres", torch.linspace(0.0, 3.0, n_rbf), persistent=False)
        self.token = nn.Embedding(num_elements + 1, hidden)  # 0 = MASK
        self.time = mlp(hidden, hidden, hidden)
        self.cond = nn.Linear(num_elements + 1, hidden)  # allowed elements + "no condition" flag
        self.lattice_in = mlp(6, hidden, hidden)
        # inverse-design conditions; their output layers start at zero, so a model warm-started
        # from weights without them computes exactly what those weights computed
        self.system = nn.Embedding(N_SYSTEMS + 1, hidden)
        self.energy = mlp(hidden, hidden, hidden)
        nn.init.zeros_(self.system.weight)
        nn.init.zeros_(self.energy[-1].weight)
        nn.init.zeros_(self.energy[-1].bias)
        d_edge = 6 * n_freq + n_rbf + 6
        self.layers = nn.ModuleList(MessageLayer(hidden, d_edge, film_rank) for _ in range(layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.coord_head = mlp(hidden, hidden, 3)
        self.type_head = mlp(hidden, hidden, num_elements)
        self.lattice_head = mlp(hidden, hidden, 6)

    def edge_features(self, frac, lattice_params, lattice, mask):
        """Fourier features of fractional differences, RBFs of minimum-image distances, lattice."""
        d = wrap_delta(frac[:, None, :, :] - frac[:, :, None, :])            # (B,N,N,3)
        angles = d[..., None] * self.freqs                                   # (B,N,N,3,F)
        fourier = torch.cat([torch.sin(angles), torch.cos(angles)], -1).flatten(-2)
        n = mask.sum(1).clamp_min(1)
        scale = (torch.det(lattice).abs() / n).clamp_min(1e-3) ** (1 / 3)   # length per atom
        dist = torch.linalg.norm(d @ lattice[:, None], dim=-1) / scale[:, None, None]
        rbf = torch.exp(-((dist[..., None] - self.rbf_centres) ** 2) / 0.1)
        lat = lattice_params[:, None, None, :].expand(*d.shape[:3], 6)
        return torch.cat([fourier, rbf, lat], -1)

    def forward(self, frac, tokens, lattice_params, lattice, t, cond, mask, system=None,
                energy=None, energy_given=None):
        """See the module docstring. ``lattice`` (B,3,3) is the matrix the parameters describe."""
        n_atoms = mask.sum(1).clamp_min(1).to(frac.dtype)
        pair_mask = (mask[:, :, None] & mask[:, None, :]).to(frac.dtype)
        edge = self.edge_features(frac, lattice_params, lattice, mask)
        # c: the condition (time, elements, properties); graph: c plus the lattice, added to the
        # nodes in the order the first weights were trained with (so they compute bit for bit alike)
        c = self.time(timestep_embedding(t, self.hidden)) + self.cond(cond)
        graph = c + self.lattice_in(lattice_params)
        if system is not None:
            s = self.system(system)
            c, graph = c + s, graph + s
        if energy is not None:
            # formation energies of MP-20 lie in about [-4.5, 1] eV/atom: map to [0, 1] like t
            e = self.energy(timestep_embedding(((energy + 5.0) / 6.0).to(frac.dtype), self.hidden))
            e = e * energy_given[:, None].to(frac.dtype)
            c, graph = c + e, graph + e
        h = self.token(tokens) + graph[:, None, :]
        for layer in self.layers:
            h = layer(h, edge, pair_mask, n_atoms, c)
        h = self.out_norm(h) * mask[..., None]
        pooled = h.sum(1) / n_atoms[:, None]
        return self.coord_head(h), self.lattice_head(pooled), self.type_head(h)
