"""One table and a few rates for a batch of generated crystals: valid, unique, novel, stable, S.U.N.

* valid: CDVAE structural and compositional validity (:mod:`.validity`).
* unique: first occurrence of each distinct crystal in the batch (:mod:`.uniqueness`).
* novel: matches no reference structure (default: the training data, MP-20 val).
* stable: CHGNet energy above the hull of the shipped MP-20 reference table below ``threshold``
  (default 0.1 eV/atom, MatterGen's S.U.N. cut; :mod:`.stability`) **and** a complete reference:
  every sub-system the hull depends on has a compound in the table (``hull_complete``). A
  structure under the cut whose reference is incomplete is counted apart as "uncertain"
  (``n_stable_uncertain``): its E_hull may only be low because a phase is missing.
  Stability is computed for valid structures only (the rest get nan and a note).
* S.U.N. (MatterGen, Zeni et al., Nature 2025): stable *and* unique *and* novel; the S.U.N. rate
  is the number of S.U.N. structures over all generated structures (``n_sun_uncertain`` beside it).

All rates are fractions of the whole batch ``n``. A structure that cannot be read (NaN
coordinates, atoms on top of each other, a zero-volume cell, no cell at all) gets its reason in
the ``reason`` column and never stops the batch. ``baseline=True`` evaluates, with the same
settings, one random structure of the same composition per structure (:func:`random_baseline`)
and shows its rates beside the model's (``Summary.baseline``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..structures import as_list, reduced_formula, space_group, symbols_of, to_structure
from .settings import StabilitySettings, progress_bar, resolve

COLUMNS = ["formula", "n_atoms", "space_group", "space_group_number", "structurally_valid",
           "compositionally_valid", "valid", "reason", "unique", "duplicate_of", "novel",
           "energy_per_atom", "formation_energy_per_atom", "e_above_hull", "hull_complete",
           "missing_subsystems", "built_references", "stable", "stable_uncertain", "sun",
           "stability_note"]
RATE_KEYS = ("validity", "uniqueness", "novelty", "stability", "sun")


@dataclass
class Summary:
    """``table`` (pandas DataFrame, one row per structure) and ``rates`` (a dict).

    Unpacks as ``table, rates = summarize(...)``. ``save(path)`` writes the table as CSV.
    ``baseline``: the :class:`Summary` of the random baseline when asked for, else None.
    """

    table: Any
    rates: dict
    structures: list = field(default_factory=list, repr=False)
    relaxed: list = field(default_factory=list, repr=False)
    hull: Any = field(default=None, repr=False)
    baseline: Any = field(default=None, repr=False)

    def __iter__(self):
        return iter((self.table, self.rates))

    def save(self, path) -> str:
        """Write the per-structure table as CSV (rates go in the header comment); return the path."""
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            fh.write("# " + "; ".join(f"{k}={_fmt(v)}" for k, v in self.rates.items()
                                      if not isinstance(v, dict)) + "\n")
            self.table.to_csv(fh, index_label="index")
        return str(path)

    def compare(self):
        """Model versus random baseline, one row per rate (a DataFrame; needs ``baseline=True``)."""
        import pandas as pd

        if self.baseline is None:
            raise ValueError("no baseline: call summarize(..., baseline=True)")
        b = self.baseline.rates
        keys = [k for k in RATE_KEYS if k in ("validity", "uniqueness", "novelty")
                or self.rates.get("stability_evaluated")]
        return pd.DataFrame({"model": [self.rates[k] for k in keys],
                             "random baseline": [b[k] for k in keys]}, index=keys)

    def text(self) -> str:
        """The rates as a few human-readable lines, the stability threshold stated; with a
        baseline, its rate beside each."""
        r = self.rates
        b = self.baseline.rates if self.baseline is not None else None

        def line(label: str, count_key: str, rate_key: str, extra: str = "") -> str:
            out = f"{label} {r[count_key]:>5}  ({_pct(r[rate_key])})"
            if b is not None:
                out += f"  | random baseline {_pct(b[rate_key])}"
            return out + extra

        lines = [f"{r['n']} structures" + (f" (random baseline: {b['n']} of the same "
                                           "compositions)" if b is not None else ""),
                 line("valid: ", "n_valid", "validity",
                      f"  [structural {_pct(r['structural_validity'])}, "
                      f"compositional {_pct(r['compositional_validity'])}]"),
                 line("unique:", "n_unique", "uniqueness"),
                 line("novel: ", "n_novel", "novelty")]
        if r.get("stability_evaluated"):
            lines += [line("stable:", "n_stable", "stability",
                           f"  [E_hull < {r['stability_threshold']} eV/atom, CHGNet, complete "
                           "reference]"),
                      line("S.U.N.:", "n_sun", "sun")]
            if r["n_stable_uncertain"] or r["n_incomplete_reference"]:
                lines.append(f"uncertain: {r['n_stable_uncertain']} more below the cut "
                             f"({r['n_sun_uncertain']} of them unique and novel) but with an "
                             f"incomplete reference; {r['n_incomplete_reference']} evaluated "
                             "structures in all lack a compound in a sub-system (see "
                             "missing_subsystems): their E_hull may be too low")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _readable(x) -> str:
    """"" when ``x`` can go through the matchers, else why not."""
    try:
        if len(symbols_of(x)) == 0:
            return "no atoms"
        s = to_structure(x)
        if not (np.isfinite(s.lattice.matrix).all() and np.isfinite(s.frac_coords).all()):
            return "non-finite lattice or coordinates (NaN/inf)"
        if not abs(s.lattice.volume) > 1e-6:
            return "the cell has no volume"
    except Exception as err:  # noqa: BLE001 -- any failure to read is the verdict
        return f"cannot read the structure: {type(err).__name__}: {err}"
    return ""


def _empty_table():
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def summarize(structures, reference=None, stability: bool = True, hull=None,
              settings: StabilitySettings | None = None, *, threshold: float | None = None,
              relax: bool | None = None, steps: int | None = None, fmax: float | None = None,
              max_atoms: int | None = None, progress: bool | None = None, matcher=None,
              callback=None, baseline: bool = False, baseline_seed: int = 0) -> Summary:
    """Evaluate a batch: one table row per structure plus the rates (see module docstring).

    ``reference``: structures for novelty (default: the training data, MP-20 val, from the
    shipped index: no CIF is parsed unless a formula matches). ``hull``: the competing phases
    (default: the CHGNet table of all of MP-20; ``"val"`` for the training data only, or a
    :class:`~crystal_lab.evaluate.HullReference`). ``stability=False`` skips CHGNet (fast).
    ``settings`` (or the single keywords ``threshold``, ``relax``, ``steps``, ``fmax``,
    ``max_atoms``, ``progress``): see :class:`~crystal_lab.evaluate.StabilitySettings`; the
    relaxation applies to the evaluated structures only. ``baseline=True``: also evaluate one
    random structure of the same composition per structure and put its rates beside the model's.
    ``callback(stage, done, total)``, if given, is called as the work advances.
    """
    s = resolve(settings, threshold=threshold, relax=relax, steps=steps, fmax=fmax,
                max_atoms=max_atoms, progress=progress)
    items = as_list(structures)
    n = len(items)
    if n == 0:
        return Summary(_empty_table(), _rates(None, 0, stability, s), [], [], None,
                       _empty_baseline(stability, s) if baseline else None)

    from .hull import hull_reference
    from .uniqueness import duplicate_groups, is_novel, reference_index
    from .validity import smact_validity, structural_validity

    def report(stage: str, done: int, total: int) -> None:
        if callback is not None:
            callback(stage, done, total)

    report("validity", 0, n)
    unreadable = [_readable(x) for x in items]
    ok = [i for i in range(n) if not unreadable[i]]
    struct = structural_validity(items)
    comp = smact_validity(items)
    report("uniqueness", 0, n)
    sub = [items[i] for i in ok]
    groups = [-1] * n
    for i, g in zip(ok, duplicate_groups(sub, matcher, s.progress)):
        groups[i] = ok[g]
    report("loading the reference set" if reference is None else "novelty", 0, n)
    index = reference_index(reference)
    report("novelty", 0, n)
    novel = [False] * n
    for i, flag in zip(ok, is_novel(sub, index, matcher, s.progress) if sub else []):
        novel[i] = flag
    rows = []
    for i, x in enumerate(items):
        sg_symbol, sg_number = space_group(x) if struct[i].valid else ("", None)
        reasons = [r.reason for r in (struct[i], comp[i]) if not r.valid]
        if unreadable[i] and unreadable[i] not in reasons and not struct[i].reason:
            reasons.insert(0, unreadable[i])
        rows.append({
            "formula": reduced_formula(x), "n_atoms": len(symbols_of(x)),
            "space_group": sg_symbol, "space_group_number": sg_number,
            "structurally_valid": struct[i].valid, "compositionally_valid": comp[i].valid,
            "valid": not reasons, "reason": "; ".join(reasons),
            "unique": groups[i] == i, "duplicate_of": groups[i], "novel": novel[i],
        })
    import pandas as pd

    table = pd.DataFrame(rows, columns=COLUMNS[:11])
    table["space_group_number"] = table["space_group_number"].astype("Int64")  # None -> <NA>

    relaxed: list = [None] * n
    hull_ref = None
    nan = float("nan")
    energy, e_form, e_hull = [nan] * n, [nan] * n, [nan] * n
    complete, missing, built, note = [False] * n, [[] for _ in range(n)], [[] for _ in range(n)], \
        [""] * n
    if stability:
        hull_ref = hull_reference(hull, s)
        todo = [i for i in range(n) if table.at[i, "valid"]]
        for k, i in enumerate(progress_bar(todo, s.progress, "CHGNet stability")):
            report("CHGNet stability", k, len(todo))
            r = hull_ref.evaluate_safely(items[i])
            energy[i], e_form[i], e_hull[i] = (r.energy_per_atom, r.formation_energy_per_atom,
                                               r.e_above_hull)
            relaxed[i], note[i] = r.relaxed, r.reason
            complete[i], missing[i] = r.hull_complete, list(r.missing_subsystems)
            built[i] = list(r.built_references)
        report("CHGNet stability", len(todo), len(todo))
        for i in set(range(n)) - set(todo):
            note[i] = "not evaluated (invalid)"
    table["energy_per_atom"] = energy
    table["formation_energy_per_atom"] = e_form
    table["e_above_hull"] = e_hull
    table["hull_complete"] = complete
    table["missing_subsystems"] = missing
    table["built_references"] = built
    below = np.array(e_hull) < s.threshold  # nan compares False
    table["stable"] = below & table["hull_complete"].to_numpy(dtype=bool)
    table["stable_uncertain"] = below & ~table["hull_complete"].to_numpy(dtype=bool)
    table["sun"] = table["stable"] & table["unique"] & table["novel"]
    table["stability_note"] = note

    rates = _rates(table, n, stability, s)
    report("done", n, n)
    base = None
    if baseline:
        from .baseline import random_baseline

        base = summarize(random_baseline(items, seed=baseline_seed), reference=reference,
                         stability=stability, hull=hull, settings=s, matcher=matcher)
    return Summary(table, rates, items, relaxed, hull_ref, base)


def _empty_baseline(stability: bool, s: StabilitySettings) -> Summary:
    return Summary(_empty_table(), _rates(None, 0, stability, s))


def _rates(table, n: int, stability: bool, s: StabilitySettings) -> dict:
    nan = float("nan")

    def rate(count: int) -> float:
        return count / n if n else nan

    keys = ("structurally_valid", "compositionally_valid", "valid", "unique", "novel", "stable",
            "stable_uncertain", "sun")
    counts = {k: int(table[k].sum()) if table is not None else 0 for k in keys}
    evaluated = int(np.isfinite(table["e_above_hull"].to_numpy(dtype=float)).sum()) \
        if table is not None else 0
    incomplete = int((~table["hull_complete"].astype(bool) &
                      np.isfinite(table["e_above_hull"].to_numpy(dtype=float))).sum()) \
        if table is not None else 0
    sun_uncertain = int((table["stable_uncertain"] & table["unique"] & table["novel"]).sum()) \
        if table is not None else 0
    return {
        "n": n,
        "n_valid": counts["valid"], "validity": rate(counts["valid"]),
        "structural_validity": rate(counts["structurally_valid"]),
        "compositional_validity": rate(counts["compositionally_valid"]),
        "n_unique": counts["unique"], "uniqueness": rate(counts["unique"]),
        "n_novel": counts["novel"], "novelty": rate(counts["novel"]),
        "stability_evaluated": bool(stability),
        "stability_threshold": s.threshold,
        "n_evaluated": evaluated,
        "n_stable": counts["stable"], "stability": rate(counts["stable"]) if stability else nan,
        "n_stable_uncertain": counts["stable_uncertain"],
        "n_incomplete_reference": incomplete,
        "n_sun": counts["sun"], "sun": rate(counts["sun"]) if stability else nan,
        "n_sun_uncertain": sun_uncertain,
        "relaxed": bool(s.relax and stability), "relax_steps": s.steps if s.relax else 0,
    }
