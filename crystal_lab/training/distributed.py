"""The objective as the loop runs it: compiled (``torch.compile``, or eagerly where that fails) and
data-parallel under ``torchrun`` (joining the process group, each process's share of a batch, and
the few collective steps the training loop needs; in one process all of them are no-ops)."""
from __future__ import annotations

import os

import torch

from ..model.diffusion import CrystalDiffusionModel, resolve_device


class Objective(torch.nn.Module):
    """``model.loss_padded`` as a module's ``forward``, so DistributedDataParallel can wrap it."""

    def __init__(self, model: CrystalDiffusionModel):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.loss_padded(*args, **kwargs)


def setup_distributed(device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether this call made the process group): under ``torchrun``
    (``WORLD_SIZE`` > 1) joins the process group (NCCL on CUDA, gloo on CPU) and gives each process
    its own GPU; otherwise (0, 1, device, False)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return 0, 1, dev, False
    import torch.distributed as dist

    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    own = not dist.is_initialized()
    if own:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), dev, own


def shard(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's contiguous share of one global batch."""
    if world == 1:
        return idx
    return idx.tensor_split(world)[rank]


def agree_on_stop(why, dev):
    """Every process stops at the same step: the reason if any process has one (else None)."""
    import torch.distributed as dist

    codes = [None, "budget", "max_steps", "SIGINT", "SIGTERM"]
    flag = torch.tensor([codes.index(why) if why in codes else 0], device=dev)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return codes[int(flag)]


def all_mean(x: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of ``x`` over the processes (``x`` itself in one process)."""
    if world == 1:
        return x
    import torch.distributed as dist

    x = x.clone()
    dist.all_reduce(x)
    return x / world


def compiled(fn):
    """``torch.compile(fn, dynamic=False)``, falling back to ``fn`` itself if compiling fails at the
    first call (no C++ compiler, an unsupported platform or torch build): eager code computes the
    same."""
    state = {"fn": None}

    def call(*args, **kwargs):
        if state["fn"] is None:
            try:
                fast = torch.compile(fn, dynamic=False)   # one static graph per bucket shape
                out = fast(*args, **kwargs)
                state["fn"] = fast
                return out
            except Exception as err:  # noqa: BLE001 - any compiler failure: run eagerly instead
                print(f"torch.compile failed ({str(err).splitlines()[0][:120]}); running eagerly")
                state["fn"] = fn
        return state["fn"](*args, **kwargs)

    return call
