"""The class hub recipes in deploy/, checked without starting a hub.

* one environment: deploy/requirements.txt reads binder/requirements.txt itself and adds only
  the single-user server, at the hub's version;
* the class policy (deploy/crystal_lab_hub.py) on a JupyterHub config: workspace seeding,
  limits, one torch thread, the culler, the instructor unlock for instructors only;
* the spawner command really seeds a workspace and hands the spawner's arguments on;
* the Zero to JupyterHub values and the single-machine configs say the same as the policy.

The load test that starts real hubs is ``make loadtest`` (benchmarks/loadtest/).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
sys.path.insert(0, str(DEPLOY))
import crystal_lab_hub as hubpolicy


# --------------------------------------------------------------------------- one environment
def _requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a pip file, ``-r`` includes resolved (relative to the file)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if line.startswith("-r "):
            lines += _requirement_lines((path.parent / line[3:].strip()).resolve())
        elif line and not line.startswith("-"):
            lines.append(line)
    return lines


def _reqs(path: Path) -> dict[str, Requirement]:
    out = {}
    for line in _requirement_lines(path):
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in out, f"{path.name}: {name} listed twice"
        out[name] = req
    return out


def test_students_environment_is_binders_plus_the_singleuser_server():
    text = (DEPLOY / "requirements.txt").read_text()
    assert "-r ../binder/requirements.txt" in text.splitlines()
    ours, binder = _reqs(DEPLOY / "requirements.txt"), _reqs(REPO / "binder" / "requirements.txt")
    assert set(ours) - set(binder) == {"jupyterhub"}
    for name, req in binder.items():
        assert str(ours[name]) == str(req), f"deploy and binder disagree on {name}"


def test_students_jupyterhub_is_the_hubs():
    hub = _reqs(DEPLOY / "hub-requirements.txt")
    students = _reqs(DEPLOY / "requirements.txt")
    assert {"jupyterhub", "jupyterhub-idle-culler"} <= set(hub)
    assert str(students["jupyterhub"].specifier) == str(hub["jupyterhub"].specifier)
    assert str(hub["jupyterhub"].specifier).startswith("==")


@pytest.mark.parametrize("name", ["requirements.txt", "hub-requirements.txt"])
def test_every_deploy_pin_says_why(name):
    pins = [line for line in (DEPLOY / name).read_text().splitlines()
            if re.search(r"[A-Za-z0-9]\s*==\s*\d", line.split("#")[0])]
    assert pins and all("#" in line for line in pins), f"deploy/{name}: a pin without a reason"


# --------------------------------------------------------------------------- the policy
def _configured(**kwargs) -> Config:
    return hubpolicy.configure(Config(), **kwargs)


def test_configure_sets_the_workshop_defaults():
    c = _configured(instructors=["ada"], students=["bo", "cy"], notebooks="/srv/course/notebooks",
                    python="/opt/hub/bin/python")
    defaults = hubpolicy.DEFAULTS
    assert c.Spawner.mem_limit == defaults["mem_limit"] == "2G"
    assert c.Spawner.cpu_limit == defaults["cpu_limit"]
    env = c.Spawner.environment
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["CRYSTAL_LAB_NOTEBOOKS"] == "/srv/course/notebooks"
    assert hubpolicy.INSTRUCTOR_ENV not in env  # only the hook sets it, per user
    assert c.Spawner.notebook_dir == "~/crystal_lab_workspace"
    assert c.Spawner.default_url == "/lab/tree/00_welcome.ipynb"
    assert c.Authenticator.allowed_users == {"ada", "bo", "cy"}
    assert c.JupyterHub.load_groups == {"instructors": {"users": ["ada"]}}
    [culler] = c.JupyterHub.services
    assert culler["command"][:3] == ["/opt/hub/bin/python", "-m", "jupyterhub_idle_culler"]
    assert "--timeout=3600" in culler["command"]
    teacher, role = c.JupyterHub.load_roles
    assert teacher["groups"] == ["instructors"] and "access:servers" in teacher["scopes"]
    assert role["services"] == [culler["name"]]
    assert set(role["scopes"]) == {"list:users", "read:users:activity", "read:servers",
                                   "delete:servers"}


def test_configure_keeps_existing_services_and_can_skip_culling():
    c = Config()
    c.JupyterHub.services = [{"name": "grader", "api_token": "x"}]
    hubpolicy.configure(c)
    assert [s["name"] for s in c.JupyterHub.services] == ["grader", "idle-culler"]
    c2 = _configured(cull_timeout=None, torch_threads=2)
    assert "services" not in c2.JupyterHub and "allowed_users" not in c2.Authenticator
    assert c2.Spawner.environment["OMP_NUM_THREADS"] == "2"
    with pytest.raises(ValueError, match="torch_threads"):
        _configured(torch_threads=0)


def _spawner(name, groups=(), environment=None):
    user = SimpleNamespace(name=name, groups=[SimpleNamespace(name=g) for g in groups])
    return SimpleNamespace(user=user, environment=dict(environment or {}))


def test_instructor_unlock_only_for_instructors():
    hook = _configured(instructors=["ada"]).Spawner.pre_spawn_hook
    ada = _spawner("ada", groups=["instructors"], environment={"OMP_NUM_THREADS": "1"})
    hook(ada)
    assert ada.environment == {"OMP_NUM_THREADS": "1", "CRYSTAL_LAB_INSTRUCTOR": "1"}
    # a student never gets it, even when something upstream put it in the environment
    bo = _spawner("bo", groups=["students"], environment={"CRYSTAL_LAB_INSTRUCTOR": "1"})
    hook(bo)
    assert "CRYSTAL_LAB_INSTRUCTOR" not in bo.environment
    assert hubpolicy.INSTRUCTOR_ENV == __import__("crystal_lab.exercises").exercises.INSTRUCTOR_ENV


def test_read_user_list(tmp_path):
    path = tmp_path / "students.txt"
    path.write_text("# a class\nada\n\n  bo   # late\n")
    assert hubpolicy.read_user_list(path) == ["ada", "bo"]
    assert hubpolicy.read_user_list(tmp_path / "missing.txt") == []
    path.write_text("ada lovelace\n")
    with pytest.raises(ValueError, match="has a space"):
        hubpolicy.read_user_list(path)


def test_spawner_command_seeds_the_workspace_and_starts_the_server(tmp_path):
    """The real command with the real ``crystal-lab``; ``jupyterhub-singleuser`` is a stand-in
    that prints its arguments."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "jupyterhub-singleuser"
    fake.write_text('#!/bin/sh\necho "singleuser $*"\n')
    fake.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / "crystal_lab_workspace").mkdir()
    (home / "crystal_lab_workspace" / "00_welcome.ipynb").write_text("mine")
    env = {**os.environ, "HOME": str(home), "CRYSTAL_LAB_NOTEBOOKS": str(REPO / "notebooks"),
           "PATH": f"{fake_bin}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    cmd = hubpolicy.singleuser_cmd() + ["--port=1234", "--allow-root"]
    out = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "singleuser --port=1234 --allow-root"
    workspace = home / "crystal_lab_workspace"
    course = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in workspace.glob("*.ipynb")) == course
    assert (workspace / "00_welcome.ipynb").read_text() == "mine"  # never overwritten


