"""The reverse loop: from noise at t = 1 to crystals at t = 0 in a few large steps.

One network call a step (more with guidance). Each step (:func:`reverse_step`: the step ``sample``
takes and the one ``view.score_steps`` draws) asks the denoiser for its three predictions and hands
each to its own noise process's ``step`` (coordinates: the DDIM-style probability-flow update on the
torus; lattice: DDIM; types: reveal some masked atoms). The prompt is honoured by construction: a
formula fixes the atom types from the start (crystal-structure prediction); a chemical system
restricts the element logits to the listed elements and makes sure each of them appears.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from ..prompts import CRYSTAL_SYSTEMS, MAX_ATOMS, Condition, PromptError
from ..symmetry.projection import Projector, projector
from ..symmetry.supergroup import off_supergroups
from ..symmetry.templates import Template
from .composition import balance_charges, ensure_elements
from .guidance import guided
from .noise import MASK


@dataclass
class Request:
    """One structure to generate: its size, allowed elements and (for CSP) its exact atom list,
    the other conditions, and the prompt's normal form (``label``) recorded on the result."""

    n_atoms: int
    allowed: tuple[int, ...] = ()          # atomic numbers; empty = any
    fixed: tuple[int, ...] | None = None   # atomic numbers of every atom (CSP)
    # crystal-system token (0 = any, 1-7 = triclinic ... cubic)
    system: int = 0
    energy: float | None = None            # target formation energy per atom (eV/atom)
    label: str = ""                        # the prompt's composition in normal form ("BaTiO3")
    template: Template | None = None       # symmetry by construction (None: the free model)


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
    return with_templates(out, cond, rng, max_atoms)


#: whether ``space_group=None`` (no group, no crystal system asked) samples with symmetry templates
#: drawn from the training data (True) or runs the free model (False; ``space_group=1`` always
#: does, bit for bit). True because templates measured better on every issue-27 figure
#: (benchmarks/results/symmetry_large.json, 1,000 each, CPU, 50 steps): CSP 39.8% against 26.3%
#: free, triclinic 4.5% against 69.3% (MP-20 val 4.0%), SMACT 94.1% against 78.7%, structural
#: 100.0% against 98.4%; the price: ~25% slower (symmetry_time.json) and fewer new structure types
#: (2.4% of samples have a template val lacks, 15.4% free)
SYMMETRIC_BY_DEFAULT = True


