"""Workshop-size figures for the notebooks (static PNGs in assets/), kept apart from the
CI-size outputs that nbval checks.

The stored notebook outputs are CI-size runs (``CRYSTAL_LAB_CI=1``: seconds, for the automatic
tests). Two figures teach something only at workshop size, so they are drawn here once at the
workshop defaults and shown as images beside the live cells:

* ``assets/workshop_01_reverse.png``: notebook 01's toy DDPM (3000 spiral points, 8000
  iterations), the reverse-process samples over the data, with the energy distance;
* ``assets/workshop_06_loss.png``: notebook 06's model at workshop width (hidden 64, 3 layers)
  trained for a fixed 20 epochs on 500 perov-5 crystals (not capped by wall time, so the curve
  does not depend on the machine): the loss curves of the three processes.

Run from the repository root (needs the perov-5 data): ``python docs/make_workshop_figures.py``.
Each figure states the machine-independent settings it was made with; timings are not shown.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def toy_reverse() -> Path:
    from crystal_lab import toy

    data = toy.spiral(n=3000, seed=0)
    ddpm = toy.ToyDDPM(n_steps=100, seed=0)
    ddpm.fit(data, n_iters=8000, seed=0)
    samples = ddpm.sample(n=3000, seed=1)
    dist = toy.energy_distance(samples, data)
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.scatter(data[:, 0], data[:, 1], s=2, c="#c7c7c7", label="data")
    ax.scatter(samples[:1500, 0], samples[:1500, 1], s=2, c="#1f77b4", label="samples")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(f"workshop size: 8000 iterations, 100 steps\nenergy distance {dist:.4f}",
                 fontsize=10)
    out = ASSETS / "workshop_01_reverse.png"
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return out


def train_loss() -> Path:
    from crystal_lab import load_dataset
    from crystal_lab.training.loop import read_log, train

    train_set = load_dataset("perov_5", "val", limit=500)
    with tempfile.TemporaryDirectory() as tmp:
        train(structures=train_set, epochs=20, hidden=64, layers=3, batch_size=32, out_dir=tmp,
              seed=0, progress=False)
        log = read_log(Path(tmp) / "log.csv")
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for key in ("loss", "coord", "lattice", "types"):
        ax.plot(log["epoch"], log[key], marker="o", ms=2, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title(f"{len(train_set)} perov-5 crystals, {len(log['epoch'])} epochs, hidden 64, "
                 f"3 layers", fontsize=9)
    out = ASSETS / "workshop_06_loss.png"
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return out


if __name__ == "__main__":
    which = sys.argv[1:] or ["toy", "train"]
    if "toy" in which:
        print("wrote", toy_reverse())
    if "train" in which:
        print("wrote", train_loss())
