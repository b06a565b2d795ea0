"""CrystalDiffusionModel = the denoiser + the three noise processes + a config.

``load_model()`` returns the pretrained MP-20 model that ships inside the package; ``sample``
turns a prompt into ``ase.Atoms``; ``loss`` is the training objective (one random t a crystal,
each process noises its own variable, the denoiser predicts all three).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import nn

from .data import CrystalBatch
from .denoiser import NEW_CONDITION_KEYS, Denoiser
from .noise import MASK, CrystalNoise, WrappedNormalCoords
from .prompts import MAX_ATOMS, PromptError, parse_prompt
from .sampler import SamplerConfig, requests_for, sample_batch

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "mp20.pt"
#: ``sample`` refuses more structures than this unless ``allow_large=True``
MAX_SAMPLES = 10_000
#: structures per second at default steps, for the estimate in that refusal (benchmarks/bench_model.py)
SAMPLES_PER_SECOND = {"cpu": 10.0, "cuda": 500.0}


class CheckpointError(RuntimeError):
    """A weights file that is missing, corrupt, or not a crystal_lab checkpoint."""


@dataclass
class NetworkConfig:
    """The denoiser's architecture (denoiser.py)."""

    hidden: int = 128
    layers: int = 4
    num_elements: int = 100
    n_freq: int = 8
    n_rbf: int = 16
    max_atoms: int = MAX_ATOMS


@dataclass
class TrainingConfig:
    """How the training objective (``model.loss``) drops or gives each condition."""

    p_uncond: float = 0.2        # classifier-free dropout of the element condition
    p_csp: float = 0.3           # fraction of crystals whose atom types are given (CSP)
    p_drop_system: float = 0.5   # dropout of the crystal-system condition
    p_drop_energy: float = 0.5   # dropout of the formation-energy condition


@dataclass
class DataStats:
    """Statistics fitted from the training data (``train.fit_model_stats``): the distribution of
    atom counts here; the lattice standardisation is part of the lattice noise process
    (``model.noise.lattice`` buffers ``mean``, ``std``, ``volume_per_atom``, in the state dict)."""

    n_atoms_hist: dict = field(default_factory=lambda: {k: 1.0 for k in range(1, MAX_ATOMS + 1)})


