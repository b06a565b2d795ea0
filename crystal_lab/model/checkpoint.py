"""Checkpoint files: a model's config, weights and noise statistics on disk, and back.

A weights file (format ``crystal_lab/2``) is ``torch.save`` of plain data::

    {"format": "crystal_lab/2", "config": ModelConfig.to_dict(), "state_dict": model.state_dict()}

beside a sidecar ``<name>.json`` holding its sha256 and a model card. It is read with
``torch.load(weights_only=True)``, which never executes code from the file. A training run's
checkpoint (``train``'s ``last.pt``) holds two of these dicts (``"model"``, ``"ema"``) with the
optimiser and RNG state. Files of the older format ``crystal_lab/1`` (a flat config, the
denoiser's weights alone and the noise statistics as a dict) are upgraded on reading.

Every problem with a file is one :class:`CheckpointError` line that names the file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from functools import lru_cache
from pathlib import Path

import torch

from ..paths import check_file, write_atomic
from .denoiser import NEW_CONDITION_KEYS
from .diffusion import CrystalDiffusionModel, ModelConfig, resolve_device
from .noise import WrappedNormalCoords

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: the MP-20 model that ships inside the package
DEFAULT_WEIGHTS = WEIGHTS_DIR / "mp20.pt"
#: the shipped network fine-tuned with template-projected noise: it samples templated requests
SYMMETRIC_WEIGHTS = WEIGHTS_DIR / "mp20_symmetric.pt"
#: the format this version writes
FORMAT = "crystal_lab/2"
#: the older format it still reads (through :func:`upgrade_v1`)
FORMAT_V1 = "crystal_lab/1"
#: what a training run's checkpoint holds besides the two models
RUN_KEYS = ("model", "ema", "optimizer", "epoch", "step", "rng")


class CheckpointError(ValueError):
    """A weights file that is missing, corrupt, or not a crystal_lab checkpoint (bad input: a
    ValueError, one line naming the file)."""


def to_dict(model: CrystalDiffusionModel, half: bool = False) -> dict:
    """Plain tensors and numbers only (loadable with ``weights_only=True``): the config and the
    whole ``state_dict`` (the denoiser's weights and the noise processes' buffers). ``half``
    stores the denoiser's float weights as float16 (half the size; cast back on loading)."""
    def cast(key, value):
        value = value.detach().cpu()
        return (
            value.half()
            if half and key.startswith("denoiser.") and value.is_floating_point()
            else value
        )

    return {"format": FORMAT, "config": model.config.to_dict(),
            "state_dict": {k: cast(k, v) for k, v in model.state_dict().items()}}


