"""CSP on held-out tuning targets: for choosing weights or sampler settings without touching the
1,000 targets that measure them.

    python benchmarks/bench_heldout.py --mode retrieved --tag shipped
    python benchmarks/bench_heldout.py --mode oracle --weights runs/x.pt --tag x-oracle
    python benchmarks/bench_heldout.py --set corrector_steps=1 --tag corrector
    python benchmarks/bench_heldout.py --compare shipped x                # paired, on the shared
    python benchmarks/bench_heldout.py --fit shipped-oracle    # the template reliability curve

The model trained on MP-20 val, and ``bench_symmetry_large.py`` measures on
``load_dataset("mp_20", "test", limit=1000, seed=0)``. A knob chosen on those targets would
flatter itself, so the tuning targets are ``--n`` test crystals drawn (seed 12345) from the rest
of the test split. One sample each, 50 steps, the CPU, paired seeds (chunk ``k``: seed 7000 + k):
``retrieved`` goes through the public API (``sample_many``, the chosen template, as the
headline row), ``oracle`` samples each target's own template, ``free`` uses ``space_group=1``.
``--weights`` replaces the symmetric network (``mp20_symmetric.pt``) by another weights file;
``--set name=value`` changes a ``SamplerConfig`` field.

Writes ``benchmarks/results/heldout/TAG.json`` (per-target matches and the rate) after every
chunk of 50. ``--fit TAG`` fits :mod:`crystal_lab.symmetry.reliability`'s curve (how often a true
template's sample matches, by its free coordinates) to an ``oracle`` run and writes it into the
package (``crystal_lab/symmetry/data/template_reliability.json``).
"""
from __future__ import annotations

import argparse
import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from _results import save_json
from _symbench import sorted_run
from bench_symmetry_large import _api_csp
from bench_symmetry_sampling import csp_request

from crystal_lab.datasets import dataset_path, random_subset, read_csv
from crystal_lab.evaluate import default_matcher, match_rate

RESULTS = Path(__file__).parent / "results" / "heldout"
HEADLINE_TARGETS, TUNING_SEED, STEPS, CHUNK = 1000, 12345, 50, 50


@lru_cache(maxsize=1)
def _test_rows() -> list:
    return read_csv(dataset_path("mp_20", "test"))


def tuning_targets(n: int) -> list:
    """``n`` MP-20 test crystals outside the headline benchmark's 1,000 (the same draw as
    ``load_dataset(..., limit=1000, seed=0)``), in file order."""
    rows = _test_rows()
    if n > len(rows) - HEADLINE_TARGETS:
        raise ValueError(f"--n {n}: only {len(rows) - HEADLINE_TARGETS} test crystals are held out")
    headline = set(random_subset(len(rows), HEADLINE_TARGETS, 0))
    rest = [i for i in range(len(rows)) if i not in headline]
    return [rows[rest[i]] for i in random_subset(len(rest), n, TUNING_SEED)]


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def measure(args) -> None:
    import torch

    from crystal_lab.model.checkpoint import load_model
    from crystal_lab.symmetry.templates import template_of

    torch.set_num_threads(1)
    targets, model, matcher = tuning_targets(args.n), load_model(device="cpu"), default_matcher()
    if args.weights:
        net = load_model(args.weights, device="cpu").denoiser
        model.symmetric_net = lambda _device: net
    settings = dict(s.split("=", 1) for s in args.set)
    for name, value in settings.items():
        setattr(model.config.sampler, name, _value(value))
    matched, seconds = [], 0.0
    for k in range(0, args.n, CHUNK):
        chunk, start = targets[k:k + CHUNK], time.perf_counter()
        if args.mode == "oracle":
            outs = sorted_run(model, [csp_request(t, template_of(t).canonical()) for t in chunk],
                              STEPS, 7000 + k, CHUNK)
        else:
            outs = _api_csp(model, chunk, STEPS, 7000 + k, CHUNK, args.mode == "retrieved")
        seconds += time.perf_counter() - start
        matched += [o is not None and match_rate([o], [t], matcher=matcher)["n_matched"] == 1
                    for o, t in zip(outs, chunk, strict=True)]
        print(f"{len(matched)}: {100 * np.mean(matched):.1f}%", flush=True)
        save_json({"mode": args.mode, "weights": args.weights or "shipped", "settings": settings,
                   "n": len(matched), "match_rate": float(np.mean(matched)),
                   "seconds_per_target": seconds / len(matched), "matched": matched,
                   "targets": f"MP-20 test outside the headline 1,000 (seed {TUNING_SEED})"},
                  RESULTS / f"{args.tag}.json")


def compare(a: str, b: str) -> None:
    x, y = (json.loads((RESULTS / f"{t}.json").read_text()) for t in (a, b))
    n = min(x["n"], y["n"])
    p, q = x["matched"][:n], y["matched"][:n]
    gained = sum(j and not i for i, j in zip(p, q, strict=True))
    lost = sum(i and not j for i, j in zip(p, q, strict=True))
    print(f"{n} shared targets: {a} {100 * np.mean(p):.1f}%, {b} {100 * np.mean(q):.1f}% "
          f"({b} matches {gained} that {a} misses and misses {lost} that {a} matches)")


def fit_reliability(tag: str, out: Path | None = None) -> dict:
    """Fit the reliability curve to the oracle run ``tag`` and write it to ``out`` (default: into
    the package, where retrieval reads it)."""
    from crystal_lab.symmetry import reliability
    from crystal_lab.symmetry.templates import template_of

    run = json.loads((RESULTS / f"{tag}.json").read_text())
    if run["mode"] != "oracle":
        raise SystemExit(f"{tag} sampled {run['mode']} templates: fit to an oracle run")
    targets = tuning_targets(run["n"])
    free = [reliability.free_coordinates(template_of(t).canonical()) for t in targets]
    curve = {**reliability.fit(free, run["matched"]),
             "model": "P(match | true template) = scale * exp(-slope * free coordinates)",
             "fitted_on": f"{run['n']} MP-20 test crystals outside the headline 1,000 (seed "
                          f"{TUNING_SEED}), one sample each from their true templates ({tag}), "
                          "never the 1,000 that measure CSP"}
    path = out or Path(reliability.__file__).parent / "data" / reliability.RELIABILITY_FILE
    path.write_text(json.dumps(curve, indent=1) + "\n")
    print(f"scale {curve['scale']}, slope {curve['slope']} ({curve['n']} targets) -> {path}")
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("retrieved", "oracle", "free"), default="retrieved")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--weights", help="another symmetric network (a weights file)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a SamplerConfig field")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--compare", nargs=2, metavar=("TAG_A", "TAG_B"))
    parser.add_argument("--fit", metavar="TAG",
                        help="fit the template reliability to an oracle run")
    args = parser.parse_args()
    if args.fit:
        fit_reliability(args.fit)
    elif args.compare:
        compare(*args.compare)
    else:
        measure(args)


if __name__ == "__main__":
    main()