@dataclass(init=False)
class ModelConfig:
    """What a checkpoint records besides its tensors, in four groups: ``network`` (architecture),
    ``training`` (the objective's condition dropout), ``sampler`` (:class:`SamplerConfig`, all the
    reverse loop sees) and ``data`` (:class:`DataStats`).

    The names of the first, flat config still work, for building and for reading:
    ``ModelConfig(hidden=64, layers=3)`` and ``config.default_steps`` reach their group's field, so
    checkpoints and notebooks made before the split load and run unchanged.
    """

    network: NetworkConfig
    training: TrainingConfig
    sampler: SamplerConfig
    data: DataStats

    GROUPS: ClassVar[dict] = {"network": NetworkConfig, "training": TrainingConfig,
                              "sampler": SamplerConfig, "data": DataStats}
    #: each setting's group, by its (first release's flat) name
    GROUP_OF: ClassVar[dict] = {f.name: g for g, c in GROUPS.items() for f in dataclasses.fields(c)}

    def __init__(self, network=None, training=None, sampler=None, data=None, **flat):
        given = {"network": network, "training": training, "sampler": sampler, "data": data}
        for name, cls in self.GROUPS.items():
            value = given[name]
            object.__setattr__(self, name, cls(**value) if isinstance(value, dict) else value or cls())
        for key, value in flat.items():
            setattr(self, key, value)

    def _group(self, key: str):
        if key not in self.GROUP_OF:
            raise AttributeError(f"ModelConfig has no setting {key!r}")
        return object.__getattribute__(self, self.GROUP_OF[key])

    def __getattr__(self, key):   # only called for names that are not the four groups
        return getattr(self._group(key), key)

    def __setattr__(self, key, value):
        if key in self.GROUPS:
            object.__setattr__(self, key, value)
        else:
            setattr(self._group(key), key, value)

    def to_dict(self) -> dict:
        """Nested plain data (what a checkpoint stores)."""
        return {g: asdict(getattr(self, g)) for g in self.GROUPS}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """From :meth:`to_dict`'s nested form or the first release's flat one (names reach their groups)."""
        return cls(**d)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class CrystalDiffusionModel(nn.Module):
    def __init__(self, config: ModelConfig | None = None, noise: CrystalNoise | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.noise = noise or CrystalNoise()
        c = self.config.network
        self.denoiser = Denoiser(c.hidden, c.layers, c.num_elements, c.n_freq, c.n_rbf)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ training objective
    def condition_vector(self, numbers: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
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
                    generator: torch.Generator | None = None, amp: bool = False) -> dict:
        """:meth:`loss` on padded tensors (B,N,3), (B,N), (B,N) with the clean lattice parameters
        (B,6) computed beforehand: the fast trainer's entry. No step here waits for the GPU.
        ``amp``: run the denoiser under bfloat16 autocast (CUDA)."""
        c, dev = self.config.training, frac0.device
        B = frac0.shape[0]
        n = mask.sum(1)
        rand = lambda *shape: torch.rand(*shape, generator=generator, device=dev)
        t = rand(B).clamp_min(1e-3)
        x_frac, target_frac = self.noise.coords.add_noise(frac0, t[:, None], generator)
        x_lat, eps_lat = self.noise.lattice.add_noise(x0_lat, t, generator)
        tokens, masked = self.noise.types.add_noise(numbers, t[:, None], generator)
        csp = rand(B) < c.p_csp
        masked = masked & mask & ~csp[:, None]
        tokens = torch.where(masked, torch.full_like(tokens, MASK), numbers).masked_fill(~mask, MASK)
        cond = self.condition_vector(numbers, mask, rand(B) < c.p_uncond)
        extra = {}
        if system is not None:   # each inverse-design condition is dropped on its own
            extra["system"] = system.masked_fill(rand(B) < c.p_drop_system, 0)
        if energy is not None:
            extra["energy_given"] = torch.isfinite(energy) & (rand(B) >= c.p_drop_energy)
            extra["energy"] = torch.nan_to_num(energy)
        lattice = self.noise.lattice.to_lattice(x_lat, n)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            score, eps, logits = self.denoiser(x_frac, tokens, x_lat, lattice, t, cond, mask, **extra)
        coord = self.noise.coords.loss(score, target_frac, mask)
        lat = self.noise.lattice.loss(eps, eps_lat)
        types = self.noise.types.loss(logits, numbers, masked)
        return {"loss": coord + lat + types, "coord": coord, "lattice": lat, "types": types}

    # ------------------------------------------------------------------ sampling
    def sample(self, prompt=None, n_atoms: int | None = None, n_samples: int = 1, steps: int | str | None = None,
               seed: int | None = None, return_trajectory: bool = False, batch_size: int = 64,
               progress: bool = True, callback=None, crystal_system: str | None = None,
               formation_energy: float | None = None, guidance: float | None = None,
               allow_large: bool = False, property_guidance: float | None = None):
        """Generate crystals for a prompt (see :mod:`crystal_lab.prompts`).

        ``steps``: reverse steps (default ``config.sampler.default_steps``; ``"full"`` for the full
        1000-step schedule). ``seed``: reproducible on the same device. Returns ``list[Atoms]``, or
        with ``return_trajectory`` a list of frame lists (t from 1 to 0) per sample.
        ``callback(info)`` runs after each step and may return True to stop early; the finished
        structures and the current batch's prediction are returned (``atoms.info["complete"]``).
        ``crystal_system`` (one of ``prompts.CRYSTAL_SYSTEMS``) and ``formation_energy`` (eV/atom)
        ask for more than the composition (inverse design) and override the prompt's words;
        ``guidance``: classifier-free guidance weight (default ``config.sampler.guidance``; 1 = none).
        ``property_guidance``: classifier-free guidance of the crystal system and energy on their own
        (default ``config.sampler.property_guidance``, 0 = none; MatterGen's factor 2 is 1 here).
        More than ``MAX_SAMPLES`` structures are refused unless ``allow_large=True``.
        """
        net = self.config.network
        cond = parse_prompt(prompt, n_atoms=n_atoms, max_atoms=net.max_atoms,
                            crystal_system=crystal_system, formation_energy=formation_energy)
        self._check_elements(cond)
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise PromptError(f"n_samples must be a whole number >= 1, got {n_samples!r}")
        self._check_size(n_samples, steps, allow_large)
        seed = self._seed(seed)
        hist = {int(k): v for k, v in self.config.data.n_atoms_hist.items()}
        requests = requests_for(cond, n_samples, hist, net.max_atoms, np.random.default_rng(seed))
        return self._run(requests, [cond.text] * n_samples, steps=steps, seed=seed,
                         return_trajectory=return_trajectory, batch_size=batch_size, progress=progress,
                         callback=callback, guidance=guidance, property_guidance=property_guidance,
                         desc=f"sampling {cond.text or 'any'}")

    def _check_elements(self, cond) -> None:
        """Refuse elements beyond the network's embedding table with a one-line error."""
        E = self.config.network.num_elements
        too_big = [e for e, z in zip(cond.elements, cond.atomic_numbers) if z > E]
        if too_big:
            raise PromptError(f"{', '.join(too_big)} is beyond this model's elements (H to "
                              f"{chemical_symbols[E]}, Z = 1-{E})")

    def _check_size(self, n_samples: int, steps, allow_large: bool) -> None:
        if n_samples <= MAX_SAMPLES or allow_large:
            return
        n_steps = self._steps(steps)
        rate = SAMPLES_PER_SECOND["cuda" if self.device.type == "cuda" else "cpu"]
        hours = n_samples * n_steps / self.config.sampler.default_steps / rate / 3600
        raise PromptError(f"{n_samples} samples would take about {hours:.1f} h on {self.device.type} "
                          f"(cap {MAX_SAMPLES}); pass allow_large=True to run it anyway")

    def sample_many(self, prompts: list, n_atoms=None, steps: int | str | None = None, seed: int | None = None,
                    batch_size: int = 64, progress: bool = True,
                    property_guidance: float | None = None) -> list:
        """One structure for each prompt in ``prompts`` (``n_atoms``: one int, or one per prompt),
        batched together by size: e.g. crystal-structure prediction for a whole test set."""
        sizes = n_atoms if isinstance(n_atoms, (list, tuple)) else [n_atoms] * len(prompts)
        if len(sizes) != len(prompts):
            raise PromptError(f"{len(prompts)} prompts but {len(sizes)} values of n_atoms")
        self._check_size(len(prompts), steps, False)
        seed = self._seed(seed)
        rng = np.random.default_rng(seed)
        hist = {int(k): v for k, v in self.config.data.n_atoms_hist.items()}
        max_atoms = self.config.network.max_atoms
        conds = [parse_prompt(p, n_atoms=n, max_atoms=max_atoms) for p, n in zip(prompts, sizes)]
        for c in conds:
            self._check_elements(c)
        requests = [requests_for(c, 1, hist, max_atoms, rng)[0] for c in conds]
        order = sorted(range(len(requests)), key=lambda i: requests[i].n_atoms)
        out = self._run([requests[i] for i in order], [conds[i].text for i in order], steps=steps,
                        seed=seed, batch_size=batch_size, progress=progress,
                        property_guidance=property_guidance, desc=f"sampling {len(prompts)} prompts")
        result = [None] * len(out)
        for pos, i in enumerate(order):
            result[i] = out[pos]
        return result

    @staticmethod
    def _seed(seed) -> int:
        if seed is None:
            return int(np.random.SeedSequence().entropy % 2**31)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
            raise PromptError(f"seed must be a whole number >= 0 (or None for a random one), got {seed!r}")
        return int(seed)

    def _steps(self, steps) -> int:
        if steps is None or steps == "full":
            return self.config.sampler.full_steps if steps == "full" else self.config.sampler.default_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise PromptError(f"steps must be a whole number >= 1 or 'full', got {steps!r}")
        return steps

    def _run(self, requests, labels, *, steps, seed, desc, return_trajectory=False, batch_size=64,
             progress=True, callback=None, guidance=None, property_guidance=None):
        from tqdm.auto import tqdm

        steps = self._steps(steps)
        if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                     or not math.isfinite(guidance) or guidance < 0):
            raise PromptError(f"guidance must be a number >= 0 (1 = no guidance), got {guidance!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise PromptError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        settings = self.config.sampler
        if property_guidance is not None and (
                isinstance(property_guidance, bool) or not isinstance(property_guidance, (int, float))
                or not math.isfinite(property_guidance) or property_guidance < 0):
            raise PromptError(f"property_guidance must be a number >= 0 (0 = none), got {property_guidance!r}")
        if guidance is not None:
            settings = dataclasses.replace(settings, guidance=float(guidance))
        if property_guidance is not None:
            settings = dataclasses.replace(settings, property_guidance=float(property_guidance))
        generator = torch.Generator(device=self.device).manual_seed(seed)
        was_training = self.training
        self.eval()
        results, trajectories = [], []
        chunks = [requests[i:i + batch_size] for i in range(0, len(requests), batch_size)]
        with tqdm(total=steps * len(chunks), desc=desc, unit="step", disable=not progress, leave=False) as bar:
            for chunk in chunks:
                final, frames, stopped = sample_batch(
                    self.denoiser, self.noise, settings, chunk, steps, generator,
                    trajectory=return_trajectory, callback=callback, n_total=len(requests),
                    n_done=len(results), progress=bar)
                for i, atoms in enumerate(final):
                    atoms.info.update(prompt=labels[len(results)], seed=seed, steps=steps)
                    results.append(atoms)
                    if return_trajectory:   # the final structure replaces the last t=0 frame
                        kept = frames if stopped else frames[:-1]
                        trajectories.append([step[i] for step in kept] + [atoms])
                if stopped:
                    break
        self.train(was_training)
        return trajectories if return_trajectory else results

    # ------------------------------------------------------------------ saving and loading
    def checkpoint(self, half: bool = False) -> dict:
        """Plain tensors and numbers only (loadable with ``weights_only=True``): the config and the
        whole ``state_dict`` (the denoiser's weights and the noise processes' buffers). ``half``
        stores the denoiser's float weights as float16 (half the size; cast back on loading)."""
        cast = lambda k, v: v.half() if half and k.startswith("denoiser.") and v.is_floating_point() else v
        return {"format": FORMAT, "config": self.config.to_dict(),
                "state_dict": {k: cast(k, v.detach().cpu()) for k, v in self.state_dict().items()}}

    def save(self, path: str | Path, half: bool = False, **card) -> str:
        """Write weights (``torch.save``; loadable with ``weights_only=True``) and a sha256 sidecar."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save(self.checkpoint(half), buf)
        data = buf.getvalue()
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        meta = {"file": path.name, "sha256": digest, "bytes": len(data), **card}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return digest

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> CrystalDiffusionModel:
        """A model from :meth:`checkpoint`'s dict (this format or the first release's)."""
        if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT_V1:
            ckpt = upgrade_v1(ckpt)
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise CheckpointError(f"not a crystal_lab checkpoint (missing format tag {FORMAT!r})")
        try:
            model = cls(ModelConfig.from_dict(ckpt["config"]))
        except (AttributeError, TypeError) as err:
            raise CheckpointError(f"the checkpoint's config does not fit this version: {err}") from None
        # float16 weights are cast back to float32 as they are copied in; weights made before the
        # inverse-design conditions existed lack only those (zero-initialised) layers
        missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
        missing = [k for k in missing if not k.removeprefix("denoiser.").startswith(NEW_CONDITION_KEYS)]
        if missing or unexpected:
            raise CheckpointError(f"weights do not fit the network: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
        return model


#: the checkpoint format: {"format", "config": ModelConfig.to_dict(), "state_dict": model.state_dict()}
FORMAT = "crystal_lab/2"
#: the first release's: a flat config, the denoiser's weights alone and the noise tables as a dict
FORMAT_V1 = "crystal_lab/1"


def upgrade_v1(ckpt: dict) -> dict:
    """A first-release checkpoint in today's form (the shipped ``mp20.pt`` is one; it loads as is).
    Its flat config names reach their groups; its noise dict becomes the noise modules' buffers."""
    noise, lat = ckpt["noise"], ckpt["noise"]["lattice"]
    coords = WrappedNormalCoords(noise["sigma_min"], noise["sigma_max"])   # recomputes its tables
    state = {f"denoiser.{k}": v for k, v in ckpt["state_dict"].items()}
    state.update({f"noise.coords.{k}": v for k, v in coords.state_dict().items()})
    state.update({"noise.lattice.mean": torch.tensor(lat["mean"], dtype=torch.float32),
                  "noise.lattice.std": torch.tensor(lat["std"], dtype=torch.float32),
                  "noise.lattice.volume_per_atom": torch.tensor(float(lat["volume_per_atom"]), dtype=torch.float64)})
    return {"format": FORMAT, "config": ckpt["config"], "state_dict": state}