def from_dict(ckpt: dict, name: str = "the checkpoint") -> CrystalDiffusionModel:
    """A model from :func:`to_dict`'s dict (either format). ``name`` is used in messages."""
    if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT_V1:
        ckpt = upgrade_v1(ckpt, name)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{name} is not a crystal_lab checkpoint (missing format tag {FORMAT!r})"
        )
    try:
        model = CrystalDiffusionModel(ModelConfig.from_dict(ckpt["config"]))
    except (AttributeError, TypeError, KeyError) as err:
        raise CheckpointError(
            f"{name}: the checkpoint's config does not fit this version: {err}"
        ) from None
    state = ckpt.get("state_dict", {})
    check_finite(state, name)
    # float16 weights are cast back to float32 as they are copied in; weights without the
    # inverse-design condition layers load with those layers at their zero initialisation
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.removeprefix("denoiser.").startswith(NEW_CONDITION_KEYS)]
    if missing or unexpected:
        raise CheckpointError(f"{name}: weights do not fit the network: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    return model


def check_finite(state: dict, name: str = "the checkpoint") -> None:
    """Refuse (:class:`CheckpointError`, naming the tensor) weights holding NaN or inf: a diverged
    run's weights would load and then fail deep inside sampling."""
    bad = [(key, value) for key, value in state.items() if isinstance(value, torch.Tensor)
           and value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        key, value = bad[0]
        count = int((~torch.isfinite(value)).sum())
        more = f" (and {len(bad) - 1} more tensor(s))" if len(bad) > 1 else ""
        raise CheckpointError(
            f"{name}: tensor {key} holds {count} NaN/inf value(s) of {value.numel()}"
            f"{more}: these weights are broken (a diverged training run?); use an "
            "earlier checkpoint or the shipped weights"
        )


def upgrade_v1(ckpt: dict, name: str = "the checkpoint") -> dict:
    """A ``crystal_lab/1`` dict in today's form: its flat config names reach their groups
    (``ModelConfig`` reads them), its noise dict becomes the noise modules' buffers."""
    try:
        noise, lat = ckpt["noise"], ckpt["noise"]["lattice"]
        # recomputes its tables
        coords = WrappedNormalCoords(noise["sigma_min"], noise["sigma_max"])
        state = {f"denoiser.{k}": v for k, v in ckpt["state_dict"].items()}
        state.update({f"noise.coords.{k}": v for k, v in coords.state_dict().items()})
        state.update({"noise.lattice.mean": torch.tensor(lat["mean"], dtype=torch.float32),
                      "noise.lattice.std": torch.tensor(lat["std"], dtype=torch.float32),
                      "noise.lattice.volume_per_atom": torch.tensor(float(lat["volume_per_atom"]),
                                                                    dtype=torch.float64)})
        return {"format": FORMAT, "config": ckpt["config"], "state_dict": state}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{name}: a {FORMAT_V1} checkpoint with a missing or bad part "
                              f"({type(err).__name__}: {err})") from None


def save(model: CrystalDiffusionModel, path: str | Path, half: bool = False, **card) -> str:
    """Write ``model``'s weights file and its sha256 sidecar (``card`` adds to it); return the hash.
    A path that cannot be written is refused in one line first; each file appears whole (written
    beside it, then renamed), so a crash never leaves half a weights file under the name."""
    path = check_file(path)
    buf = io.BytesIO()
    torch.save(to_dict(model, half), buf)
    data = buf.getvalue()
    write_atomic(path, data)
    digest = hashlib.sha256(data).hexdigest()
    meta = {"file": path.name, "sha256": digest, "bytes": len(data), **card}
    write_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str) + "\n")
    return digest


def upgrade_file(path: str | Path, out: str | Path | None = None) -> str:
    """Write the weights file ``path`` again in the current format (to ``out``, default in place),
    float16 as shipped, keeping its model card; returns the new sha256."""
    path = Path(path)
    model = load_model(path, device="cpu")
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    card = {k: v for k, v in card.items() if k not in ("file", "sha256", "bytes")}
    return save(model, out or path, half=True, **card)


