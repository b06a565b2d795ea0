"""Start and stop a throwaway JupyterLab server for the browser tests.

The server listens on 127.0.0.1 on a free port with a random token, serves a temporary copy of the
notebooks, and keeps its settings, workspaces and runtime files in temporary folders, so a test
run never reads or writes the user's Jupyter state or the repository. It runs in a process group
of its own and is stopped through that group (kernels included).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .processes import stop_group

# Runs the server with a parent-death signal (Linux prctl PR_SET_PDEATHSIG = 1, kept across
# execv): if the test process dies, even by SIGKILL, the server gets SIGTERM and stops its kernels.
_LAUNCHER = ("import ctypes, os, signal, sys\n"
             "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
             "except (OSError, AttributeError):\n    pass\n"
             "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")

# JupyterLab settings for the test profile (settings ids from JupyterLab 4's schema files).
LAB_SETTINGS = {
    # every cell stays in the DOM (the default windowing leaves off-screen cells out of it,
    # and an output the checks cannot see would pass unchecked)
    # and no "Select Kernel" dialog in front of the menus: start the notebook's own kernel
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    # no "fetch news?" toast and no update check: the test machine is offline
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


# The JupyterLab settings the package ships (pyproject.toml installs them into
# <prefix>/share/jupyter/lab/settings/overrides.d/ with the package: `make lab`, Binder and the
# hub recipes get them so): the widget manager saves widget state with the notebook.
SHIPPED_SETTINGS = Path(__file__).resolve().parents[2] / "jupyter-settings" / "crystal-lab.json"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, and its process (a group leader)."""

    process: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    log_path: Path
    env: dict = field(repr=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET", timeout: float = 10.0):
        """Call the REST API (``/api/...``) with the token; returns the decoded JSON (or None)."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 3000) -> str:
        """The end of the server log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def shutdown_kernels(self) -> None:
        """Delete every session (and so its kernel): frees memory between notebooks."""
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        """Stop the server and its kernels through the server's own process group."""
        stop_group(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _write_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def start_lab(root_dir: Path, state_dir: Path, extra_env: dict | None = None,
              timeout: float = 120.0) -> LabServer:
    """Start JupyterLab serving ``root_dir``; its settings, workspaces and runtime live in
    ``state_dir``. Returns once ``/api/status`` answers with the token, raises ``RuntimeError``
    (with the log's tail) if the server dies or does not answer within ``timeout`` seconds."""
    state_dir.mkdir(parents=True, exist_ok=True)
    settings_dir, workspaces_dir = state_dir / "settings", state_dir / "workspaces"
    runtime_dir, config_dir = state_dir / "runtime", state_dir / "config"
    data_dir = state_dir / "data"
    for folder in (workspaces_dir, runtime_dir, config_dir, data_dir):
        folder.mkdir(exist_ok=True)
    _write_settings(settings_dir)
    app_settings_dir = state_dir / "app-settings"   # as installed with the package
    (app_settings_dir / "overrides.d").mkdir(parents=True, exist_ok=True)
    (app_settings_dir / "overrides.d" / SHIPPED_SETTINGS.name).write_bytes(
        SHIPPED_SETTINGS.read_bytes())

    port, token = free_port(), secrets.token_hex(24)
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(workspaces_dir),
        JUPYTER_RUNTIME_DIR=str(runtime_dir),
        JUPYTER_CONFIG_DIR=str(config_dir),  # no user jupyter_server_config.py applies
        JUPYTER_DATA_DIR=str(data_dir),  # no user kernelspec shadows the venv's python3
        JUPYTER_PLATFORM_DIRS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.update(extra_env or {})
    command = [
        sys.executable, "-c", _LAUNCHER, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",  # offline: no news feed
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # offline: no PyPI extension listing
        "--ServerApp.terminals_enabled=False",
        f"--LabApp.app_settings_dir={app_settings_dir}",
    ]
    if os.geteuid() == 0:  # containers and CI images often run as root
        command.append("--allow-root")
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,  # its own process group
        )
    server = LabServer(process, port, token, root_dir, log_path, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            status = server.api("/api/status", timeout=2)
            if "started" in status:
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n"
                       f"{server.log_tail()}")
