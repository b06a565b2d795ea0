"""Project a batch of noisy crystals onto their templates (DiffCSP++'s constraint, zero-shot).

The network and its weights stay as they are; after each reverse step (and on the initial
noise) every crystal that has a template is moved onto it, so its symmetry is exact at every
step:

- **coordinates**: each orbit moves through its representative. Every member is pulled back
  through its operation (``x_rep ~ W_j^-1 (x_j - w_j)``), the estimates are unwrapped on the
  torus next to one of them and averaged, the average is projected onto the representative's
  Wyckoff site (free directions kept, special positions pinned), and all members are rebuilt.
  A plain average over the group's images, without the sites, lets atoms collapse onto
  special positions and overlap: the site projector is what prevents it.
- **lattice**: the metric ``G = L L^T`` is averaged over the group's rotations in the
  primitive basis (``W^T G W``), which puts the cell in its crystal family (cubic: one length;
  hexagonal: the 120 degree angle; face-centred primitive cells: their 60 degree rhombohedron).
- **types**: one element per orbit; the logits are averaged over the orbit and the orbit takes
  the element its first atom draws.
- **apart** (:meth:`Projector.separate`, after the coordinates, in the projected lattice): no two
  atoms closer than :data:`SEPARATION` where the sites' free directions allow it. Without it
  the shipped network slid free orbits onto special positions or onto each other's lines: 10 of
  100 CSP results with the true templates, 14 with retrieved ones and 10 of 100 unconditional
  ones had merged atoms, none after (``crystal_lab.symmetry.separation``;
  benchmarks/results/symmetry_validity.json).

Crystals without a template (``None``: the free model, P1) are left exactly as they are.
"""
from __future__ import annotations

import torch

from .separation import MIN_SEPARATION, separate
from .sites import Sites
from .templates import Template

#: the shortest distance :meth:`Projector.separate` keeps between two atoms of a templated
#: crystal (Angstrom; 0: no separation, the projection as it was before)
SEPARATION = MIN_SEPARATION


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return x - torch.floor(x)


def _wrap_delta(d: torch.Tensor) -> torch.Tensor:
    return d - torch.round(d)