def recorded_sha256(path: Path) -> str:
    """The sha256 in ``path``'s sidecar ``<name>.json``."""
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise CheckpointError(f"{path.name}: no {meta_path.name} with its sha256 beside it "
                              "(pass verify=False to load an unverified file you trust)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{meta_path.name} (beside {path.name}) is not valid JSON ({err}); restore it "
            "or pass verify=False to load an unverified file you trust"
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
        raise CheckpointError(
            f"{meta_path.name} (beside {path.name}) records no sha256; restore it "
            "or pass verify=False to load an unverified file you trust"
        )
    return meta["sha256"]


def read(path: str | Path, verify: bool = True, kind: str = "a loadable crystal_lab checkpoint"):
    """The contents of a checkpoint file, read safely (``weights_only=True``); with ``verify``
    first checked against the sha256 in its sidecar. ``kind``: what the file should be, for the
    message when it is not."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a weights file")
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}")
    data = path.read_bytes()
    if not data:
        raise CheckpointError(f"{path.name} is not {kind}: it is empty (0 bytes)")
    if verify:
        expected, got = recorded_sha256(path), hashlib.sha256(data).hexdigest()
        if got != expected:
            raise CheckpointError(f"{path.name} is corrupt or was replaced: sha256 {got[:12]}... "
                                  f"does not match the recorded {expected[:12]}...")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch.load raises many kinds of error for a bad file
        raise CheckpointError(f"{path.name} is not {kind}: {_why_unreadable(data, err)}") from None


def _why_unreadable(data: bytes, err: Exception) -> str:
    """What is wrong with a file ``torch.load`` refused, in words that never suggest the unsafe
    ``weights_only=False`` (torch's own message does)."""
    if data[:2] != b"PK" and data[:1] != b"\x80":   # neither torch's zip archive nor a plain pickle
        return f"not a torch file (it starts with {data[:12]!r})"
    if isinstance(err, pickle.UnpicklingError) and "weights only" in str(err).lower():
        return ("it holds Python objects other than tensors and numbers, which crystal_lab never "
                "loads (loading them could run code)")
    return f"the file is truncated or damaged ({type(err).__name__})"


def load_model(
    path: str | Path | None = None, device: str = "auto", verify: bool = True
) -> CrystalDiffusionModel:
    """Load a model: by default the MP-20 model shipped in ``crystal_lab/weights`` (offline).

    The file is checked against the sha256 recorded beside it (``<name>.json``) and read with
    ``torch.load(weights_only=True)``, which never executes code from the file. ``device``:
    ``"auto"`` (a CUDA GPU if there is one), ``"cpu"`` or ``"cuda"``; a device this machine lacks
    is a ``ValueError`` before anything is read. The shipped model samples templated requests
    (``space_group=``, ``crystal_system=``) with its constrained fine-tune,
    :data:`SYMMETRIC_WEIGHTS`, read on first use (:func:`symmetric_denoiser`).
    """
    dev = resolve_device(device)
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a file path (str or pathlib.Path) or None for the shipped model, "
            f"got {type(path).__name__}"
        )
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if verify and path.is_file() and not path.with_suffix(".json").is_file():
        _refuse_run_checkpoint(path, read(path, verify=False))  # say what it is, not "verify=False"
    ckpt = read(path, verify)
    _refuse_run_checkpoint(path, ckpt)
    model = from_dict(ckpt, path.name).to(dev).eval()
    if path.resolve() == DEFAULT_WEIGHTS and SYMMETRIC_WEIGHTS.is_file():
        model.symmetric_net = symmetric_denoiser
    return model


@lru_cache(maxsize=4)
def symmetric_denoiser(device) -> torch.nn.Module:
    """The shipped constrained fine-tune's network (:data:`SYMMETRIC_WEIGHTS`) on ``device``, read
    and checked once, on first use, so ``load_model()`` stays as fast as before."""
    return load_model(SYMMETRIC_WEIGHTS, device=str(device)).denoiser


def is_run_checkpoint(state) -> bool:
    """True for the contents of a training run's checkpoint (``last.pt``), not a weights file."""
    return isinstance(state, dict) and "ema" in state and "format" not in state


def _refuse_run_checkpoint(path: Path, state) -> None:
    if is_run_checkpoint(state):
        where = (
            f" (epoch {state['epoch']}, step {state['step']})"
            if "step" in state and "epoch" in state
            else ""
        )
        raise CheckpointError(
            f"{path.name} is a training run's checkpoint{where}, not a weights file: turn it into "
            f"weights with crystal_lab.training.loop.export({str(path)!r}, 'weights.pt') and load "
            f"those, or continue the run with crystal-lab train --resume {path}")


def read_run(path: str | Path) -> dict:
    """A training run's checkpoint (``last.pt``) to resume from, checked for its parts."""
    path = Path(path)
    state = read(path, verify=False, kind="a readable training checkpoint")
    if isinstance(state, dict) and state.get("format") in (FORMAT, FORMAT_V1):
        raise CheckpointError(
            f"{path.name} is a model's weights file, not a training run's checkpoint (last.pt): "
            f"start a new run from these weights with init= (crystal-lab train --init {path})"
        )
    missing = [k for k in RUN_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(
            f"{path.name} is not a training run's checkpoint (no {', '.join(missing)})"
        )
    return state


def load_weights(path: str | Path) -> CrystalDiffusionModel:
    """The model to start training from: a weights file (verified when its sidecar is there) or a
    run's checkpoint (its EMA weights)."""
    path = Path(path)
    state = read(path, verify=path.with_suffix(".json").is_file())
    if is_run_checkpoint(state):
        return from_dict(state["ema"], f"{path.name} (its EMA weights)")
    return from_dict(state, path.name)


__all__ = [
    "DEFAULT_WEIGHTS",
    "FORMAT",
    "FORMAT_V1",
    "CheckpointError",
    "check_finite",
    "from_dict",
    "is_run_checkpoint",
    "load_model",
    "load_weights",
    "read",
    "read_run",
    "save",
    "to_dict",
    "upgrade_file",
    "upgrade_v1",
]
