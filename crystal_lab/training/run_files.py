"""A training run's folder: the lock that keeps it to one run, checkpoints written atomically,
the loss log (cut back on resume, read as columns), and signals turned into a clean stop."""
from __future__ import annotations

import contextlib
import csv
import os
import signal
import tempfile
import threading
from pathlib import Path

import torch


class StopSignals:
    """Within the block, SIGTERM and SIGINT only set ``received`` (the loop saves, then stops).

    Handlers can be installed only in the main thread; elsewhere the block changes nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received, self._old = None, {}

    def _handler(self, signum, frame):
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


class RunLock:
    """An exclusive lock on a run folder (``out_dir/.lock``) for the length of a run: a second run
    into the same folder is refused with a clear error while the first is alive. The operating
    system releases the lock when the process ends, however it ends."""

    def __init__(self, out_dir: Path):
        self.path, self.fh = Path(out_dir) / ".lock", None

    def __enter__(self):
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
            raise RuntimeError(f"{self.path.parent} is in use by another training run ({owner}); "
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



def truncate_log(log_path: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint at ``step`` (they are trained again)."""
    if not log_path.exists():
        return
    with open(log_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[1])) <= step]
    if len(kept) == len(rows):
        return
    tmp = log_path.with_name(f".{log_path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(kept)
    os.replace(tmp, log_path)



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
            return (f"{self.folder} already holds a training run ({', '.join(self.held)}); a new run "
                    f"there would overwrite it: continue it with {resume}{shown}, or train into a new "
                    f"{out_dir}")
        return (f"{self.folder} already holds an earlier run's log.csv (no last.pt to resume from): train "
                f"into a new {out_dir}, or delete that log.csv first")


def refuse_occupied(out_dir: Path) -> None:
    """:class:`OccupiedRunFolder` if ``out_dir`` holds a run's ``last.pt`` or ``log.csv``."""
    held = [name for name in RUN_FILES if (Path(out_dir) / name).exists()]
    if held:
        raise OccupiedRunFolder(out_dir, held)
