"""A training run's folder: the lock that keeps it to one run, the check that it holds no other
run, checkpoints written atomically, the loss log (cut back to the checkpoint on resume, read as
columns), and signals turned into a clean stop."""
from __future__ import annotations

import contextlib
import csv
import os
import signal
import tempfile
import threading
from pathlib import Path

import torch

from ..model import checkpoint
from ..paths import check_folder


class StopSignals:
    """Within the block, SIGTERM and SIGINT only set ``received`` (the loop saves, then stops).

    Handlers can be installed only in the main thread; elsewhere the block changes nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received, self._old = None, {}

    def _handler(self, signum, _frame):
        self.received = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class RunFolderInUse(RuntimeError):
    """A run folder that a live training run holds (one line: the folder and the process)."""


class RunLock:
    """An exclusive lock on a run folder (``out_dir/.lock``) for the length of a run: a second run
    into the same folder is refused with :class:`RunFolderInUse` while the first is alive. The
    operating system releases the lock when the process ends, however it ends."""

    def __init__(self, out_dir: Path):
        self.path, self.fh = Path(out_dir) / ".lock", None

    def __enter__(self):
        folder = check_folder(self.path.parent)   # a file there, a read-only folder: one line
        folder.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:   # no POSIX locks (Windows): checkpoints still never share a temp file
            return self
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            owner = self.fh.read().strip() or "another process"
            self.fh.close()
            raise RunFolderInUse(f"{self.path.parent} is in use by another training run ({owner}); "
                               "wait for it to finish or choose another out_dir") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file of its own beside ``path``, then rename it into place:
    a reader sees the old file or the new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        os.close(fd)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise



def carry_log(source: Path, target: Path, step: int, boundary: bool = True) -> None:
    """The log of a run resumed at ``step``: ``target``'s rows (else ``source``'s, the log beside
    the checkpoint when the run moves to a new folder) up to the checkpoint, written to ``target``.
    ``boundary=False`` drops the row at ``step`` itself too (a part-epoch row, see
    :class:`RunLog`)."""
    log = target if target.exists() else source
    if not log.exists():
        return
    with open(log, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and (int(float(r[1])) < step
                                                       or (boundary and int(float(r[1])) == step))]
    if log == target and len(kept) == len(rows):
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(kept)
    os.replace(tmp, target)


class RunLog:
    """The loss log ``log.csv`` of a run, appended to one row an epoch (and one for the part of an
    epoch done before a stop). ``partial_at``: the step of such a part-epoch row, which the first
    new row replaces (the resumed run finishes that epoch and logs it whole). ``write=False`` (a
    process other than rank 0): writes nothing."""

    HEADER = ("epoch", "step", "loss", "coord", "lattice", "types", "lr", "seconds")

    def __init__(self, path: Path, write: bool = True, partial_at: int | None = None):
        self.path, self.write, self.fh, self.partial_at = Path(path), write, None, partial_at

    def __enter__(self):
        if self.write:
            new = not self.path.exists()
            self.fh = open(self.path, "a", newline="")
            if new:
                csv.writer(self.fh).writerow(self.HEADER)
        return self

    def row(self, epoch: int, step: int, means: list[float], lr: float, seconds: float) -> None:
        if self.fh is not None and self.partial_at is not None:
            self.fh.close()
            carry_log(self.path, self.path, self.partial_at, boundary=False)
            self.fh = open(self.path, "a", newline="")  # noqa: SIM115 - closed in __exit__
            self.partial_at = None
        if self.fh is not None:
            csv.writer(self.fh).writerow([epoch, step] + [f"{v:.5f}" for v in means]
                                         + [f"{lr:.2e}", f"{seconds:.0f}"])
            self.fh.flush()

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()
        return False


def read_log(path: str | Path) -> dict[str, list[float]]:
    """The loss log as columns, for plotting loss curves."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


RUN_FILES = ("last.pt", "log.csv")


class OccupiedRunFolder(ValueError):
    """A new run (no resume) into a folder that holds an earlier run's checkpoint or log: it would
    overwrite the one and mix into the other. ``say`` words the message for an interface (Python
    keywords or command-line flags)."""

    def __init__(self, folder: Path, held: list[str]):
        self.folder, self.held = Path(folder), held
        super().__init__(self.say())

    def say(self, resume: str = "resume=", out_dir: str = "out_dir") -> str:
        last = self.folder / "last.pt"
        if "last.pt" in self.held:
            shown = repr(str(last)) if resume.endswith("=") else str(last)
            return (f"{self.folder} already holds a training run ({', '.join(self.held)}); a new "
                    "run "
                    f"there would overwrite it: continue it with {resume}{shown}, or train into a "
                    "new "
                    f"{out_dir}")
        return (f"{self.folder} already holds an earlier run's log.csv (no last.pt to resume "
                "from): train "
                f"into a new {out_dir}, or delete that log.csv first")


def refuse_occupied(out_dir: Path) -> None:
    """:class:`OccupiedRunFolder` if ``out_dir`` holds a run's ``last.pt`` or ``log.csv``."""
    held = [name for name in RUN_FILES if (Path(out_dir) / name).exists()]
    if held:
        raise OccupiedRunFolder(out_dir, held)


def claim_folder(out_dir: Path, resume, state: dict | None, run_id: str) -> None:
    """Check, under the run's lock, that ``out_dir`` is this run's to write: a new run needs a
    folder without a run (:func:`refuse_occupied`); a resume needs one without another run, and gets
    the log cut back to its checkpoint (carried over from the checkpoint's folder into a new
    one)."""
    out_dir = Path(out_dir)
    if state is None:
        refuse_occupied(out_dir)
        return
    last, resume = out_dir / "last.pt", Path(resume)
    if last.exists() and not last.samefile(resume):
        other = _run_id(last)
        if other is None or other != run_id:
            raise ValueError(f"{out_dir} holds another training run (its last.pt); resuming "
                             f"{resume} there "
                             f"would overwrite it: resume into {resume.parent}, or into a new, "
                             "empty folder")
    elif (
        not last.exists()
        and (out_dir / "log.csv").exists()
        and out_dir.resolve() != resume.parent.resolve()
    ):
        raise ValueError(f"{out_dir} holds another run's log.csv; resuming {resume} there would "
                         "mix the two "
                         f"logs: resume into {resume.parent}, or into a new, empty folder")
    carry_log(resume.parent / "log.csv", out_dir / "log.csv", state["step"])


def _run_id(path: Path) -> str | None:
    """The run id a run checkpoint records (None: an older checkpoint, or not a run's)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable file is not this run's
        return None
    return state.get("run_id") if isinstance(state, dict) else None


def read_run_checkpoint(path) -> dict:
    """A run's ``last.pt`` (``checkpoint.read_run``); its errors say they are about ``resume``."""
    if not Path(path).exists():
        raise checkpoint.CheckpointError(f"resume: no checkpoint at {path}")
    try:
        return checkpoint.read_run(path)
    except checkpoint.CheckpointError as err:
        raise checkpoint.CheckpointError(f"resume: {err}") from None
