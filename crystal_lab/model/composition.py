"""What the revealed elements of a crystal must satisfy, enforced as the reverse loop reveals them.

* :func:`ensure_elements`: every element a chemical-system prompt lists appears (once it could no
  longer appear by chance, an atom of a repeated element takes the missing one).
* :func:`balance_charges`: a templated crystal (symmetric mode) ends charge balanced where it can.
  When its last masked orbits are revealed and SMACT finds no neutral set of oxidation states
  (CDVAE's rule, :func:`crystal_lab.chemistry.charge_balanced`), one of the orbits revealed in that
  step is redrawn from the network's own distribution restricted to the elements that balance the
  charges; orbit and element are drawn together, weighted by the network's probability. Crystals
  no single redraw can balance stay as they are, and so do free crystals (P1, ``space_group=1``):
  the free model of the first notebooks is left as it was trained.

Both are constraints of the sampler, not something the network learned: a benchmark that reports
SMACT validity of the symmetric mode says so beside the figure.
"""
from __future__ import annotations

from collections import Counter

import torch
from ase.data import chemical_symbols

from ..chemistry import charge_balanced
from .noise import MASK

#: how many of an orbit's likeliest elements :func:`balance_charges` tries in place of its own
CANDIDATES = 16


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


def _balanced(counts: Counter) -> bool:
    return charge_balanced({chemical_symbols[z]: n for z, n in counts.items() if n > 0})


def _redraws(counts: Counter, orbit: list[int], own: int, probs: torch.Tensor,
             required: tuple[int, ...]) -> list[tuple[int, float]]:
    """(element, probability) pairs that balance the crystal when ``orbit`` (atoms of element
    ``own``) takes the element, among the orbit's :data:`CANDIDATES` likeliest ones."""
    out = []
    for i in torch.argsort(probs, descending=True)[:CANDIDATES].tolist():
        z, p = i + 1, float(probs[i])
        if p <= 0 or z == own:
            continue
        new = counts.copy()
        new[own] -= len(orbit)
        new[z] += len(orbit)
        if all(new[r] > 0 for r in required) and _balanced(new):
            out.append((z, p))
    return out


def balance_charges(before: torch.Tensor, tokens: torch.Tensor, logits: torch.Tensor,
                    inputs, generator: torch.Generator | None = None) -> torch.Tensor:
    """``tokens`` (B, N) after a reveal (``before``: the tokens it started from) with each templated
    crystal whose last orbits this step revealed made charge balanced, where one orbit's redraw can
    (see the module docstring). ``logits`` (B, N, E): the orbit-averaged element logits of the step;
    ``inputs``: the batch's ``mask``, ``allowed``, ``required`` and ``symmetry`` (its projector)."""
    if not inputs.symmetry:   # no templated crystal in the batch
        return tokens
    out = tokens.clone()
    masked = lambda x: ((x == MASK) & inputs.mask).any(1)
    finished = (masked(before) & ~masked(tokens)).nonzero().flatten().tolist()
    for b in finished:     # the crystals whose last orbits this step revealed
        orbits = inputs.symmetry.orbits_of(b)
        if orbits is None:
            continue
        counts = Counter(int(z) for z in tokens[b, inputs.mask[b]])
        if _balanced(counts):
            continue
        options = []
        for orbit in (o for o in orbits if int(before[b, o[0]]) == MASK):
            first = orbit[0]
            probs = torch.softmax(logits[b, first].float().masked_fill(
                ~inputs.allowed[b, first], float("-inf")), -1)
            own = int(tokens[b, first])
            options += [(orbit, z, p) for z, p in _redraws(counts, orbit, own, probs,
                                                          inputs.required[b])]
        if options:
            weights = torch.tensor([p for *_, p in options], dtype=torch.float64,
                                   device=None if generator is None else generator.device)
            orbit, z, _ = options[int(torch.multinomial(weights, 1, generator=generator))]
            out[b, orbit] = z
    return out
