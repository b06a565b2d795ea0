"""Build the symmetry data that crystal_lab ships in ``crystal_lab/symmetry/data``:

* ``templates_mp20_val.json.gz``: every distinct space-group template of MP-20 val and how many
  crystals have it (from ``$CRYSTAL_LAB_DATA``, about 4 minutes on one core);
* ``wyckoff_alternatives.json.gz``: per space group, the relabellings of its Wyckoff letters by its
  normalizer (origin shifts, axis changes), from pyxtal's table of Wyckoff sets;
* ``element_similarity.json.gz``: how readily one element substitutes for another, summed over
  oxidation states from pymatgen's substitution probabilities (Hautier et al., Inorg. Chem. 2011).

    python scripts/build_template_index.py                       # all three
    python scripts/build_template_index.py --only index --limit 200 --out /tmp/index.json.gz

A template is a space group plus its occupied Wyckoff orbits (letter, primitive-cell multiplicity,
element), read with spglib at symprec 0.1 (``crystal_lab.symmetry.templates.template_of``). The
file holds no coordinates, lattices or material ids: derived statistics of MP-20 (Materials Project
via CDVAE, CC-BY 4.0). It records the data set, the split, the tolerance and spglib's version.
Templates are stored in their canonical form (``Template.canonical``), so the two descriptions of
one crystal count together.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import time
from collections import defaultdict
from pathlib import Path

from crystal_lab.symmetry.index import INDEX_FILE, SIMILARITY_FILE, build_index
from crystal_lab.symmetry.templates import ALTERNATIVES_FILE, template_of

DATA = Path(__file__).resolve().parents[1] / "crystal_lab" / "symmetry" / "data"
#: element pairs less similar than this are left out (read back as this floor)
FLOOR = 1e-3
#: the width (Pauling units) of the electronegativity factor exp(-(dchi / SIGMA)^2); chosen on
#: leave-one-out retrieval of 600 MP-20 val crystals (0.3: 61.3%, 0.5: 62.2%, 0.7: 62.5%, 1.0: 62.0%
#: top-1; without the factor 59.3%), never on test
SIGMA = 0.7


def write_json_gz(data: dict, path: Path) -> Path:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    print(f"{path} ({path.stat().st_size / 1024:.1f} KiB)")
    return path


def build_alternatives(path: Path) -> Path:
    from pyxtal import __version__
    from pyxtal.symmetry import Group

    letters, alternatives = {}, {}
    for sg in range(1, 231):
        rows = Group(sg).get_alternatives()["Transformed WP"]
        letters[sg] = rows[0]  # the identity: every letter of the group, in order
        if len(rows) > 1:
            alternatives[sg] = sorted(set(rows[1:]) - {rows[0]})
    return write_json_gz({"source": f"pyxtal {__version__} Group.get_alternatives (Wyckoff sets)",
                          "letters": letters, "alternatives": alternatives}, path)


def build_similarity(path: Path) -> Path:
    """sim(a, b) = P(a, b) / sqrt(P(a, a) P(b, b)) with P(a, b) = p(a, b) / (p(a) p(b)) and
    p(a, b) pymatgen's substitution probability summed over the two elements' oxidation states;
    with each element's Pauling electronegativity, for the factor exp(-(dchi / SIGMA)^2)."""
    from pymatgen.analysis.structure_prediction.substitution_probability import (
        SubstitutionProbability,
    )
    from pymatgen.core import Element

    table = SubstitutionProbability()
    joint: dict[tuple[str, str], float] = defaultdict(float)
    for s1, s2 in itertools.product(table.species, table.species):
        joint[s1.symbol, s2.symbol] += table.prob(s1, s2)
    single: dict[str, float] = defaultdict(float)
    for (a, _), p in joint.items():
        single[a] += p
    corr = {(a, b): p / (single[a] * single[b]) for (a, b), p in joint.items()}
    pairs = {}
    for (a, b), c in corr.items():
        value = c / math.sqrt(corr[a, a] * corr[b, b]) if (a, a) in corr and (b, b) in corr else 0.0
        if a < b and value > FLOOR:
            pairs[f"{a} {b}"] = float(f"{value:.4g}")
    chi = {e: Element(e).X for e in sorted(single)}
    return write_json_gz({"source": "pymatgen SubstitutionProbability (Hautier et al. 2011), "
                                    "summed over "
                                    "oxidation states; Pauling electronegativity from pymatgen",
                          "floor": FLOOR, "pairs": pairs, "sigma": SIGMA,
                          "electronegativity": {e: x for e, x in chi.items() if math.isfinite(x)}},
                         path)


def build_templates(args) -> Path:
    import spglib

    from crystal_lab.datasets import DATASETS, load_dataset

    start = time.perf_counter()
    crystals = load_dataset(args.dataset, args.split, limit=args.limit)
    templates = [template_of(atoms, symprec=args.symprec).canonical() for atoms in crystals]
    meta = {"dataset": args.dataset, "split": args.split, "symprec": args.symprec,
            "spglib": spglib.__version__, "source": DATASETS[args.dataset]["source"],
            "multiplicities": "atoms in the primitive cell",
            "letters": "spglib's Wyckoff letters (ITA standard setting), canonical form"}
    index = build_index(templates, meta)
    path = index.save(args.out or DATA / INDEX_FILE)
    print(f"{len(index.templates)} distinct templates of {index.total} {args.dataset}/{args.split} "
          f"crystals -> {path} ({path.stat().st_size / 1024:.1f} KiB, "
          f"{time.perf_counter() - start:.0f} s)")
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["index", "alternatives", "similarity"], default=None)
    ap.add_argument("--dataset", default="mp_20")
    ap.add_argument("--split", default="val")
    ap.add_argument("--symprec", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=None, help="only the first rows (a quick try)")
    ap.add_argument("--out", default=None, help="where the index goes (default: the package data)")
    args = ap.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "alternatives"):  # first: the index is written in canonical form
        build_alternatives(DATA / ALTERNATIVES_FILE)
    if args.only in (None, "similarity"):
        build_similarity(DATA / SIMILARITY_FILE)
    if args.only in (None, "index"):
        build_templates(args)


if __name__ == "__main__":
    main()
