"""Template retrieval for CSP: how often the retrieved template is the right one.

    python benchmarks/bench_templates.py              # 1,000 MP-20 test formulas (about 5 minutes)
    python benchmarks/bench_templates.py --n 100      # a quick look

For each held-out MP-20 test crystal (the same 1,000 targets as bench_model.py's CSP: seed 0), the
formula (its atoms per primitive cell) goes to ``rank_templates``; the retrieved template is right
when it equals the crystal's own template (spglib, symprec 0.1): the same space group, the same
Wyckoff orbits and the same element on each, compared in canonical form (origin shifts that
relabel Wyckoff positions, such as rock salt's 4a/4b, count as the same template).

Rows, in one run on the same targets:
* **most frequent**: the index templates with the same per-element counts, relabelled, voted by
  frequency alone (every substitution equally good);
* **shared elements**: the same, but a source template's vote falls a million-fold for each
  element it does not share with the target, and by exp(-|electronegativity difference|) for each
  substitution (so: most shared elements first, then frequency, then electronegativity);
* **substitution x frequency** (shipped before the learned score): each vote weighted, for every
  element replaced, by pymatgen's substitution similarity times
  exp(-(electronegativity difference / 0.7)^2) (the width chosen on leave-one-out retrieval of
  MP-20 val crystals, not on test);
* **learned score** (shipped, ``rank_templates``' default): that vote plus four more features of
  each candidate (the best single source, a val crystal of the same formula already having it,
  extra orbits, electronegativity order kept), five weights fitted by
  ``scripts/fit_template_ranker.py`` on leave-one-out retrieval of MP-20 val, never on test.
* **expected match** (the CSP choice, ``choose_templates``): the learned score's candidates
  re-ordered by probability times the sampler's reliability on each template
  (``symmetry/reliability.py``): it puts the right template first less often, on purpose, where
  a simpler candidate is nearly as likely and far more often realised.

The ``val_loo`` figures beside the last two rows are that script's leave-one-out rates on MP-20
val (read from ``crystal_lab/symmetry/data/template_ranker.json``, not recomputed here): each val
crystal's template is found from the other val crystals.

The index is MP-20 **val** (9,047 crystals), not train (27,136): the published retrieval numbers
(DiffCSP++) use the train split.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _results import save_json

from crystal_lab.symmetry.index import element_similarity, load_index
from crystal_lab.symmetry.ranker import load_weights
from crystal_lab.symmetry.reliability import by_expected_match
from crystal_lab.symmetry.retrieval import rank_templates
from crystal_lab.symmetry.templates import template_of

OUT = "benchmarks/results/templates.json"
#: the row that re-orders the learned score by expected match (retrieval.choose_templates' CSP
#: choice: probability right x the sampler's reliability on the template)
EXPECTED = "expected match"


def _electronegativity():
    from pymatgen.core import Element

    cache: dict[str, float] = {}

    def chi(e: str) -> float:
        if e not in cache:
            x = Element(e).X
            cache[e] = 2.0 if math.isnan(x) else float(x)  # noble gases: no Pauling value
        return cache[e]
    return chi


def methods() -> dict:
    chi = _electronegativity()

    def frequency(_a: str, _b: str) -> float:   # the elements do not matter: counts alone
        return 1.0

    def shared(a: str, b: str) -> float:
        return 1.0 if a == b else 1e-6 * math.exp(-abs(chi(a) - chi(b)))

    return {"most frequent (same counts)": frequency, "shared elements": shared,
            "substitution x frequency (before)": element_similarity,
            "learned score (shipped)": None,   # None: rank_templates' default
            "expected match (CSP's choice)": EXPECTED}


def targets(n: int, seed: int):
    from crystal_lab.datasets import load_dataset

    test = load_dataset("mp_20", "test")
    pick = np.random.default_rng(seed).choice(len(test), size=min(n, len(test)), replace=False)
    return [template_of(test[i]).canonical() for i in sorted(pick)]


def _top5(counts, similarity) -> list:
    if similarity is EXPECTED:
        return [t for t, _ in by_expected_match(rank_templates(counts, k=10**6))[:5]]
    return [t for t, _ in rank_templates(counts, k=5, similarity=similarity)]


def score(truths, similarity) -> dict:
    top1 = top5 = group = pattern = empty = 0
    start = time.perf_counter()
    for truth in truths:
        ranked = _top5(truth.counts, similarity)
        if not ranked:
            empty += 1
            continue
        top1 += ranked[0] == truth
        top5 += truth in ranked
        group += ranked[0].space_group == truth.space_group
        pattern += ranked[0].opened() == truth.opened()
    n = len(truths)
    return {"top1": top1 / n, "top5": top5 / n, "top1_same_space_group": group / n,
            "top1_same_wyckoff_pattern": pattern / n, "no_candidate": empty / n,
            "ms_per_formula": 1000 * (time.perf_counter() - start) / n}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)

    index = load_index()
    truths = targets(args.n, args.seed)
    patterns = set(index.open_counts)
    out = {"index": {k: index.meta.get(k) for k in ("dataset", "split", "symprec", "spglib")}
           | {"n_structures": index.total, "n_templates": len(index.templates)},
           "note": "the index is MP-20 val (9,047 crystals), not train (27,136); the learned "
                   "score is fitted on MP-20 val only (leave-one-out), never on test",
           "command": f"python benchmarks/bench_templates.py --n {args.n} --seed {args.seed}",
           "targets": {"split": "mp_20 test", "n": len(truths), "seed": args.seed,
                       "selection": "as bench_model.py's CSP targets"},
           "right_template": "same space group, Wyckoff orbits and element per orbit (canonical "
                             "form)",
           "pattern_in_index": float(np.mean([t.opened() in patterns for t in truths])),
           "template_in_index": float(np.mean([index.count(t) > 0 for t in truths])),
           "rows": {}}
    print(f"{len(truths)} MP-20 test formulas; index: MP-20 val ({index.total} crystals, "
          f"{len(index.templates)} templates), not train")
    print(
        f"the right group + Wyckoff pattern exists in the index for {out['pattern_in_index']:.1%}"
    )
    print(f"{'method':38s} {'top-1':>6s} {'top-5':>6s} {'group':>6s} {'pattern':>7s} {'none':>5s} "
          f"{'ms':>5s}")
    loo = load_weights()["leave_one_out"]
    val_loo = {"substitution x frequency (before)": loo["vote alone"],
               "learned score (shipped)": loo["fitted"]}
    for name, similarity in methods().items():
        row = score(truths, similarity) | ({"val_loo": val_loo[name]} if name in val_loo else {})
        out["rows"][name] = row
        print(f"{name:38s} {row['top1']:6.1%} {row['top5']:6.1%} "
              f"{row['top1_same_space_group']:6.1%} "
              f"{row['top1_same_wyckoff_pattern']:7.1%} {row['no_candidate']:5.1%} "
              f"{row['ms_per_formula']:5.0f}"
              + (f"   val LOO {row['val_loo']['top1']:.1%} / {row['val_loo']['top5']:.1%}"
                 if "val_loo" in row else ""),
              flush=True)
    save_json(out, args.out)


if __name__ == "__main__":
    main()
