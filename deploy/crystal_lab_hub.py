"""The class policy of a crystal_lab JupyterHub, in one place.

``configure(c)`` applies it to a JupyterHub config object ``c`` (``jupyterhub_config.py``, a
The Littlest JupyterHub ``jupyterhub_config.d/`` file, or Zero to JupyterHub's ``hub.extraConfig``):

* every student's server first seeds ``~/crystal_lab_workspace`` with ``crystal-lab start``
  (copies the course notebooks, never overwrites a student's file) and opens on its
  ``00_welcome.ipynb``;
* per-user memory and CPU limits (enforced by SystemdSpawner / KubeSpawner; LocalProcessSpawner
  only passes them on as ``MEM_LIMIT`` / ``CPU_LIMIT``);
* one torch thread per kernel (``OMP_NUM_THREADS=1``), measured in docs/deploy.md: with many
  students on few cores it keeps the machine fair;
* the idle culler (``jupyterhub-idle-culler``) as a hub-managed service;
* ``CRYSTAL_LAB_INSTRUCTOR=1`` only in the servers of members of the ``instructors`` group
  (never passed on from the hub's own environment).

This module imports nothing from JupyterHub, so the test suite checks it without a hub.
"""
from __future__ import annotations

import sys

#: the workshop defaults (docs/deploy.md gives the measurements behind them)
DEFAULTS = {
    # measured peak of one student with CHGNet: kernel 0.72 GB + server 0.14 GB
    "mem_limit": "2G",
    "cpu_limit": 1.0,         # one core at most per student
    "torch_threads": 1,       # OMP/MKL threads per kernel
    "cull_timeout": 3600,     # stop a server after 1 h without activity (s)
    "cull_every": 300,        # how often the culler looks (s)
    "workspace": "crystal_lab_workspace",  # folder in each student's home
    "instructor_group": "instructors",
}

INSTRUCTOR_ENV = "CRYSTAL_LAB_INSTRUCTOR"  # crystal_lab.exercises.INSTRUCTOR_ENV
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
#: what instructors may do beyond their own server: see the class, open a student's server
#: (to help, or to collect result zips with deploy/collect_results.py)
INSTRUCTOR_SCOPES = ["list:users", "read:users", "read:servers", "access:servers"]


def singleuser_cmd(workspace: str = DEFAULTS["workspace"]) -> list[str]:
    """The spawner command: seed the workspace, then start ``jupyterhub-singleuser`` with the
    spawner's arguments (``"$@"``). A failed seed is logged and does not stop the server."""
    script = (f'crystal-lab start "$HOME/{workspace}" --dry-run '
              '|| echo "crystal-lab start failed: the workspace was not seeded" >&2; '
              'exec jupyterhub-singleuser "$@"')
    return ["sh", "-c", script, "crystal-lab-singleuser"]


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps torch (OpenMP, MKL, OpenBLAS) at ``threads`` threads."""
    n = str(int(threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def is_instructor(user, group: str = DEFAULTS["instructor_group"]) -> bool:
    """Whether a JupyterHub user object belongs to the instructors' group."""
    return any(getattr(g, "name", g) == group for g in (getattr(user, "groups", None) or []))


def make_pre_spawn_hook(group: str = DEFAULTS["instructor_group"], previous=None):
    """A ``Spawner.pre_spawn_hook`` that sets the instructor unlock for ``group`` members and
    removes it for everyone else; ``previous`` (an existing hook) runs first."""

    def hook(spawner):
        if previous is not None:
            previous(spawner)
        env = dict(spawner.environment or {})
        if is_instructor(spawner.user, group):
            env[INSTRUCTOR_ENV] = "1"
        else:
            env.pop(INSTRUCTOR_ENV, None)
        spawner.environment = env

    return hook


def culler_service(timeout: int = DEFAULTS["cull_timeout"], every: int = DEFAULTS["cull_every"],
                   python: str | None = None) -> dict:
    """The ``jupyterhub-idle-culler`` service entry for ``c.JupyterHub.services``."""
    return {"name": "idle-culler",
            "command": [python or sys.executable, "-m", "jupyterhub_idle_culler",
                        f"--timeout={int(timeout)}", f"--cull-every={int(every)}"]}


def configure(c, *, instructors=(), students=(), notebooks: str | None = None,
              mem_limit: str | None = DEFAULTS["mem_limit"],
              cpu_limit: float | None = DEFAULTS["cpu_limit"],
              torch_threads: int = DEFAULTS["torch_threads"],
              cull_timeout: int | None = DEFAULTS["cull_timeout"],
              cull_every: int = DEFAULTS["cull_every"],
              workspace: str = DEFAULTS["workspace"],
              instructor_group: str = DEFAULTS["instructor_group"],
              python: str | None = None):
    """Apply the class policy to the JupyterHub config ``c`` and return it.

    ``instructors``: user names put into the ``instructor_group`` group. ``students``: when
    given, only they and the instructors may log in. ``notebooks``: the course notebooks the
    workspaces are seeded from (``CRYSTAL_LAB_NOTEBOOKS``; default: the ones of the installed
    crystal_lab).
    ``cull_timeout=None`` turns culling off. ``python``: the hub's Python for the culler.
    """
    if torch_threads < 1:
        raise ValueError(f"torch_threads must be at least 1, not {torch_threads}")
    spawner = c.Spawner
    spawner.cmd = singleuser_cmd(workspace)
    spawner.notebook_dir = f"~/{workspace}"
    spawner.default_url = "/lab/tree/00_welcome.ipynb"
    env = dict(thread_env(torch_threads))
    if notebooks:
        env["CRYSTAL_LAB_NOTEBOOKS"] = str(notebooks)
    spawner.environment = env
    spawner.mem_limit = mem_limit
    spawner.cpu_limit = cpu_limit
    spawner.pre_spawn_hook = make_pre_spawn_hook(instructor_group)

    if students:  # without a student list, the hub's own rule (e.g. its admin panel) decides
        c.Authenticator.allowed_users = set(instructors) | set(students)
    # the group always exists (maybe empty: add instructors later in /hub/admin), so the role
    # below can name it
    c.JupyterHub.load_groups = {instructor_group: {"users": sorted(instructors)}}
    c.JupyterHub.load_roles = [*_existing(c.JupyterHub, "load_roles"),
                               {"name": "crystal-lab-instructor", "groups": [instructor_group],
                                "scopes": list(INSTRUCTOR_SCOPES)}]

    if cull_timeout:
        service = culler_service(cull_timeout, cull_every, python)
        c.JupyterHub.services = [*_existing(c.JupyterHub, "services"), service]
        c.JupyterHub.load_roles = [*_existing(c.JupyterHub, "load_roles"),
                                   {"name": "idle-culler", "scopes": list(CULLER_SCOPES),
                                    "services": [service["name"]]}]
    return c


def _existing(section, name: str) -> list:
    """A list option already set in a traitlets config section (empty when unset)."""
    return list(section[name]) if name in section else []


def read_user_list(path) -> list[str]:
    """User names from a text file, one a line; blank lines and ``#`` comments skipped.
    A missing file is an empty list."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return []
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            if any(ch.isspace() for ch in name):
                raise ValueError(f"{path}: user name {name!r} has a space")
            names.append(name)
    return names
