"""One table and a few rates for a batch of generated crystals: valid, unique, novel, stable, S.U.N.

* formula: as chemists write it (:func:`crystal_lab.structures.formula`: ``BaTiO3``,
  ``Li3PS2Cl2``).
* valid: CDVAE structural and compositional validity (:mod:`.validation`).
* unique: first occurrence of each distinct valid crystal in the batch (:mod:`.duplicates`).
* novel: matches no reference structure (default: the training data, MP-20 val).
* stable: three-valued, ``stable_verdict`` "yes" / "no" / "unknown" with ``stable_note`` (one
  sentence). "yes": CHGNet energy above the hull of the shipped MP-20 reference table below
  ``threshold`` (default 0.1 eV/atom, MatterGen's S.U.N. cut; :mod:`.hull`) with a complete
  reference (every sub-system the hull depends on has a compound in the table, ``hull_complete``).
  "unknown": below the cut but the reference lacks a phase the hull needs ("the reference table
  has no compound of Ba-Ti"), or CHGNet gave no energy; "no": at or above the cut, or the
  structure is invalid (not evaluated). Stability is said once: there is no second, boolean
  column beside the verdict.
* S.U.N. (MatterGen, Zeni et al., Nature 2025): stable ("yes") *and* unique *and* novel; the
  S.U.N. rate is the number of S.U.N. structures over all generated structures
  (``n_sun_uncertain`` beside it counts "unknown" ones that are unique and novel).

All rates are fractions of the whole batch ``n``; "unknown" counts as not stable in the rates and
is reported apart (``n_stable_unknown``; ``n_stable_uncertain`` of them are below the cut). Each
input becomes one :class:`~.rows.Row` on entry (:mod:`.rows`): read, converted and validated
once, and that row goes to the matchers, CHGNet, the hull and the dashboard. A row that cannot be
evaluated (None, another object, a disordered Structure, NaN coordinates, no atoms, a degenerate
cell, atoms on top of each other) gets its reason in the ``reason`` column, never reaches the
matchers or CHGNet, and never stops the batch.
``baseline=True`` evaluates, with the same settings, one random structure of the same
composition per structure (:func:`random_baseline`) and shows its rates beside the model's
(``Summary.baseline``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .hull import hull_reference
from .rows import rows_of
from .settings import StabilitySettings, progress_bar, resolve

COLUMNS = ["formula", "n_atoms", "space_group", "space_group_number", "structurally_valid",
           "compositionally_valid", "valid", "reason", "unique", "duplicate_of", "novel",
           "energy_per_atom", "formation_energy_per_atom", "e_above_hull", "hull_complete",
           "missing_subsystems", "built_references", "stable_verdict", "stable_note", "sun"]
RATE_KEYS = ("validity", "uniqueness", "novelty", "stability", "sun")
VERDICTS = ("yes", "no", "unknown")


@dataclass(repr=False)
class Summary:
    """``table`` (pandas DataFrame, one row per structure) and ``rates`` (a dict).

    Unpacks as ``table, rates = summarize(...)``. ``save(path)`` writes the table as CSV.
    ``baseline``: the :class:`Summary` of the random baseline when asked for, else None.
    ``rows``: the evaluated :class:`~.rows.Row` of each input (what the dashboard reads).
    """

    table: Any
    rates: dict
    structures: list = field(default_factory=list, repr=False)
    relaxed: list = field(default_factory=list, repr=False)
    hull: Any = field(default=None, repr=False)
    baseline: Any = field(default=None, repr=False)
    rows: list = field(default_factory=list, repr=False)

    def __iter__(self):
        return iter((self.table, self.rates))

    def save(self, path) -> str:
        """Write the per-structure table as CSV (rates in the header comment); return the path."""
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
        return pd.DataFrame({"model": [self.rates[k] for k in keys],   # 0.75, not 0.750000
                             "random baseline": [b[k] for k in keys]}, index=keys).round(3)

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
                      (f"stable yes / no / unknown: {r['n_stable']} / {r['n_stable_no']} / "
                       f"{r['n_stable_unknown']}"),
                      line("S.U.N.:", "n_sun", "sun")]
            if r["n_stable_uncertain"]:
                lines.append(f"unknown: {r['n_stable_uncertain']} below the cut "
                             f"({r['n_sun_uncertain']} of them unique and novel) but the "
                             "reference table lacks a phase their hull needs (see "
                             "missing_subsystems and stable_note): they may not be stable")
            failed = r["n_stable_unknown"] - r["n_stable_uncertain"]
            if failed:
                lines.append(f"unknown: {failed} valid structure(s) got no E_hull from CHGNet "
                             "(see stable_note)")
        else:
            lines.append("stable: not computed (stability=False): every verdict is unknown")
        return "\n".join(lines)

    def report(self) -> str:
        """The text report (same as :meth:`text`)."""
        return self.text()

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Summary: {self.text()}>"

    def _repr_pretty_(self, p, _cycle) -> None:  # IPython / Jupyter display: the report
        p.text(self.text())


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _empty_table():
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def summarize(structures, reference=None, stability: bool = True, hull=None,
              settings: StabilitySettings | None = None, *, threshold: float | None = None,
              relax: bool | None = None, steps: int | None = None, fmax: float | None = None,
              max_atoms: int | None = None, progress: bool | None = None, matcher=None,
              callback=None, baseline: bool = False, baseline_seed: int = 0) -> Summary:
    """Evaluate a batch: one table row per structure plus the rates (see module docstring).

    ``structures``: one structure or a list of them (a dict is refused: pass its values).
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
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (stage, done, total), got "
                        f"{type(callback).__name__}")
    rows, _ = rows_of(structures)
    n = len(rows)
    if n == 0:
        empty = Summary(_empty_table(), _rates(_empty_table(), 0, stability, s))
        return Summary(empty.table, empty.rates, baseline=empty if baseline else None)

    def report(stage: str, done: int, total: int) -> None:
        if callback is not None:
            callback(stage, done, total)

    table = _metric_table(rows, reference, matcher, s.progress, report)
    hull_ref = hull_reference(hull, s) if stability else None
    relaxed = _add_stability(table, rows, hull_ref, s, report)
    report("done", n, n)
    base = None
    if baseline:
        from .baseline import random_baseline

        base = summarize(random_baseline([r.original for r in rows if r.symbols],
                                         seed=baseline_seed),
                         reference=reference, stability=stability, hull=hull, settings=s,
                         matcher=matcher)
    return Summary(table, _rates(table, n, stability, s), [r.original for r in rows], relaxed,
                   hull_ref, base, rows)


