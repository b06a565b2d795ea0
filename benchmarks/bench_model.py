"""Benchmark the shipped model: CSP match rate, unconditional validity, sampling speed.

    python benchmarks/bench_model.py                 # the README numbers (about 20-40 min on 2
    cores)
    python benchmarks/bench_model.py --quick         # a smoke run of every section (a few minutes)

Prints a Markdown table and writes ``benchmarks/results/model.json`` and ``model.md``.
All numbers are measured in this run, on this machine; ratios are measured side by side.
The model was trained on MP-20 *val* (9,047 structures); every number here is on MP-20 *test*.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _results import free_model_only

import crystal_lab as cl
from crystal_lab.evaluate import match_rate, smact_validity, structural_validity
from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig, count_parameters

free_model_only()   # its results record the free model (mp20.pt, no templates)

RESULTS = Path(__file__).parent / "results"


def formula_prompt(atoms) -> str:
    symbols = atoms.get_chemical_symbols()
    return " ".join(f"{e}{symbols.count(e)}" for e in dict.fromkeys(symbols))


def csp(model, targets, steps, seed):
    t0 = time.perf_counter()
    preds = model.sample_many(
        [formula_prompt(a) for a in targets],
        n_atoms=[len(a) for a in targets],
        steps=steps,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    stats = match_rate(preds, targets, progress=True)
    return {**stats, "steps": steps, "seconds": seconds, "structures_per_s": len(targets) / seconds}


def generation(model, n, steps, seed):
    t0 = time.perf_counter()
    samples = model.sample(None, n_samples=n, steps=steps, seed=seed)
    seconds = time.perf_counter() - t0
    struct = np.mean([v.valid for v in structural_validity(samples)])
    comp = np.mean([v.valid for v in smact_validity(samples)])
    return {
        "n": n,
        "steps": steps,
        "structural_validity": float(struct),
        "compositional_validity": float(comp),
        "seconds": seconds,
        "structures_per_s": n / seconds,
        "symmetry": symmetry(samples),
    }


def symmetry(samples, symprec: float = 0.1) -> dict:
    """Crystal-system distribution of ``samples`` (spglib, symprec 0.1 A) against MP-20 val's:
    the share triclinic and the total variation distance (``bench_symmetry.py`` has the
    diagnosis)."""
    from bench_symmetry import describe, mp20_distribution

    reference = mp20_distribution("val")
    return {"symprec": symprec, **describe(samples, reference, symprec), "mp20_val": reference}


def budget(weights, seed) -> dict:
    """The lab's CPU budgets: load time, 3 structures of 5 and of 20 atoms at default steps."""
    t0 = time.perf_counter()
    model = cl.load_model(weights, device="cpu")
    out = {"load_s": time.perf_counter() - t0}
    model.sample("Ba Ti O", n_atoms=5, n_samples=1, seed=seed, progress=False)   # warm-up
    for n_atoms in (5, 20):
        t0 = time.perf_counter()
        model.sample("Ba Ti O", n_atoms=n_atoms, n_samples=3, seed=seed, progress=False)
        out[f"three_of_{n_atoms}_atoms_s"] = time.perf_counter() - t0
    return out


