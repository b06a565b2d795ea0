"""Copy the symmetry benchmarks' figures into the shipped facts file, so the course's quality box
shows them (``crystal_lab.view.quality``) from an installed package too.

    python benchmarks/collect_symmetry_results.py              # the quality box's facts
    python benchmarks/collect_symmetry_results.py --markdown   # the README's tables, printed
    python benchmarks/collect_symmetry_results.py --docs       # ... written into the docs

Reads ``benchmarks/results/symmetry_large.json`` (CSP and unconditional, free against symmetric),
``symmetry_prompts.json``, ``csp_best_of_k.json`` and ``symmetry_time.json`` (what exists) and
writes their summary as the ``"symmetry"`` entry of ``crystal_lab/weights/mp20.quality.json``
(the rest of that file, written by ``bench_model.py``, is kept). Every number is copied, none is
computed here beyond picking rows; each entry names its size.
"""
from __future__ import annotations

import json
import sys
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
    own = {name: _pick(row, *keys) for name, row in (large.get("csp") or {}).items()
           if name in out and row.get("n") != out[name].get("n")}
    if own:   # rows that went further than the common targets, at their own size
        out["own_size"] = own
    if best.get("rows"):
        out["best_of_k"] = {"n": best["n"], "k": best["k"],
                            # a run from before the fine-tune shipped sampled with mp20.pt alone
                            "fine_tune": "symmetric_weights_sha256" in best,
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
        same = (prompts.get(kind) or {}).get("free_on_the_same_prompts")
        if same and "free" in out[kind]:
            out[kind]["free"] = out[kind]["free"] | same   # the floor on the asked row's prompts
    return out


def _symmetric_by_default() -> bool:
    """This checkout's ``sampler.SYMMETRIC_BY_DEFAULT`` (SystemExit when ``crystal_lab`` is
    imported from another checkout: run with ``PYTHONPATH`` set to this one)."""
    from crystal_lab.model import sampler

    if Path(sampler.__file__).resolve().parents[2] != ROOT:
        raise SystemExit(f"crystal_lab is imported from {sampler.__file__}, not {ROOT}: run with "
                         f"PYTHONPATH={ROOT}")
    return sampler.SYMMETRIC_BY_DEFAULT


def summary() -> dict:
    large, best = _read("symmetry_large.json"), _read("csp_best_of_k.json")
    prompts, timing = _read("symmetry_prompts.json"), _read("symmetry_time.json")
    out = {"sources": [f"benchmarks/results/{n}" for n, d in (
               ("symmetry_large.json", large), ("csp_best_of_k.json", best),
               ("symmetry_prompts.json", prompts), ("symmetry_time.json", timing)) if d],
           # what model.sample does when asked no group and no crystal system: the quality box
           # shows that mode's figures first
           "default": "symmetric" if _symmetric_by_default() else "free",
           "steps": large.get("steps"), "symprec": 0.1,
           "sampled_on": (f"CPU, {large['threads']} thread{'s' * (large['threads'] != 1)}"
                          if large.get("threads") else None),
           "templates_from": "MP-20 val (9,047 crystals)",
           "csp": csp_summary(large, best), "unconditional": uncond_summary(large),
           "prompts": prompt_summary(prompts)}
    if timing:
        t = timing["three_of_5_atoms"]
        out["time"] = {"three_of_5_atoms_free_s": t["free_s_median"],
                       "three_of_5_atoms_symmetric_s": t["symmetric_s_median"],
                       "load_s": timing["load_model"]["load_s_median"],
                       "load_average_1min": timing.get("load_average_1min")}
    return out


def _p(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _f(x, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def csp_table(sym: dict) -> list[str]:
    csp = sym["csp"]
    names = {"free": "free (`space_group=1`)", "retrieved": "retrieved template (top 1)",
             "oracle": "the target's true template (an oracle, for reference)"}
    rows = {k: v for k, v in csp.items() if k in names}
    if not rows:
        return []
    n = min(r["n"] for r in rows.values())
    out = [(f"| CSP, {n:,} MP-20 test targets, one sample each | match | RMSE | same space group "
           "as the target | right template |"), "|---|---|---|---|---|"]
    out += [f"| {names[k]} | {_p(r['match_rate'])} | {_f(r.get('rms_dist'))} | "
            f"{_p(r.get('same_space_group'))} | {_p(r.get('right_template'))} |"
            for k, r in rows.items()]
    out += [f"| {names[k]}, all {r['n']:,} targets it finished | {_p(r['match_rate'])} | "
            f"{_f(r.get('rms_dist'))} | {_p(r.get('same_space_group'))} | "
            f"{_p(r.get('right_template'))} |" for k, r in csp.get("own_size", {}).items()]
    best = csp.get("best_of_k")
    if best:
        top1 = best["rows"]["top-1 (one sample)"]
        r = next(v for name, v in best["rows"].items() if name.startswith("best of"))
        when = "" if best.get("fine_tune") else "; mp20.pt's network and the earlier ranking"
        out.append(f"| best of {best['k']} templates by CHGNet energy ({best['n']} targets; one "
                   f"sample on the top template, same targets: {_p(top1['match_rate'])}{when}) | "
                   f"{_p(r['match_rate'])} | {_f(r.get('rms_dist'))} | "
                   f"{_p(r.get('same_space_group'))} | {_p(r.get('right_template'))} |")
    out.append("| anchors (MP-20 train, 27,136): DiffCSP / DiffCSP++ retrieved / DiffCSP++ true "
               "templates | 51.5% / 70.6% / 80.3% | | | |")
    return out


def uncond_table(sym: dict) -> list[str]:
    names = {"free": "free", "symmetric": "templates drawn from MP-20 val (charge balanced at the "
             "last reveal where one orbit's redraw can)",
             "unbalanced": "the same templates and draws, without the charge balance"}
    rows = {k: v for k, v in sym["unconditional"].items() if k in names}
    if not rows:
        return []
    head = [("| unconditional | n | triclinic | TV to MP-20 val | structural | SMACT | unique | "
            "novel | new template |"), "|---|---|---|---|---|---|---|---|---|"]
    body = [f"| {names[k]} | {r['n']:,} | {_p(r['triclinic'])} | {_f(r['tv_vs_val'], '.2f')} | "
            f"{_p(r['structural'])} | {_p(r['smact'])} | {_p(r.get('unique'))} | "
            f"{_p(r.get('novel'))} | {_p(r.get('new_template'))} |" for k, r in rows.items()]
    val = sym["unconditional"].get("val", {}).get("triclinic")
    body.append(f"| MP-20 val itself / published P1 shares | | {_p(val)} / DiffCSP 31.6%, "
                "DiffCSP++ 1.8% | | | | | | |")
    return head + body


def prompt_table(sym: dict) -> list[str]:
    out = [("| prompt | n | asked: right system / group | refused | the free model, unasked "
           "(floor) | structural | SMACT |"), "|---|---|---|---|---|---|---|"]
    names = {"crystal_system": "crystal system (`\"cubic NaCl\"`)",
             "space_group": "space group (`\"NaCl sg=225\"`), exact group"}
    for kind, rows in sym["prompts"].items():
        r, free = rows.get("symmetric"), rows.get("free") or {}
        if r:
            out.append(f"| {names[kind]} | {r['n']} | {_p(r['hit_rate'])} | {_p(r['refused'])} | "
                       f"{_p(free.get('hit_rate'))} | {_p(r['structural'])} | {_p(r['smact'])} |")
        learned = rows.get("learned")
        if learned:
            out.append(f"| the same, free model given the system word (learned token, "
                       f"`space_group=1`) | {learned['n']} | {_p(learned['hit_rate'])} | "
                       f"{_p(learned['refused'])} | {_p(free.get('hit_rate'))} | "
                       f"{_p(learned['structural'])} | {_p(learned['smact'])} |")
    return out if len(out) > 2 else []


def _goal_rows(sym: dict) -> list[tuple[str, str, float | None, bool | None]]:
    """(goal, target, measured, met) for issue 27's "Done when" figures that were measured."""
    r = sym["csp"].get("retrieved") or {}
    u = sym["unconditional"].get("symmetric") or {}
    p = sym["prompts"]
    hit = lambda kind: ((p.get(kind) or {}).get("symmetric") or {}).get("hit_rate")
    t = sym.get("time") or {}
    n_csp, n_u = r.get("n"), u.get("n")
    rows = [(f"CSP match, retrieved template ({n_csp} targets)", ">= 40%", r.get("match_rate"),
             lambda x: x >= 0.40),
            (f"unconditional triclinic ({n_u} samples)", "<= 10%", u.get("triclinic"),
             lambda x: x <= 0.10),
            (f"crystal-system TV to MP-20 val ({n_u})", "<= 0.15", u.get("tv_vs_val"),
             lambda x: x <= 0.15),
            (f"structural validity ({n_u})", ">= 99%", u.get("structural"), lambda x: x >= 0.99),
            (f"SMACT validity ({n_u})", ">= 85%", u.get("smact"), lambda x: x >= 0.85),
            (f"uniqueness ({n_u})", ">= 95%", u.get("unique"), lambda x: x >= 0.95),
            ("crystal-system prompts", ">= 90%", hit("crystal_system"), lambda x: x >= 0.90),
            ("space-group prompts, exact group", ">= 90%", hit("space_group"),
             lambda x: x >= 0.90),
            ("3 structures of 5 atoms, symmetric (s)", "< 1.5",
             t.get("three_of_5_atoms_symmetric_s"), lambda x: x < 1.5),
            ("load_model() (s)", "< 2", t.get("load_s"), lambda x: x < 2.0)]
    return [(g, target, x, None if x is None else bool(ok(x))) for g, target, x, ok in rows]


def goal_table(sym: dict) -> list[str]:
    out = ["| issue 27 goal (symmetric mode) | target | measured | met |", "|---|---|---|---|"]
    for goal, target, x, met in _goal_rows(sym):
        if x is None:
            continue
        shown = f"{x:.2f}" if "(s)" in goal or "TV" in goal else _p(x)
        out.append(f"| {goal} | {target} | {shown} | {'yes' if met else '**no**'} |")
    return out if len(out) > 2 else []


def markdown(sym: dict) -> str:
    """The README's tables, from the summary (each table only when its benchmark has run)."""
    blocks = [csp_table(sym), uncond_table(sym), prompt_table(sym)]
    if "time" in sym:
        t = sym["time"]
        load = "-" if not t.get("load_average_1min") else \
            " to ".join(f"{x:.1f}" for x in t["load_average_1min"])
        blocks.append([("| one thread, medians | 3 structures of 5 atoms, free | symmetric | "
                       "load_model() | machine load average (2 cores) |"), "|---|---|---|---|---|",
                       (f"| seconds | {t['three_of_5_atoms_free_s']:.2f} | "
                        f"{t['three_of_5_atoms_symmetric_s']:.2f} | {t['load_s']:.2f} | "
                        f"{load} |")])
    blocks.append(goal_table(sym))
    return "\n\n".join("\n".join(b) for b in blocks if b)


def model_table_rows(sym: dict) -> list[str]:
    """Rows for the README's model table (measure | crystal_lab | published anchors)."""
    out = []
    r = sym["csp"].get("retrieved")
    if r:
        free = sym["csp"].get("free") or {}
        out.append(f"| CSP match rate with a retrieved space-group template (`mp20_symmetric.pt`, "
                   f"the constrained fine-tune), {r['n']:,} MP-20 test structures, 50 steps; the "
                   f"free model on the "
                   f"same targets | {_p(r['match_rate'])} (RMSE {_f(r.get('rms_dist'))}); free "
                   f"{_p(free.get('match_rate'))} | DiffCSP++ 70.6% retrieved, 80.3% true "
                   "templates |")
    u = sym["unconditional"]
    if u.get("symmetric") and u.get("free"):
        out.append(f"| triclinic share of unconditional samples: free ({u['free']['n']:,}) / "
                   f"templates drawn from MP-20 val ({u['symmetric']['n']:,}) | "
                   f"{_p(u['free']['triclinic'])} / {_p(u['symmetric']['triclinic'])} (MP-20 "
                   f"val {_p(u.get('val', {}).get('triclinic'))}) | P1 share: DiffCSP 31.6%, "
                   "DiffCSP++ 1.8% |")
    return out


#: the block of README.md and the model card that ``--docs`` rewrites
START, END = "<!-- symmetry tables: benchmarks/collect_symmetry_results.py --docs -->", \
    "<!-- /symmetry tables -->"
DOCS = (ROOT / "README.md", ROOT / "crystal_lab" / "weights" / "MODEL_CARD.md")


def write_docs(sym: dict) -> None:
    """Replace the text between START and END in each of DOCS with :func:`markdown`."""
    for path in DOCS:
        text = path.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"{path.relative_to(ROOT)} has no {START} ... {END} block")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = f"{head}{START}\n\n{markdown(sym)}\n\n{END}{tail}"
        if path.name == "README.md":
            text = _model_table(text, model_table_rows(sym))
        path.write_text(text)
        print(f"wrote the symmetry tables into {path.relative_to(ROOT)}")


#: the README model table's row after which the symmetric rows stand
ANCHOR_ROW = "| CSP match rate, 1000 MP-20 test structures, 50 steps |"


def _model_table(text: str, rows: list[str]) -> str:
    """``text`` with the model table's symmetric rows (same first cell) replaced by ``rows``,
    or inserted after :data:`ANCHOR_ROW`."""
    lines = text.split("\n")
    for row in rows:
        key = row[:45]   # the row's words before any figure
        at = [i for i, line in enumerate(lines) if line.startswith(key)]
        if at:
            lines[at[0]] = row
        else:
            anchor = next(i for i, line in enumerate(lines) if line.startswith(ANCHOR_ROW))
            lines.insert(anchor + 1 + rows.index(row), row)
    return "\n".join(lines)


def main() -> None:
    if "--docs" in sys.argv:
        write_docs(summary())
        return
    if "--markdown" in sys.argv:
        sym = summary()
        print(markdown(sym), "", "rows for the model table:", *model_table_rows(sym), sep="\n")
        return
    facts = json.loads(FACTS.read_text())
    facts["symmetry"] = summary()
    FACTS.write_text(json.dumps(facts, indent=2))
    print(f"wrote the symmetry entry of {FACTS.relative_to(ROOT)} from "
          f"{', '.join(facts['symmetry']['sources'])}")


if __name__ == "__main__":
    main()
