"""What the symmetry benchmarks share: chunked, resumable sampling and one record per structure.

A long run (1,000 CSP targets on a shared 2-core CPU) is cut into chunks. Each finished chunk is
written to ``runs/sym-bench/<part>/chunk_NNNN.json`` (its per-structure records, the seconds it
took, the command that ran it) and, for unconditional samples, ``chunk_NNNN.extxyz`` (the
generated structures, for uniqueness and novelty). A run that is stopped resumes at the first
missing chunk; ``runs/`` is git-ignored (the CSP outputs are near-copies of MP-20 test crystals,
which are never committed). The scripts aggregate whatever chunks exist and write the size that
was reached into their JSON: a partial run is reported at its own size, never extrapolated.

The scripts run as ``python benchmarks/bench_*.py`` (this folder is on ``sys.path``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crystal_lab.prompts import CRYSTAL_SYSTEMS, crystal_system_of

#: where the chunks go (``$SYMBENCH_CACHE`` to move them)
CACHE = Path(os.environ.get("SYMBENCH_CACHE", "runs/sym-bench"))
SYMPREC = 0.1


def add_run_arguments(ap, out: Path) -> None:
    """The flags every chunked symmetry benchmark takes: batch size, steps, seed, a deadline and
    where the JSON goes."""
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--until", default=None, help="HH:MM UTC: start no chunk after it")
    ap.add_argument("--out", default=str(out))


def shipped_model(steps: int | None):
    """The shipped model at one torch thread, and the steps to run (``None``: its default)."""
    import torch

    from crystal_lab.model.checkpoint import load_model

    torch.set_num_threads(1)
    model = load_model()
    return model, steps or model.config.sampler.default_steps


def group(atoms, symprec: float = SYMPREC) -> int | None:
    """spglib's space-group number of ``atoms`` at ``symprec``; None where it finds none."""
    from crystal_lab.symmetry.supergroup import space_group

    try:
        return space_group(atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers, symprec)
    except Exception:  # noqa: BLE001 -- a degenerate sample has no group: it matches nothing
        return None


def system_of(space_group: int | None) -> str | None:
    """The crystal system of a space-group number (None stays None)."""
    return None if space_group is None else crystal_system_of(space_group)


def distribution(systems) -> dict[str, float]:
    """Share of each crystal system (a sample with no group counts as triclinic, as P1)."""
    systems = [s or "triclinic" for s in systems]
    n = max(len(systems), 1)
    return {c: sum(s == c for s in systems) / n for c in CRYSTAL_SYSTEMS}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Half the L1 distance between two crystal-system distributions."""
    return 0.5 * sum(abs(p.get(c, 0.0) - q.get(c, 0.0)) for c in CRYSTAL_SYSTEMS)


#: what the shipped model samples with, as the result files say it
WEIGHTS = ("shipped: mp20.pt for free requests, mp20_symmetric.pt (its constrained fine-tune) for "
           "templated ones; both trained on MP-20 val only")


def weights_sha256(name: str = "mp20") -> str:
    """A shipped weights file's sha256 (from ``crystal_lab/weights/<name>.json``): which model
    ran; ``"mp20_symmetric"``: the constrained fine-tune that samples templated requests."""
    from importlib import resources

    record = resources.files("crystal_lab").joinpath(f"weights/{name}.json")
    return json.loads(record.read_text())["sha256"]


def weights_record() -> dict[str, str]:
    """Both shipped networks' sha256, as every result file and chunk records them: the free one
    (``weights_sha256``) and the constrained fine-tune (``symmetric_weights_sha256``)."""
    return {"weights_sha256": weights_sha256(),
            "symmetric_weights_sha256": weights_sha256("mp20_symmetric")}


def weights_key() -> str:
    """Both shipped networks' sha256 prefixes: the free one and the constrained fine-tune."""
    return "-".join(sha[:8] for sha in weights_record().values())


def command() -> str:
    """This process's command line as a person would type it."""
    return "python " + " ".join(sys.argv)


def sorted_run(model, requests, steps: int, seed: int, batch_size: int) -> list:
    """``model._run`` over ``requests`` sorted by size (less padding in each batch), results in
    the requests' order."""
    order = sorted(range(len(requests)), key=lambda i: requests[i].n_atoms)
    out = model._run([requests[i] for i in order], steps=steps, seed=seed, desc="",
                     progress=False, batch_size=batch_size)
    result = [None] * len(out)
    for pos, i in enumerate(order):
        result[i] = out[pos]
    return result


class ChunkStore:
    """The finished chunks of one part (``CACHE/name-t<steps>-w<weights>``): runs at other steps
    or with other weights never share chunks. Chunks made before a change of the code (the
    sampler, the retrieval) are reused as they are: delete the folder to measure again."""

    def __init__(self, name: str, steps: int, root: Path | None = None):
        self.dir = Path(root or CACHE) / f"{name}-t{steps}-w{weights_key()}"

    def path(self, k: int, suffix: str = ".json") -> Path:
        return self.dir / f"chunk_{k:04d}{suffix}"

    def done(self, k: int) -> bool:
        return self.path(k).exists()

    def save(self, k: int, records: list[dict], seconds: float, structures=None,
             meta: dict | None = None) -> None:
        """Write chunk ``k`` (structures first, so a chunk with a JSON is complete)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if structures is not None:
            from ase.io import write

            write(self.path(k, ".extxyz"), structures, format="extxyz")
        doc = {"chunk": k, "seconds": seconds, "command": command(), "records": records,
               **weights_record(),
               "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.path(k).write_text(json.dumps(doc | (meta or {})))

    def chunks(self) -> list[dict]:
        """Every finished chunk, in order, up to the first missing one (a prefix of the run)."""
        out, k = [], 0
        while self.done(k):
            out.append(json.loads(self.path(k).read_text()))
            k += 1
        return out

    def structures(self, n_chunks: int) -> list:
        from ase.io import read

        out = []
        for k in range(n_chunks):
            out.extend(read(self.path(k, ".extxyz"), index=":", format="extxyz"))
        return out


def run_round_robin(parts: dict[str, tuple[ChunkStore, int, Callable[[int], tuple]]],
                    until: float | None, on_chunk: Callable[[], None]) -> None:
    """Run the missing chunks of several parts in turn (one chunk of each, then the next), so that
    the parts grow together; stop starting chunks after the epoch time ``until``.

    ``parts``: name -> (store, number of chunks, ``make(k) -> (records, structures or None)``).
    ``on_chunk()`` runs after every chunk (to rewrite the aggregated JSON).
    """
    pending = {name: [k for k in range(n) if not store.done(k)]
               for name, (store, n, _) in parts.items()}
    while any(pending.values()):
        for name, (store, _, make) in parts.items():
            if not pending[name]:
                continue
            if until is not None and time.time() > until:
                print(f"stopping: past --until ({name} has {len(pending[name])} chunks left)",
                      flush=True)
                return
            k = pending[name].pop(0)
            start = time.perf_counter()
            records, structures = make(k)
            seconds = time.perf_counter() - start
            store.save(k, records, seconds, structures)
            print(f"{name} chunk {k}: {len(records)} in {seconds:.0f} s "
                  f"({seconds / max(len(records), 1):.2f} s each)", flush=True)
            on_chunk()


def parse_until(text: str | None) -> float | None:
    """``"05:10"`` (UTC, today) as an epoch time; None stays None."""
    import calendar

    if not text:
        return None
    h, m = (int(x) for x in text.split(":"))
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, h, m, 0)))


def share(flags) -> float | None:
    """Mean of booleans (None when there are none)."""
    flags = list(flags)
    return float(np.mean(flags)) if flags else None