def _metric_table(rows, reference, matcher, progress: bool, report):
    """The first columns: formula, space group, validity, uniqueness, novelty (one row each)."""
    import pandas as pd

    from .duplicates import duplicate_labels, novel_flags, reference_index
    from .validation import combined, smact_row, structural_row

    n = len(rows)
    report("validity", 0, n)
    struct = [structural_row(r) for r in rows]
    comp = [smact_row(r) for r in rows]
    ok = [bool(v) for v in struct]  # only structurally valid rows reach the matchers
    report("uniqueness", 0, n)
    labels = duplicate_labels(rows, ok, matcher, progress)
    report("loading the reference set" if reference is None else "novelty", 0, n)
    index = reference_index(reference)
    report("novelty", 0, n)
    novel = novel_flags(rows, ok, index, matcher, progress)
    records = []
    for i, r in enumerate(rows):
        both = combined(struct[i], comp[i])
        sg_symbol, sg_number = r.space_group if ok[i] else ("", None)
        records.append({
            "formula": r.formula, "n_atoms": r.n_atoms,
            "space_group": sg_symbol, "space_group_number": sg_number,
            "structurally_valid": struct[i].valid, "compositionally_valid": comp[i].valid,
            "valid": both.valid, "reason": both.reason,
            "unique": labels[i] == i, "duplicate_of": labels[i] if labels[i] >= 0 else None,
            "novel": novel[i]})
    table = pd.DataFrame(records, columns=COLUMNS[:11])
    table["space_group_number"] = table["space_group_number"].astype("Int64")  # None -> <NA>
    table["duplicate_of"] = table["duplicate_of"].astype("Int64")
    return table


