"""The reverse loop: from noise at t = 1 to crystals at t = 0 in a few large steps.

One network call a step. Each step asks the denoiser for its three predictions and hands each
to its own noise process's ``step`` (coordinates: the DDIM-style probability-flow update on the
torus; lattice: DDIM; types: reveal some masked atoms). The prompt is honoured by construction:
a formula fixes the atom types from the start (crystal-structure prediction); a chemical system
restricts the element logits to the listed elements and makes sure each of them appears.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from .noise import MASK
from .prompts import CRYSTAL_SYSTEMS, Condition


def guided(net, w: float, frac, tokens, lat, lattice, t, cond, mask, extra: dict):
    """The denoiser's three predictions, with classifier-free guidance when ``w != 1``.

    Guidance (Ho & Salimans 2022; Chemeleon, MatterGen): one batched call with and without every
    condition, then ``uncond + w * (cond - uncond)`` for the score, the lattice noise and the
    element logits. ``w = 1`` is the plain conditional model (one call of batch B).
    """
    if w == 1.0:
        return net(frac, tokens, lat, lattice, t, cond, mask, **extra)
    B, E1 = cond.shape
    none = torch.zeros_like(cond)
    none[:, E1 - 1] = 1.0
    two = lambda x: torch.cat([x, x])  # noqa: E731
    off = {k: torch.cat([v, torch.zeros_like(v)]) if k != "energy" else two(v) for k, v in extra.items()}
    out = net(two(frac), two(tokens), two(lat), two(lattice), two(t), torch.cat([cond, none]), two(mask),
              **off)
    return tuple(o[B:] + w * (o[:B] - o[B:]) for o in out)


@dataclass
class Request:
    """One structure to generate: its size, allowed elements and (for CSP) its exact atom list,
    the other conditions, and the prompt's normal form (``label``) recorded on the result."""

    n_atoms: int
    allowed: tuple[int, ...] = ()          # atomic numbers; empty = any
    fixed: tuple[int, ...] | None = None   # atomic numbers of every atom (CSP)
    system: int = 0                        # crystal-system token (0 = any, 1-7 = triclinic ... cubic)
    energy: float | None = None            # target formation energy per atom (eV/atom)
    label: str = ""                        # the prompt's composition in normal form ("BaTiO3")


def requests_for(cond: Condition, n_samples: int, n_atoms_hist: dict[int, float],
                 max_atoms: int, rng: np.random.Generator) -> list[Request]:
    """Turn a parsed prompt into ``n_samples`` requests, drawing sizes from the training data when
    the prompt leaves them open."""
    out = []
    sizes = np.array(sorted(n_atoms_hist), dtype=int)
    weights = np.array([n_atoms_hist[k] for k in sizes], dtype=float)
    for _ in range(n_samples):
        n = cond.n_atoms
        if n is None:
            ok = (sizes >= max(1, len(cond.elements))) & (sizes <= max_atoms)
            n = int(rng.choice(sizes[ok], p=weights[ok] / weights[ok].sum()))
        z = tuple(cond.atomic_numbers)
        fixed = None
        if cond.kind == "formula":
            fixed = tuple(atomic_numbers[e] for e, k in cond.counts.items() for _ in range(k))
        system = CRYSTAL_SYSTEMS.index(cond.crystal_system) + 1 if cond.crystal_system else 0
        out.append(Request(n, z, fixed, system, cond.formation_energy, cond.text))
    return out


def ensure_elements(tokens: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor,
                    required: list[tuple[int, ...]]) -> torch.Tensor:
    """Make every required element appear once it can no longer appear by chance.

    When fewer atoms are still masked than required elements are missing, reassign atoms of an
    element that occurs more than once to a missing element, choosing the atom whose predicted
    probability for that element is highest.
    """
    tokens = tokens.clone()
    for b, req in enumerate(required):
        if not req:
            continue
        row = tokens[b, mask[b]]
        n_masked = int((row == MASK).sum())
        present = Counter(int(z) for z in row if z != MASK)
        missing = [z for z in req if z not in present]
        while len(missing) > n_masked:
            z = missing.pop(0)
            idx = [i for i in range(int(mask[b].sum())) if int(tokens[b, i]) != MASK
                   and present[int(tokens[b, i])] > 1]
            best = max(idx, key=lambda i: float(logits[b, i, z - 1]))
            present[int(tokens[b, best])] -= 1
            tokens[b, best] = z
            present[z] += 1
    return tokens


def to_atoms_list(frac, tokens, lattice, mask, t: float | None = None) -> list[Atoms]:
    frac, tokens = frac.detach().cpu().double().numpy(), tokens.detach().cpu().numpy()
    lattice, mask = lattice.detach().cpu().double().numpy(), mask.detach().cpu().numpy()
    out = []
    for b in range(len(mask)):
        atoms = Atoms(numbers=tokens[b][mask[b]], cell=lattice[b],
                      scaled_positions=frac[b][mask[b]] % 1.0, pbc=True)
        if t is not None:
            atoms.info["t"] = float(t)
        out.append(atoms)
    return out


