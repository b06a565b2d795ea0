"""Quality badges of one generated structure, as short facts a student can read at a glance.

* structurally valid, or the reason it is not (:func:`crystal_lab.evaluate.structural_validity`:
  all distances >= 0.5 Å, volume > 0.1 Å³, CDVAE's rule);
* SMACT valid (charge-balanced with SMACT's oxidation states and Pauling test);
* volume per atom against the range of the MP-20 crystals the model learned from;
* space group (spglib via pymatgen; "P1 (1)" means no symmetry found at 0.1 Å).
"""
from __future__ import annotations

import html

from ase import Atoms

from .facts import spacegroup

__all__ = ["VOLUME_PER_ATOM_RANGE", "quality_badges", "structure_quality"]

#: middle 95 % (2.5th-97.5th percentile) of the volume per atom (Å³) of MP-20's validation
#: split (9,047 crystals, the training split's distribution), measured with crystal_lab's loader.
VOLUME_PER_ATOM_RANGE = (9.6, 40.3)


def structure_quality(atoms: Atoms) -> dict:
    """``{"valid", "reason", "smact", "smact_reason", "volume_per_atom", "volume_ok",
    "spacegroup"}`` for one structure."""
    from crystal_lab.evaluate.rows import row_of
    from crystal_lab.evaluate.validation import smact_row, structural_row

    if (atoms.numbers == 0).any():
        return {"valid": False, "reason": "atom types still masked", "smact": False,
                "smact_reason": "atom types still masked", "volume_per_atom": float("nan"),
                "volume_ok": False, "spacegroup": spacegroup(atoms)}
    row = row_of(atoms)   # read and converted once for both verdicts
    s = structural_row(row)
    c = smact_row(row)
    vpa = abs(atoms.cell.volume) / max(len(atoms), 1)
    lo, hi = VOLUME_PER_ATOM_RANGE
    return {"valid": bool(s.valid), "reason": s.reason, "smact": bool(c.valid),
            "smact_reason": c.reason, "volume_per_atom": float(vpa),
            "volume_ok": bool(lo <= vpa <= hi), "spacegroup": spacegroup(atoms)}


def _badge(ok: bool | None, text: str, tip: str = "") -> str:
    colour = {True: ("#e6f4ea", "#1e7e34"), False: ("#fdecea", "#b00020"),
              None: ("#f1f3f4", "#333")}[ok]
    title = f" title='{html.escape(tip, quote=True)}'" if tip else ""
    return (f"<span class='cl-badge'{title} style='background:{colour[0]};color:{colour[1]};"
            f"border-radius:10px;padding:1px 8px;margin-right:6px;font-size:12px;"
            f"white-space:nowrap'>{html.escape(text)}</span>")


def quality_badges(atoms: Atoms, q: dict | None = None) -> str:
    """The badges of :func:`structure_quality` as one line of HTML."""
    q = structure_quality(atoms) if q is None else q
    lo, hi = VOLUME_PER_ATOM_RANGE
    parts = [
        _badge(q["valid"], "structurally valid" if q["valid"] else f"invalid: {q['reason']}"),
        _badge(q["smact"], "SMACT valid" if q["smact"] else "SMACT invalid",
               q["smact_reason"] or "charge-balanced with common oxidation states"),
        _badge(q["volume_ok"], f"{q['volume_per_atom']:.1f} Å³/atom "
               + ("(within MP-20's range)" if q["volume_ok"] else "(outside MP-20's range)"),
               f"middle 95% of MP-20: {lo}-{hi} Å³ per atom"),
        _badge(None if not q["spacegroup"].startswith("P1 ") else False,
               f"space group {q['spacegroup']}",
               "P1: no symmetry found (tolerance 0.1 Å)"),
    ]
    return f"<div class='cl-badges' style='margin:2px 0'>{''.join(parts)}</div>"