def speed(model, n, steps, seed):
    """Structures per second for unconditional sampling of ``n`` structures of MP-20 sizes."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model.sample(None, n_samples=n, steps=steps, seed=seed, batch_size=n, progress=False)
    return n / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n-csp", type=int, default=1000)
    ap.add_argument("--n-gen", type=int, default=1000)
    ap.add_argument(
        "--n-full", type=int, default=100, help="CSP targets for the 1000-step comparison"
    )
    ap.add_argument(
        "--n-speed", type=int, default=16, help="structures in the side-by-side speed run"
    )
    ap.add_argument("--steps", type=int, default=None, help="default: the model's default")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["csp", "full", "gen", "speed", "budget"]
    )
    ap.add_argument(
        "--compare", default=None, help="weights to time beside --weights in the budget section"
    )
    ap.add_argument("--compare-label", default=None, help="what to call them in the table")
    ap.add_argument("--scored", default=None,
                    help="take the CSP and generation numbers from scripts/score_gpu_run.py's JSON "
                         "(structures sampled on a GPU by scripts/gpu_run.py, scored here)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_csp, args.n_gen, args.n_full, args.n_speed = 50, 50, 10, 4
    torch.manual_seed(args.seed)
    model = cl.load_model(args.weights, device="cpu")
    steps = args.steps or model.config.default_steps
    out = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "weights": str(args.weights or "shipped"),
        "parameters": count_parameters(model),
        "default_steps": steps,
    }

    test = cl.load_dataset("mp_20", "test")
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(test), size=min(args.n_csp, len(test)), replace=False)
    targets = [test[i] for i in sorted(pick)]

    if args.scored:
        scored = json.loads(Path(args.scored).read_text())
        out["csp"] = {**scored["csp"], "steps": steps, "sampled_on": scored["run"]["device"]}
        out["generation"] = {
            **scored["generation"],
            "steps": steps,
            "sampled_on": scored["run"]["device"],
        }
        out["scored_from"] = Path(args.scored).name
        args.skip = list(args.skip) + ["csp", "gen"]
    if "budget" not in args.skip:
        out["budget"] = {"shipped": budget(args.weights, args.seed)}
        if args.compare:
            out["budget"]["compare"] = budget(args.compare, args.seed)
            out["budget"]["compare_weights"] = args.compare
            out["budget"]["compare_label"] = args.compare_label or Path(args.compare).name
        print(out["budget"], flush=True)
    if "csp" not in args.skip:
        print(f"CSP on {len(targets)} MP-20 test structures, {steps} steps ...", flush=True)
        out["csp"] = csp(model, targets, steps, args.seed)
        print(out["csp"], flush=True)
    if "full" not in args.skip:
        sub = targets[: args.n_full]
        print(
            f"CSP on the first {len(sub)} of them: {steps} steps vs the full 1000 ...", flush=True
        )
        out["csp_subset_fast"] = csp(model, sub, steps, args.seed)
        out["csp_subset_full"] = csp(model, sub, model.config.full_steps, args.seed)
        print(out["csp_subset_fast"], out["csp_subset_full"], flush=True)
    if "gen" not in args.skip:
        print(f"Unconditional generation of {args.n_gen} structures ...", flush=True)
        out["generation"] = generation(model, args.n_gen, steps, args.seed)
        print(out["generation"], flush=True)
    if "speed" not in args.skip:
        print("Speed, side by side ...", flush=True)
        big_config = ModelConfig(hidden=512, layers=6, full_steps=1000, corrector_steps=1,
                                 n_atoms_hist=model.config.n_atoms_hist)
        big = CrystalDiffusionModel(big_config, model.noise).eval()
        ours = speed(model, args.n_speed, steps, args.seed)
        theirs = speed(big, args.n_speed, "full", args.seed)
        ours_full = speed(model, args.n_speed, "full", args.seed)
        out["speed"] = {
            "n": args.n_speed,
            "ours_default_per_s": ours,
            "ours_1000_steps_per_s": ours_full,
            "chemeleon_size_1000_pc_per_s": theirs,
            "speedup": ours / theirs,
            "chemeleon_size_parameters": count_parameters(big),
        }
        print(out["speed"], flush=True)

    RESULTS.mkdir(exist_ok=True)
    name = "model_quick" if args.quick else "model"
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    table = markdown(out)
    (RESULTS / f"{name}.md").write_text(table + "\n")
    print(table)


def _row(measure: str, ours: str, anchors: str = "") -> str:
    """One row of the results table: the measure, crystal_lab's number, published anchors (an
    empty anchors cell is written ``| |``, as model.md has it)."""
    return f"| {measure} | {ours} | {anchors} |" if anchors else f"| {measure} | {ours} | |"


def markdown(r: dict) -> str:
    rows = [_row("measure", "crystal_lab", "published anchors (trained on MP-20 train, 27,136)"),
            "|---|---|---|"]
    if "csp" in r:
        c = r["csp"]
        rows.append(_row(f"CSP match rate, {c['n']} MP-20 test structures, {c['steps']} steps",
                         f"{100 * c['match_rate']:.1f}% (RMSE {c['rms_dist']:.3f})",
                         "random search 8.7%, CDVAE 33.9%, DiffCSP 51.5%, FlowMM 61.4%"))
    if "csp_subset_full" in r:
        f, s = r["csp_subset_full"], r["csp_subset_fast"]
        rows.append(_row(f"CSP match rate, first {f['n']}: {s['steps']} vs 1000 steps",
                         f"{100 * s['match_rate']:.1f}% vs {100 * f['match_rate']:.1f}%"))
    if "generation" in r:
        g = r["generation"]
        rows += [_row(f"structural validity, {g['n']} unconditional samples",
                      f"{100 * g['structural_validity']:.1f}%", "DiffCSP 100%"),
                 _row("compositional validity (SMACT)", f"{100 * g['compositional_validity']:.1f}%",
                      "DiffCSP 83.3%; MP-20 itself 89.9%")]
        if "symmetry" in g:
            y = g["symmetry"]
            rows.append(
                _row(
                    "triclinic share / crystal-system TV distance to MP-20 val "
                    f"(spglib {y['symprec']:g})",
                    f"{100 * y['triclinic']:.1f}% / {y['tv_distance']:.2f}",
                    f"MP-20 val {100 * y['mp20_val']['triclinic']:.1f}% / 0; goal <= 10% / <= 0.15",
                )
            )
    if "budget" in r:
        budgets = [
            (
                "CPU budget: load / 3 structures of 5 atoms / of 20 atoms",
                r["budget"]["shipped"],
                "budget < 2 s / < 3 s",
            )
        ]
        if "compare" in r["budget"]:
            label = r["budget"].get("compare_label", r["budget"]["compare_weights"])
            budgets.append((f"the same for {label}, side by side", r["budget"]["compare"], ""))
        rows += [_row(measure, f"{b['load_s']:.2f} s / {b['three_of_5_atoms_s']:.2f} s / "
                               f"{b['three_of_20_atoms_s']:.2f} s", anchors)
                 for measure, b, anchors in budgets]
    if "speed" in r:
        v = r["speed"]
        rows += [
            _row(
                f"structures / s, default ({r['default_steps']} steps, 1 call a step)",
                f"{v['ours_default_per_s']:.2f}",
            ),
            _row("structures / s, our model at 1000 steps", f"{v['ours_1000_steps_per_s']:.3f}"),
            _row(
                "structures / s, Chemeleon-size net (512 x 6), 1000 predictor-corrector steps",
                f"{v['chemeleon_size_1000_pc_per_s']:.4f}",
            ),
            _row(
                "speed-up of the default over the Chemeleon-size run",
                f"{v['speedup']:.0f}x",
                "target >= 50x",
            ),
        ]
    rows.append(f"\n{r['parameters']:,} parameters; {r['machine']}; torch {r['torch']}.")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
