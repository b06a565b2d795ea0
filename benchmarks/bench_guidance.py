"""Classifier-free guidance: SMACT validity and prompt fidelity against the guidance weight w.

    python benchmarks/bench_guidance.py            # 64 samples a prompt and weight
    python benchmarks/bench_guidance.py --n 16     # quicker

``model.sample(..., guidance=w)`` mixes the conditional and unconditional predictions as
``uncond + w (cond - uncond)`` (w = 1: no guidance, one network call a step; otherwise one call of
twice the batch). The sampler already guarantees a chemical system's elements, so fidelity is
measured where it is not guaranteed: the fraction of "cubic" requests that come out cubic
(spglib at symprec 0.1). Same seeds for every w, side by side in one run. Writes
``benchmarks/results/guidance.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _results import free_model_only

free_model_only()   # its results record the free model (mp20.pt, no templates)

RESULTS = Path(__file__).parent / "results"
PROMPTS = ("Li P S Cl", "Ba Ti O")
WEIGHTS = (1.0, 1.5, 2.0, 3.0)


def crystal_system(atoms) -> str:
    from crystal_lab.prompts import crystal_system_of
    from crystal_lab.structures import space_group

    number = space_group(atoms)[1]
    return crystal_system_of(number) if number else ""


def main(argv=None) -> None:
    import crystal_lab as cl
    from crystal_lab.evaluate import smact_validity, structural_validity

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    model = cl.load_model(device="cpu")
    out = {"n": args.n, "rows": []}
    for w in WEIGHTS:
        for prompt in PROMPTS:
            atoms = model.sample(
                prompt, n_samples=args.n, seed=args.seed, guidance=w, progress=False
            )
            row = {
                "w": w,
                "prompt": prompt,
                "smact_validity": float(np.mean([v.valid for v in smact_validity(atoms)])),
                "structural_validity": float(
                    np.mean([v.valid for v in structural_validity(atoms)])
                ),
            }
            cubic = model.sample(
                prompt,
                n_samples=args.n,
                seed=args.seed,
                guidance=w,
                progress=False,
                crystal_system="cubic",
            )
            row["cubic_when_asked"] = float(np.mean([crystal_system(a) == "cubic" for a in cubic]))
            out["rows"].append(row)
            print(row, flush=True)
    best = max(WEIGHTS, key=lambda w: np.mean([r["smact_validity"] + r["cubic_when_asked"]
                                                for r in out["rows"] if r["w"] == w]))
    out["best_w"] = best
    print(f"best w by SMACT validity + cubic fidelity, averaged over both prompts: {best}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "guidance.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
