"""Data-parallel training under torchrun (gloo on CPU): two processes at a global batch train
like one process at the same batch."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from crystal_lab.training.loop import read_log, train

SETUP = textwrap.dedent("""
    import numpy as np
    from ase.build import bulk

    def structures():
        base = [bulk("NaCl", "rocksalt", a=5.6), bulk("Si", "diamond", a=5.43),
                bulk("Cu", "fcc", a=3.6), bulk("MgO", "rocksalt", a=4.2),
                bulk("NaCl", "rocksalt", a=5.6, cubic=True), bulk("Cu", "fcc", a=3.6, cubic=True)]
        return base * 6
    KW = dict(epochs=4, hidden=16, layers=2, batch_size=12, lr=5e-2, seed=0, progress=False,
              compile=False)
""")

RUNNER = SETUP + textwrap.dedent("""
    import sys, os, torch
    from crystal_lab.training.loop import train
    model = train(structures=structures(), out_dir=sys.argv[1], **KW)
    torch.save({k: v for k, v in model.state_dict().items()},
               f"{sys.argv[1]}/rank{os.environ['RANK']}.pt")
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    ns = {}
    exec(SETUP, ns)  # noqa: S102 - the same set-up as the torchrun script, in this process
    train(structures=ns["structures"](), out_dir=root / "single", **ns["KW"])
    (root / "ddp").mkdir()
    script = root / "runner.py"
    script.write_text(RUNNER)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nnodes", "1",
                           "--nproc-per-node", "2", str(script), str(root / "ddp")],
                          capture_output=True, text=True, timeout=600, check=False)
    return root, proc


def test_two_processes_run_and_keep_one_model(runs):
    root, proc = runs
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(root / "ddp" / "rank0.pt", weights_only=True)
    b = torch.load(root / "ddp" / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)   # gradients were averaged across processes
    assert sorted(p.name for p in (root / "ddp").iterdir() if p.suffix in (".pt", ".csv")) == \
        ["last.pt", "log.csv", "rank0.pt", "rank1.pt"]   # only rank 0 writes the run's files


def test_loss_matches_one_process_at_the_same_global_batch(runs):
    root, proc = runs
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = read_log(root / "single" / "log.csv"), read_log(root / "ddp" / "log.csv")
    assert one["step"] == two["step"]        # the same number of global batches an epoch
    assert one["epoch"] == two["epoch"] == [1, 2, 3, 4]
    a, b = np.array(one["loss"]), np.array(two["loss"])
    # the same data and start; only the noise draws differ between the two set-ups
    assert np.all(np.abs(a - b) / a < 0.15), (a, b)
