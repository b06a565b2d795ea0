"""Symmetry by construction at the issue's size: CSP on 1,000 MP-20 test targets and 1,000
unconditional samples, free against symmetric, in resumable chunks on the CPU.

    python benchmarks/bench_symmetry_large.py --parts csp-free,uncond-free --until 04:30
    python benchmarks/bench_symmetry_large.py --parts csp-retrieved,uncond-symmetric --until 05:10
    python benchmarks/bench_symmetry_large.py --final      # aggregate what exists, + uniqueness

Parts (same model, default steps, one sample per target, spglib symprec 0.1):

* ``csp-free``: the formula at the target's cell size, ``space_group=1`` (the free model).
* ``csp-retrieved``: the same prompts through the public API with the symmetric mode on
  (``sampler.SYMMETRIC_BY_DEFAULT = True``): the MP-20 val template with the best expected match
  for the formula (``retrieval.choose_templates``), P1 where no template holds it.
* ``csp-oracle``: the target's own template (``template_of(target)``; for reference only).
* ``uncond-free`` / ``uncond-symmetric``: ``model.sample(None)``'s requests, free (sizes drawn from
  the training data) and with open templates drawn by MP-20 val frequency.
* ``uncond-unbalanced``: ``uncond-symmetric`` with the sampler's charge balance off
  (``charge_balance=False``): the same templates and draws, the network's own elements.

The 1,000 targets are ``load_dataset("mp_20", "test", limit=1000, seed=0)`` (as
``bench_model.py``), visited in a fixed random order, so every finished prefix of chunks is a
uniform random subset; the parts take turns chunk by chunk and grow together. CSP rows: match
rate and RMSE (``crystal_lab.evaluate.match_rate``), the share in the target's space group, the
share in the template's group, the right-template and right-group rates. Unconditional rows:
crystal-system distribution against MP-20 val (triclinic share, total variation), structural and
SMACT validity, the share whose template (group and Wyckoff pattern at symprec 0.1) no val crystal
has, and with ``--final`` uniqueness and novelty (against MP-20 val). Each row records the size it
reached; ``paired`` compares the CSP rows on their common targets.

Writes ``benchmarks/results/symmetry_large.json`` after every chunk.
"""
from __future__ import annotations

import argparse
import platform
from functools import lru_cache
from pathlib import Path

import numpy as np
from _results import save_json
from _symbench import (
    WEIGHTS,
    ChunkStore,
    add_run_arguments,
    command,
    distribution,
    group,
    parse_until,
    run_round_robin,
    share,
    shipped_model,
    sorted_run,
    system_of,
    total_variation,
    weights_record,
)

from crystal_lab.datasets import dataset_path, load_dataset
from crystal_lab.evaluate import default_matcher, match_rate, smact_validity, structural_validity
from crystal_lab.model import sampler
from crystal_lab.prompts import PromptError
from crystal_lab.symmetry.templates import Template, template_of

OUT = Path(__file__).parent / "results" / "symmetry_large.json"
CSP_PARTS = ("csp-free", "csp-retrieved", "csp-oracle")
UNCOND_PARTS = ("uncond-free", "uncond-symmetric", "uncond-unbalanced")


def template_info(atoms) -> Template | None:
    info = atoms.info.get("template")
    return None if info is None else Template.from_info(info)


def canonical_of(atoms) -> Template | None:
    try:
        return template_of(atoms).canonical()
    except Exception:  # noqa: BLE001 -- a degenerate sample has no template
        return None


def csp_record(i: int, out, target, truth: Template, matcher) -> dict:
    m = match_rate([out], [target], matcher=matcher)
    tpl = template_info(out)
    g, tg = group(out), group(target)
    rec = {"i": int(i), "n_atoms": len(target), "matched": m["n_matched"] == 1,
           "rms": None if m["n_matched"] == 0 else float(m["rms_dist"]),
           "compared": m["n_invalid"] == 0, "group": g, "target_group": tg}
    if tpl is not None:
        rec |= {"template_group": int(tpl.space_group), "template_hit": g == tpl.space_group,
                "right_group": tpl.space_group == truth.space_group,
                "right_template": tpl.canonical() == truth}
    return rec


