"""Symmetry by construction, zero-shot: the shipped weights (no retraining) sampled free and with
each reverse step projected onto a space-group template (crystal_lab.symmetry.projection).

    python benchmarks/bench_symmetry_sampling.py                         # 1,000 targets and samples
    python benchmarks/bench_symmetry_sampling.py --csp 200 --uncond 200  # the size recorded here

Parts, same model, same seeds, default steps, one sample per target:

* **CSP** on MP-20 *test* targets (never used for training or tuning): free (today's sampler),
  the oracle template (``template_of(target)``: the right group and Wyckoff sites) and, when
  ``crystal_lab.symmetry.retrieval`` exists, the template it retrieves for the formula. Match rate
  and RMSE (``crystal_lab.evaluate.match_rate``, DiffCSP's metric), the share whose space group
  (spglib, symprec 0.1) equals the target's, the share whose group equals the template's at
  symprec 0.1 and 1e-3, and the retrieved template's right-group / right-template rates.
* **Unconditional**: free against templates drawn from MP-20 val (retrieval's training-frequency
  draw when it exists, else val crystals' own templates with the elements opened): triclinic share
  and crystal-system total variation against val.
* **Time**: 3 structures of 5 atoms at one thread, free and symmetric side by side (the first
  symmetric call, which imports pyxtal and realises the template, is reported apart).

Writes ``benchmarks/results/symmetry_sampling.json`` after each part and prints the figures.

``--validity`` measures instead the symmetric sampler's structural validity before and after its
collision-aware projection (``crystal_lab.symmetry.separation``) and its move off supergroups
read at 0.1 A (``crystal_lab.symmetry.supergroup``), in one run, same seeds, beside the free
sampler: CSP with the oracle and the retrieved template on ``--csp`` test targets, and
unconditional samples (``model.sample(None)``, as ``bench_symmetric_default.py``) at
``--uncond``; it writes ``benchmarks/results/symmetry_validity.json``. No crystal is redrawn, so
the first draw is the result.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _results import save_json
from _symbench import distribution, group, system_of, total_variation

from crystal_lab.datasets import load_dataset
from crystal_lab.evaluate import match_rate
from crystal_lab.model.checkpoint import load_model
from crystal_lab.model.sampler import Request
from crystal_lab.symmetry.sites import realise
from crystal_lab.symmetry.templates import Orbit, Template, template_of

OUT = Path(__file__).parent / "results" / "symmetry_sampling.json"
VALIDITY_OUT = Path(__file__).parent / "results" / "symmetry_validity.json"


def csp_request(target, template: Template | None) -> Request:
    label = target.get_chemical_formula("metal")
    if template is None:
        z = tuple(int(x) for x in sorted(target.numbers))
        return Request(len(z), tuple(sorted(set(z))), z, label=label)
    z = tuple(int(x) for x in realise(template).numbers)
    return Request(len(z), tuple(sorted(set(z))), z, label=label, template=template)


def run(model, requests, steps, seed):
    start = time.perf_counter()
    out = model._run(requests, steps=steps, seed=seed, desc="", progress=False)
    return out, time.perf_counter() - start


def retrieved(targets, seed) -> list[Template | None] | None:
    try:
        from crystal_lab.symmetry.retrieval import choose_templates
    except ImportError:
        return None
    rng, out = np.random.default_rng(seed), []
    for t in targets:
        counts = {}
        for s in t.get_chemical_symbols():
            counts[s] = counts.get(s, 0) + 1
        try:
            out.append(choose_templates(counts=counts, n_atoms=len(t), rng=rng)[0])
        except ValueError:
            out.append(None)   # no template fits: the free sampler
    return out


def csp_row(model, targets, templates, steps, seed) -> dict:
    requests = [csp_request(t, tpl) for t, tpl in zip(targets, templates, strict=True)]
    out, seconds = run(model, requests, steps, seed)
    m = match_rate(out, targets)
    truth = [group(t) for t in targets]
    row = {
        "match_rate": m["match_rate"], "rms_dist": m["rms_dist"], "n_invalid": m["n_invalid"],
        "same_space_group": float(
            np.mean([group(o) == g for o, g in zip(out, truth, strict=True)])
        ),
        "seconds": seconds,
    }
    with_tpl = [(o, tpl) for o, tpl in zip(out, templates, strict=True) if tpl is not None]
    if with_tpl:
        row["n_with_template"] = len(with_tpl)
        for p in (0.1, 1e-3):
            row[f"template_group_at_{p:g}"] = float(
                np.mean([group(o, p) == tpl.space_group for o, tpl in with_tpl])
            )
        oracle = [template_of(t) for t in targets]
        row["right_group"] = float(np.mean([tpl is not None and tpl.space_group == o.space_group
                                            for tpl, o in zip(templates, oracle, strict=True)]))
        row["right_template"] = float(
            np.mean([tpl == o for tpl, o in zip(templates, oracle, strict=True)])
        )
    return row


def csp_part(model, n, steps, seed) -> dict:
    targets = load_dataset("mp_20", "test", limit=n, seed=seed)
    modes = {"free": [None] * len(targets), "oracle": [template_of(t) for t in targets]}
    ret = retrieved(targets, seed)
    if ret is not None:
        modes["retrieved"] = ret
    rows = {}
    for name, templates in modes.items():
        rows[name] = csp_row(model, targets, templates, steps, seed)
        print(f"CSP {name:9s} " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in rows[name].items()), flush=True)
    return {"n_targets": len(targets), "rows": rows}


def open_template(template: Template) -> Template:
    return Template(template.space_group, tuple(Orbit(o.letter, o.multiplicity,
                                                      None) for o in template.orbits))


def drawn_templates(n, seed, val) -> list[Template]:
    try:
        from crystal_lab.symmetry.retrieval import choose_templates
        rng = np.random.default_rng(seed)
        return [choose_templates(counts=None, rng=rng)[0] for _ in range(n)]
    except ImportError:
        pick = np.random.default_rng(seed).choice(len(val), size=n, replace=False)
        return [open_template(template_of(val[i])) for i in pick]


def uncond_part(model, n, steps, seed) -> dict:
    val = load_dataset("mp_20", "val")
    ref = distribution([system_of(a.info["spacegroup.number"]) for a in val])
    hist = model._n_atoms_hist()
    sizes, w = np.array(sorted(hist)), np.array([hist[k] for k in sorted(hist)], dtype=float)
    free = [
        Request(int(k)) for k in np.random.default_rng(seed).choice(sizes, size=n, p=w / w.sum())
    ]
    sym = [Request(t.n_atoms, template=t) for t in drawn_templates(n, seed, val)]
    rows = {"val": {"systems": ref}}
    for name, requests in (("free", free), ("symmetric", sym)):
        out, seconds = run(model, requests, steps, seed)
        dist = distribution([system_of(group(o)) for o in out])
        tv = total_variation(dist, ref)
        rows[name] = {"triclinic": dist["triclinic"], "tv_vs_val": tv, "systems": dist,
                      "seconds": seconds}
        print(f"unconditional {name:9s} triclinic {dist['triclinic']:.3f} TV {tv:.3f} "
              f"({seconds:.0f} s)", flush=True)
    return {"n_samples": n, "rows": rows}


def time_part(model, seed, repeats: int = 2) -> dict:
    """Three 5-atom crystals at default steps, one thread: free, in Pm-3m SrTiO3 (every atom
    pinned) and in P4mm BaTiO3 (every atom with a free z, so the separation runs); best times."""
    nacl = Template(225, (Orbit("a", 1, "Na"), Orbit("b", 1, "Cl")))
    perov = Template(221, (Orbit("a", 1, "Sr"), Orbit("b", 1, "Ti"), Orbit("c", 3, "O")))
    polar = Template(99, (Orbit("a", 1, "Ba"), Orbit("b", 1, "Ti"), Orbit("b", 1, "O"),
                          Orbit("c", 2, "O")))
    start = time.perf_counter()
    realise(nacl)
    first = time.perf_counter() - start
    free = [Request(5, (8, 22, 38), (38, 22, 8, 8, 8))] * 3
    sym = {name: [Request(5, tuple(sorted(set(realise(t).numbers))),
                          tuple(int(x) for x in realise(t).numbers), template=t)] * 3
           for name, t in (("symmetric", perov), ("symmetric_p4mm", polar))}
    best = {}
    for name, requests in (("free", free), *sym.items()) * 2:
        times = [run(model, requests, model.config.sampler.default_steps,
                     seed)[1] for _ in range(repeats)]
        best[name] = min(times + [best.get(name, float("inf"))])
    print(f"time, 3 structures of 5 atoms: free {best['free']:.2f} s, symmetric "
          f"{best['symmetric']:.2f} s, P4mm {best['symmetric_p4mm']:.2f} s "
          f"(first realise incl. pyxtal import {first:.2f} s)", flush=True)
    return {"free_s": best["free"], "symmetric_s": best["symmetric"],
            "symmetric_p4mm_s": best["symmetric_p4mm"], "first_realise_s": first}


@contextlib.contextmanager
def fixes(on: bool):
    """The symmetric sampler with (``on``) or without its separation and supergroup move."""
    from crystal_lab.symmetry import projection, supergroup

    saved = projection.SEPARATION, supergroup.SYMPREC
    if not on:
        projection.SEPARATION, supergroup.SYMPREC = 0.0, 0.0
    try:
        yield
    finally:
        projection.SEPARATION, supergroup.SYMPREC = saved


def validity_row(out, templates, seconds) -> dict:
    """Structural validity (CDVAE, alone), the template's group at 0.1 and 1e-3 A, and how many
    crystals the sampler moved off a supergroup."""
    from crystal_lab.evaluate import structural_validity

    row = {"structural": float(np.mean([bool(v) for v in structural_validity(out)])),
           "n_structurally_invalid": int(sum(not v for v in structural_validity(out))),
           "seconds": round(seconds, 1)}
    pairs = [(o, t) for o, t in zip(out, templates, strict=True) if t is not None]
    if pairs:
        row["n_with_template"] = len(pairs)
        for p in (0.1, 1e-3):
            row[f"template_group_at_{p:g}"] = float(np.mean([group(o, p) == t.space_group
                                                             for o, t in pairs]))
        row["n_moved_off_supergroup"] = sum("off_supergroup" in o.info for o, _ in pairs)
    return row


def validity_csp(model, n, steps, seed) -> dict:
    targets = load_dataset("mp_20", "test", limit=n, seed=seed)
    oracle = [template_of(t) for t in targets]
    modes = [("free", [None] * n, True), ("oracle_before", oracle, False),
             ("oracle_after", oracle, True), ("retrieved_before", retrieved(targets, seed), False),
             ("retrieved_after", retrieved(targets, seed), True)]
    rows = {}
    for name, templates, on in modes:
        with fixes(on):
            requests = [csp_request(t, tpl) for t, tpl in zip(targets, templates, strict=True)]
            out, seconds = run(model, requests, steps, seed)
        m = match_rate(out, targets)
        rows[name] = validity_row(out, templates, seconds) | {
            "match_rate": m["match_rate"], "rms_dist": m["rms_dist"],
            "n_invalid_pairs (structural or SMACT, either side)": m["n_invalid"]}
        print(f"CSP {name:17s} " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in rows[name].items()), flush=True)
    return {"n_targets": n, "seed": seed, "rows": rows}


def validity_uncond(model, n, seed) -> dict:
    from crystal_lab.evaluate import smact_validity, uniqueness
    from crystal_lab.model import sampler
    from crystal_lab.symmetry.templates import Template

    rows = {}
    for name, symmetric, on in (("free", False, True), ("symmetric_before", True, False),
                                ("symmetric_after", True, True)):
        saved, sampler.SYMMETRIC_BY_DEFAULT = sampler.SYMMETRIC_BY_DEFAULT, symmetric
        start = time.perf_counter()
        with fixes(on):
            out = model.sample(None, n_samples=n, seed=seed, progress=False,
                               **({} if symmetric else {"space_group": 1}))
        sampler.SYMMETRIC_BY_DEFAULT = saved
        templates = [Template.from_info(o.info["template"]) if "template" in o.info else None
                     for o in out]
        rows[name] = validity_row(out, templates, time.perf_counter() - start) | {
            "smact": float(np.mean([bool(v) for v in smact_validity(out)])),
            "unique": uniqueness(out)}
        print(f"unconditional {name:17s} " + " ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in rows[name].items()), flush=True)
    return {"n_samples": n, "seed": seed, "rows": rows}


def validity_main(args, model, steps) -> None:
    result = {"steps": steps, "weights": "shipped (trained on MP-20 val only; no retraining)",
              "threads": 1, "symprec": 0.1, "redraws": 0,
              "command": "python benchmarks/bench_symmetry_sampling.py --validity "
                         f"--csp {args.csp} --uncond {args.uncond}",
              "note": "before: the projection without separation and supergroup move (as "
                      "shipped until this change); after: with them. No crystal is redrawn: "
                      "the first draw is the result. Free rows are the free sampler (P1)."}
    if args.validity_time:   # the time part alone, before and after taken in turn, into the file
        path = Path(args.out or VALIDITY_OUT)
        result = json.loads(path.read_text())
        times = {"command": "python benchmarks/bench_symmetry_sampling.py --validity-time"}
        for k in range(2):
            for name, on in (("before", False), ("after", True)):
                with fixes(on):
                    times[f"{name}_{k}"] = time_part(model, args.seed)
        result["time_in_turn"] = times
        save_json(result, path)
        return
    with fixes(False):
        result["time_before"] = time_part(model, args.seed)
    result["time_after"] = time_part(model, args.seed)
    save_json(result, args.out or VALIDITY_OUT)
    if args.csp:
        result["csp"] = validity_csp(model, args.csp, steps, args.seed)
        save_json(result, args.out or VALIDITY_OUT)
    if args.uncond:
        result["unconditional"] = validity_uncond(model, args.uncond, args.uncond_seed)
        save_json(result, args.out or VALIDITY_OUT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csp", type=int, default=1000)
    ap.add_argument("--uncond", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--validity", action="store_true",
                    help="structural validity before/after the separation (symmetry_validity.json)")
    ap.add_argument("--validity-time", action="store_true",
                    help="rerun --validity's time part alone (before and after in turn)")
    ap.add_argument("--uncond-seed", type=int, default=1,
                    help="seed of --validity's unconditional part (1: bench_symmetric_default's)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model()
    steps = args.steps or model.config.sampler.default_steps
    if args.validity or args.validity_time:
        validity_main(args, model, steps)
        return
    args.out = args.out or str(OUT)
    result = {"steps": steps, "seed": args.seed, "weights": "shipped (no retraining)", "threads": 1,
              "machine": platform.processor() or platform.machine(), "symprec": 0.1}
    result["time"] = time_part(model, args.seed)
    save_json(result, args.out)
    result["csp"] = csp_part(model, args.csp, steps, args.seed)
    save_json(result, args.out)
    result["unconditional"] = uncond_part(model, args.uncond, steps, args.seed)
    save_json(result, args.out)


if __name__ == "__main__":
    main()
