"""Why are generated crystals mostly triclinic? The crystal-system distribution of unconditional
samples against MP-20's, and candidate causes side by side on the shipped model.

    python benchmarks/bench_symmetry.py                                    # 200 / 100 / 40 / 8
    samples
    python benchmarks/bench_symmetry.py --n 32 --n-variant 32 --n-full 16  # the size recorded here

Measures (spglib through pymatgen's SpacegroupAnalyzer, symprec 0.1 A, MP-20's own tolerance):
the share of each of the seven crystal systems, the share triclinic, and the total variation
distance to MP-20 val (the training data; its labels come from the CSV, all 9,047 rows). Also the
share of samples whose *cell alone* is triclinic (one atom in the same cell): is it the lattice
or the atoms that break the symmetry?

Rows (same seeds, same model):

* sampler variants: the default 50 deterministic steps; 200 and 1000 steps; 50 steps with one
  Langevin corrector call a step; 50 ancestral (stochastic) steps; 50 steps plus ``final_refine``
  extra denoising calls at the last step's noise level (``SamplerConfig.final_refine``);
* the network alone: MP-20 val crystals noised to time t and denoised with one network call
  (the Tweedie estimate of coordinates and lattice, types given): how much symmetry survives a
  single denoising at the noise levels the sampler ends in.

Writes ``benchmarks/results/symmetry.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_conditioning import crystal_system  # one spglib reading for both benchmarks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from _results import free_model_only
from _symbench import distribution, total_variation
from score_gpu_run import load_structures

from crystal_lab.datasets import dataset_path, load_dataset
from crystal_lab.model.checkpoint import load_model
from crystal_lab.prompts import crystal_system_of

free_model_only()   # its results record the free model (mp20.pt, no templates)

RESULTS = Path(__file__).parent / "results"


def mp20_distribution(split: str = "val") -> dict[str, float]:
    df = pd.read_csv(dataset_path("mp_20", split), usecols=["spacegroup.number"])
    return distribution(df["spacegroup.number"].map(crystal_system_of).tolist())


def mp20_cells(n: int, seed: int, symprec: float, split: str = "val") -> dict:
    """The same measures for ``n`` random MP-20 crystals themselves (spglib on their CIFs), so the
    samples' "cell triclinic" share has its reference."""
    val = load_dataset("mp_20", split)
    picked = [val[i] for i in np.random.default_rng(seed).choice(len(val), size=n, replace=False)]
    return describe(picked, mp20_distribution(split), symprec)


def describe(structures, reference: dict, symprec: float) -> dict:
    found = [crystal_system(a, symprec) for a in structures]
    cells = [crystal_system(a, symprec, lattice_only=True) for a in structures]
    dist = distribution(found)
    return {"n": len(structures), "distribution": dist, "triclinic": dist["triclinic"],
            "tv_distance": total_variation(dist, reference),
            "cell_triclinic": distribution(cells)["triclinic"]}