def _choose(choose_templates, cond: Condition, n: int, rng: np.random.Generator,
            max_atoms: int) -> list:
    """``n`` templates for the condition. A formula given by its formula unit alone (no n_atoms)
    that fills no orbits of the group is tried at 2, 3, ... formula units (ZnO in P6_3mc: Zn2O2)."""
    kw = {"elements": cond.elements if cond.kind == "chemical_system" else (), "n": n, "rng": rng,
          "crystal_system": cond.crystal_system, "space_group": cond.space_group}
    if cond.kind != "formula":
        return choose_templates(counts=None, n_atoms=cond.n_atoms, **kw)
    unit = cond.formula_unit or cond.counts
    size = sum(unit.values())
    if cond.n_atoms != size:
        return choose_templates(counts=cond.counts, n_atoms=cond.n_atoms, **kw)
    first = None
    for k in range(1, max_atoms // size + 1):
        try:
            return choose_templates(counts={e: c * k for e, c in unit.items()}, n_atoms=size * k,
                                    **kw)
        except PromptError as err:
            first = first or err
    raise first


def with_templates(requests: list[Request], cond: Condition, rng: np.random.Generator,
                   max_atoms: int = MAX_ATOMS) -> list[Request]:
    """The requests with a symmetry template each (``crystal_lab.symmetry.retrieval``) when the
    condition asks for a space group or a crystal system (or by default, see
    :data:`SYMMETRIC_BY_DEFAULT`); ``space_group=1`` (P1) is the free model. A template fixes the
    cell's size and, where its orbits have elements, every atom's element (in the template's
    order)."""
    group = cond.space_group
    if group == 1 or (group is None and cond.crystal_system is None and not SYMMETRIC_BY_DEFAULT):
        return requests
    from ..symmetry.retrieval import choose_templates
    from ..symmetry.sites import realise

    templates = _choose(choose_templates, cond, len(requests), rng, max_atoms)
    out = []
    for r, t in zip(requests, templates, strict=True):
        try:
            z = tuple(int(x) for x in realise(t).numbers)
        except ValueError as err:
            raise PromptError(str(err)) from None
        out.append(dataclasses.replace(r, n_atoms=t.n_atoms, fixed=None if t.is_open else z,
                                       template=t))
    return out


def network_for(model, requests: list[Request]):
    """The network that samples ``requests``: the model's own denoiser, or, when any request has
    a template and the model has one (the shipped model: ``mp20_symmetric.pt``), its constrained
    fine-tune ``model.symmetric_net(device)`` (trained with DiffCSP++'s template-projected noise).
    Free requests (``space_group=1``) always get the denoiser: the free model, bit for bit."""
    if model.symmetric_net is None or all(r.template is None for r in requests):
        return model.denoiser
    return model.symmetric_net(model.device)


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
    guidance: float = 1.0             # classifier-free guidance weight of the elements (1 = none)
    # extra denoising calls at the last step's noise level, at t = 0
    final_refine: int = 0
    property_guidance: float = 0.0    # extra guidance of crystal system and energy (0 = none)
    # a templated crystal's last reveal balances its charges where one orbit's redraw can
    charge_balance: bool = True


@dataclass
class Inputs:
    """What stays fixed over one batch's reverse loop: the condition vector, the atom mask and
    counts, the property conditions (``extra``), the elements each atom may take and the elements
    each structure must contain; ``symmetry`` projects each structure onto its template."""

    cond: torch.Tensor
    mask: torch.Tensor
    n: torch.Tensor
    extra: dict
    allowed: torch.Tensor
    required: list
    symmetry: Projector


@dataclass
class State:
    """Where the reverse loop is: fractional coordinates, lattice parameters, atom types."""

    frac: torch.Tensor
    lat: torch.Tensor
    tokens: torch.Tensor


def start(noise, requests: list[Request], num_elements: int, generator: torch.Generator,
          device) -> tuple[Inputs, State]:
    """The batch's fixed inputs and its state at t = 1 (each process's prior)."""
    dtype, E = torch.float32, num_elements
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
    extra = {}
    if any(r.system for r in requests):
        extra["system"] = torch.tensor([r.system for r in requests], device=device)
    if any(r.energy is not None for r in requests):
        extra["energy"] = torch.tensor([r.energy or 0.0 for r in requests], device=device,
                                       dtype=dtype)
        extra["energy_given"] = torch.tensor([r.energy is not None for r in requests],
                                             device=device)
    required = [r.allowed if r.fixed is None else () for r in requests]
    inputs = Inputs(cond, mask, n, extra, allowed, required,
                    projector([r.template for r in requests], device))
    return inputs, project(noise, inputs, State(frac, lat, tokens.masked_fill(~mask, MASK)))


def project(noise, inputs: Inputs, state: State) -> State:
    """The state with every structure that has a template on it (free structures untouched)."""
    sym, n = inputs.symmetry, inputs.n
    lat = sym.lattice(state.lat, n, noise.lattice)
    return State(sym.positions(state.frac, lat, n, noise.lattice), lat, sym.types(state.tokens))


def predict(net, noise, config: SamplerConfig, inputs: Inputs, state: State, t) -> tuple:
    """The guided predictions (score, lattice noise, element logits) at time ``t`` (B,)."""
    lattice = noise.lattice.to_lattice(state.lat, inputs.n)
    return guided(net, float(config.guidance), state.frac, state.tokens, state.lat, lattice, t,
                  inputs.cond, inputs.mask, inputs.extra, float(config.property_guidance))


def reverse_step(net, noise, config: SamplerConfig, inputs: Inputs, state: State, t, s,
                 generator: torch.Generator, prediction: tuple | None = None,
                 correct: bool = True) -> tuple[State, tuple]:
    """One reverse step of all three processes from time ``t`` to ``s`` (both (B,)).

    The step ``sample`` takes and the one the score figure draws: the guided predictions at
    ``t`` (or ``prediction``, when given), each process's ``step`` with them, the required
    elements made sure of, a templated crystal's charges balanced at its last reveal
    (:mod:`.composition`), then ``config.corrector_steps`` Langevin moves at ``s`` (when
    ``correct``). Returns the new state and the predictions it used.
    """
    if prediction is None:
        prediction = predict(net, noise, config, inputs, state, t)
    score, eps, logits = prediction
    logits = inputs.symmetry.logits(logits)   # one element per orbit
    frac = noise.coords.step(state.frac, score, t[:, None], s[:, None], generator,
                             stochastic=config.stochastic_coords)
    lat = noise.lattice.step(state.lat, eps, t, s, generator, eta=config.lattice_eta)
    tokens = noise.types.step(state.tokens, logits, t[:, None], s[:, None], generator,
                              inputs.allowed)
    tokens = ensure_elements(tokens.masked_fill(~inputs.mask, MASK), logits, inputs.mask,
                             inputs.required)
    before, state = state.tokens, project(noise, inputs, State(frac, lat, tokens))
    if config.charge_balance:
        state.tokens = balance_charges(before, state.tokens, logits, inputs, generator)
    for _ in range(config.corrector_steps if correct else 0):
        score_c, _, _ = predict(net, noise, config, inputs, state, s)
        state.frac = inputs.symmetry.positions(
            noise.coords.correct(state.frac, score_c, s[:, None], generator), state.lat, inputs.n,
            noise.lattice)
    return state, prediction


def score_of(noise, prediction: tuple, t, n: torch.Tensor) -> list[np.ndarray]:
    """The coordinate score a step used, per structure, in fractional units: the network's
    normalised (guided) output times the score's typical size at ``sigma_t``."""
    coords = noise.coords
    rms = coords.score_rms(coords.sigma(t.double())).reshape(-1, 1, 1)
    score = (prediction[0].detach().double() * rms).cpu().numpy()
    return [score[b, : int(k)] for b, k in enumerate(n)]


def _atoms(noise, inputs: Inputs, state: State, t: float) -> list[Atoms]:
    return to_atoms_list(state.frac, state.tokens, noise.lattice.to_lattice(state.lat, inputs.n),
                         inputs.mask, t=t)


def _refine(net, noise, config: SamplerConfig, inputs: Inputs, state: State, t,
            generator: torch.Generator) -> State:
    """Read the finished crystal as if it still carried the last step's noise (time ``t``) and
    jump to the denoised estimate again: a projection towards the data, for coordinates and
    lattice."""
    zero = torch.zeros_like(t)
    score, eps, _ = predict(net, noise, config, inputs, state, t)
    frac = noise.coords.step(state.frac, score, t[:, None], zero[:, None], generator)
    lat = noise.lattice.step(state.lat, eps, t, zero, generator)
    return project(noise, inputs, State(frac, lat, state.tokens))


@torch.no_grad()
def sample_batch(net, noise, config: SamplerConfig, requests: list[Request], steps: int,
                 generator: torch.Generator, trajectory: bool = False, callback=None,
                 n_total: int | None = None, n_done: int = 0, progress=None):
    """Run the reverse process for one batch of requests with the denoiser ``net`` and the noise
    processes ``noise`` (a ``CrystalNoise``); a finished templated crystal that spglib reads as a
    higher group at 0.1 A is moved off it (``atoms.info["off_supergroup"]``: the group it read).
    ``callback(info)`` runs after every step with ``step``, ``n_steps``, ``t`` (the time reached),
    ``n_done``, ``n_total``, ``atoms`` (the batch now) and ``score`` (per structure, the (n, 3)
    fractional coordinate score the step used); returning True before the last step stops.
    Returns ``(structures, frames, stopped)``: final ``Atoms``; per-step frames (a list over steps
    of lists over the batch) when ``trajectory``; whether a callback asked to stop.
    """
    inputs, state = start(noise, requests, net.num_elements, generator,
                          next(net.parameters()).device)
    B = len(requests)
    ts = torch.linspace(1.0, 0.0, steps + 1, device=inputs.n.device)
    frames = [_atoms(noise, inputs, state, 1.0)] if trajectory else []
    stopped = False
    for k in range(steps):
        t, s = ts[k].expand(B), ts[k + 1].expand(B)
        state, prediction = reverse_step(net, noise, config, inputs, state, t, s, generator,
                                         correct=k < steps - 1)
        if progress is not None:
            progress.update(1)
        if not (trajectory or callback is not None):
            continue
        current = _atoms(noise, inputs, state, float(s[0]))
        if trajectory:
            frames.append(current)
        info = {"step": k + 1, "n_steps": steps, "t": float(s[0]), "n_done": n_done,
                "n_total": n_total or B, "atoms": current}
        if (
            callback is not None
            and callback(info | {"score": score_of(noise, prediction, t, inputs.n)})
            and k < steps - 1
        ):
            stopped = True   # finish cleanly: jump straight to t = 0 from the last prediction
            state, _ = reverse_step(net, noise, config, inputs, state, s, torch.zeros_like(s),
                                    generator, prediction=prediction, correct=False)
            break
    for _ in range(config.final_refine if not stopped and steps > 0 else 0):
        state = _refine(net, noise, config, inputs, state, ts[-2].expand(B), generator)
    final = _atoms(noise, inputs, state, 0.0)
    for atoms in final:
        atoms.info["complete"] = not stopped
    off_supergroups(final, [None if stopped else r.template for r in requests])   # at 0.1 A
    return final, frames, stopped

