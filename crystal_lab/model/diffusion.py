"""CrystalDiffusionModel = the denoiser + the three noise processes + a config.

``sample`` turns a prompt into ``ase.Atoms`` (``check`` runs its checks alone); ``loss`` is the
training objective (one random t a crystal, each process noises its own variable, the denoiser
predicts all three). Files are :mod:`crystal_lab.model.checkpoint`'s: ``crystal_lab.load_model()``
returns the pretrained MP-20 model that ships inside the package.

A bad prompt, ``n_atoms`` or condition gets one :class:`~crystal_lab.prompts.PromptError` line
(from :func:`crystal_lab.prompts.as_condition`, or from here for what this model cannot honour);
a bad number (``n_samples``, ``steps``, ``seed``, ``batch_size``, the guidance weights) gets one
``ValueError`` / ``TypeError`` line from :func:`crystal_lab.arguments.check_number`, a callback
that cannot be called a ``TypeError``, and a device this machine lacks a ``ValueError`` from
:func:`resolve_device`.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import nn

from ..arguments import MAX_SEED, check_number
from ..datasets import CrystalBatch
from ..prompts import (
    CRYSTAL_SYSTEMS,
    TRAINING_FORMATION_ENERGY_RANGE,
    Condition,
    PromptError,
    as_condition,
    outside_training_range,
)
from ..symmetry.templates import space_group_number
from . import limits
from .config import DataStats, ModelConfig, NetworkConfig, TrainingConfig, resolve_device
from .denoiser import Denoiser
from .noise import MASK, CrystalNoise
from .sampler import network_for, requests_for, sample_batch


class _Plan(NamedTuple):
    """What :meth:`CrystalDiffusionModel.sample` will do, once every argument is checked."""

    cond: Condition
    n_samples: int
    steps: int
    seed: int | None
    batch_size: int
    guidance: float | None
    property_guidance: float | None = None


def _random_seed() -> int:
    return int(np.random.SeedSequence().entropy % 2**31)


def _check_seed(seed) -> int | None:
    return check_number("seed", seed, integer=True, minimum=0, maximum=MAX_SEED, allow_none=True,
                        note=" (or None for a random one)")


def _warn_if_extrapolating(cond: Condition) -> None:
    if outside_training_range(cond.formation_energy):
        lo, hi = TRAINING_FORMATION_ENERGY_RANGE
        warnings.warn(f"a formation-energy target of {cond.formation_energy:g} eV/atom is outside "
                      f"the training data's {lo} to {hi} eV/atom: the model extrapolates",
                      UserWarning,
                      stacklevel=3)


def _request_info(request) -> dict:
    """What a result records of its request (``atoms.info``, and so the extxyz)."""
    info = {"prompt": request.label}
    if request.system:
        info["crystal_system"] = CRYSTAL_SYSTEMS[request.system - 1]
    if request.energy is not None:
        info["formation_energy_target"] = float(request.energy)
    if request.template is not None:
        info["template"] = request.template.info()
    return info


class CrystalDiffusionModel(nn.Module):
    """A diffusion model of crystals: the :class:`~crystal_lab.model.denoiser.Denoiser` network, the
    three noise processes (``noise.coords``, ``noise.lattice``, ``noise.types``) and the
    :class:`ModelConfig` that a checkpoint records.

    ``sample(prompt, ...)`` generates structures, ``check(prompt, ...)`` runs its checks alone,
    ``sample_many(prompts)`` one structure per prompt, ``loss(batch)`` is the training objective.
    Build one from a config to train it, or load one with ``crystal_lab.load_model()``.
    """

    #: ``symmetric_net(device)``: the network for templated requests (``sampler.network_for``)
    symmetric_net = None

    def __init__(self, config: ModelConfig | None = None, noise: CrystalNoise | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.noise = noise or CrystalNoise()
        c = self.config.network
        self.denoiser = Denoiser(c.hidden, c.layers, c.num_elements, c.n_freq, c.n_rbf, c.film_rank)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ training objective
    def condition_vector(self, numbers: torch.Tensor, mask: torch.Tensor,
                         drop: torch.Tensor) -> torch.Tensor:
        """Multi-hot of the elements present (B, E) plus a final "no condition" flag."""
        E = self.config.network.num_elements
        cond = torch.zeros(numbers.shape[0], E + 1, device=numbers.device)
        idx = (numbers.clamp(1, E) - 1).masked_fill(~mask, E)
        cond.scatter_(1, idx, 1.0)
        cond[:, E] = 0.0
        cond[drop] = 0.0
        cond[drop, E] = 1.0
        return cond

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None, system=None,
             energy=None) -> dict:
        """The three denoising losses at one random time per crystal (and their sum).

        ``system`` (B,) crystal-system tokens (0 = unknown) and ``energy`` (B,) formation energies
        per atom (nan = unknown) are the optional inverse-design conditions.
        """
        batch = batch.to(self.device, torch.float32)
        frac0, numbers, mask = batch.padded()
        x0_lat = self.noise.lattice.to_params(batch.lattice, mask.sum(1))
        return self.loss_padded(frac0, numbers, mask, x0_lat, system, energy, generator)

    def loss_padded(self, frac0, numbers, mask, x0_lat, system=None, energy=None,
                    generator: torch.Generator | None = None, amp: bool = False,
                    symmetry=None) -> dict:
        """:meth:`loss` on padded tensors (B,N,3), (B,N), (B,N) with the clean lattice parameters
        (B,6) computed beforehand: the fast trainer's entry. No step here waits for the GPU.
        ``amp``: run the denoiser under bfloat16 autocast (CUDA). ``symmetry``: a
        :class:`crystal_lab.symmetry.noise.SymmetricNoise` (noise kept on each crystal's group)."""
        c, dev = self.config.training, frac0.device
        B = frac0.shape[0]
        n = mask.sum(1)
        def rand(*shape):
            return torch.rand(*shape, generator=generator, device=dev)

        t = rand(B).clamp_min(1e-3)
        if symmetry is not None:   # DiffCSP++: noise on each crystal's orbits and lattice family
            x_frac, target_frac, x_lat, eps_lat, masked = symmetry.add_noise(
                self.noise, frac0, x0_lat, numbers, t, generator)
        else:
            x_frac, target_frac = self.noise.coords.add_noise(frac0, t[:, None], generator)
            x_lat, eps_lat = self.noise.lattice.add_noise(x0_lat, t, generator)
            _, masked = self.noise.types.add_noise(numbers, t[:, None], generator)
        csp = rand(B) < c.p_csp
        masked = masked & mask & ~csp[:, None]
        tokens = torch.where(masked, torch.full_like(numbers, MASK),
                             numbers).masked_fill(~mask, MASK)
        cond = self.condition_vector(numbers, mask, rand(B) < c.p_uncond)
        extra = {}
        if system is not None:   # each inverse-design condition is dropped on its own
            extra["system"] = system.masked_fill(rand(B) < c.p_drop_system, 0)
        if energy is not None:
            extra["energy_given"] = torch.isfinite(energy) & (rand(B) >= c.p_drop_energy)
            extra["energy"] = torch.nan_to_num(energy)
        lattice = self.noise.lattice.to_lattice(x_lat, n)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            score, eps, logits = self.denoiser(x_frac, tokens, x_lat, lattice, t, cond, mask,
                                               **extra)
        coord = self.noise.coords.loss(score, target_frac, mask)
        lat = self.noise.lattice.loss(eps, eps_lat)
        types = self.noise.types.loss(logits, numbers, masked)
        return {"loss": coord + lat + types, "coord": coord, "lattice": lat, "types": types}

    # ------------------------------------------------------------------ sampling
    def check(self, prompt=None, n_atoms: int | None = None, n_samples: int = 1,
              steps: int | str | None = None,
              seed: int | None = None, return_trajectory: bool = False, batch_size: int = 64,
              progress: bool = True, callback=None, crystal_system: str | None = None,
              formation_energy: float | None = None, guidance: float | None = None,
              allow_large: bool = False, property_guidance: float | None = None,
              space_group: int | str | None = None) -> Condition:
        """Every check :meth:`sample` runs, without sampling: the parsed :class:`Condition`, or the
        :class:`~crystal_lab.prompts.PromptError` ``sample`` would raise (same message).

        Takes ``sample``'s arguments; the Generate widget uses it for its helper line.
        """
        del return_trajectory, progress   # they only change how sample runs, not what it checks
        return self._plan(prompt, n_atoms, n_samples, steps, seed, batch_size, callback,
                          crystal_system, formation_energy, guidance, allow_large,
                          property_guidance, space_group).cond

    def sample(self, prompt=None, n_atoms: int | None = None, n_samples: int = 1,
               steps: int | str | None = None,
               seed: int | None = None, return_trajectory: bool = False, batch_size: int = 64,
               progress: bool = True, callback=None, crystal_system: str | None = None,
               formation_energy: float | None = None, guidance: float | None = None,
               allow_large: bool = False, property_guidance: float | None = None,
               space_group: int | str | None = None):
        """Generate crystals for a prompt (see :mod:`crystal_lab.prompts`).

        ``prompt``: a prompt text, a list of element symbols, None (unconditional) or a
        :class:`Condition` already parsed (by :func:`~crystal_lab.prompts.parse_prompt` or
        :meth:`check`). ``steps``: reverse steps (None: ``config.sampler.default_steps``;
        ``"full"``: the full 1000-step schedule). ``seed``: reproducible on the same device. Returns
        ``list[Atoms]``, or with ``return_trajectory`` a list of frame lists (t from 1 to 0) per
        sample. ``callback(info)`` runs after each step and may return True to stop early; the
        finished structures and the current batch's prediction are returned
        (``atoms.info["complete"]``). ``crystal_system`` (one of ``prompts.CRYSTAL_SYSTEMS``) and
        ``formation_energy`` (eV/atom) ask for more than the composition (inverse design) and
        override the prompt's words; a target outside the training data's range warns. ``guidance``:
        classifier-free guidance weight (default ``config.sampler.guidance``; 1 = none).
        ``property_guidance``: classifier-free guidance of the crystal system and energy on their
        own (default ``config.sampler.property_guidance``, 0 = none; MatterGen's factor 2 is 1
        here). Runs beyond the caps of :mod:`crystal_lab.model.limits` (structures, steps, batch
        size) are refused, with an estimate of the time or memory, unless ``allow_large=True``. Each
        result's ``atoms.info`` records ``prompt``, ``seed``, ``steps`` and, when asked,
        ``crystal_system``, ``formation_energy_target`` and ``template``. ``space_group`` (225,
        ``"Fm-3m"``; or the prompt's ``"sg=225"`` / ``"Fm-3m"``): symmetry by construction, each
        reverse step projected onto a template of that group (Wyckoff sites, lattice family, one
        element per orbit) chosen by
        :func:`crystal_lab.symmetry.retrieval.choose_templates`; a ``crystal_system`` chooses among
        that system's templates; ``space_group=1`` (P1) is the free model. With neither a group
        nor a system asked, a template is drawn too (``sampler.SYMMETRIC_BY_DEFAULT``: for a
        formula the best expected match, else by MP-20 val frequency). A finished templated
        crystal that spglib reads as a higher group at 0.1 A is moved off it (by at most 0.3 A an
        atom; ``atoms.info["off_supergroup"]`` names the group it read).
        """
        plan = self._plan(prompt, n_atoms, n_samples, steps, seed, batch_size, callback,
                          crystal_system, formation_energy, guidance, allow_large,
                          property_guidance, space_group)
        cond = plan.cond
        _warn_if_extrapolating(cond)
        seed = _random_seed() if plan.seed is None else plan.seed
        hist = self._n_atoms_hist()
        requests = requests_for(cond, plan.n_samples, hist, self.config.network.max_atoms,
                                np.random.default_rng(seed))
        return self._run(requests, steps=plan.steps, seed=seed, return_trajectory=return_trajectory,
                         batch_size=plan.batch_size, progress=progress, callback=callback,
                         guidance=plan.guidance, property_guidance=plan.property_guidance,
                         desc=f"sampling {cond.text or 'any'}")

    def _plan(self, prompt, n_atoms, n_samples, steps, seed, batch_size, callback, crystal_system,
              formation_energy, guidance, allow_large, property_guidance=None,
              space_group=None) -> _Plan:
        """Check every argument of :meth:`sample` (the one place that does)."""
        cond = self._condition(prompt, n_atoms, crystal_system, formation_energy, space_group)
        n_samples = check_number("n_samples", n_samples, integer=True, minimum=1)
        n_steps = self._steps(steps)
        seed = _check_seed(seed)
        batch_size = check_number("batch_size", batch_size, integer=True, minimum=1)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be a function of one dict (or None), got {callback!r}")
        guidance, property_guidance = limits.check_guidance(guidance, property_guidance)
        self._check_size(n_samples, n_steps, allow_large, min(batch_size, n_samples))
        return _Plan(cond, n_samples, n_steps, seed, batch_size, guidance, property_guidance)

    def _condition(self, prompt, n_atoms, crystal_system, formation_energy,
                   space_group=None) -> Condition:
        """The prompt as a :class:`Condition` this network can honour (its space group a number)."""
        max_atoms = self.config.network.max_atoms
        cond = as_condition(prompt, n_atoms, max_atoms, crystal_system, formation_energy)
        group = cond.space_group if space_group is None else space_group
        if group is not None:
            cond = dataclasses.replace(cond, space_group=space_group_number(group))
        E = self.config.network.num_elements
        too_big = [e for e, z in zip(cond.elements, cond.atomic_numbers, strict=True) if z > E]
        if too_big:
            raise PromptError(f"{', '.join(too_big)} is beyond this model's elements (H to "
                              f"{chemical_symbols[E]}, Z = 1-{E})")
        if cond.n_atoms is None:
            sizes = [n for n, w in self._n_atoms_hist().items()
                     if w > 0 and len(cond.elements) <= n <= max_atoms]
            if not sizes:
                raise PromptError(f"the training data hold no cell of {len(cond.elements)} to "
                                  f"{max_atoms} atoms to draw a size from: pass n_atoms")
        # a template fits, or the
        if cond.space_group is not None or cond.crystal_system is not None:
            # error says why
            requests_for(cond, 1, self._n_atoms_hist(), max_atoms, np.random.default_rng(0))
        return cond

    def _n_atoms_hist(self) -> dict[int, float]:
        return {int(k): v for k, v in self.config.data.n_atoms_hist.items()}

    def _steps(self, steps) -> int:
        """``steps`` as a number: None is the model's default, ``"full"`` the trained schedule."""
        if steps is None:
            return self.config.sampler.default_steps
        if isinstance(steps, str) and steps.strip().lower() == "full":
            return self.config.sampler.full_steps
        return check_number("steps", steps, integer=True, minimum=1, note=" or 'full'")

    def estimate_seconds(self, n_samples: int, steps: int) -> float:
        """About how long sampling ``n_samples`` structures with ``steps`` steps takes here."""
        return limits.estimate_seconds(n_samples, steps, self.config.sampler.default_steps,
                                       self.device.type)

    def estimate_bytes(self, batch_size: int, n_atoms: int | None = None) -> float:
        """About how much memory one batch of ``batch_size`` cells of ``n_atoms`` atoms (default:
        the model's maximum) needs while sampling."""
        return limits.estimate_bytes(batch_size, n_atoms or self.config.network.max_atoms,
                                     self.config.network.hidden)

    def _check_size(self, n_samples: int, steps: int, allow_large: bool,
                    batch_size: int = 1) -> None:
        limits.check_size(n_samples, steps, batch_size, allow_large,
                          seconds=self.estimate_seconds(n_samples, steps),
                          batch_bytes=self.estimate_bytes(batch_size), device=self.device.type,
                          max_atoms=self.config.network.max_atoms,
                          full_steps=self.config.sampler.full_steps)

    def sample_many(self, prompts: list, n_atoms=None, steps: int | str | None = None,
                    seed: int | None = None,
                    batch_size: int = 64, progress: bool = True, allow_large: bool = False,
                    property_guidance: float | None = None,
                    space_group: int | str | None = None) -> list:
        """One structure for each prompt in ``prompts`` (a list or tuple of prompts or
        :class:`Condition` s; ``n_atoms``: one int, or one per prompt), batched together by size:
        e.g. crystal-structure prediction for a whole test set. A bare string is refused: use
        :meth:`sample` for one prompt, or ``[prompt]``. ``space_group`` applies to every prompt."""
        if isinstance(prompts, (str, Condition)) or not isinstance(prompts, (list, tuple)):
            raise PromptError(f"sample_many takes a list of prompts, got {type(prompts).__name__} "
                              f"{prompts!r}: use sample() for one prompt, or pass [prompt]")
        listed = isinstance(n_atoms, (list, tuple, np.ndarray))
        sizes = list(n_atoms) if listed else [n_atoms] * len(prompts)
        if len(sizes) != len(prompts):
            raise PromptError(f"{len(prompts)} prompts but {len(sizes)} values of n_atoms")
        n_steps = self._steps(steps)
        batch_size = check_number("batch_size", batch_size, integer=True, minimum=1)
        seed = _check_seed(seed)
        seed = _random_seed() if seed is None else seed
        _, property_guidance = limits.check_guidance(None, property_guidance)
        self._check_size(len(prompts), n_steps, allow_large, min(batch_size, len(prompts)))
        conds = [self._condition(p, n, None, None,
                                 space_group) for p, n in zip(prompts, sizes, strict=True)]
        for c in conds:
            _warn_if_extrapolating(c)
        rng = np.random.default_rng(seed)
        hist, max_atoms = self._n_atoms_hist(), self.config.network.max_atoms
        requests = [requests_for(c, 1, hist, max_atoms, rng)[0] for c in conds]
        order = sorted(range(len(requests)), key=lambda i: requests[i].n_atoms)
        out = self._run([requests[i] for i in order], steps=n_steps, seed=seed,
                        batch_size=batch_size,
                        progress=progress, property_guidance=property_guidance,
                        desc=f"sampling {len(prompts)} prompts")
        result = [None] * len(out)
        for pos, i in enumerate(order):
            result[i] = out[pos]
        return result

    def _run(self, requests, *, steps: int, seed: int, desc, return_trajectory=False, batch_size=64,
             progress=True, callback=None, guidance=None, property_guidance=None):
        from ..progress import tqdm

        settings = self.config.sampler
        if guidance is not None:
            settings = dataclasses.replace(settings, guidance=float(guidance))
        if property_guidance is not None:
            settings = dataclasses.replace(settings, property_guidance=float(property_guidance))
        generator = torch.Generator(device=self.device).manual_seed(seed)
        was_training = self.training
        self.eval()
        results, trajectories = [], []
        chunks = [requests[i:i + batch_size] for i in range(0, len(requests), batch_size)]
        with tqdm(total=steps * len(chunks), desc=desc, unit="step", disable=not progress,
                  leave=False) as bar:
            for chunk in chunks:
                final, frames, stopped = sample_batch(
                    network_for(self, chunk), self.noise, settings, chunk, steps, generator,
                    trajectory=return_trajectory, callback=callback, n_total=len(requests),
                    n_done=len(results), progress=bar)
                for i, atoms in enumerate(final):
                    atoms.info.update(_request_info(chunk[i]), seed=seed, steps=steps)
                    results.append(atoms)
                    if return_trajectory:   # the final structure replaces the last t=0 frame
                        kept = frames if stopped else frames[:-1]
                        trajectories.append([step[i] for step in kept] + [atoms])
                if stopped:   # stopped on purpose: the bar ends complete (not red) and goes
                    bar.total = bar.n
                    break
        self.train(was_training)
        return trajectories if return_trajectory else results


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["CrystalDiffusionModel", "DataStats", "ModelConfig", "NetworkConfig",
           "TrainingConfig", "count_parameters", "resolve_device"]