class Projector:
    """The projection of one batch: ``sites[b]`` is crystal ``b``'s realised template, or None.

    Row ``b`` holds ``sites[b].n_atoms`` atoms in the template's order (orbit after orbit), padded
    to the batch's width. Tensors are built once per batch, on ``device``.
    """

    def __init__(self, sites: list[Sites | None], device=None):
        self.rows = [b for b, s in enumerate(sites) if s is not None]
        chosen = [sites[b] for b in self.rows]
        if not chosen:
            return
        f64 = {"dtype": torch.float64, "device": device}
        cat = lambda key, **kw: torch.cat([torch.as_tensor(getattr(s, key), **kw) for s in chosen])
        offsets = torch.tensor([0] + [len(s.ref) for s in chosen[:-1]]).cumsum(0)
        self.orbit = torch.cat(
            [torch.as_tensor(s.orbit) + o for s, o in zip(chosen, offsets, strict=True)]
        ).to(device)
        self.W, self.W_inv, self.w = cat("W", **f64), cat("W_inv", **f64), cat("w", **f64)
        self.ref, self.P = cat("ref", **f64), cat("P", **f64)
        n_orbits = len(self.ref)
        ones = torch.ones(len(self.orbit), **f64)
        self.count = torch.zeros(n_orbits, **f64).index_add_(0, self.orbit, ones)
        atom = torch.arange(len(self.orbit), device=device)
        first = torch.full((n_orbits,), len(atom), dtype=torch.long, device=device)
        self.first = first.scatter_reduce(0, self.orbit, atom, reduce="amin")[self.orbit]
        k_max = max(len(s.rotations) for s in chosen)
        self.rot = torch.eye(3, **f64).repeat(len(chosen), k_max, 1, 1)   # padded with the identity
        self.trans = torch.zeros(len(chosen), k_max, 3, **f64)
        self.weight = torch.zeros(len(chosen), k_max, **f64)
        for i, s in enumerate(chosen):
            self.rot[i, : len(s.rotations)] = torch.as_tensor(s.rotations, **f64)
            self.trans[i, : len(s.rotations)] = torch.as_tensor(s.translations, **f64)
            self.weight[i, : len(s.rotations)] = 1.0 / len(s.rotations)
        self.row = torch.cat([torch.full((s.n_atoms,), i) for i, s in enumerate(chosen)]).to(device)
        self.rot_inv = torch.linalg.inv(self.rot).round()
        self.movable = bool(self.P.abs().max() > 1e-9)   # any free direction in the batch
        # (27, 3) shifts to the neighbouring cells, no shift first (:meth:`_nearest_image`)
        self.shifts = torch.cartesian_prod(*[torch.tensor([0.0, -1.0, 1.0], **f64)] * 3)
        self.n = torch.tensor([s.n_atoms for s in chosen], device=device)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def orbits_of(self, b: int) -> list[list[int]] | None:
        """Crystal ``b``'s orbits, each as the positions of its atoms in the row (None: no
        template)."""
        if b not in self.rows:
            return None
        i = self.rows.index(b)
        start = int(self.n[:i].sum())
        ids = self.orbit[start: start + int(self.n[i])].tolist()
        out: dict[int, list[int]] = {}
        for atom, o in enumerate(ids):
            out.setdefault(o, []).append(atom)
        return list(out.values())

    def _atoms_mask(self, width: int) -> torch.Tensor:
        return torch.arange(width, device=self.n.device)[None] < self.n[:, None]

    def _orbit_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Per-orbit means of per-atom ``values`` (A, ...)."""
        total = torch.zeros(len(self.count), *values.shape[1:], dtype=values.dtype,
                            device=values.device)
        total.index_add_(0, self.orbit, values)
        return total / self.count.to(values.dtype).view(-1, *[1] * (values.dim() - 1))

    # --- the three variables -----------------------------------------------------------------
    def coords(self, frac: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) fractional coordinates with every templated crystal on its Wyckoff sites."""
        if not self:
            return frac
        sub = frac[self.rows]
        mask = self._atoms_mask(sub.shape[1])
        sub = sub.clone()
        sub[mask] = self._onto_sites(sub[mask].double()).to(frac.dtype)
        out = frac.clone()
        out[self.rows] = sub
        return out

    def positions(self, frac: torch.Tensor, params: torch.Tensor, n_atoms: torch.Tensor,
                  process) -> torch.Tensor:
        """:meth:`coords`, then :meth:`separate` in the lattices of the parameters ``params``
        (B, 6) of the lattice ``process``: on the sites, and apart."""
        if not self:
            return frac
        return self.separate(self.coords(frac), process.to_lattice(params, n_atoms))

    def _onto_sites(self, x: torch.Tensor) -> torch.Tensor:
        """(A, 3) positions of the batch's templated atoms -> the same on their Wyckoff sites."""
        rep = self._orbit_mean(self._estimates(x))
        rep = self.ref + torch.einsum("oij,oj->oi", self.P, self._nearest_image(rep - self.ref))
        return _wrap(torch.einsum("aij,aj->ai", self.W, rep[self.orbit]) + self.w)

    def _nearest_image(self, d: torch.Tensor) -> torch.Tensor:
        """(O, 3) offsets of the representatives from their sites' reference points -> the periodic
        image of each nearest its site's free subspace (smallest ``(I - P) d``). In a cell where
        a site projector has fractional entries (x, x-y, ... in a reduced basis), ``P`` of a
        lattice vector is not one, so the wrapped offset alone would land on the wrong site."""
        d = _wrap_delta(d)
        images = d[:, None] + self.shifts[None]                                 # (O, 27, 3)
        off = images - torch.einsum("oij,okj->oki", self.P, images)
        best = (off * off).sum(-1).argmin(1)                                    # ties: first
        return images[torch.arange(len(d), device=d.device), best]

    def separate(self, frac: torch.Tensor, lattice: torch.Tensor,
                 d_min: float | None = None) -> torch.Tensor:
        """(B, N, 3) coordinates on their sites (after :meth:`coords`) and (B, 3, 3) lattices ->
        the coordinates with no two atoms of a templated crystal closer than ``d_min`` (default
        :data:`SEPARATION`; 0 turns it off) where their sites' free directions allow it
        (:func:`crystal_lab.symmetry.separation.separate`)."""
        d_min = SEPARATION if d_min is None else d_min
        if not self or d_min <= 0 or not self.movable:
            return frac
        sub = frac[self.rows].double()
        mask = self._atoms_mask(sub.shape[1])

        def onto_sites(x: torch.Tensor) -> torch.Tensor:
            x = x.clone()
            x[mask] = self._onto_sites(x[mask])
            return x

        sub, _ = separate(sub, lattice[self.rows].double(), mask, onto_sites, d_min)
        out = frac.clone()
        out[self.rows] = sub.to(frac.dtype)
        return out

    def _estimates(self, x: torch.Tensor) -> torch.Tensor:
        """(A, 3) positions -> each atom's estimate of its orbit's representative, unwrapped next
        to the estimate of the orbit's first atom (pulled back through its own operation).

        Each atom is pulled back through every operation of the group and keeps the image nearest
        that reference: the orbit is matched as a set, so two atoms heading for the same place
        take neighbouring members' places instead of dragging the representative onto a
        special position where they would coincide."""
        own = torch.einsum("aij,aj->ai", self.W_inv, x - self.w)
        ref = own[self.first]
        images = torch.einsum("akij,akj->aki", self.rot_inv[self.row],
                              x[:, None] - self.trans[self.row])
        d = _wrap_delta(images - ref[:, None])
        best = (d * d).sum(-1).argmin(1)
        return ref + d[torch.arange(len(x)), best]

    def metric(self, lattice: torch.Tensor) -> torch.Tensor:
        """(B', 3, 3) lattices of the templated rows -> their symmetrised metrics ``L L^T``."""
        lat = lattice.double()
        gram = lat @ lat.transpose(-1, -2)
        return torch.einsum("bk,bkji,bjl,bklm->bim", self.weight, self.rot, gram, self.rot)

    def lattice(self, params: torch.Tensor, n_atoms: torch.Tensor, process) -> torch.Tensor:
        """(B, 6) parameters of the lattice ``process`` (its ``to_lattice`` / ``to_params``) with
        every templated crystal's metric symmetrised under its group's rotations."""
        if not self:
            return params
        rows = torch.tensor(self.rows, device=params.device)
        gram = self.metric(process.to_lattice(params[rows], n_atoms[rows]))
        vals, vecs = torch.linalg.eigh(gram)
        root = vecs @ torch.diag_embed(vals.clamp_min(1e-12).sqrt()) @ vecs.transpose(-1, -2)
        out = params.clone()
        out[rows] = process.to_params(root, n_atoms[rows].double()).to(params.dtype)
        return out

    def logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, N, E) element logits averaged over each orbit."""
        if not self:
            return logits
        sub = logits[self.rows]
        mask = self._atoms_mask(sub.shape[1])
        sub = sub.clone()
        sub[mask] = self._orbit_mean(sub[mask].double())[self.orbit].to(logits.dtype)
        out = logits.clone()
        out[self.rows] = sub
        return out

    def types(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N) tokens with one element per orbit: the orbit's first atom's."""
        if not self:
            return tokens
        sub = tokens[self.rows].clone()
        mask = self._atoms_mask(sub.shape[1])
        flat = sub[mask]
        sub[mask] = flat[self.first]
        out = tokens.clone()
        out[self.rows] = sub
        return out


def projector(templates: list[Template | None], device=None) -> Projector:
    """The :class:`Projector` of a batch whose crystal ``b`` follows ``templates[b]`` (or None)."""
    from .sites import realise

    return Projector([None if t is None else realise(t) for t in templates], device)
