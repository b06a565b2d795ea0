"""Do crystal-system and space-group prompts give what they ask? Symmetric (templates) against
the free model's floor, on the same prompts, in resumable chunks on the CPU.

    python benchmarks/bench_symmetry_prompts.py                        # 30 a system, 50 groups
    python benchmarks/bench_symmetry_prompts.py --parts systems-free,groups-free   # floors only

1. **Crystal system**, 30 prompts a system (7 systems): formulas of MP-20 *test* structures of
   that system (``numpy.random.default_rng(seed)``, as ``bench_conditioning.py``), each at its
   own cell size, asked as ``"cubic NaCl"`` (the prompt grammar's word; the same as
   ``crystal_system="cubic"``): a template of that system is chosen
   (``retrieval.choose_templates``). A hit is a result whose spglib crystal system (symprec 0.1)
   is the asked one.
2. **Space group**, 50 (group, formula) pairs: MP-20 test structures in a fixed random order, the
   first of each space group until there are 50 groups (so 50 different groups, the common ones
   first more often), each asked as ``"NaCl sg=225"`` with its own group at its own size. A hit is
   spglib's group (symprec 0.1) equal to the asked one.

Rows, per part: ``symmetric`` (the prompt as asked), ``free`` (the same formula at the same size
with ``space_group=1`` and no crystal system: how often the free model lands there unasked, the
floor), and with ``--parts systems-learned`` the free model given the crystal-system token
(``space_group=1``, the learned conditioning measured before templates). A prompt the model
refuses (``PromptError``: no template of that system or group holds the formula) is counted as a
miss in ``hit_rate`` and reported as ``refused``; ``hit_rate_served`` is over the served ones.
Structural and SMACT validity are over the served samples.

Writes ``benchmarks/results/symmetry_prompts.json`` after every chunk.
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import pandas as pd
from _results import save_json
from _symbench import (
    WEIGHTS,
    ChunkStore,
    add_run_arguments,
    command,
    group,
    parse_until,
    run_round_robin,
    share,
    shipped_model,
    system_of,
    weights_record,
)

from crystal_lab.datasets import dataset_path
from crystal_lab.evaluate import smact_validity, structural_validity
from crystal_lab.model import sampler
from crystal_lab.prompts import CRYSTAL_SYSTEMS, PromptError

OUT = Path(__file__).parent / "results" / "symmetry_prompts.json"
SYSTEM_PARTS = ("systems-symmetric", "systems-free", "systems-learned")
GROUP_PARTS = ("groups-symmetric", "groups-free")


def plain_formula(pretty: str) -> str:
    """``"Ba(FeO2)2"`` -> ``"BaFe2O4"`` (the prompt grammar has no parentheses)."""
    from pymatgen.core import Composition

    amounts = Composition(pretty).get_el_amt_dict()
    return "".join(f"{el}{int(n) if n != 1 else ''}" for el, n in amounts.items())


def test_table() -> pd.DataFrame:
    df = pd.read_csv(dataset_path("mp_20", "test"),
                     usecols=["pretty_formula", "num_atoms", "spacegroup.number"])
    df["system"] = df["spacegroup.number"].map(lambda g: system_of(int(g)))
    return df


def system_prompts(df: pd.DataFrame, n: int, seed: int) -> list[list[tuple[str, int, str]]]:
    """Per crystal system (in CRYSTAL_SYSTEMS order): ``n`` (formula, size, system)."""
    rng = np.random.default_rng(seed)
    out = []
    for system in CRYSTAL_SYSTEMS:
        rows = df[df.system == system]
        pick = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False))
        out.append([(plain_formula(rows.pretty_formula.iloc[i]), int(rows.num_atoms.iloc[i]),
                     system) for i in pick])
    return out


def group_prompts(df: pd.DataFrame, n: int, seed: int) -> list[tuple[str, int, int]]:
    """``n`` (formula, size, space group), one per group: the first test structure of each group
    in a fixed random order."""
    seen, out = set(), []
    for i in np.random.default_rng(seed).permutation(len(df)):
        g = int(df["spacegroup.number"].iloc[i])
        if g not in seen:
            seen.add(g)
            out.append((plain_formula(df.pretty_formula.iloc[i]), int(df.num_atoms.iloc[i]), g))
        if len(out) == n:
            break
    return out


def sample_prompts(model, texts, sizes, space_group, steps, seed, batch_size) -> list:
    """One sample per prompt; a refused prompt (``model.check`` raises) gives ``None``."""
    sampler.SYMMETRIC_BY_DEFAULT = False   # only what the prompt asks
    ok = []
    for text, n in zip(texts, sizes, strict=True):
        try:
            model.check(text, n_atoms=n, space_group=space_group)
            ok.append(True)
        except PromptError:
            ok.append(False)
    served = [i for i, good in enumerate(ok) if good]
    outs = model.sample_many([texts[i] for i in served], n_atoms=[sizes[i] for i in served],
                             steps=steps, seed=seed, batch_size=batch_size, progress=False,
                             space_group=space_group) if served else []
    result = [None] * len(texts)
    for i, o in zip(served, outs, strict=True):
        result[i] = o
    return result


def records(outs, asked, key) -> list[dict]:
    """One record per prompt: refused, the result's group, hit, validity."""
    served = [o for o in outs if o is not None]
    struct = iter(structural_validity(served)) if served else iter(())
    comp = iter(smact_validity(served)) if served else iter(())
    out = []
    for o, a in zip(outs, asked, strict=True):
        if o is None:
            out.append({"asked": a, "refused": True, "hit": False})
            continue
        g = group(o)
        tpl = o.info.get("template")
        out.append({"asked": a, "refused": False, "group": g, "hit": key(g) == a,
                    "structural": bool(next(struct).valid), "smact": bool(next(comp).valid),
                    "template_group": None if tpl is None else tpl["space_group"]})
    return out


