"""Training data as tensors: a set of crystals padded into one block on a device, and the batch
plans drawn from it (shuffled, crystals of similar size together, optionally in atom-count
buckets so that compiled code sees a few fixed shapes)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..datasets import CrystalBatch
from ..model.diffusion import CrystalDiffusionModel

#: the padded atom counts of compiled training batches (one compiled shape each; MP-20 has <= 20)
BUCKETS = (6, 10, 14, 20)


def collate(items: list[CrystalBatch]) -> CrystalBatch:
    offsets = range(len(items))
    return CrystalBatch(torch.cat([c.lattice for c in items]), torch.cat([c.frac for c in items]),
                        torch.cat([c.numbers for c in items]),
                        torch.cat([torch.full_like(c.batch, i) for i, c in zip(offsets, items,
                                                                               strict=True)]))


def batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator,
            drop_last: bool = False, buckets: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Shuffled batches of crystals of similar size (less padding for the all-pairs network).
    ``drop_last`` leaves out batches smaller than ``batch_size`` (fixed shapes for compiled code).

    ``buckets`` (ascending atom counts): every batch holds crystals of one bucket only (sizes in
    ``(previous bucket, bucket]``), so it can be padded to that bucket's size; with ``drop_last``
    a bucket's leftover crystals move up into the next bucket instead of being dropped.
    """
    if buckets is None:
        order = rng.permutation(len(sizes))
        pool = batch_size * 32
        out = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
            out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        if drop_last:
            out = [b for b in out if len(b) == batch_size] or out
        return [out[i] for i in rng.permutation(len(out))]
    edges = sorted(buckets)
    if sizes.max() > edges[-1]:
        raise ValueError(f"crystals of {sizes.max()} atoms do not fit the largest bucket "
                         f"({edges[-1]})")
    which = np.searchsorted(edges, sizes)   # bucket index of each crystal
    out, carry = [], np.array([], dtype=int)
    for k in range(len(edges)):
        members = np.concatenate([carry, rng.permutation(np.flatnonzero(which == k))]).astype(int)
        n_full = len(members) // batch_size * batch_size
        out += [members[i:i + batch_size] for i in range(0, n_full, batch_size)]
        carry = members[n_full:]
        if not drop_last and len(carry):
            out.append(carry)
            carry = carry[:0]
    if not out and len(carry):   # fewer crystals than one batch
        out = [carry]
    return [out[i] for i in rng.permutation(len(out))]


def batch_width(sizes: np.ndarray, batch: np.ndarray, buckets: tuple[int, ...] | None,
                full: int) -> int:
    """The padded atom count of one batch: its bucket's size, or with ``buckets=None`` ``full``
    (``0``: the batch's largest crystal)."""
    biggest = int(sizes[batch].max())
    if buckets is None:
        return full or biggest
    return min(b for b in buckets if b >= biggest)