def _api_csp(model, targets, steps, seed, batch_size, symmetric: bool) -> list:
    """One sample per target through ``sample_many`` (a prompt it refuses is sampled alone so one
    bad prompt does not sink the chunk; a refused one gets None)."""
    sampler.SYMMETRIC_BY_DEFAULT = symmetric
    prompts = [t.get_chemical_formula("metal") for t in targets]
    sizes = [len(t) for t in targets]
    kw = {"steps": steps, "seed": seed, "batch_size": batch_size, "progress": False,
          "space_group": None if symmetric else 1}
    try:
        return model.sample_many(prompts, n_atoms=sizes, **kw)
    except PromptError:
        out = []
        for p, n in zip(prompts, sizes, strict=True):
            try:
                out.append(model.sample_many([p], n_atoms=[n], **kw)[0])
            except PromptError:
                out.append(None)
        return out


def csp_maker(model, mode, targets, order, chunk, steps, seed, batch_size):
    from bench_symmetry_sampling import csp_request

    matcher = default_matcher()

    def make(k: int):
        idx = order[k * chunk:(k + 1) * chunk]
        tg = [targets[i] for i in idx]
        truth = [template_of(t).canonical() for t in tg]
        if mode == "oracle":
            outs = sorted_run(model, [csp_request(t, tpl) for t, tpl in zip(tg, truth,
                                                                            strict=True)],
                              steps, seed + k, batch_size)
        else:
            outs = _api_csp(model, tg, steps, seed + k, batch_size, mode == "retrieved")
        records = []
        for i, o, t, tr in zip(idx, outs, tg, truth, strict=True):
            records.append({"i": int(i), "refused": True} if o is None
                           else csp_record(i, o, t, tr, matcher))
        return records, None
    return make


def uncond_maker(model, mode, chunk, steps, seed, batch_size):
    from crystal_lab.model.sampler import requests_for
    from crystal_lab.symmetry.retrieval import is_known

    def make(k: int):
        symmetric = mode != "free"
        sampler.SYMMETRIC_BY_DEFAULT = symmetric
        model.config.sampler.charge_balance = mode != "unbalanced"
        cond = model._condition(None, None, None, None, None if symmetric else 1)
        rng = np.random.default_rng(seed * 100_003 + k)
        requests = requests_for(cond, chunk, model._n_atoms_hist(),
                                model.config.network.max_atoms, rng)
        outs = sorted_run(model, requests, steps, seed + k, batch_size)
        struct = structural_validity(outs)
        comp = smact_validity(outs)
        records = []
        for o, s, c in zip(outs, struct, comp, strict=True):
            g = group(o)
            found = canonical_of(o)
            records.append({"group": g, "system": system_of(g), "structural": bool(s.valid),
                            "smact": bool(c.valid), "n_atoms": len(o),
                            "template": o.info.get("template"),
                            "new_template": None if found is None
                            else not is_known(found.opened())})
        for o in outs:   # extxyz keeps flat info only
            o.info.pop("template", None)
        return records, outs
    return make


def csp_row(chunks: list[dict]) -> dict:
    recs = [r for c in chunks for r in c["records"]]
    served = [r for r in recs if not r.get("refused")]
    matched = [r for r in served if r["matched"]]
    with_tpl = [r for r in served if "template_group" in r]
    row = {"n": len(recs), "n_refused": len(recs) - len(served),
           "match_rate": len(matched) / max(len(recs), 1),
           "rms_dist": float(np.mean([r["rms"] for r in matched])) if matched else None,
           "n_not_compared": sum(not r["compared"] for r in served),
           "same_space_group": share(r["group"] == r["target_group"] for r in served),
           "seconds": sum(c["seconds"] for c in chunks)}
    if with_tpl:
        row |= {"n_with_template": len(with_tpl),
                "n_p1_template": sum(r["template_group"] == 1 for r in with_tpl),
                "template_group_at_0.1": share(r["template_hit"] for r in with_tpl),
                "right_group": share(r["right_group"] for r in with_tpl),
                "right_template": share(r["right_template"] for r in with_tpl)}
    row["s_per_structure"] = row["seconds"] / max(len(recs), 1)
    row["commands"] = sorted({c["command"] for c in chunks})
    return row


@lru_cache(maxsize=1)
def val_distribution() -> dict[str, float]:
    import pandas as pd

    df = pd.read_csv(dataset_path("mp_20", "val"), usecols=["spacegroup.number"])
    return distribution([system_of(int(g)) for g in df["spacegroup.number"]])


