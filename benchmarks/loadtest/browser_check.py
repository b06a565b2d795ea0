"""The single-machine hub recipe end to end, the way a class uses it.

1. start the recipe's hub (hub.py: deploy/jupyterhub_config.py with a dummy login and the
   local process spawner, on 127.0.0.1);
2. in headless Chromium (tests/browser/driver.py), a student logs in on the hub's login page
   through the proxy; the hub spawns their server, which seeds ``crystal_lab_workspace`` and
   opens JupyterLab on its ``00_welcome.ipynb``;
3. Run > Run All Cells, then every check of the browser tests (tests/browser/checks.py);
4. the instructor unlock: ``CRYSTAL_LAB_INSTRUCTOR`` is "1" in an instructor's kernel and unset
   in the student's;
5. the student saves a results zip; deploy/collect_results.py downloads it through the hub.

Writes benchmarks/results/hub_browser.json and artifacts/hub/00_welcome.png; exit status 0 when
everything passed.

    python benchmarks/loadtest/browser_check.py
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from hub import BUILD, REPO, Hub, start_hub
from kernel import Kernel

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "deploy"))
import collect_results
from browser.driver import LabBrowser, NotebookPage
from browser.server import LAB_SETTINGS

STUDENT, INSTRUCTOR, NOTEBOOK = "student01", "instructor", "00_welcome.ipynb"
ARTIFACTS = REPO / "artifacts" / "hub"


class StudentServer:
    """What NotebookPage needs of a server, for one student's server behind the hub."""

    def __init__(self, hub: Hub, user: str):
        self.hub, self.user = hub, user
        self.url = f"{hub.url}/user/{user}"
        self.token = ""  # the browser is logged in: no token in the page's address

    def api(self, path: str, method: str = "GET"):
        return self.hub.request(f"/user/{self.user}{path}", method=method)

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


def login(page, hub: Hub, user: str, timeout: float = 180.0) -> float:
    """Log in on the hub's page; returns the seconds until JupyterLab shows the notebook."""
    t0 = time.monotonic()
    page.goto(f"{hub.url}/hub/login", timeout=timeout * 1000)
    page.fill("input#username_input", user)
    page.fill("input#password_input", "any password (dummy login)")
    page.click("#login_submit")
    try:
        page.wait_for_url(f"**/user/{user}/lab/**", timeout=timeout * 1000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "login_failed.png"))
        print(f"login failed at {page.url}; screenshot in {ARTIFACTS / 'login_failed.png'}")
        raise
    return time.monotonic() - t0


def env_in_kernel(hub: Hub, user: str) -> str:
    kernel = Kernel(hub, user)
    try:
        kernel.start()
        return kernel.execute("import os; print(os.environ.get('CRYSTAL_LAB_INSTRUCTOR'))")[1]
    finally:
        kernel.close()


def main() -> int:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = BUILD / "runs" / f"browser-{stamp}"
    settings = run_dir / "lab-settings"
    for name, values in LAB_SETTINGS.items():  # the browser tests' JupyterLab settings
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    result: dict = {"date": stamp, "student": STUDENT, "notebook": NOTEBOOK, "problems": []}
    hub = start_hub(run_dir, env={"CRYSTAL_LAB_LOADTEST_LAB_SETTINGS": str(settings),
                                  "CRYSTAL_LAB_CI": "1"})
    lab = None
    try:
        lab = LabBrowser()
        page = NotebookPage(lab, StudentServer(hub, STUDENT), NOTEBOOK)
        try:
            result["login_to_lab_s"] = login(page.page, hub, STUDENT)
            result["landed_on"] = page.page.url.split("?")[0].replace(hub.url, "")
            page.open()
            result["run_all_s"] = page.run_all(timeout=600)
            result["problems"] = page.problems()
            result["canvases_drawn"] = page.n_canvases_drawn
            result["screenshot"] = str(
                page.screenshot(ARTIFACTS / "00_welcome.png").relative_to(REPO)
            )
        finally:
            page.close()
        workspace = run_dir / "home" / STUDENT / "crystal_lab_workspace"
        result["workspace_notebooks"] = sorted(p.name for p in workspace.glob("*.ipynb"))

        # the instructor unlock: instructors only
        hub.api(f"/users/{INSTRUCTOR}/server", method="POST", body={})
        deadline = time.monotonic() + 300
        while not (hub.api(f"/users/{INSTRUCTOR}")["servers"].get("") or {}).get("ready"):
            if time.monotonic() > deadline:
                raise TimeoutError("the instructor's server did not start")
            time.sleep(0.5)
        result["unlock_instructor"] = env_in_kernel(hub, INSTRUCTOR).strip()
        result["unlock_student"] = env_in_kernel(hub, STUDENT).strip()

        # a result zip, collected through the hub
        kernel = Kernel(hub, STUDENT)
        try:
            kernel.start()
            # where a notebook in the workspace saves it (an API kernel starts in $HOME)
            kernel.execute("import os\nfrom ase.build import bulk\nfrom crystal_lab.workspace "
                           "import save_results\nsave_results(os.path.expanduser('~/crystal_lab"
                           "_workspace/my_results.zip'), [bulk('NaCl', 'rocksalt', a=5.64)])")
        finally:
            kernel.close()
        with tempfile.TemporaryDirectory() as out:
            written = collect_results.collect(collect_results.Hub(hub.url, hub.token), Path(out))
            files = written.get(STUDENT, [])
            result["collected"] = [str(p.relative_to(out)) for p in files]
            result["collected_zip_ok"] = bool(files) and zipfile.ZipFile(files[0]).testzip() is None
    finally:
        if lab is not None:
            lab.stop()
        hub.stop()

    checks = {
        "landed on the welcome notebook": result.get("landed_on", "").endswith(NOTEBOOK),
        "no problem in notebook 00": not result["problems"],
        "workspace seeded": NOTEBOOK in result.get("workspace_notebooks", []),
        "unlock for the instructor": result.get("unlock_instructor") == "1",
        "no unlock for the student": result.get("unlock_student") == "None",
        "result zip collected": result.get("collected_zip_ok", False),
    }
    result["checks"] = checks
    out = REPO / "benchmarks" / "results" / "hub_browser.json"
    out.write_text(json.dumps(result, indent=1))
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    for problem in result["problems"]:
        print("   ", problem)
    print(f"login -> lab {result.get('login_to_lab_s', float('nan')):.1f} s, run all "
          f"{result.get('run_all_s', float('nan')):.1f} s; wrote {out.relative_to(REPO)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
