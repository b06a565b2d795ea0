"""Training noise that keeps each crystal's symmetry (DiffCSP++'s constrained forward process).

A training crystal's own space group (spglib at ``symprec``, in the crystal's own primitive
basis and atom order) gives every atom ``j`` an operation ``(W_j, w_j)`` carrying its orbit's
representative onto it and every orbit a site projector ``P`` (see
:mod:`crystal_lab.symmetry.sites`). :func:`crystal_sites` builds these once per crystal,
:func:`dataset_sites` once per data set (cached on disk, keyed by the data's digest).

:class:`SymmetricNoise` then noises a batch the constrained way, crystal by crystal:

- **coordinates**: the clean crystal is put exactly on its sites; one Gaussian draw per orbit,
  projected onto the representative's site (``P eps``), is carried to every member
  (``W_j P eps``): the noisy crystal keeps the group. The score target, computed from that
  displacement, is projected through the orbit the same way (pulled back, averaged, onto the
  site, pushed forward), so it is the score of the constrained process.
- **lattice**: the clean and the noisy lattice parameters are symmetrised (the metric averaged
  over the group's rotations: the cell stays in its family); the noise target is the symmetrised
  noise, ``(x_t - sqrt(abar) x_0) / sqrt(1 - abar)``.
- **types**: one mask draw per orbit (all its atoms masked or none).

Crystals without sites (``None``: the template could not be realised) keep the free noise.
The network is unchanged; the sampler's projection (:mod:`.projection`) is the same geometry.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import spglib
import torch

from .projection import Projector
from .sites import Sites
from .templates import template_of

#: spglib's tolerance for a training crystal's group (Angstrom), as the template index uses
SYMPREC = 0.1
#: the symmetrised crystal must show its group at this tighter tolerance, else the free noise
CHECK_SYMPREC = 0.01


def _wrap_delta(d: np.ndarray) -> np.ndarray:
    return d - np.round(d)


def _nearest_operation(rot, trans, x_from, x_to, lattice):
    """The operation carrying ``x_from`` nearest to ``x_to`` (Cartesian distance mod the
    lattice), its translation shifted so that ``W x_from + w`` lands next to ``x_to``."""
    images = np.einsum("kij,j->ki", rot, x_from) + trans
    d = images - x_to
    k = int(np.argmin(np.linalg.norm(_wrap_delta(d) @ lattice, axis=1)))
    return rot[k], trans[k] - np.round(d[k])


def _stabiliser_projector(rot, trans, x, lattice, tol: float) -> np.ndarray:
    """The mean linear part of the operations fixing ``x`` (within ``tol`` Angstrom)."""
    d = _wrap_delta(np.einsum("kij,j->ki", rot, x) + trans - x)
    fixes = np.linalg.norm(d @ lattice, axis=1) < tol
    return rot[fixes].astype(float).mean(0)


def crystal_sites(lattice, frac, numbers, symprec: float = SYMPREC) -> Sites:
    """A crystal's own operations (:class:`~crystal_lab.symmetry.sites.Sites`) in its own basis
    and atom order. Raises ``ValueError`` (one line) when spglib finds no group or the
    symmetrised crystal does not show that group at :data:`CHECK_SYMPREC`."""
    from ase import Atoms

    lattice, frac = np.asarray(lattice, float), np.asarray(frac, float) % 1.0
    numbers = np.asarray(numbers, int)
    data = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec)
    if data is None:
        raise ValueError(f"spglib found no symmetry at symprec={symprec}")
    template = template_of(Atoms(numbers=numbers, cell=lattice, scaled_positions=frac, pbc=True),
                           symprec)
    rot, trans = np.asarray(data.rotations), np.asarray(data.translations)
    reps, orbit = np.unique(np.asarray(data.equivalent_atoms), return_inverse=True)
    ref = frac[reps]
    ops = [_nearest_operation(rot, trans, ref[orbit[j]], frac[j],
                              lattice) for j in range(len(frac))]
    lin = np.array([op[0] for op in ops], dtype=int)   # W of the sites docstring
    sites = Sites(template, orbit, lin, np.rint(np.linalg.inv(lin)).astype(int),
                  np.array([op[1] for op in ops], dtype=float), ref,
                  np.array([_stabiliser_projector(rot, trans, x, lattice, symprec) for x in ref]),
                  rot.astype(int), trans.astype(float), numbers, lattice)
    why = _check(sites, frac)
    if why:
        raise ValueError(why)
    return sites


def symmetrised(sites: Sites, frac) -> tuple[np.ndarray, np.ndarray]:
    """``(lattice, frac)`` of a crystal put exactly on its sites (metric symmetrised)."""
    proj = Projector([sites])
    x = proj.coords(torch.as_tensor(np.asarray(frac, float))[None])[0].numpy()
    lat = torch.as_tensor(sites.lattice, dtype=torch.float64)[None]
    vals, vecs = torch.linalg.eigh(proj.metric(lat))
    root = vecs @ torch.diag_embed(vals.clamp_min(1e-12).sqrt()) @ vecs.transpose(-1, -2)
    return root[0].numpy(), x


def _check(sites: Sites, frac) -> str | None:
    """Why the crystal's sites do not reproduce its group (None: they do)."""
    lattice, frac = symmetrised(sites, frac)
    data = spglib.get_symmetry_dataset((lattice, frac, sites.numbers), symprec=CHECK_SYMPREC)
    got = None if data is None else int(data.number)
    if got != sites.template.space_group:
        return f"the symmetrised crystal has space group {got}, not {sites.template.space_group}"
    return None


