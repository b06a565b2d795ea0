"""Validate the CHGNet hull of the shipped reference table against DFT (Materials Project).

    python benchmarks/bench_hull.py                    # the numbers in docs/evaluation.md
    python benchmarks/bench_hull.py --n 100            # quicker
    python benchmarks/bench_hull.py --table runs/reftable/energies.csv   # a table still growing

1. Held-out test structures against a hull from MP-20 **val** only: every MP-20 structure lies
   within 0.08 eV/atom of the DFT hull, so a good CHGNet hull puts the test structures' E_hull
   near [-0.05, 0.1] eV/atom. ``--n`` compounds of MP-20 test (seed 0; elemental phases left out,
   they are their own reference) are placed on the val-only hull with their table energies (no
   CHGNet runs); the same structures are placed on a DFT hull of val built from the data set's
   ``formation_energy_per_atom`` (read through ``crystal_lab.datasets.load_dataset`` at run time,
   never
   stored). Reports the fraction in [-0.05, 0.1], the median, the worst cases, and the same split
   by complete / incomplete reference (:meth:`ReferenceTable.missing_subsystems`). A structure is
   named by its split and row in the data set (``"test:812"`` is
   ``load_dataset("mp_20", "test")[812]``, :meth:`ReferenceTable.key`); the results hold no
   Materials Project id.
2. Leave one out: the same test compounds, each against every other val + test compound, CHGNet
   and DFT side by side (what the shipped hull does for a known structure it does not hold).
3. Known ground states against the full val + test hull, evaluated with ``stability()`` (bounded
   CHGNet relaxation of the structure only): rock-salt NaCl and LiCl, diamond Si, cubic SrTiO3
   (expected within 0.05 eV/atom) and rock-salt MgO, which MP-20 lacks (expected a little below).

Writes ``benchmarks/results/hull_validation.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from _results import save_json

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW = (-0.05, 0.1)


def known_ground_states():
    """(label, Atoms) of the ground states used in the tests; lattice constants are rough on
    purpose (the bounded relaxation finds CHGNet's own)."""
    from ase import Atoms
    from ase.build import bulk

    sto = Atoms("SrTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0],
                                            [0.5, 0, 0.5], [0, 0.5, 0.5]],
                cell=[3.91] * 3, pbc=True)
    return [("rock-salt NaCl", bulk("NaCl", "rocksalt", a=5.69)),
            ("rock-salt LiCl", bulk("LiCl", "rocksalt", a=5.14)),
            ("diamond Si", bulk("Si", "diamond", a=5.47)),
            ("cubic SrTiO3", sto),
            ("rock-salt MgO (not in MP-20)", bulk("MgO", "rocksalt", a=4.25))]


def data_rows() -> dict[tuple[str, str], int]:
    """``{(split, material_id): row}`` of MP-20 val and test, read from the data at run time (the
    CSV text only, no CIF parsed); the ids stay in memory."""
    import csv
    import gzip

    from crystal_lab.datasets import dataset_path

    csv.field_size_limit(1 << 30)
    out = {}
    for split in ("val", "test"):
        path = Path(dataset_path("mp_20", split))
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", newline="") as fh:
            for k, r in enumerate(csv.DictReader(fh)):
                out[split, r["material_id"]] = k
    return out


def table_from_csv(csv_path: Path) -> Path:
    """An npz table from the builder's growing ``energies.csv`` (no built elements), for a try."""
    import csv

    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    row_of = data_rows()
    out = Path(tempfile.mkdtemp()) / "partial.npz"
    np.savez_compressed(out, row=np.array([row_of[r["split"], r["material_id"]] for r in rows]),
                        split=np.array([r["split"] for r in rows]),
                        formula=np.array([r["formula"] for r in rows]),
                        n_atoms=np.array([int(r["n_atoms"]) for r in rows], dtype=np.int16),
                        e_per_atom=np.array([float(r["e_per_atom"]) for r in rows]),
                        built=np.zeros(len(rows), bool), built_from=np.array([""] * len(rows)))
    print(f"partial table from {csv_path}: {len(rows)} rows", flush=True)
    return out


def dft_formation_energies() -> dict[str, float]:
    """``{"val:812": DFT formation energy per atom}`` of MP-20 val and test, keyed like
    :meth:`ReferenceTable.key`, read from the data at run time."""
    from crystal_lab.datasets import load_dataset

    out = {}
    for split in ("val", "test"):
        for k, a in enumerate(load_dataset("mp_20", split)):
            out[f"{split}:{k}"] = float(a.info["formation_energy_per_atom"])
    return out


