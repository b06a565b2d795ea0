"""Dynamic int8 quantisation of the denoiser's Linear layers for CPU inference: speed and
quality side by side with the float32 model, same seeds.

    python benchmarks/bench_quantize.py             # 48 CSP targets, 48 unconditional samples
    python benchmarks/bench_quantize.py --n 16      # quicker

``torch.ao.quantization.quantize_dynamic`` stores the Linear weights as int8 and quantises the
activations on the fly. Measured here, one torch thread:

* the lab's CPU budget: ``load_model()`` (in 3 fresh processes, and 3 times in this one) and 3
  structures of 5 atoms at default steps (median of 3 after a warm-up), for both models;
* quality: CSP match rate and RMSE on ``--n`` MP-20 test structures (the model trained on val),
  structural validity of ``--n`` unconditional samples, how many CSP predictions of the two models
  match each other, and the denoiser's output difference on the same inputs.

Writes ``benchmarks/results/quantize.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _results import free_model_only
from torch import nn

import crystal_lab as cl
from crystal_lab.evaluate import match_rate, structural_validity

free_model_only()   # its results record the free model (mp20.pt, no templates)

RESULTS = Path(__file__).parent / "results"


def quantized(model):
    """A copy of ``model`` whose denoiser's Linear layers are dynamically quantised to int8."""
    import copy

    from torch.ao.quantization import quantize_dynamic

    q = copy.deepcopy(model)
    q.denoiser = quantize_dynamic(q.denoiser, {nn.Linear}, dtype=torch.qint8)
    return q


def budget(model, seed: int, repeats: int = 3) -> dict:
    model.sample("Ba Ti O", n_atoms=5, n_samples=1, seed=seed, progress=False)   # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.sample("Ba Ti O", n_atoms=5, n_samples=3, seed=seed, progress=False)
        times.append(time.perf_counter() - t0)
    return {"three_of_5_atoms_s": statistics.median(times), "three_of_5_atoms_all_s": times}


def formula_prompt(atoms) -> str:
    symbols = atoms.get_chemical_symbols()
    return " ".join(f"{e}{symbols.count(e)}" for e in dict.fromkeys(symbols))


def output_difference(a, b, seed: int) -> dict:
    """Largest and RMS difference of the three outputs, relative to the float model's RMS."""
    g = torch.Generator().manual_seed(seed)
    batch, n_atoms = 16, 10
    frac = torch.rand(batch, n_atoms, 3, generator=g)
    tokens = torch.randint(1, 84, (batch, n_atoms), generator=g)
    mask = torch.ones(batch, n_atoms, dtype=torch.bool)
    lat = torch.randn(batch, 6, generator=g)
    lattice = a.noise.lattice.to_lattice(lat, mask.sum(1))
    t = torch.rand(batch, generator=g)
    cond = torch.zeros(batch, a.config.network.num_elements + 1)
    cond[:, -1] = 1.0
    with torch.no_grad():
        out_a = a.denoiser(frac, tokens, lat, lattice, t, cond, mask)
        out_b = b.denoiser(frac, tokens, lat, lattice, t, cond, mask)
    rel = [
        float(((x - y).pow(2).mean() / x.pow(2).mean()).sqrt())
        for x, y in zip(out_a, out_b, strict=True)
    ]
    return dict(zip(("score", "lattice", "types"), rel, strict=True))


def fresh_load_seconds(repeats: int = 3) -> list[float]:
    """``load_model()`` timed in new processes (after ``import crystal_lab``), as a student's
    first cell sees it: no weights or tables cached in memory yet."""
    import subprocess
    import sys

    code = ("import time, torch, crystal_lab; torch.set_num_threads(1); t = time.perf_counter(); "
            "crystal_lab.load_model(device='cpu'); print(time.perf_counter() - t)")
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
        for _ in range(repeats)
    ]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "quantize.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        model = cl.load_model(device="cpu")
        loads.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    q = quantized(model)
    quantize_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    test = cl.load_dataset("mp_20", "test")
    targets = [test[i] for i in sorted(rng.choice(len(test), size=args.n, replace=False))]
    prompts, sizes = [formula_prompt(a) for a in targets], [len(a) for a in targets]
    out = {"n": args.n, "seed": args.seed, "machine": f"{platform.machine()}, 1 torch thread",
           "load_average": os.getloadavg()[0], "torch": torch.__version__,
           "load_model_s": {"best": min(loads), "all": loads},
           "load_model_fresh_process_s": fresh_load_seconds(), "quantize_s": quantize_s,
           "relative_output_rms_difference": output_difference(model, q, args.seed)}
    preds = {}
    for name, m in (("float32", model), ("int8", q)):
        row = budget(m, args.seed)
        t0 = time.perf_counter()
        preds[name] = m.sample_many(prompts, n_atoms=sizes, seed=args.seed, progress=False)
        row["csp_s"] = time.perf_counter() - t0
        row.update({f"csp_{k}": v for k, v in match_rate(preds[name], targets).items()})
        dng = m.sample(None, n_samples=args.n, seed=args.seed, progress=False)
        row["structural_validity"] = float(np.mean([v.valid for v in structural_validity(dng)]))
        out[name] = row
        print(name, json.dumps(row), flush=True)
    agree = match_rate(preds["int8"], preds["float32"], require_valid=False)
    out["int8_matches_float32"] = agree["match_rate"]
    out["speedup_three_of_5"] = (
        out["float32"]["three_of_5_atoms_s"] / out["int8"]["three_of_5_atoms_s"]
    )
    out["speedup_csp"] = out["float32"]["csp_s"] / out["int8"]["csp_s"]
    print(json.dumps({k: v for k, v in out.items() if k not in ("float32", "int8")}, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