def uncond_row(store: ChunkStore, chunks: list[dict], ref: dict, final: bool) -> dict:
    recs = [r for c in chunks for r in c["records"]]
    dist = distribution([r["system"] for r in recs])
    judged = [r["new_template"] for r in recs if r["new_template"] is not None]
    row = {"n": len(recs), "triclinic": dist["triclinic"], "tv_vs_val": total_variation(dist, ref),
           "systems": dist, "structural": share(r["structural"] for r in recs),
           "smact": share(r["smact"] for r in recs), "new_template": share(judged),
           "n_no_template": len(recs) - len(judged),
           "seconds": sum(c["seconds"] for c in chunks)}
    row["s_per_structure"] = row["seconds"] / max(len(recs), 1)
    if final and recs:
        from crystal_lab.evaluate import novelty, uniqueness

        structures = store.structures(len(chunks))
        row["unique"] = uniqueness(structures)
        row["novel"] = novelty(structures)
    row["commands"] = sorted({c["command"] for c in chunks})
    return row


def paired(stores: dict[str, ChunkStore]) -> dict:
    """The CSP rows on the targets every one of them has finished (same targets, same size)."""
    have = {name: stores[name].chunks() for name in CSP_PARTS if stores[name].chunks()}
    if len(have) < 2:
        return {}
    n_chunks = min(len(c) for c in have.values())
    return {"n": sum(len(c["records"]) for c in next(iter(have.values()))[:n_chunks]),
            "rows": {name.removeprefix("csp-"): {k: v for k, v in csp_row(c[:n_chunks]).items()
                                                 if k != "commands"}
                     for name, c in have.items()}}


def aggregate(stores: dict[str, ChunkStore], meta: dict, final: bool = False) -> dict:
    result = dict(meta)
    ref = val_distribution()
    result["csp"] = {name.removeprefix("csp-"): csp_row(c) for name in CSP_PARTS
                     if (c := stores[name].chunks())}
    result["csp_paired"] = paired(stores)
    result["unconditional"] = {"val": {"systems": ref}}
    for name in UNCOND_PARTS:
        if chunks := stores[name].chunks():
            result["unconditional"][name.removeprefix("uncond-")] = \
                uncond_row(stores[name], chunks, ref, final)
    save_json(result, meta["out"])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="", help="comma-separated, of " +
                    ", ".join(CSP_PARTS + UNCOND_PARTS))
    ap.add_argument("--n", type=int, default=1000, help="CSP targets and unconditional samples")
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--final", action="store_true", help="also uniqueness and novelty")
    add_run_arguments(ap, OUT)
    args = ap.parse_args()
    model, steps = shipped_model(args.steps)
    stores = {name: ChunkStore(f"{name}-n{args.n}-c{args.chunk}-s{args.seed}", steps)
              for name in CSP_PARTS + UNCOND_PARTS}
    meta = {**weights_record(),
            "steps": steps, "seed": args.seed, "n_asked": args.n, "chunk": args.chunk,
            "weights": WEIGHTS, "threads": 1, "symprec": 0.1,
            "machine": platform.processor() or platform.machine(), "out": args.out,
            "targets": "load_dataset('mp_20', 'test', limit=1000, seed=0), in a fixed random "
                       "order; each row reports the size it reached (n)",
            "command": command()}
    n_chunks = -(-args.n // args.chunk)
    parts = {}
    targets = load_dataset("mp_20", "test", limit=args.n, seed=0) if any(
        p.startswith("csp") for p in args.parts.split(",")) else []
    order = np.random.default_rng(args.seed).permutation(len(targets))
    for name in filter(None, args.parts.split(",")):
        mode = name.split("-", 1)[1]
        make = (csp_maker(model, mode, targets, order, args.chunk, steps, args.seed,
                          args.batch_size) if name in CSP_PARTS else
                uncond_maker(model, mode, args.chunk, steps, args.seed, args.batch_size))
        parts[name] = (stores[name], n_chunks, make)
    run_round_robin(parts, parse_until(args.until), lambda: aggregate(stores, meta))
    aggregate(stores, meta, final=args.final)


if __name__ == "__main__":
    main()