def dft_e_hull(val_table, rows, test_table, dft: dict[str, float]) -> list[float]:
    """DFT E_hull of ``rows`` of ``test_table`` against a DFT hull of the val compounds."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    diagrams: dict = {}
    out = []
    for i in rows:
        els = sorted({e.symbol for e in Composition(str(test_table.formula[i])).elements})
        key = frozenset(els)
        if key not in diagrams:
            entries = [PDEntry(Composition({el: 1}), 0.0) for el in els]
            for j in val_table.compounds(els):
                mid = val_table.key(j)
                if mid in dft:
                    comp = Composition(str(val_table.formula[j]))
                    entries.append(PDEntry(comp, dft[mid] * comp.num_atoms))
            diagrams[key] = PhaseDiagram(entries)
        comp = Composition(str(test_table.formula[i]))
        mid = test_table.key(i)
        if mid not in dft:
            out.append(float("nan"))
            continue
        _, e = diagrams[key].get_decomp_and_e_above_hull(PDEntry(comp, dft[mid] * comp.num_atoms),
                                                         allow_negative=True)
        out.append(float(e))
    return out


def leave_one_out(full, rows, dft: dict[str, float]) -> tuple[list[float], list[float]]:
    """CHGNet and DFT E_hull of each of ``rows`` against all other val + test compounds (the
    structure itself and nothing else left out of the hull)."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    chgnet, dft_out = [], []
    for i in rows:
        els = sorted({e.symbol for e in Composition(str(full.formula[i])).elements})
        mid = full.key(i)
        others = [e for e in full.entries(els) if e.attribute != mid]
        comp = Composition(str(full.formula[i]))
        comp = comp * (full.n_atoms[i] / comp.num_atoms)
        own = PDEntry(comp, float(full.e_per_atom[i]) * full.n_atoms[i])
        chgnet.append(float(PhaseDiagram(others).get_decomp_and_e_above_hull(
            own, allow_negative=True)[1]))
        entries = [PDEntry(Composition({el: 1}), 0.0) for el in els]
        for j in full.compounds(els):
            other = full.key(j)
            if other != mid and other in dft:
                c = Composition(str(full.formula[j]))
                entries.append(PDEntry(c, dft[other] * c.num_atoms))
        if mid in dft:
            e = PhaseDiagram(entries).get_decomp_and_e_above_hull(
                PDEntry(comp, dft[mid] * comp.num_atoms), allow_negative=True)[1]
            dft_out.append(float(e))
        else:
            dft_out.append(float("nan"))
    return chgnet, dft_out


