"""Copy the symmetry benchmarks' figures into the shipped facts file, so the course's quality box
shows them (``crystal_lab.view.quality``) from an installed package too.

    python benchmarks/collect_symmetry_results.py

Reads ``benchmarks/results/symmetry_large.json`` (CSP and unconditional, free against symmetric),
``symmetry_prompts.json``, ``csp_best_of_k.json`` and ``symmetry_time.json`` (what exists) and
writes their summary as the ``"symmetry"`` entry of ``crystal_lab/weights/mp20.quality.json``
(the rest of that file, written by ``bench_model.py``, is kept). Every number is copied, none is
computed here beyond picking rows; each entry names its size.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FACTS = ROOT / "crystal_lab" / "weights" / "mp20.quality.json"


def _read(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def _pick(row: dict, *keys) -> dict:
    return {k: row.get(k) for k in keys if k in row}


def csp_summary(large: dict, best: dict) -> dict:
    """The CSP rows on the targets every row finished (``csp_paired``), or the rows as they are."""
    paired = large.get("csp_paired") or {}
    rows = paired.get("rows") or large.get("csp") or {}
    keys = ("n", "match_rate", "rms_dist", "same_space_group", "right_template", "right_group")
    out = {name: _pick(row, *keys) for name, row in rows.items()}
    if best.get("rows"):
        out["best_of_k"] = {"n": best["n"], "k": best["k"],
                            "rows": {name: _pick(r, "match_rate", "rms_dist", "same_space_group",
                                                 "right_template")
                                     for name, r in best["rows"].items()}}
    return out


def uncond_summary(large: dict) -> dict:
    rows = large.get("unconditional") or {}
    keys = ("n", "triclinic", "tv_vs_val", "structural", "smact", "unique", "novel",
            "new_template")
    out = {name: _pick(row, *keys) for name, row in rows.items() if name != "val"}
    if "val" in rows:
        out["val"] = {"triclinic": rows["val"]["systems"]["triclinic"]}
    return out


def prompt_summary(prompts: dict) -> dict:
    out = {}
    for kind in ("crystal_system", "space_group"):
        rows = (prompts.get(kind) or {}).get("rows") or {}
        out[kind] = {name: _pick(row, "n", "hit_rate", "refused", "structural", "smact")
                     for name, row in rows.items()}
    return out


def summary() -> dict:
    large, best = _read("symmetry_large.json"), _read("csp_best_of_k.json")
    prompts, timing = _read("symmetry_prompts.json"), _read("symmetry_time.json")
    out = {"sources": [f"benchmarks/results/{n}" for n, d in (
               ("symmetry_large.json", large), ("csp_best_of_k.json", best),
               ("symmetry_prompts.json", prompts), ("symmetry_time.json", timing)) if d],
           "steps": large.get("steps"), "symprec": 0.1,
           "templates_from": "MP-20 val (9,047 crystals)",
           "csp": csp_summary(large, best), "unconditional": uncond_summary(large),
           "prompts": prompt_summary(prompts)}
    if timing:
        t = timing["three_of_5_atoms"]
        out["time"] = {"three_of_5_atoms_free_s": t["free_s_median"],
                       "three_of_5_atoms_symmetric_s": t["symmetric_s_median"],
                       "load_s": timing["load_model"]["load_s_median"]}
    return out


def main() -> None:
    facts = json.loads(FACTS.read_text())
    facts["symmetry"] = summary()
    FACTS.write_text(json.dumps(facts, indent=2))
    print(f"wrote the symmetry entry of {FACTS.relative_to(ROOT)} from "
          f"{', '.join(facts['symmetry']['sources'])}")


if __name__ == "__main__":
    main()
