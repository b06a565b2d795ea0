"""Does conditioning work? Crystal-system match rates and formation-energy shifts, side by side
with the same prompts left unconditioned.

    python benchmarks/bench_conditioning.py            # the README numbers (200 prompts a system)
    python benchmarks/bench_conditioning.py --quick    # a reduced run (see below for its time)

1. Crystal system. For each of the seven crystal systems, N formulas of MP-20 *test* structures
   (held out; the model trained on MP-20 val) in that system are sampled as CSP prompts at their
   own cell size, once with the crystal system asked (``"cubic NaCl"``, the prompt grammar) and
   once without. A sample matches when spglib (pymatgen's ``SpacegroupAnalyzer``) finds the asked
   crystal system at ``symprec`` 0.1 A (MP-20's own tolerance; the headline), at 0.5 A (very
   loose), and for the cell alone (the lattice's symmetry at 0.1 A: does the condition shape the
   cell even where the atoms are not yet symmetric?).
2. Formation energy. For a fixed set of chemical systems, M samples each at targets of -0.5, -1.5
   and -2.5 eV/atom and M unconditioned. CHGNet formation energies (``crystal_lab.evaluate.
   stability``: a bounded CHGNet relaxation, then elemental references; CHGNet, not DFT) give the
   mean and spread per target and the Spearman rank correlation between target and outcome.

Writes ``benchmarks/results/conditioning.json`` (``conditioning_quick.json`` with ``--quick``)
and prints a table. Every number is measured in this run; the sizes are in the JSON.

Time: the ``--quick`` size with the shipped 384 x 6 model on the shared 2-core machine, under a
load average of about 10 from other work, took 828 s (crystal systems) + 595 s (formation
energies, with the CHGNet reference table). The full size (200 prompts a system, 48 samples a
target, 50 FIRE steps) is for a GPU and a many-core CPU.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _results import free_model_only
from tqdm.auto import tqdm

import crystal_lab as cl
from crystal_lab.datasets import dataset_path
from crystal_lab.prompts import CRYSTAL_SYSTEMS, crystal_system_of

free_model_only()   # its results record the free model (mp20.pt, no templates)

RESULTS = Path(__file__).parent / "results"
TARGETS = (-0.5, -1.5, -2.5)
#: "any" (the model chooses the elements too) and chemical systems whose MP-20 formation
#: energies lie low to high (val + test ranges, eV/atom): Ti-O -3.5..-0.9, Co-Li-O -1.9..-1.4,
#: Mg-Pd -0.7..-0.2
SYSTEMS = ("any", "Ti O", "Li Co O", "Mg Pd")


def crystal_system(atoms, symprec: float = 0.1, lattice_only: bool = False) -> str | None:
    """spglib's crystal system of ``atoms`` at ``symprec`` (None where spglib finds none).

    ``lattice_only``: the crystal system of the empty cell (one atom at the origin), i.e. of the
    lattice's own symmetry (a rhombohedral lattice reads "trigonal", a hexagonal one "hexagonal").
    """
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if lattice_only:
        atoms = Atoms("H", positions=[(0, 0, 0)], cell=atoms.cell, pbc=True)
    try:
        number = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=symprec)\
            .get_space_group_number()
        return crystal_system_of(number)
    except Exception:  # noqa: BLE001 -- a broken sample has no symmetry: it matches nothing
        return None


def matches(asked: str, found: str | None, lattice_only: bool) -> bool:
    """Whether a found crystal system honours the asked one. A trigonal crystal may sit on a
    hexagonal lattice, so for the lattice alone "trigonal" accepts both."""
    if lattice_only and asked == "trigonal":
        return found in ("trigonal", "hexagonal")
    return found == asked


def _measures(symprecs) -> dict[str, tuple[float, bool]]:
    """name -> (symprec, lattice_only); the first is the headline measure."""
    out = {f"spglib symprec {p:g}": (p, False) for p in symprecs}
    out[f"lattice only, symprec {symprecs[0]:g}"] = (symprecs[0], True)
    return out


def test_table() -> pd.DataFrame:
    """MP-20 test: formula, size and crystal system of every row (no CIF parsing)."""
    df = pd.read_csv(dataset_path("mp_20", "test"),
                     usecols=["pretty_formula", "num_atoms", "spacegroup.number"])
    df["crystal_system"] = df["spacegroup.number"].map(crystal_system_of)
    return df


def crystal_system_part(model, n: int, steps, seed: int, symprecs, batch_size: int) -> dict:
    df = test_table()
    rng = np.random.default_rng(seed)
    prompts, sizes, asked = [], [], []
    for system in CRYSTAL_SYSTEMS:
        rows = df[df.crystal_system == system]
        pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
        for i in sorted(pick):
            prompts.append(_plain_formula(rows.pretty_formula.iloc[i]))
            sizes.append(int(rows.num_atoms.iloc[i]))
            asked.append(system)
    measures = _measures(symprecs)
    headline = next(iter(measures))
    out = {"n_per_system": n, "symprec": symprecs[0], "measure": headline,
           "measures": list(measures), "per_system": {}}
    found = {}
    for label, texts in (
        ("unconditioned", prompts),
        ("conditioned", [f"{s} {p}" for s, p in zip(asked, prompts, strict=True)]),
    ):
        t0 = time.perf_counter()
        samples = model.sample_many(
            texts, n_atoms=sizes, steps=steps, seed=seed, batch_size=batch_size
        )
        out[f"{label}_sampling_s"] = time.perf_counter() - t0
        found[label] = {name: [crystal_system(a, p, lat) for a in samples]
                        for name, (p, lat) in tqdm(measures.items(), desc=f"spglib ({label})")}
    training = _val_systems()
    for system in CRYSTAL_SYSTEMS:
        idx = [i for i, s in enumerate(asked) if s == system]
        rate = {
            label: {
                name: float(np.mean([matches(system, found[label][name][i], lat) for i in idx]))
                for name, (_, lat) in measures.items()
            }
            for label in found
        }
        out["per_system"][system] = {
            "n": len(idx),
            "conditioned": rate["conditioned"][headline],
            "unconditioned": rate["unconditioned"][headline],
            "by_measure": {
                name: {label: rate[label][name] for label in found} for name in measures
            },
            "training_share": float((training == system).mean()),
        }
    for label in ("conditioned", "unconditioned"):
        out[f"mean_{label}"] = float(np.mean([v[label] for v in out["per_system"].values()]))
    out["mean_by_measure"] = {name: {label: float(np.mean([v["by_measure"][name][label]
                                                           for v in out["per_system"].values()]))
                                     for label in found} for name in measures}
    return out


def _plain_formula(pretty: str) -> str:
    """``"Ba(FeO2)2"`` -> ``"BaFe2O4"`` (the prompt grammar has no parentheses)."""
    from pymatgen.core import Composition

    comp = Composition(pretty)
    return "".join(f"{el}{int(n) if n != 1 else ''}" for el, n in comp.get_el_amt_dict().items())


def _val_systems() -> pd.Series:
    df = pd.read_csv(dataset_path("mp_20", "val"), usecols=["spacegroup.number"])
    return df["spacegroup.number"].map(crystal_system_of)


def formation_energy_part(model, systems, m: int, steps, seed: int, relax_steps: int,
                          batch_size: int) -> dict:
    from scipy.stats import spearmanr

    from crystal_lab.evaluate import stability

    rows = []
    conditions = [None, *TARGETS]
    jobs = [(s, t) for s in systems for t in conditions]
    t_sample = t_chgnet = 0.0
    for system, target in tqdm(jobs, desc="formation-energy targets"):
        t0 = time.perf_counter()
        extra = {} if target is None else {"formation_energy": target}
        samples = model.sample(
            None if system == "any" else system,
            n_samples=m,
            steps=steps,
            seed=seed,
            batch_size=batch_size,
            progress=False,
            **extra,
        )
        t1 = time.perf_counter()
        results = stability(
            samples, relax=relax_steps > 0, steps=max(relax_steps, 1), progress=False
        )
        t_chgnet += time.perf_counter() - t1
        t_sample += t1 - t0
        for atoms, r in zip(samples, results, strict=True):
            rows.append(
                {
                    "system": system,
                    "target": target,
                    "formula": atoms.get_chemical_formula("hill"),
                    "formation_energy": r.formation_energy_per_atom,
                    "e_above_hull": r.e_above_hull,
                }
            )
    df = pd.DataFrame(rows)
    ok = df[np.isfinite(df.formation_energy)]
    out = {"samples_per_condition": m, "systems": list(systems), "relax_steps": relax_steps,
           "sampling_s": t_sample, "chgnet_s": t_chgnet, "n_failed": int(len(df) - len(ok)),
           "per_target": {}, "per_system": {}}
    for target in conditions:
        sel = ok[ok.target.isna()] if target is None else ok[ok.target == target]
        out["per_target"][_key(target)] = _stats(sel)
    for system in systems:
        out["per_system"][system] = {_key(t): _stats(ok[(ok.system == system) & (
            ok.target.isna() if t is None else ok.target == t)]) for t in conditions}
        cond = ok[(ok.system == system) & ok.target.notna()]
        rho = spearmanr(cond.target, cond.formation_energy) if len(cond) > 2 else None
        out["per_system"][system]["spearman"] = None if rho is None else _finite(rho.statistic)
    cond = ok[ok.target.notna()]
    rho = spearmanr(cond.target, cond.formation_energy)
    out["spearman"] = {"rho": _finite(rho.statistic), "p": _finite(rho.pvalue), "n": len(cond)}
    out["samples"] = df.replace({np.nan: None}).to_dict("records")
    return out


def _key(target) -> str:
    return "none" if target is None else f"{target:g}"


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _stats(sel: pd.DataFrame) -> dict:
    e = sel.formation_energy.to_numpy(float)
    if not len(e):
        return {"n": 0, "mean": None, "std": None, "median": None}
    return {
        "n": len(e),
        "mean": float(e.mean()),
        "std": float(e.std(ddof=1)) if len(e) > 1 else 0.0,
        "median": float(np.median(e)),
        "e_above_hull_median": _finite(float(np.nanmedian(sel.e_above_hull.to_numpy(float)))),
    }


def table(r: dict) -> str:
    lines = []
    if "crystal_system" in r:
        c = r["crystal_system"]
        names = c["measures"]
        lines += [(f"Crystal system asked = found, conditioned vs unconditioned, on "
                   f"{c['n_per_system']} MP-20 test formulas a system, {r['steps']} steps"),
                  "| crystal system | n | " + " | ".join(names) + " | share in training data |",
                  "|---" * (len(names) + 3) + "|"]
        for s, v in c["per_system"].items():
            cells = [f"{100 * v['by_measure'][m]['conditioned']:.1f}% vs "
                     f"{100 * v['by_measure'][m]['unconditioned']:.1f}%" for m in names]
            lines.append(
                f"| {s} | {v['n']} | "
                + " | ".join(cells)
                + f" | {100 * v['training_share']:.1f}% |"
            )
        cells = [f"{100 * c['mean_by_measure'][m]['conditioned']:.1f}% vs "
                 f"{100 * c['mean_by_measure'][m]['unconditioned']:.1f}%" for m in names]
        lines.append("| mean | | " + " | ".join(cells) + " | |")
        lines.append("")
    if "formation_energy" in r:
        f = r["formation_energy"]
        lines += [
            (
                f"CHGNet formation energy (eV/atom; CHGNet, not DFT; {f['relax_steps']} FIRE "
                f"steps) of {f['samples_per_condition']} samples per system and target, systems "
                f"{', '.join(f['systems'])}"
            ),
            "| target | n | mean | std | median | median E_hull |",
            "|---|---|---|---|---|---|",
        ]
        for t, v in f["per_target"].items():
            if v["n"]:
                lines.append(
                    f"| {t} | {v['n']} | {v['mean']:.3f} | {v['std']:.3f} | {v['median']:.3f} | "
                    f"{_fmt(v['e_above_hull_median'])} |"
                )
        s = f["spearman"]
        lines.append(
            f"\nSpearman rank correlation, target vs outcome: {_fmt(s['rho'])} "
            f"(p = {_fmt(s['p'], '.2g')}, n = {s['n']}); failed CHGNet evaluations: {f['n_failed']}"
        )
        heads = [f"Ef={k}" if k not in ("none", "spearman") else k
                 for k in f["per_system"][f["systems"][0]]]
        lines += ["\nmean CHGNet formation energy per chemical system and target (eV/atom)",
                  "| system | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
        for system, v in f["per_system"].items():
            cells = [(_fmt(x["mean"]) if isinstance(x, dict) else _fmt(x)) for x in v.values()]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append(f"\nsize: {r['size']}; {r['machine']}; {r['seconds']:.0f} s in all")
    return "\n".join(lines)


def _fmt(x, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n-per-system", type=int, default=200, help="CSP prompts per crystal system")
    ap.add_argument(
        "--samples", type=int, default=48, help="samples per chemical system and target"
    )
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    ap.add_argument(
        "--relax-steps", type=int, default=50, help="CHGNet FIRE steps (0: single points)"
    )
    ap.add_argument(
        "--symprec",
        type=float,
        nargs="+",
        default=[0.1, 0.5],
        help="spglib tolerances (A); the first is the headline and the lattice-only one",
    )
    ap.add_argument("--steps", type=int, default=None, help="reverse steps (default: the model's)")
    ap.add_argument(
        "--property-guidance",
        type=float,
        default=None,
        help="classifier-free guidance of crystal system and energy "
        "(0 = none; default: the model's)",
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="10 prompts a crystal system; 6 samples a "
        "target on any / Ti O / Mg Pd; CHGNet single points (see the module doc for times)",
    )
    ap.add_argument("--skip", nargs="*", default=[], choices=["system", "energy"])
    ap.add_argument(
        "--out", default=None, help="JSON path (default: benchmarks/results/conditioning.json)"
    )
    ap.add_argument("--update", action="store_true",
                    help="keep the parts of an existing JSON that this run skips")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_per_system, args.samples, args.relax_steps = 10, 6, 0
        args.systems = ["any", "Ti O", "Mg Pd"]
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    model = cl.load_model(args.weights)
    steps = args.steps or model.config.default_steps
    if args.property_guidance is not None:   # every sample call below uses the config's value
        model.config.sampler.property_guidance = args.property_guidance
    parts = []
    if "system" not in args.skip:
        parts.append(f"{args.n_per_system} prompts a crystal system x 2")
    if "energy" not in args.skip:
        parts.append(f"{args.samples} samples x {len(args.systems)} systems x {len(TARGETS) + 1} "
                     f"conditions, {args.relax_steps} FIRE steps")
    size = "; ".join(parts)
    print(f"size: {size}{' (--quick)' if args.quick else ''}", flush=True)
    out = {
        "size": size,
        "quick": args.quick,
        "steps": steps,
        "seed": args.seed,
        "weights": str(args.weights or "shipped"),
        "device": str(model.device),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "property_guidance": model.config.sampler.property_guidance,
    }
    if "system" not in args.skip:
        out["crystal_system"] = crystal_system_part(model, args.n_per_system, steps, args.seed,
                                                    args.symprec, args.batch_size)
    if "energy" not in args.skip:
        out["formation_energy"] = formation_energy_part(
            model, args.systems, args.samples, steps, args.seed, args.relax_steps, args.batch_size
        )
    out["seconds"] = time.perf_counter() - t0
    path = Path(args.out) if args.out else RESULTS / ("conditioning_quick.json" if args.quick
                                                      else "conditioning.json")
    if args.update and path.exists():
        old = json.loads(path.read_text())
        for part in ("crystal_system", "formation_energy"):
            if part not in out and part in old:
                out[part] = old[part]
        out["size"] = "; ".join(p for p in (old.get("size"), out["size"]) if p)
        out["seconds"] += old.get("seconds", 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