def load_model(path: str | Path | None = None, device: str = "auto", verify: bool = True) -> CrystalDiffusionModel:
    """Load a model: by default the MP-20 model shipped in ``crystal_lab/weights`` (offline).

    The file is checked against the sha256 recorded beside it (``<name>.json``) and read with
    ``torch.load(weights_only=True)``, which never executes code from the file.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.exists():
        raise CheckpointError(f"no weights at {path}")
    data = path.read_bytes()
    meta_path = path.with_suffix(".json")
    if verify:
        if not meta_path.exists():
            raise CheckpointError(f"{path.name}: no {meta_path.name} with its sha256 beside it "
                                  "(pass verify=False to load an unverified file you trust)")
        expected = json.loads(meta_path.read_text())["sha256"]
        got = hashlib.sha256(data).hexdigest()
        if got != expected:
            raise CheckpointError(f"{path.name} is corrupt or was replaced: sha256 {got[:12]}... "
                                  f"does not match the recorded {expected[:12]}...")
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, unsupported globals, truncated files
        raise CheckpointError(f"{path.name} is not a loadable crystal_lab checkpoint: "
                              f"{str(err).splitlines()[0]}") from None
    model = CrystalDiffusionModel.from_checkpoint(ckpt)
    return model.to(resolve_device(device)).eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "CheckpointError",
    "CrystalDiffusionModel",
    "DataStats",
    "ModelConfig",
    "NetworkConfig",
    "TrainingConfig",
    "count_parameters",
    "load_model",
    "resolve_device",
]
