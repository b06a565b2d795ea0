"""One table and a few rates for a batch of generated crystals: valid, unique, novel, stable, S.U.N.

* valid: CDVAE structural and compositional validity (:mod:`.validity`).
* unique: first occurrence of each distinct crystal in the batch (:mod:`.uniqueness`).
* novel: matches no reference structure (default: the training data).
* stable: CHGNet energy above the reference hull below ``threshold`` (default 0.1 eV/atom, the
  cut MatterGen uses for its S.U.N. metric; :mod:`.stability`). Stability is computed for valid
  structures only (the rest get nan and a note).
* S.U.N. (MatterGen, Zeni et al., Nature 2025): stable *and* unique *and* novel; the S.U.N. rate
  is the number of S.U.N. structures over all generated structures.

All rates are fractions of the whole batch ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..structures import as_list, reduced_formula, space_group, to_structure
from .stability import MAX_ATOMS, RELAX_FMAX, RELAX_STEPS, STABILITY_THRESHOLD


@dataclass
class Summary:
    """``table`` (pandas DataFrame, one row per structure) and ``rates`` (a dict).

    Unpacks as ``table, rates = summarize(...)``. ``save(path)`` writes the table as CSV.
    """

    table: Any
    rates: dict
    structures: list = field(default_factory=list, repr=False)
    relaxed: list = field(default_factory=list, repr=False)
    hull: Any = field(default=None, repr=False)

    def __iter__(self):
        return iter((self.table, self.rates))

    def save(self, path) -> str:
        """Write the per-structure table as CSV (rates go in the header comment); return the path."""
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            fh.write("# " + "; ".join(f"{k}={_fmt(v)}" for k, v in self.rates.items()) + "\n")
            self.table.to_csv(fh, index_label="index")
        return str(path)

    def text(self) -> str:
        """The rates as a few human-readable lines, the stability threshold stated."""
        r = self.rates
        lines = [f"{r['n']} structures",
                 (f"valid:  {r['n_valid']:>5}  ({_pct(r['validity'])})  "
                  f"[structural {_pct(r['structural_validity'])}, "
                  f"compositional {_pct(r['compositional_validity'])}]"),
                 f"unique: {r['n_unique']:>5}  ({_pct(r['uniqueness'])})",
                 f"novel:  {r['n_novel']:>5}  ({_pct(r['novelty'])})"]
        if r.get("stability_evaluated"):
            lines += [(f"stable: {r['n_stable']:>5}  ({_pct(r['stability'])})  "
                       f"[E_hull < {r['stability_threshold']} eV/atom, CHGNet]"),
                      f"S.U.N.: {r['n_sun']:>5}  ({_pct(r['sun'])})"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def summarize(structures, reference=None, stability: bool = True,
              threshold: float = STABILITY_THRESHOLD, relax: bool = True,
              steps: int = RELAX_STEPS, fmax: float = RELAX_FMAX, max_atoms: int = MAX_ATOMS,
              matcher=None, progress: bool = True, callback=None) -> Summary:
    """Evaluate a batch: one table row per structure plus the rates (see module docstring).

    ``reference``: structures for novelty and for the competing phases of the hull (default: the
    training data, MP-20 val). ``stability=False`` skips CHGNet (fast). ``threshold``: E_hull cut
    for "stable" in eV/atom. ``relax``/``steps``/``fmax``: the bounded CHGNet relaxation applied to
    generated and reference structures alike. ``callback(stage, done, total)``, if given, is
    called as the work advances (the dashboard drives its progress bar with it).
    """
    import pandas as pd

    from .stability import _bar, hull_reference
    from .stability import stability as chgnet_stability
    from .uniqueness import duplicate_groups, is_novel, reference_index
    from .validity import smact_validity, structural_validity

    def report(stage: str, done: int, total: int) -> None:
        if callback is not None:
            callback(stage, done, total)

    items = as_list(structures)
    n = len(items)
    report("validity", 0, n)
    struct = structural_validity(items)
    comp = smact_validity(items)
    report("uniqueness", 0, n)
    groups = duplicate_groups(items, matcher, progress)
    report("loading the reference set" if reference is None else "novelty", 0, n)
    index = reference_index(reference)
    report("novelty", 0, n)
    novel = is_novel(items, index, matcher, progress) if n else []
    rows = []
    for i, x in enumerate(items):
        sg_symbol, sg_number = space_group(x) if struct[i].valid else ("", None)
        reasons = [r.reason for r in (struct[i], comp[i]) if not r.valid]
        rows.append({
            "formula": reduced_formula(x), "n_atoms": len(to_structure(x)),
            "space_group": sg_symbol, "space_group_number": sg_number,
            "structurally_valid": struct[i].valid, "compositionally_valid": comp[i].valid,
            "valid": not reasons, "reason": "; ".join(reasons),
            "unique": groups[i] == i, "duplicate_of": groups[i], "novel": novel[i],
        })
    table = pd.DataFrame(rows, columns=[
        "formula", "n_atoms", "space_group", "space_group_number", "structurally_valid",
        "compositionally_valid", "valid", "reason", "unique", "duplicate_of", "novel"])
    table["space_group_number"] = table["space_group_number"].astype("Int64")  # None -> <NA>

    relaxed: list = [None] * n
    hull = None
    nan = float("nan")
    energy, e_form, e_hull, note = [nan] * n, [nan] * n, [nan] * n, [""] * n
    if stability:
        hull = hull_reference(index.items, relax, steps, fmax, max_atoms, progress)
        todo = [i for i in range(n) if table.at[i, "valid"]]
        results = []
        for k, i in enumerate(_bar(todo, progress, "CHGNet stability")):
            report("CHGNet stability", k, len(todo))
            results.append(chgnet_stability(items[i], hull, progress=False))
        report("CHGNet stability", len(todo), len(todo))
        for i, r in zip(todo, results):
            energy[i], e_form[i], e_hull[i] = (r.energy_per_atom, r.formation_energy_per_atom,
                                               r.e_above_hull)
            relaxed[i], note[i] = r.relaxed, r.reason
        for i in set(range(n)) - set(todo):
            note[i] = "not evaluated (invalid)"
    table["energy_per_atom"] = energy
    table["formation_energy_per_atom"] = e_form
    table["e_above_hull"] = e_hull
    table["stable"] = np.array(e_hull) < threshold  # nan compares False
    table["sun"] = table["stable"] & table["unique"] & table["novel"]
    table["stability_note"] = note

    def rate(count: int) -> float:
        return count / n if n else float("nan")

    counts = {k: int(table[k].sum()) for k in
              ("structurally_valid", "compositionally_valid", "valid", "unique", "novel",
               "stable", "sun")}
    rates = {
        "n": n,
        "n_valid": counts["valid"], "validity": rate(counts["valid"]),
        "structural_validity": rate(counts["structurally_valid"]),
        "compositional_validity": rate(counts["compositionally_valid"]),
        "n_unique": counts["unique"], "uniqueness": rate(counts["unique"]),
        "n_novel": counts["novel"], "novelty": rate(counts["novel"]),
        "stability_evaluated": bool(stability),
        "stability_threshold": threshold,
        "n_stable": counts["stable"], "stability": rate(counts["stable"]) if stability else nan,
        "n_sun": counts["sun"], "sun": rate(counts["sun"]) if stability else nan,
        "relaxed": bool(relax and stability), "relax_steps": steps if relax else 0,
    }
    report("done", n, n)
    return Summary(table, rates, items, relaxed, hull)
