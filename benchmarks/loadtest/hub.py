"""Start and stop a throwaway JupyterHub on 127.0.0.1 for the load test and the browser check.

The hub runs deploy/jupyterhub_config.py (the single-machine recipe) with the test's overrides
(``hub_config.py`` beside this file): DummyAuthenticator, SimpleLocalProcessSpawner (every
student runs as this machine's user, with a home of their own under the run folder), free
loopback ports and a service token for the REST API. Its environments (see setup.sh):

* ``build/hub/venv``: the hub itself (jupyterhub, jupyterhub-idle-culler);
* ``build/hub/user-venv``: the students' environment, the project's .venv plus jupyterhub
  (a ``.pth`` file points at the project's site-packages);
* ``build/hub/node_modules``: configurable-http-proxy from npm.

The hub runs in a process group of its own; the student servers it spawns start sessions of
their own. ``Hub.stop()`` stops servers through the API, then the hub's group, then every
descendant process it has seen (by process id, checked against its start time).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
# the process-group stopper of the browser tests (tests/browser/processes.py, stdlib only),
# found the way browser_check.py finds tests/browser's other helpers
sys.path.insert(0, str(REPO / "tests"))
from browser.processes import stop_group

BUILD = Path(os.environ.get("CRYSTAL_LAB_HUB_BUILD", REPO / "build" / "hub"))
HUB_PYTHON = BUILD / "venv" / "bin" / "python"
USER_BIN = BUILD / "user-venv" / "bin"
CHP = BUILD / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_CONFIG = Path(__file__).resolve().parent / "hub_config.py"
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_install() -> None:
    missing = [str(p) for p in (HUB_PYTHON, USER_BIN / "jupyterhub-singleuser", CHP)
               if not p.exists()]
    if missing:
        raise SystemExit("load test: missing " + ", ".join(missing)
                         + ": run benchmarks/loadtest/setup.sh (or make loadtest)")


@dataclass
class Hub:
    """A running hub: its process, where the proxy listens, and the service token."""

    process: subprocess.Popen
    run_dir: Path
    port: int
    token: str
    seen: dict = field(default_factory=dict)  # pid -> create_time of every descendant seen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- REST API ---------------------------------------------------------------------------
    def request(self, path: str, method: str = "GET", body=None, timeout: float = 30.0):
        """``path`` below the proxy (``/hub/api/...`` or ``/user/<name>/api/...``); JSON in, out."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with _LOOPBACK.open(req, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def api(self, path: str, method: str = "GET", body=None, timeout: float = 30.0):
        return self.request("/hub/api" + path, method, body, timeout)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.run_dir / "hub.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- processes --------------------------------------------------------------------------
    def descendants(self) -> list[psutil.Process]:
        """Every live process below the hub (proxy, culler, servers, kernels), remembered."""
        try:
            procs = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.seen.setdefault(p.pid, p.create_time())
        return procs

    def stop(self) -> None:
        """SIGTERM the hub (it then stops its services, the proxy and every server it spawned),
        then its process group, then any descendant ever seen that is still alive. Ctrl-C and
        SIGTERM wait until this is done (they are blocked meanwhile)."""
        blocked = {signal.SIGINT, signal.SIGTERM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            self.descendants()
            # the hub alone first: a signal to its whole group would also hit its services,
            # and the hub then waits for them in its own cleanup
            try:
                self.process.terminate()
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            stop_group(self.process.pid, timeout=10)
            for pid, created in list(self.seen.items()):
                _terminate(pid, created)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _alive(pid: int, created: float) -> bool:
    try:
        p = psutil.Process(pid)
        return p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _terminate(pid: int, created: float, timeout: float = 5.0) -> None:
    """SIGTERM then SIGKILL ``pid``, only if it is still the process we saw (same start time)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(pid, created):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, created):
            time.sleep(0.1)


def start_hub(run_dir: Path, env: dict | None = None, timeout: float = 90.0) -> Hub:
    """Start the recipe's hub with the test overrides; ``env`` adds CRYSTAL_LAB_LOADTEST_*
    settings read by hub_config.py (e.g. the torch threads). Returns when the API answers."""
    check_install()
    run_dir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(32)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    child_env.pop("CRYSTAL_LAB_INSTRUCTOR", None)
    child_env.update({
        "CRYSTAL_LAB_HUB_STATE": str(run_dir / "state"),
        "CRYSTAL_LAB_LOADTEST_PORT": str(port),
        "CRYSTAL_LAB_LOADTEST_HUB_PORT": str(free_port()),
        "CRYSTAL_LAB_LOADTEST_API_PORT": str(free_port()),
        "CRYSTAL_LAB_LOADTEST_TOKEN": token,
        "CRYSTAL_LAB_LOADTEST_HOMES": str(run_dir / "home"),
        "CRYSTAL_LAB_LOADTEST_CHP": str(CHP),
        "CRYSTAL_LAB_LOADTEST_USER_BIN": str(USER_BIN),
        "CRYSTAL_LAB_LOADTEST_PROJECT_PREFIX": sys.prefix,
        "CRYSTAL_LAB_NOTEBOOKS": str(REPO / "notebooks"),
        # the students' environment first, then the project's (``crystal-lab``)
        "PATH": f"{USER_BIN}:{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin')}",
        **(env or {}),
    })
    with open(run_dir / "hub.log", "ab") as log:
        process = subprocess.Popen(
            [str(HUB_PYTHON), "-m", "jupyterhub", "-f", str(HUB_CONFIG)], cwd=run_dir,
            env=child_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    hub = Hub(process, run_dir, port, token)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the hub exited ({process.returncode}):\n{hub.log_tail()}")
            try:
                hub.api("/", timeout=2)
                hub.descendants()
                return hub
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.3)
        raise RuntimeError(f"the hub did not answer within {timeout:.0f} s:\n{hub.log_tail()}")
    except BaseException:
        hub.stop()
        raise