def test_spawner_command_starts_the_server_even_when_seeding_fails(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, body in [("jupyterhub-singleuser", 'echo "singleuser $*"'),
                       ("crystal-lab", "exit 2")]:
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{fake_bin}:/usr/bin:/bin"}
    out = subprocess.run(hubpolicy.singleuser_cmd() + ["--x"], check=False, env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "singleuser --x"
    assert "workspace was not seeded" in out.stderr


# --------------------------------------------------------------------------- the recipes
def _exec_config(path: Path, monkeypatch, **env) -> Config:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    c = Config()
    namespace = {"get_config": lambda: c, "__file__": str(path), "__name__": "config"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 (a config file)
    return c


def test_single_machine_config(tmp_path, monkeypatch):
    c = _exec_config(DEPLOY / "jupyterhub_config.py", monkeypatch,
                     CRYSTAL_LAB_HUB_STATE=str(tmp_path / "state"),
                     CRYSTAL_LAB_HUB_PASSWORD="class", CRYSTAL_LAB_HUB_ADMIN_PASSWORD="staff")
    instructors = hubpolicy.read_user_list(DEPLOY / "instructors.txt")
    students = hubpolicy.read_user_list(DEPLOY / "students.txt")
    assert instructors and students
    assert c.Authenticator.admin_users == set(instructors)
    assert c.Authenticator.allowed_users == set(instructors) | set(students)
    assert c.Spawner.cmd == hubpolicy.singleuser_cmd()
    assert c.Spawner.environment["CRYSTAL_LAB_NOTEBOOKS"] == str(REPO / "notebooks")
    assert c.SharedPasswordAuthenticator.user_password == "class"
    assert c.JupyterHub.db_url.endswith(str(tmp_path / "state" / "jupyterhub.sqlite"))
    assert c.JupyterHub.services[0]["name"] == "idle-culler"


def test_tljh_dropin_leaves_culling_to_tljh(monkeypatch):
    c = _exec_config(DEPLOY / "tljh" / "crystal_lab_config.py", monkeypatch)
    assert "services" not in c.JupyterHub  # TLJH runs its own culler
    assert c.Spawner.cmd == hubpolicy.singleuser_cmd()
    assert c.Spawner.mem_limit == hubpolicy.DEFAULTS["mem_limit"]
    assert "allowed_users" not in c.Authenticator  # students come from TLJH's admin panel


@pytest.fixture(scope="module")
def z2jh():
    return yaml.safe_load((DEPLOY / "z2jh" / "config.yaml").read_text())


def _bytes(spec: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMGT]?)i?", str(spec)).groups()
    return int(float(number) * 1024 ** " KMGT".index(unit or " "))


def test_z2jh_values_match_the_policy(z2jh):
    defaults = hubpolicy.DEFAULTS
    user = z2jh["singleuser"]
    assert _bytes(user["memory"]["limit"]) == _bytes(defaults["mem_limit"])
    assert _bytes(user["memory"]["guarantee"]) <= _bytes(user["memory"]["limit"])
    assert float(user["cpu"]["limit"]) == defaults["cpu_limit"]
    assert user["cpu"]["guarantee"] <= user["cpu"]["limit"]
    assert {k: v for k, v in user["extraEnv"].items() if k.endswith("_NUM_THREADS")} == \
        hubpolicy.thread_env(defaults["torch_threads"])
    seed = " ".join(user["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert f'crystal-lab start "$HOME/{defaults["workspace"]}"' in seed
    assert user["defaultUrl"] == f"/lab/tree/{defaults['workspace']}/00_welcome.ipynb"
    assert user["extraEnv"]["CRYSTAL_LAB_NOTEBOOKS"].startswith("/srv/crystal_lab")
    assert z2jh["cull"] == {"enabled": True, "timeout": defaults["cull_timeout"],
                            "every": defaults["cull_every"]}
    hub = z2jh["hub"]["config"]
    assert set(hub["JupyterHub"]["load_groups"]) == {defaults["instructor_group"]}
    assert "SharedPasswordAuthenticator" not in hub  # no password in a committed file


def test_z2jh_instructor_hook_behaves_like_the_policy(z2jh):
    c = Config()
    [code] = z2jh["hub"]["extraConfig"].values()
    exec(compile(code, "extraConfig", "exec"), {"c": c})  # noqa: S102 (the chart runs it so)
    hook = c.KubeSpawner.pre_spawn_hook
    cases = [(["instructors"], {}), (["students"], {"CRYSTAL_LAB_INSTRUCTOR": "1"}),
             ([], {"OMP_NUM_THREADS": "1"})]
    for groups, environment in cases:
        ours, theirs = _spawner("u", groups, environment), _spawner("u", groups, environment)
        hook(ours)
        hubpolicy.make_pre_spawn_hook()(theirs)
        assert ours.environment == theirs.environment


# --------------------------------------------------------------------------- collecting results
def test_collect_results_downloads_every_running_students_zips(tmp_path, monkeypatch):
    """deploy/collect_results.py against a stand-in hub (the Hub's user list, the Jupyter
    server's contents and files endpoints), served on 127.0.0.1."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import collect_results

    tree = {"ada": {"": ["crystal_lab_workspace", "notes.txt", ".hidden"],
                    "crystal_lab_workspace": ["run1.zip", "03_generate.ipynb", "sub"],
                    "crystal_lab_workspace/sub": ["deep.zip"]},
            "bo": {"": ["crystal_lab_workspace"], "crystal_lab_workspace": []}}
    seen_tokens = []
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # the stand-in hub is on 127.0.0.1

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, body: bytes, status: int = 200):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            seen_tokens.append(self.headers.get("Authorization"))
            path = self.path.split("?")[0]
            if path == "/hub/api/users":
                users = [{"name": u, "servers": {"": {"ready": True, "url": f"/user/{u}/"}}}
                         for u in tree] + [{"name": "cy", "servers": {}}]
                return self._send(json.dumps(users).encode())
            user, _, rest = path[len("/user/"):].partition("/")
            if rest.startswith("api/contents"):
                folder = rest[len("api/contents/"):].strip("/")
                items = [{"name": n, "path": f"{folder}/{n}".strip("/"),
                          "type": "directory" if f"{folder}/{n}".strip("/") in tree[user]
                          or n == ".hidden" else "file"} for n in tree[user][folder]]
                return self._send(json.dumps({"content": items}).encode())
            if rest.startswith("files/"):
                return self._send(f"{user}:{rest[len('files/'):]}".encode())
            return self._send(b"{}", 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hub = collect_results.Hub(f"http://127.0.0.1:{server.server_address[1]}", "secret")
        written = collect_results.collect(hub, tmp_path)
    finally:
        server.shutdown()
    assert {u: sorted(p.relative_to(tmp_path).as_posix() for p in files)
            for u, files in written.items()} == {
        "ada": ["ada/crystal_lab_workspace/run1.zip", "ada/crystal_lab_workspace/sub/deep.zip"]}
    assert (tmp_path / "ada/crystal_lab_workspace/run1.zip").read_text() == \
        "ada:crystal_lab_workspace/run1.zip"
    assert set(seen_tokens) == {"token secret"}


# --------------------------------------------------------------------------- workshop size
# The notebooks switch to a tiny size when CRYSTAL_LAB_CI=1. Only the test command sets it:
# every way a class starts the course (make lab, crystal-lab lab / start, Binder, the hubs)
# gives the notebooks their workshop defaults, even from a shell where a test run left it set.
CI_SIZE = "CRYSTAL_LAB_CI"

# a stand-in for .venv/bin/crystal-lab: the real command line interface, with its JupyterLab
# launch replaced by a dump of the environment the server (and so every kernel) would get
_RECORDING_CLI = """#!{python}
import json, sys
from crystal_lab import cli
def record(cmd, env):
    json.dump({{"cmd": cmd, "env": env}}, open({out!r}, "w"))
    return 0
cli.subprocess.call = record
sys.exit(cli.main(sys.argv[1:]))
"""


def test_make_lab_kernels_get_no_ci_size(tmp_path):
    """``make lab`` (the README's main command) runs its real recipe: make's environment goes
    through the real ``crystal-lab lab`` to the JupyterLab server its kernels inherit."""
    bin_dir, out = tmp_path / "bin", tmp_path / "lab.json"
    bin_dir.mkdir()
    script = bin_dir / "crystal-lab"
    script.write_text(_RECORDING_CLI.format(python=sys.executable, out=str(out)))
    script.chmod(0o755)
    stamp = tmp_path / "installed"   # newer than pyproject.toml: make installs nothing
    stamp.touch()
    env = {**os.environ, CI_SIZE: "1", "PYTHONPATH": str(REPO)}   # left over from a test run
    run = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "lab",
                          f"BIN={bin_dir}", f"STAMP={stamp}"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    launched = json.loads(out.read_text())
    assert "jupyterlab" in launched["cmd"]
    assert CI_SIZE not in launched["env"], "make lab's kernels would run the notebooks at CI size"
    assert launched["env"]["OMP_NUM_THREADS"] == "1"
    assert "workshop defaults" in run.stderr   # the dropped switch is said, once


def test_only_the_test_commands_set_the_ci_size():
    makefile = (REPO / "Makefile").read_text()
    exported = [line for line in makefile.splitlines()
                if re.match(rf"\s*export\s+{CI_SIZE}\b", line)]
    assert not exported, f"the Makefile exports the CI size to every target: {exported}"
    dry = {target: subprocess.run(["make", "--no-print-directory", "-n", "-C", str(REPO), target,
                                   "-o", ".venv/.crystal-lab-installed",
                                   "CRYSTAL_LAB_CHROMIUM=/bin/sh"],
                                  env={k: v for k, v in os.environ.items() if k != CI_SIZE},
                                  capture_output=True, text=True, timeout=60, check=True).stdout
           for target in ("lab", "test")}
    assert f"{CI_SIZE}=1" not in dry["lab"]
    assert f"{CI_SIZE}=1" in next(line for line in dry["test"].splitlines() if "pytest" in line)
    assert re.search(rf"^export {CI_SIZE}=1$", (REPO / ".ci" / "run").read_text(), re.MULTILINE)


@pytest.mark.parametrize("command", ["lab", "start"])
def test_crystal_lab_lab_and_start_drop_a_leftover_ci_size(command, tmp_path, monkeypatch):
    from crystal_lab import cli
    seen = {}
    monkeypatch.setenv(CI_SIZE, "1")
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: seen.update(env) or 0)
    where = ["--dir", str(REPO / "notebooks")] if command == "lab" else [str(tmp_path / "ws")]
    assert cli.main([command, *where]) == 0
    assert seen and CI_SIZE not in seen


def test_binder_and_the_hubs_give_workshop_defaults(z2jh, monkeypatch):
    start = (REPO / "binder" / "start").read_text()
    assert re.search(rf"^unset {CI_SIZE}$", start, re.MULTILINE)
    assert CI_SIZE not in (REPO / "binder" / "postBuild").read_text()
    monkeypatch.setenv(CI_SIZE, "1")
    hubs = [_configured(), _exec_config(DEPLOY / "jupyterhub_config.py", monkeypatch),
            _exec_config(DEPLOY / "tljh" / "crystal_lab_config.py", monkeypatch)]
    for c in hubs:
        assert CI_SIZE not in c.Spawner.environment
        assert CI_SIZE not in (c.Spawner.env_keep if "env_keep" in c.Spawner else [])
    assert CI_SIZE not in z2jh["singleuser"]["extraEnv"]