def sampler_rows(
    model,
    n: int,
    n_variant: int,
    n_full: int,
    seed: int,
    symprec: float,
    reference: dict,
    which,
    save=None,
) -> list[dict]:
    variants = {
        "default: 50 deterministic steps": ({}, 50, n),
        "200 steps": ({}, 200, n_full),
        "1000 steps": ({}, 1000, n_full // 5),
        "50 steps + 1 Langevin corrector a step": ({"corrector_steps": 1}, 50, n_variant),
        "50 ancestral (stochastic) coordinate steps": ({"stochastic_coords": True}, 50, n_variant),
        "50 steps + 3 final refinement calls": ({"final_refine": 3}, 50, n_variant),
    }
    rows = []
    base = model.config.sampler
    for name, (settings, steps, size) in variants.items():
        if which and not any(w in name for w in which) or size <= 0:
            continue
        for k, v in settings.items():
            setattr(model.config.sampler, k, v)
        t0 = time.perf_counter()
        samples = model.sample(None, n_samples=size, steps=steps, seed=seed, progress=False)
        seconds = time.perf_counter() - t0
        for k in settings:
            setattr(model.config.sampler, k, getattr(type(base)(), k))
        row = {"row": name, "steps": steps, "settings": settings, "sampling_s": seconds,
               **describe(samples, reference, symprec)}
        print(
            f"{name:46s} n={row['n']:4d}  triclinic {row['triclinic']:.1%}  "
            f"TV {row['tv_distance']:.2f}  "
            f"cell triclinic {row['cell_triclinic']:.1%}  ({seconds:.0f} s)",
            flush=True,
        )
        rows.append(row)
        if save is not None:
            save(rows)
    return rows


@torch.no_grad()
def one_call_rows(model, n: int, times, seed: int, symprec: float) -> list[dict]:
    """MP-20 val crystals noised to t and denoised by one network call: the share whose crystal
    system survives, against the share that survives the noise alone (no denoising)."""
    from crystal_lab.datasets import CrystalBatch
    from crystal_lab.model.sampler import to_atoms_list

    rng = np.random.default_rng(seed)
    val = load_dataset("mp_20", "val")
    picked = [val[i] for i in rng.choice(len(val), size=n, replace=False)]
    truth = [crystal_system(a, symprec) for a in picked]
    batch = CrystalBatch.from_atoms(picked, dtype=torch.float32)
    frac0, numbers, mask = batch.padded()
    nn_ = mask.sum(1)
    x0_lat = model.noise.lattice.to_params(batch.lattice, nn_)
    cond = model.condition_vector(numbers, mask, torch.zeros(n, dtype=torch.bool))
    g = torch.Generator().manual_seed(seed)
    rows = []
    for t_val in times:
        t = torch.full((n,), float(t_val))
        x_frac, _ = model.noise.coords.add_noise(frac0, t[:, None], g)
        x_lat, _ = model.noise.lattice.add_noise(x0_lat, t, g)
        score, eps, _ = model.denoiser(
            x_frac, numbers, x_lat, model.noise.lattice.to_lattice(x_lat, nn_), t, cond, mask
        )
        zero = torch.zeros(n)
        den_frac = model.noise.coords.step(x_frac, score, t[:, None], zero[:, None])
        den_lat = model.noise.lattice.step(x_lat, eps, t, zero)
        noisy = to_atoms_list(x_frac, numbers, model.noise.lattice.to_lattice(x_lat, nn_), mask)
        denoised = to_atoms_list(
            den_frac, numbers, model.noise.lattice.to_lattice(den_lat, nn_), mask
        )
        kept = lambda structures: float(np.mean([crystal_system(a, symprec) == s
                                                 for a, s in zip(structures, truth, strict=True)]))
        sigma = float(model.noise.coords.sigma(torch.tensor(float(t_val))))
        row = {
            "t": float(t_val),
            "sigma_frac": sigma,
            "n": n,
            "kept_noisy": kept(noisy),
            "kept_denoised": kept(denoised),
            "triclinic_denoised": distribution([crystal_system(a, symprec) for a in denoised])[
                "triclinic"
            ],
        }
        print(
            f"t={t_val:.3f} (sigma {sigma:.4f}): crystal system kept "
            f"{row['kept_noisy']:.1%} noisy, {row['kept_denoised']:.1%} after one denoising call",
            flush=True,
        )
        rows.append(row)
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=200, help="unconditional samples for the default row")
    ap.add_argument("--n-variant", type=int, default=100, help="samples for each other sampler row")
    ap.add_argument(
        "--n-full",
        type=int,
        default=40,
        help="samples for the 200-step row (the 1000-step row gets a fifth: 0 skips it)",
    )
    ap.add_argument(
        "--n-one-call", type=int, default=200, help="MP-20 val crystals for the one-call rows"
    )
    ap.add_argument("--times", type=float, nargs="+", default=[0.02, 0.1, 0.3])
    ap.add_argument(
        "--rows", nargs="*", default=[], help="only sampler rows whose name contains one of these"
    )
    ap.add_argument("--symprec", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", default=str(RESULTS / "symmetry.json"))
    ap.add_argument("--structures", default=None,
                    help="only describe saved structures (a gpu_run.py .npz) against MP-20 val")
    ap.add_argument(
        "--n-reference", type=int, default=400, help="MP-20 val crystals for the reference row"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.structures:
        structures = load_structures(Path(args.structures))
        row = describe(structures, mp20_distribution("val"), args.symprec)
        print(json.dumps(row, indent=1))
        return row
    model = load_model(args.weights, device="cpu")
    reference = mp20_distribution("val")
    print(
        f"MP-20 val: triclinic {reference['triclinic']:.1%}, cubic {reference['cubic']:.1%}",
        flush=True,
    )
    out = {"symprec": args.symprec, "seed": args.seed, "weights": args.weights or "shipped",
           "machine": f"{platform.machine()}, 1 torch thread", "torch": torch.__version__,
           "mp20_val": reference,
           "mp20_val_sample": mp20_cells(args.n_reference, args.seed, args.symprec),
           "one_call": one_call_rows(model, args.n_one_call, args.times, args.seed, args.symprec)}

    def save(rows):   # after every row: a long run keeps what it measured
        out["sampler"] = rows
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")

    save([])
    sampler_rows(
        model,
        args.n,
        args.n_variant,
        args.n_full,
        args.seed,
        args.symprec,
        reference,
        args.rows,
        save,
    )
    return out


if __name__ == "__main__":
    main()