def distribution(values) -> dict:
    v = np.asarray([x for x in values if np.isfinite(x)])
    if not len(v):
        return {"n": 0}
    inside = (v >= WINDOW[0]) & (v <= WINDOW[1])
    return {
        "n": len(v),
        "fraction_in_window": round(float(inside.mean()), 4),
        "median": round(float(np.median(v)), 4),
        "mean": round(float(v.mean()), 4),
        "p05": round(float(np.percentile(v, 5)), 4),
        "p95": round(float(np.percentile(v, 95)), 4),
        "below_-0.05": int((v < WINDOW[0]).sum()),
        "above_0.1": int((v > WINDOW[1]).sum()),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", default=None, help="an npz table or the builder's energies.csv "
                   "(default: the shipped table)")
    p.add_argument("--skip-ground-states", action="store_true")
    p.add_argument("--out", default=str(RESULTS / "hull_validation.json"))
    args = p.parse_args(argv)

    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    from crystal_lab.evaluate.reference_phases import ReferenceTable, table_path

    path = Path(args.table) if args.table else table_path()
    if path.suffix == ".csv":
        path = table_from_csv(path)
    val = ReferenceTable(("val",), path=path)
    full = ReferenceTable(("val", "test"), path=path)
    test_rows = [i for i in full.rows("test") if len(Composition(str(full.formula[i]))) > 1]
    rng = np.random.default_rng(args.seed)
    pick = sorted(
        int(i) for i in rng.choice(test_rows, size=min(args.n, len(test_rows)), replace=False)
    )

    t0 = time.perf_counter()
    chgnet, complete, missing, skipped = [], [], [], []
    for i in list(pick):
        comp = Composition(str(full.formula[i])) * (full.n_atoms[i] /
                                                     Composition(str(full.formula[i])).num_atoms)
        els = sorted({e.symbol for e in comp.elements})
        entry = PDEntry(comp, float(full.e_per_atom[i]) * full.n_atoms[i])
        try:
            diagram = val.phase_diagram(els)
        except KeyError:  # a partial table may lack an element
            skipped.append(str(full.formula[i]))
            pick.remove(i)
            continue
        _, e = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
        chgnet.append(float(e))
        miss = val.missing_subsystems(els)
        missing.append(miss)
        complete.append(not miss)
    seconds = time.perf_counter() - t0
    print(f"{len(pick)} test compounds on the val-only CHGNet hull in {seconds:.1f} s"
          f"{f' ({len(skipped)} skipped: an element without a reference)' if skipped else ''}",
          flush=True)

    dft = dft_formation_energies()
    dft_hull = dft_e_hull(val, pick, full, dft)
    chg, dfa, comp_mask = np.array(chgnet), np.array(dft_hull), np.array(complete)
    finite = np.isfinite(dfa)
    diff = chg[finite] - dfa[finite]
    order = np.argsort(chg)
    worst = [{"row": full.key(pick[k]), "formula": str(full.formula[pick[k]]),
              "chgnet_e_hull": round(chg[k], 4), "dft_e_hull_vs_val": round(float(dfa[k]), 4),
              "missing_subsystems": missing[k]}
             for k in list(order[:5]) + list(order[-5:])]
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/bench_hull.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "table": str(path), "table_rows": len(full.row),
        "window_eV_per_atom": WINDOW,
        "val_only_hull": {
            "what": f"{len(pick)} MP-20 test compounds (seed {args.seed}) on a hull of MP-20 val",
            "chgnet": distribution(chg),
            "chgnet_complete_reference": distribution(chg[comp_mask]),
            "chgnet_incomplete_reference": distribution(chg[~comp_mask]),
            "dft_same_structures_same_val_hull": distribution(dfa),
            "chgnet_minus_dft_e_hull": {"mae": round(float(np.abs(diff).mean()), 4),
                                        "median": round(float(np.median(diff)), 4)},
            "fraction_complete_reference": round(float(comp_mask.mean()), 4),
            "skipped_no_elemental_reference": skipped,
            "worst_cases": worst,
        },
    }
    print(json.dumps({k: v for k, v in result["val_only_hull"].items() if k != "worst_cases"},
                     indent=1), flush=True)

    loo_chg, loo_dft = leave_one_out(full, pick, dft)
    a, b = np.array(loo_chg), np.array(loo_dft)
    ok = np.isfinite(b)
    order = np.argsort(a)
    result["leave_one_out_full_hull"] = {
        "what": f"the same {len(pick)} test compounds, each against all other val + test "
                "compounds (itself left out)",
        "chgnet": distribution(a), "dft": distribution(b),
        "chgnet_minus_dft_e_hull": {"mae": round(float(np.abs(a[ok] - b[ok]).mean()), 4),
                                    "median": round(float(np.median(a[ok] - b[ok])), 4)},
        "worst_cases": [{"row": full.key(pick[k]),
                         "formula": str(full.formula[pick[k]]), "chgnet_e_hull": round(a[k], 4),
                         "dft_e_hull": round(float(b[k]), 4)}
                        for k in list(order[:5]) + list(order[-5:])],
    }
    print(json.dumps({k: v for k, v in result["leave_one_out_full_hull"].items()
                      if k != "worst_cases"}, indent=1), flush=True)

    if not args.skip_ground_states:
        from crystal_lab.evaluate import HullReference, stability

        hull = HullReference(table=full, progress=False)
        states = {}
        for label, atoms in known_ground_states():
            r = stability(atoms, hull, progress=False)
            states[label] = {"e_above_hull": round(r.e_above_hull, 4),
                             "formation_energy_per_atom": round(r.formation_energy_per_atom, 4),
                             "hull_complete": r.hull_complete,
                             "missing_subsystems": list(r.missing_subsystems)}
            print(f"{label:<30} E_hull {r.e_above_hull:+.4f} eV/atom  "
                  f"complete={r.hull_complete} {list(r.missing_subsystems)}", flush=True)
        result["ground_states_full_hull"] = states
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
