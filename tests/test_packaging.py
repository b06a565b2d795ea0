"""Packaging: pyproject.toml, environment.yml and binder/ list the same dependencies (so they
cannot drift), every hard pin says why, torch stays a CPU build on Binder, and
``import crystal_lab`` is fast because nothing heavy loads eagerly."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
ENVIRONMENT = REPO / "environment.yml"
BINDER_REQS = REPO / "binder" / "requirements.txt"

#: dependencies a file may pin harder than pyproject (the pin must still satisfy pyproject)
HARDER_PINS_ALLOWED = {"binder/requirements.txt": {"torch"}}  # the CPU build, see the file

HEAVY = ("torch", "pymatgen", "nglview", "ase", "chgnet", "plotly", "pandas", "ipywidgets")


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def _pyproject_reqs() -> list[str]:
    return _project()["dependencies"]


def _env_yml() -> dict:
    return yaml.safe_load(ENVIRONMENT.read_text())


def _env_pip_lines() -> list[str]:
    pips = [d["pip"] for d in _env_yml()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, "environment.yml needs exactly one pip: section"
    return pips[0]


def _binder_lines() -> list[str]:
    lines = []
    for raw in BINDER_REQS.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def _requirements(lines) -> dict[str, Requirement]:
    """name -> Requirement, ignoring pip options (``--extra-index-url``, ``-e .``)."""
    reqs = {}
    for line in lines:
        if line.startswith("-"):
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in reqs, f"{name} listed twice"
        reqs[name] = req
    return reqs


SOURCES = {
    "environment.yml": lambda: _requirements(_env_pip_lines()),
    "binder/requirements.txt": lambda: _requirements(_binder_lines()),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_same_dependencies_as_pyproject(source):
    ours = _requirements(_pyproject_reqs())
    theirs = SOURCES[source]()
    assert sorted(theirs) == sorted(ours), f"{source} and pyproject.toml list different packages"
    for name, req in ours.items():
        other = theirs[name]
        if str(other.specifier) == str(req.specifier):
            continue
        assert name in HARDER_PINS_ALLOWED.get(source, ()), (
            f"{source} has {other}, pyproject.toml has {req}: make them agree")
        pins = [s.version for s in other.specifier if s.operator == "=="]
        assert len(pins) == 1 and req.specifier.contains(pins[0], prereleases=False), (
            f"{source} pins {other}, which pyproject.toml's {req} does not allow")


def _pin_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if re.search(r"[A-Za-z0-9]\s*===?\s*\d", line.split("#")[0])]


@pytest.mark.parametrize("path", ["pyproject.toml", "environment.yml", "binder/requirements.txt"])
def test_every_pin_says_why(path):
    text = (REPO / path).read_text()
    if path == "pyproject.toml":  # only the dependency lists
        text = text.split("[project.scripts]")[0].split("dependencies = [", 1)[1]
    pins = _pin_lines(text)
    unexplained = [line.strip() for line in pins if "#" not in line]
    assert not unexplained, f"{path}: pins without a comment naming why: {unexplained}"


def test_nglview_pinned_to_4_0_everywhere():
    for source in [lambda: _requirements(_pyproject_reqs()), *SOURCES.values()]:
        assert str(source()["nglview"].specifier) == "==4.0"  # upstream nglview issue 1181


def test_binder_installs_a_cpu_torch_build():
    lines = _binder_lines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    torch = _requirements(lines)["torch"]
    (pin,) = [s.version for s in torch.specifier if s.operator == "=="]
    assert Version(pin).local == "cpu", f"binder pins torch {pin}: not a +cpu build"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in _env_pip_lines()


def test_makefile_torch_pin_satisfies_pyproject():
    match = re.search(r"^TORCH \?= torch==(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile must pin the torch it installs (a CPU build)"
    assert _requirements(_pyproject_reqs())["torch"].specifier.contains(match.group(1))


def test_python_versions_agree():
    requires = SpecifierSet(_project()["requires-python"])
    conda = [d for d in _env_yml()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(conda) == 1 and re.fullmatch(r"python=\d+\.\d+", conda[0]), conda
    binder = (REPO / "binder" / "runtime.txt").read_text().strip()
    assert binder == "python-" + conda[0].split("=")[1], "binder/runtime.txt and environment.yml"
    assert requires.contains(conda[0].split("=")[1] + ".0")


def test_environment_yml_installs_the_package_and_binder_scripts_are_executable():
    assert "-e ." in _env_pip_lines()
    post_build = REPO / "binder" / "postBuild"
    assert "pip install" in post_build.read_text() and "--no-deps ." in post_build.read_text()
    for script in ("postBuild", "start"):
        path = REPO / "binder" / script
        assert path.stat().st_mode & 0o111, f"binder/{script} must be executable"
        assert path.read_text().startswith("#!/bin/bash")
    assert 'exec "$@"' in (REPO / "binder" / "start").read_text()


def test_version_matches_pyproject():
    import crystal_lab

    assert crystal_lab.__version__ == _project()["version"]


def test_console_script_declared():
    assert _project()["scripts"]["crystal-lab"] == "crystal_lab.cli:main"


def _modules_loaded_by_import(module: str) -> list[str]:
    code = (f"import sys\nimport {module}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("module", ["crystal_lab", "crystal_lab.cli", "crystal_lab.workspace"])
def test_import_is_lazy(module):
    # lazy imports keep `import crystal_lab` fast; the time itself: benchmarks/bench_import.py
    heavy = _modules_loaded_by_import(module)
    assert heavy == [], f"import {module} loads {heavy} eagerly"


def test_ci_runs_the_readme_test_command():
    ci = REPO / ".ci" / "run"
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert re.search(r"^make test\b", text, re.MULTILINE), ".ci/run must call `make test`"
    assert "shared/data" in text and "CRYSTAL_LAB_CI=1" in text


def test_make_test_runs_pytest_with_nbval_over_tests_and_notebooks(tmp_path):
    dry = subprocess.run(["make", "-n", "test", f"VENV={tmp_path / 'venv'}"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=False)
    assert dry.returncode == 0, dry.stderr
    (pytest_line,) = [line for line in dry.stdout.splitlines() if "-m pytest" in line]
    for part in ("tests", "--nbval ", "--nbval-current-env",
                 "--nbval-sanitize-with tests/nbval_sanitize.cfg"):
        assert part in pytest_line
    if any((REPO / "notebooks").glob("*.ipynb")):
        assert " notebooks " in pytest_line
    assert "pip install torch==" in dry.stdout and 'pip install -e ".[test]"' in dry.stdout


def test_readme_gives_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


# --------------------------------------------------------------- make's torch install (fallback)
def _fake_venv(tmp_path: Path, torch_imports: bool = False) -> tuple[Path, Path]:
    """A .venv whose python records each ``-m pip`` call in pip.log (installs nothing) and
    answers ``-c "import torch"`` as told."""
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n"
                      f'if [ "$1" = "-c" ]; then exit {0 if torch_imports else 1}; fi\n'
                      f'echo "$@" >> "{log}"\n')
    python.chmod(0o755)
    return venv, log


def _make_torch(venv: Path, index: str, timeout: int = 2) -> tuple[subprocess.CompletedProcess,
                                                                   float]:
    import time

    start = time.monotonic()
    run = subprocess.run(["make", "--no-print-directory", "torch", f"VENV={venv}",
                          f"PYTHON={sys.executable}", f"TORCH_INDEX={index}",
                          f"TORCH_INDEX_TIMEOUT={timeout}"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return run, time.monotonic() - start


class _Index:
    """A local stand-in for a package index: ``answer`` (200 for every path), ``silent`` (the
    connection is accepted and then nothing is ever sent: a black hole) or ``closed`` (refused)."""

    def __init__(self, mode: str):
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.mode = mode
        if mode == "answer":
            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"<html><a href='torch-2.13.0+cpu.whl'>torch</a></html>")

                def log_message(self, *args):
                    pass

            self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.port = self.server.server_address[1]
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            if mode == "silent":
                self.sock.listen(8)  # the kernel completes the handshake; nobody ever reads
            else:
                self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whl/cpu"

    def close(self):
        if self.mode == "answer":
            self.server.shutdown()
            self.server.server_close()
        elif self.mode == "silent":
            self.sock.close()


@pytest.mark.parametrize("mode", ["silent", "closed", "unresolvable"])
def test_make_falls_back_to_the_default_index_within_seconds(tmp_path, mode):
    """An index that hangs, refuses, or whose name does not resolve: make installs torch from
    pip's default index after at most TORCH_INDEX_TIMEOUT seconds of trying."""
    venv, log = _fake_venv(tmp_path)
    index = None if mode == "unresolvable" else _Index(mode)
    try:
        url = index.url if index else "http://pytorch-index.invalid/whl/cpu"
        run, _seconds = _make_torch(venv, url, timeout=2)
    finally:
        if index:
            index.close()
    assert run.returncode == 0, run.stderr
    assert "did not answer within 2 s" in run.stdout, run.stdout
    calls = log.read_text().splitlines()
    pin = re.search(r"^TORCH \?= (\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    assert calls == [f"-m pip install {pin}"], calls   # no --index-url: pip's default index


def test_make_installs_torch_from_the_cpu_index_when_it_answers(tmp_path):
    venv, log = _fake_venv(tmp_path)
    index = _Index("answer")
    try:   # it answers at once: a long limit only keeps a loaded machine from timing out
        run, _ = _make_torch(venv, index.url, timeout=60)
    finally:
        index.close()
    assert run.returncode == 0, run.stderr
    (call,) = log.read_text().splitlines()
    assert call.endswith(f"--index-url {index.url}") and "install torch==" in call, call


def test_make_keeps_a_torch_that_imports(tmp_path):
    venv, log = _fake_venv(tmp_path, torch_imports=True)
    run, _ = _make_torch(venv, "http://pytorch-index.invalid/whl/cpu")
    assert run.returncode == 0, run.stderr
    assert not log.exists(), "pip ran although torch imports"


def test_make_names_python3_venv_when_venv_fails(tmp_path):
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\necho 'The virtual environment was not created' >&2\nexit 1\n")
    broken.chmod(0o755)
    run = subprocess.run(["make", "--no-print-directory", "venv", f"VENV={tmp_path / 'venv'}",
                          f"PYTHON={broken}"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode != 0
    assert "apt-get install python3-venv" in run.stderr, run.stderr
