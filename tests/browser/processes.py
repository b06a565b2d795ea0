"""Find and stop the processes a browser test starts, by their own process ids.

Linux only: reads ``/proc/<pid>/stat`` (field 4 is the parent id, see proc(5)).
Nothing here matches processes by name, so nothing outside the test is touched.
``stop_group`` also stops the load test's hub (benchmarks/loadtest/hub.py imports it): keep this
module free of anything beyond the standard library.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def parent_of(pid: int) -> int | None:
    """Parent process id of ``pid`` (``None`` when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
            kids.append(int(entry.name))
    return kids


def command_line(pid: int) -> list[str]:
    """``argv`` of ``pid`` (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int) -> bool:
    """Whether ``pid`` still exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group ``pgid``, then SIGKILL it if it has not gone in ``timeout`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pgid):
                return
            time.sleep(0.1)