@dataclass
class SamplerConfig:
    """How the reverse loop runs (``model.config.sampler`` holds the model's defaults)."""

    default_steps: int = 50           # reverse steps when ``sample`` is not told
    full_steps: int = 1000            # steps="full": the schedule the model was trained on
    stochastic_coords: bool = False   # ancestral (SDE) steps for coordinates instead of DDIM-style
    corrector_steps: int = 0          # Langevin corrector calls a step (DiffCSP / Chemeleon: 1)
    lattice_eta: float = 0.0          # DDIM eta of the lattice (1 = DDPM ancestral)
    guidance: float = 1.0             # classifier-free guidance weight (1 = none)


@torch.no_grad()
def sample_batch(net, noise, config: SamplerConfig, requests: list[Request], steps: int,
                 generator: torch.Generator, trajectory: bool = False, callback=None,
                 n_total: int | None = None, n_done: int = 0, progress=None):
    """Run the reverse process for one batch of requests with the denoiser ``net`` and the noise
    processes ``noise`` (a ``CrystalNoise``).

    Returns ``(structures, frames, stopped)``: final ``Atoms``; per-step frames (a list over steps
    of lists over the batch) when ``trajectory``; whether a callback asked to stop.
    """
    device, dtype = next(net.parameters()).device, torch.float32
    E = net.num_elements
    B, N = len(requests), max(r.n_atoms for r in requests)
    n = torch.tensor([r.n_atoms for r in requests], device=device)
    mask = torch.arange(N, device=device)[None] < n[:, None]

    frac = noise.coords.prior((B, N, 3), generator, device, dtype)
    lat = noise.lattice.prior((B, 6), generator, device, dtype)
    tokens = noise.types.prior((B, N), generator, device)
    allowed = torch.ones(B, N, E, dtype=torch.bool, device=device)
    cond = torch.zeros(B, E + 1, device=device, dtype=dtype)
    for b, r in enumerate(requests):
        if r.fixed is not None:
            tokens[b, : r.n_atoms] = torch.tensor(r.fixed, device=device)
        if r.allowed:
            allowed[b] = False
            allowed[b, :, torch.tensor(r.allowed, device=device) - 1] = True
            cond[b, torch.tensor(r.allowed, device=device) - 1] = 1.0
        else:
            cond[b, E] = 1.0   # the "no condition" flag seen in classifier-free training
    tokens = tokens.masked_fill(~mask, MASK)
    required = [r.allowed if r.fixed is None else () for r in requests]
    extra = {}
    if any(r.system for r in requests):
        extra["system"] = torch.tensor([r.system for r in requests], device=device)
    if any(r.energy is not None for r in requests):
        extra["energy"] = torch.tensor([r.energy or 0.0 for r in requests], device=device, dtype=dtype)
        extra["energy_given"] = torch.tensor([r.energy is not None for r in requests], device=device)
    w = float(config.guidance)

    ts = torch.linspace(1.0, 0.0, steps + 1, device=device)
    frames = []
    if trajectory:
        frames.append(to_atoms_list(frac, tokens, noise.lattice.to_lattice(lat, n), mask, t=1.0))
    stopped = False

    def advance(frac, lat, tokens, score, eps, logits, t, s):
        """One reverse step of all three processes from time ``t`` to ``s`` given the predictions."""
        frac = noise.coords.step(frac, score, t[:, None], s[:, None], generator,
                                 stochastic=config.stochastic_coords)
        lat = noise.lattice.step(lat, eps, t, s, generator, eta=config.lattice_eta)
        tokens = noise.types.step(tokens, logits, t[:, None], s[:, None], generator, allowed)
        return frac, lat, ensure_elements(tokens.masked_fill(~mask, MASK), logits, mask, required)

    for k in range(steps):
        t, s = ts[k].expand(B), ts[k + 1].expand(B)
        lattice = noise.lattice.to_lattice(lat, n)
        score, eps, logits = guided(net, w, frac, tokens, lat, lattice, t, cond, mask, extra)
        frac, lat, tokens = advance(frac, lat, tokens, score, eps, logits, t, s)
        for _ in range(config.corrector_steps if k < steps - 1 else 0):
            score_c, _, _ = guided(net, w, frac, tokens, lat, noise.lattice.to_lattice(lat, n), s, cond,
                                   mask, extra)
            frac = noise.coords.correct(frac, score_c, s[:, None], generator)
        if progress is not None:
            progress.update(1)
        if trajectory or callback is not None:
            current = to_atoms_list(frac, tokens, noise.lattice.to_lattice(lat, n), mask, t=float(s[0]))
            if trajectory:
                frames.append(current)
            if callback is not None and k < steps - 1:
                info = dict(step=k + 1, n_steps=steps, t=float(s[0]), n_done=n_done,
                            n_total=n_total or B, atoms=current)
                if callback(info):
                    stopped = True
                    # finish cleanly: jump straight to t = 0 from the last prediction
                    frac, lat, tokens = advance(frac, lat, tokens, score, eps, logits, s, torch.zeros_like(s))
                    break
    final = to_atoms_list(frac, tokens, noise.lattice.to_lattice(lat, n), mask, t=0.0)
    for atoms in final:
        atoms.info["complete"] = not stopped
    return final, frames, stopped