def _add_stability(table, rows, hull_ref, s: StabilitySettings, report) -> list:
    """Add CHGNet energies, E_hull and the verdict of each row to ``table``; return the relaxed
    structures. Stability is said once, in ``stable_verdict`` (yes / no / unknown; the sentence
    why in ``stable_note``). Without a hull (``stability=False``) every verdict is "unknown"; an
    invalid row is "no". ``sun``: "yes", unique and novel."""
    import pandas as pd

    n = len(rows)
    nan = float("nan")
    cols = {"energy_per_atom": [nan] * n, "formation_energy_per_atom": [nan] * n,
            "e_above_hull": [nan] * n, "hull_complete": [None] * n,
            "missing_subsystems": [None] * n, "built_references": [None] * n,
            "stable_verdict": ["unknown"] * n,
            "stable_note": ["unknown: stability was not computed (stability=False)"] * n}
    relaxed: list = [None] * n
    todo = [i for i in range(n) if table.at[i, "valid"]] if hull_ref is not None else []
    for k, i in enumerate(progress_bar(todo, s.progress, "CHGNet stability")):
        report("CHGNet stability", k, len(todo))
        result = hull_ref.evaluate_safely(rows[i])
        cols["energy_per_atom"][i] = result.energy_per_atom
        cols["formation_energy_per_atom"][i] = result.formation_energy_per_atom
        cols["e_above_hull"][i] = result.e_above_hull
        relaxed[i] = result.relaxed
        if result.hull_complete is not None:
            cols["hull_complete"][i] = result.hull_complete
            cols["missing_subsystems"][i] = list(result.missing_subsystems)
            cols["built_references"][i] = list(result.built_references)
        cols["stable_verdict"][i], cols["stable_note"][i] = result.verdict(s.threshold)
    if hull_ref is not None:
        report("CHGNet stability", len(todo), len(todo))
        for i in set(range(n)) - set(todo):
            cols["stable_verdict"][i] = "no"
            cols["stable_note"][i] = ("no: not evaluated, the structure is invalid "
                                      f"({table.at[i, 'reason']})")
    for name, values in cols.items():
        table[name] = pd.array(values, dtype="boolean") if name == "hull_complete" else values
    table["sun"] = (table["stable_verdict"] == "yes") & table["unique"] & table["novel"]
    return relaxed


def _uncertain(table, threshold: float):
    """Rows whose verdict is "unknown" although their E_hull is below the cut (the reference
    lacks a phase their hull needs)."""
    below = table["e_above_hull"].to_numpy(dtype=float) < threshold  # nan compares False
    return (table["stable_verdict"] == "unknown").to_numpy() & below


def _rates(table, n: int, stability: bool, s: StabilitySettings) -> dict:
    nan = float("nan")
    t = table

    def rate(count: int) -> float:
        return count / n if n else nan

    def count(mask) -> int:
        return int(np.asarray(mask, dtype=bool).sum())

    counts = {k: count(t[k]) for k in ("structurally_valid", "compositionally_valid", "valid",
                                       "unique", "novel", "sun")}
    verdicts = {v: count(t["stable_verdict"] == v) for v in VERDICTS}
    uncertain = _uncertain(t, s.threshold)
    finite = np.isfinite(t["e_above_hull"].to_numpy(dtype=float))
    return {
        "n": n,
        "n_valid": counts["valid"], "validity": rate(counts["valid"]),
        "structural_validity": rate(counts["structurally_valid"]),
        "compositional_validity": rate(counts["compositionally_valid"]),
        "n_unique": counts["unique"], "uniqueness": rate(counts["unique"]),
        "n_novel": counts["novel"], "novelty": rate(counts["novel"]),
        "stability_evaluated": bool(stability),
        "stability_threshold": s.threshold,
        "n_evaluated": count(finite),
        "n_stable": verdicts["yes"], "stability": rate(verdicts["yes"]) if stability else nan,
        "n_stable_no": verdicts["no"], "n_stable_unknown": verdicts["unknown"],
        "n_stable_uncertain": count(uncertain),
        "n_incomplete_reference": count(finite & ~t["hull_complete"].fillna(True)
                                        .to_numpy(dtype=bool)),
        "n_sun": counts["sun"], "sun": rate(counts["sun"]) if stability else nan,
        "n_sun_uncertain": count(uncertain & t["unique"].to_numpy(dtype=bool)
                                 & t["novel"].to_numpy(dtype=bool)),
        "relaxed": bool(s.relax and stability), "relax_steps": s.steps if s.relax else 0,
    }
