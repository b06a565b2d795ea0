"""Classifier-free guidance: the denoiser's predictions mixed from calls with and without the
prompt's conditions (one batched call for all the variants a step needs)."""
from __future__ import annotations

import torch

PROPERTY_KEYS = ("system", "energy", "energy_given")   # the property conditions among the extras


def guided(net, w: float, frac, tokens, lat, lattice, t, cond, mask, extra: dict, wp: float = 0.0):
    """The denoiser's three predictions, with classifier-free guidance.

    Guidance (Ho & Salimans 2022; Chemeleon, MatterGen) mixes predictions made with and without
    conditions, for the score, the lattice noise and the element logits:

        out = uncond + w * (full - uncond) + wp * (full - no_property)

    ``full`` sees every condition, ``uncond`` none, ``no_property`` the elements but not the
    crystal system and energy. ``w`` is the element guidance (``w = 1``: the plain conditional
    model); ``wp`` the property guidance (``wp = 0``: none; MatterGen's factor gamma is
    ``wp = gamma - 1``). All needed variants run as one batched call; with ``w = 1, wp = 0`` it is
    one call of batch B.
    """
    props = {k: v for k, v in extra.items() if k in PROPERTY_KEYS}
    wp = float(wp) if props else 0.0
    if w == 1.0 and wp == 0.0:
        return net(frac, tokens, lat, lattice, t, cond, mask, **extra)
    B = cond.shape[0]
    none = torch.zeros_like(cond)
    none[:, -1] = 1.0
    conds, extras = [cond], [extra]
    if w != 1.0:       # uncond: no element and no property condition
        conds.append(none)
        extras.append({k: torch.zeros_like(v) if k != "energy" else v for k, v in extra.items()})
    if wp != 0.0:      # no_property: the elements only
        conds.append(cond)
        extras.append({k: torch.zeros_like(v) if k != "energy" else v for k, v in extra.items()})
    k = len(conds)
    many = lambda x: torch.cat([x] * k)
    merged = {key: torch.cat([e[key] for e in extras]) for key in extra}
    out = net(many(frac), many(tokens), many(lat), many(lattice), many(t), torch.cat(conds),
              many(mask), **merged)
    mixed = []
    for o in out:
        parts = o.split(B)
        full, i = parts[0], 1
        if w != 1.0:
            uncond = parts[i]
            i += 1
            res = uncond + w * (full - uncond)
        else:
            res = full
        if wp != 0.0:
            res = res + wp * (full - parts[i])
        mixed.append(res)
    return tuple(mixed)