class TensorData:
    """A whole training set as padded tensors, resident on one device.

    ``frac`` (M,N,3), ``numbers`` (M,N), ``mask`` (M,N), ``n`` (M,), the clean lattice parameters
    ``x0_lat`` (M,6) (computed once: they never change), and the inverse-design labels ``system``
    (M,) (0 = unknown) and ``energy`` (M,) (nan = unknown). A batch is one gather by index.
    """

    def __init__(self, frac, numbers, n, lattice, system=None, energy=None):
        self.frac, self.numbers, self.n, self.lattice = (
            frac.float(), numbers.long(), n.long(), lattice.double(),
        )
        self.mask = torch.arange(frac.shape[1])[None] < self.n[:, None]
        m = len(n)
        self.system = torch.zeros(m, dtype=torch.long) if system is None else system.long()
        self.energy = torch.full((m,), float("nan")) if energy is None else energy.float()
        self.x0_lat = None

    @classmethod
    def from_atoms(cls, structures, max_atoms: int) -> TensorData:
        """Padded tensors of the crystals with at most ``max_atoms`` atoms; labels from
        ``atoms.info`` (``spacegroup.number``, ``formation_energy_per_atom``) where the data set has
        them."""
        from ..prompts import CRYSTAL_SYSTEMS, crystal_system_of

        rows = [a for a in structures if len(a) <= max_atoms]
        if not rows:
            raise ValueError("no training structures within the model's atom limit")
        n_max = max(len(a) for a in rows)
        frac = torch.zeros(len(rows), n_max, 3)
        numbers = torch.zeros(len(rows), n_max, dtype=torch.long)
        for i, a in enumerate(rows):
            frac[i, :len(a)] = torch.as_tensor(a.get_scaled_positions(wrap=True) % 1.0)
            numbers[i, :len(a)] = torch.as_tensor(a.numbers)
        lattice = torch.as_tensor(np.stack([np.asarray(a.cell, dtype=float) for a in rows]))
        sg = [a.info.get("spacegroup.number") for a in rows]
        system = torch.tensor([CRYSTAL_SYSTEMS.index(crystal_system_of(x)) + 1 if _finite(x) else 0
                               for x in sg])
        energy = torch.tensor(
            [
                float(e) if _finite(e := a.info.get("formation_energy_per_atom")) else np.nan
                for a in rows
            ]
        )
        return cls(frac, numbers, torch.tensor([len(a) for a in rows]), lattice, system, energy)

    def save(self, path) -> None:
        torch.save({k: getattr(self, k) for k in ("frac", "numbers", "n", "lattice", "system",
                                                  "energy")}, path)

    @classmethod
    def load(cls, path) -> TensorData:
        """Tensors written by :meth:`save` (read safely: ``weights_only=True``); anything else
        is one :class:`~crystal_lab.model.checkpoint.CheckpointError` line naming the file."""
        from ..model.checkpoint import read

        parts = read(path, verify=False, kind="a TensorData file (TensorData.save)")
        names = ("frac", "numbers", "n", "lattice")
        if not isinstance(parts, dict) or not all(isinstance(parts.get(k),
                                                             torch.Tensor) for k in names):
            from ..model.checkpoint import CheckpointError

            raise CheckpointError(f"{Path(path).name} is not a TensorData file (TensorData.save): "
                                  "it lacks "
                                  f"the tensors {', '.join(names)}")
        return cls(**{k: parts[k] for k in (*names, "system", "energy") if k in parts})

    def digest(self) -> str:
        """A short fingerprint of the crystals (sha256 of their tensors): same data, same digest."""
        h = hashlib.sha256()
        for t in (self.frac, self.numbers, self.n, self.lattice):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def to(self, device) -> TensorData:
        for k in ("frac", "numbers", "n", "mask", "system", "energy", "x0_lat"):
            if getattr(self, k) is not None:
                setattr(self, k, getattr(self, k).to(device))
        return self

    def fit_params(self, model: CrystalDiffusionModel) -> None:
        """The clean lattice parameters under ``model``'s standardisation, once."""
        self.x0_lat = model.noise.lattice.to_params(self.lattice,
                                                    self.n.to(self.lattice.device)).float()

    def batch(self, idx: torch.Tensor, trim: bool = False, width: int | None = None) -> tuple:
        """(frac, numbers, mask, x0_lat, system, energy) of crystals ``idx``, padded to ``width``
        atoms when given (a bucket's size; the batch's crystals must fit), else ``trim`` cuts the
        padding to the largest crystal of the batch (fewer pairs on a CPU) and without it every
        batch has the data set's full width (one fixed shape)."""
        frac, numbers, mask = self.frac[idx], self.numbers[idx], self.mask[idx]
        k = width if width is not None else int(self.n[idx].max()) if trim else frac.shape[1]
        if k <= frac.shape[1]:
            frac, numbers, mask = frac[:, :k], numbers[:, :k], mask[:, :k]
        else:
            grow = k - frac.shape[1]
            frac = torch.nn.functional.pad(frac, (0, 0, 0, grow))
            numbers = torch.nn.functional.pad(numbers, (0, grow))
            mask = torch.nn.functional.pad(mask, (0, grow))
        return frac, numbers, mask, self.x0_lat[idx], self.system[idx], self.energy[idx]


def _finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False