def _wrapped_score(d: torch.Tensor, sigma: torch.Tensor, n_images: int = 4) -> torch.Tensor:
    """The score of a wrapped normal of width ``sigma`` at displacement ``d`` (as the coordinate
    process's target; written here because the symmetry layer sits below the model's)."""
    k = torch.arange(-n_images, n_images + 1, dtype=d.dtype, device=d.device)
    shifted = (d - torch.round(d)).unsqueeze(-1) + k
    w = torch.softmax(-shifted**2 / (2 * (sigma**2).unsqueeze(-1)), dim=-1)
    return -(w * shifted).sum(-1) / sigma**2


class SymmetricNoise(Projector):
    """The constrained forward process of one batch (crystal ``b`` follows ``sites[b]``; None:
    the free noise). :meth:`add_noise` replaces the three processes' ``add_noise`` calls."""

    def add_noise(self, noise, frac0, x0_lat, numbers, t, generator=None):
        """``(x_frac, target_frac, x_lat, eps_lat, masked)`` for padded clean ``frac0`` (B,N,3),
        lattice parameters ``x0_lat`` (B,6), ``numbers`` (B,N) at times ``t`` (B,): the free
        draws of ``noise`` (a ``CrystalNoise``), with every templated crystal's replaced."""
        x_frac, target = noise.coords.add_noise(frac0, t[:, None], generator)
        x_lat, eps_lat = noise.lattice.add_noise(x0_lat, t, generator)
        _, masked = noise.types.add_noise(numbers, t[:, None], generator)
        if not self:
            return x_frac, target, x_lat, eps_lat, masked
        x_frac, target = self._coords(noise.coords, frac0, t, x_frac, target, generator)
        x_lat, eps_lat = self._lattice(noise.lattice, x0_lat, x_lat, t, (numbers > 0).sum(1))
        return x_frac, target, x_lat, eps_lat, self._one_per_orbit(masked)

    def _rows(self, full: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The templated rows' atoms of (B,N,...) ``full``, flattened, and their mask."""
        sub = full[self.rows]
        mask = self._atoms_mask(sub.shape[1])
        return sub[mask], mask

    def _put(self, full: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        sub = full[self.rows].clone()
        sub[mask] = values.to(full.dtype)
        out = full.clone()
        out[self.rows] = sub
        return out

    def _through_orbits(self, d: torch.Tensor) -> torch.Tensor:
        """Per-atom displacements (A,3) made symmetric: pulled back to the representative,
        averaged over the orbit, projected onto the site, carried to every member."""
        back = self._orbit_mean(torch.einsum("aij,aj->ai", self.W_inv, d))
        rep = torch.einsum("oij,oj->oi", self.P, back)
        return torch.einsum("aij,aj->ai", self.W, rep[self.orbit])

    def _coords(self, process, frac0, t, x_frac, target, generator):
        clean = self.coords(frac0)   # exactly on the sites
        _, mask = self._rows(frac0)
        eps_rep = torch.randn(len(self.ref), 3, generator=generator, device=frac0.device,
                              dtype=torch.float64)
        d = torch.einsum("aij,aj->ai", self.W, torch.einsum("oij,oj->oi", self.P,
                                                            eps_rep)[self.orbit])
        sigma = process.sigma(t[self.rows].double())[:, None].expand(mask.shape)[mask][:, None]
        x0 = clean[self.rows][mask].double()
        x_t = x0 + sigma * d
        x_t = x_t - torch.floor(x_t)
        score = _wrapped_score(sigma * d, sigma) / process.score_rms(sigma)
        return self._put(x_frac, mask, x_t), self._put(target, mask, self._through_orbits(score))

    def _lattice(self, process, x0_lat, x_lat, t, n):
        clean = self.lattice(x0_lat, n, process)
        noisy = self.lattice(x_lat, n, process)
        abar = process.alpha_bar(t).to(x0_lat.dtype)[:, None]
        return noisy, (noisy - abar.sqrt() * clean) / (1 - abar).sqrt()

    def _one_per_orbit(self, masked: torch.Tensor) -> torch.Tensor:
        flat, mask = self._rows(masked)
        return self._put(masked, mask, flat[self.first])


def dataset_sites(lattice, frac, numbers, n, cache_dir=None, digest: str | None = None,
                  symprec: float = SYMPREC) -> list[Sites | None]:
    """Every crystal's :func:`crystal_sites` (None where it fails), computed once per data set:
    with ``cache_dir`` and ``digest``, read from / written to ``cache_dir/sites-<digest>.pt``."""
    path = Path(cache_dir) / f"sites-{digest}-{symprec:g}.pt" if cache_dir and digest else None
    if path is not None and path.exists():
        return [None if s is None else _from_plain(s) for s in torch.load(path, weights_only=True)]
    out = []
    for i in range(len(n)):
        k = int(n[i])
        try:
            out.append(crystal_sites(lattice[i], frac[i, :k], numbers[i, :k], symprec))
        except ValueError:
            out.append(None)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save([None if s is None else _to_plain(s) for s in out], tmp)
        os.replace(tmp, path)
    return out


def _to_plain(s: Sites) -> dict:
    """Tensors and a template's info: what ``torch.load(weights_only=True)`` reads back."""
    return {
        **{
            k: torch.as_tensor(getattr(s, k)) for k in Sites.__dataclass_fields__ if k != "template"
        },
        "template": s.template.info(),
    }


def _from_plain(d: dict) -> Sites:
    from .templates import Template

    arrays = {k: v.numpy() for k, v in d.items() if k != "template"}
    return Sites(template=Template.from_info(d["template"]), **arrays)


def default_cache_dir() -> Path:
    """Where the per-data-set sites are cached: ``$CRYSTAL_LAB_CACHE/symmetry`` (or
    ``~/.cache/crystal_lab/symmetry``)."""
    return Path(os.environ.get("CRYSTAL_LAB_CACHE",
                               "~/.cache/crystal_lab")).expanduser() / "symmetry"


__all__ = ["SymmetricNoise", "crystal_sites", "dataset_sites", "default_cache_dir", "symmetrised"]