def maker(model, part: str, chunks: list, steps: int, seed: int, batch_size: int):
    kind, mode = part.split("-")

    def make(k: int):
        prompts = chunks[k]
        forms, sizes, asked = ([p[j] for p in prompts] for j in range(3))
        if kind == "systems":
            key = system_of
            texts = forms if mode == "free" else [f"{a} {f}" for f, a in zip(forms, asked,
                                                                             strict=True)]
        else:
            key = lambda g: g
            texts = forms if mode == "free" else [f"{f} sg={a}" for f, a in zip(forms, asked,
                                                                               strict=True)]
        space_group = None if mode == "symmetric" else 1
        outs = sample_prompts(model, texts, sizes, space_group, steps, seed + k, batch_size)
        return records(outs, asked, key), None
    return make


def row(chunks: list[dict]) -> dict:
    recs = [r for c in chunks for r in c["records"]]
    served = [r for r in recs if not r["refused"]]
    out = {"n": len(recs), "refused": share(r["refused"] for r in recs),
           "hit_rate": share(r["hit"] for r in recs),
           "hit_rate_served": share(r["hit"] for r in served),
           "structural": share(r["structural"] for r in served),
           "smact": share(r["smact"] for r in served),
           "seconds": sum(c["seconds"] for c in chunks),
           "commands": sorted({c["command"] for c in chunks})}
    with_tpl = [r for r in served if r.get("template_group") is not None]
    if with_tpl:
        out["template_group_at_0.1"] = share(r["group"] == r["template_group"] for r in with_tpl)
    return out


def per_key(chunks: list[dict], keys) -> dict:
    recs = [r for c in chunks for r in c["records"]]
    return {str(k): {"n": sum(r["asked"] == k for r in recs),
                     "hit_rate": share(r["hit"] for r in recs if r["asked"] == k),
                     "refused": share(r["refused"] for r in recs if r["asked"] == k)}
            for k in keys if any(r["asked"] == k for r in recs)}


def aggregate(stores: dict[str, ChunkStore], meta: dict, asked_groups: list[int]) -> None:
    result = dict(meta)
    for kind, parts, keys in (("crystal_system", SYSTEM_PARTS, CRYSTAL_SYSTEMS),
                              ("space_group", GROUP_PARTS, asked_groups)):
        result[kind] = {"rows": {}, "per_prompt_key": {}}
        for part in parts:
            if chunks := stores[part].chunks():
                mode = part.split("-")[1]
                result[kind]["rows"][mode] = row(chunks)
                result[kind]["per_prompt_key"][mode] = per_key(chunks, keys)
        asked, free = stores[parts[0]].chunks(), stores[parts[1]].chunks()
        if asked and free:   # the floor on the prompts the symmetric row has finished
            same = row(free[:len(asked)])
            result[kind]["free_on_the_same_prompts"] = {"n": same["n"],
                                                        "hit_rate": same["hit_rate"]}
    save_json(result, meta["out"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="systems-symmetric,systems-free,groups-symmetric,"
                                       "groups-free")
    ap.add_argument("--per-system", type=int, default=30)
    ap.add_argument("--groups", type=int, default=50)
    ap.add_argument("--group-chunk", type=int, default=25)
    add_run_arguments(ap, OUT)
    args = ap.parse_args()
    model, steps = shipped_model(args.steps)
    df = test_table()
    by_system = system_prompts(df, args.per_system, args.seed)
    pairs = group_prompts(df, args.groups, args.seed)
    by_group = [pairs[i:i + args.group_chunk] for i in range(0, len(pairs), args.group_chunk)]
    tag = f"s{args.per_system}-g{args.groups}-seed{args.seed}"
    stores = {p: ChunkStore(f"prompts-{p}-{tag}", steps) for p in SYSTEM_PARTS + GROUP_PARTS}
    meta = {**weights_record(),
            "steps": steps, "seed": args.seed, "per_system": args.per_system,
            "n_groups": len(pairs), "weights": WEIGHTS,
            "threads": 1, "symprec": 0.1, "machine": platform.processor() or platform.machine(),
            "prompts": "formulas of MP-20 test structures at their own cell size (see docstring)",
            "out": args.out, "command": command()}
    parts = {}
    for part in filter(None, args.parts.split(",")):
        chunks = by_system if part.startswith("systems") else by_group
        parts[part] = (stores[part], len(chunks),
                       maker(model, part, chunks, steps, args.seed, args.batch_size))
    groups = [g for _, _, g in pairs]
    run_round_robin(parts, parse_until(args.until), lambda: aggregate(stores, meta, groups))
    aggregate(stores, meta, groups)


if __name__ == "__main__":
    main()
