"""Drive headless Chromium through JupyterLab the way a student does.

``LabBrowser`` owns the Playwright driver and the Chromium process (found by process id and
stopped through its process group even when Playwright cannot close it). ``NotebookPage`` opens
one notebook in a fresh browser context, runs all cells from the Run menu, waits for the kernel,
collects the problems of ``checks`` and takes screenshots.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

from . import checks
from .kernel_log import KernelLog
from .processes import children_of, command_line, stop_group
from .server import LabServer

CHROMIUM = os.environ.get("CRYSTAL_LAB_CHROMIUM", "/usr/bin/chromium")
# --disable-gpu leaves WebGL to SwiftShader (software), which draws nglview and plotly here
# (Chromium 156): no --use-angle=swiftshader / --enable-unsafe-swiftshader needed.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"


class LabBrowser:
    """Headless Chromium under Playwright; ``stop()`` always ends both processes."""

    def __init__(self, executable: str = CHROMIUM, extra_args: tuple[str, ...] = ()):
        self._playwright = sync_playwright().start()
        self.pids: list[int] = []
        try:
            self.browser = self._playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS + list(extra_args))
            self.pids = self._browser_pids()
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _browser_pids() -> list[int]:
        """The browsers Playwright started: children of its node driver (our child process)."""
        drivers = [pid for pid in children_of(os.getpid()) if "run-driver" in command_line(pid)]
        return [pid for driver in drivers for pid in children_of(driver)]

    def stop(self) -> None:
        browser = getattr(self, "browser", None)
        with contextlib.suppress(Exception):  # the process-group kill below is the backstop
            if browser is not None:
                browser.close()
        try:
            self._playwright.stop()
        finally:
            for pid in self.pids:  # Playwright starts the browser as a process-group leader
                stop_group(pid, timeout=5)


class NotebookPage:
    """One notebook open in JupyterLab in its own browser context (own cookies, own console)."""

    def __init__(self, lab: LabBrowser, server: LabServer, path: str, settle: float = 30.0):
        self.server, self.path = server, path
        self.settle = settle  # seconds the page may take to draw after the kernel is idle
        self.console: list[tuple[str, str]] = []
        self.kernel = KernelLog()
        self.run_seconds: float | None = None
        self.context = lab.browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: self.console.append((msg.type, msg.text)))
        self.page.on("pageerror", lambda err: self.console.append(("pageerror", str(err))))
        self.page.on("websocket", lambda ws: ws.on("framereceived", self.kernel.on_frame))

    # -- opening and running ------------------------------------------------------------------
    def open(self, timeout: float = 120.0, reset: bool = True) -> None:
        """Load ``/lab/tree/<path>`` (with a reset workspace unless ``reset=False``: the
        student's last layout) and wait for an idle kernel."""
        query = "reset&" if reset else ""
        url = f"{self.server.url}/lab/tree/{quote(self.path)}?{query}token={self.server.token}"
        self.page.goto(url, timeout=timeout * 1000)
        self.page.wait_for_selector(f"{ACTIVE} .jp-Notebook .jp-Cell", timeout=timeout * 1000)
        idle = self.page.locator(f"{ACTIVE} .jp-Notebook-ExecutionIndicator[data-status='idle']")
        dialog = self.page.locator(".jp-Dialog")
        deadline, calm = time.monotonic() + timeout, 0
        while calm < 3:  # the page and the server agree the kernel is idle, three polls running
            if dialog.count() and "Kernel" in dialog.first.inner_text():
                # "Select Kernel" (metadata naming a kernel this server lacks): take the default
                dialog.first.locator(".jp-mod-accept").click()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.path}: the kernel did not start within {timeout:.0f} s")
            calm = calm + 1 if idle.count() and self._session_idle() else 0
            time.sleep(0.3)
        # collapse the file browser: a wider notebook, and the screenshots show only it
        current = self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():
            current.first.click()

    def _session_idle(self) -> bool:
        """Whether the server has this notebook's session with an idle kernel."""
        for session in self.server.api("/api/sessions") or []:
            if session.get("path") == self.path:
                return (session.get("kernel") or {}).get("execution_state") == "idle"
        return False

    def run_all(self, timeout: float = 300.0) -> float:
        """Run > Run All Cells, then wait until no cell is queued or running and the kernel is
        idle. Returns the seconds it took; raises ``TimeoutError`` naming the busy cells."""
        self.page.locator(f"{ACTIVE} .jp-Cell .jp-InputPrompt").first.click()
        self.page.locator(".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('Run'))").click()
        self.page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))").click()
        start = time.monotonic()
        self.run_seconds = self.wait_idle(timeout) - start
        return self.run_seconds

    def wait_idle(self, timeout: float) -> float:
        """Wait until no prompt shows ``[*]`` and the kernels are idle twice in a row."""
        deadline, calm = time.monotonic() + timeout, 0
        time.sleep(0.5)
        while time.monotonic() < deadline:
            busy = self.page.evaluate(f"""() => [...document.querySelectorAll(
                '{ACTIVE} .jp-CodeCell .jp-InputArea-prompt')].filter(
                p => p.textContent.includes('*')).length""")
            kernels = self.server.api("/api/kernels") or []
            idle = all(k.get("execution_state") == "idle" for k in kernels)
            if any(k.get("execution_state") == "dead" for k in kernels):
                raise RuntimeError(f"{self.path}: the kernel died; {self.kernel.errors[-3:]}")
            calm = calm + 1 if busy == 0 and idle else 0
            if calm >= 2:
                return time.monotonic()
            time.sleep(0.5)
        raise TimeoutError(f"{self.path}: still running after {timeout:.0f} s "
                           f"({busy} cell(s) queued or running)")

    # -- checking -------------------------------------------------------------------------------
    def problems(self, settle: float | None = None) -> list[str]:
        """Every problem ``checks`` finds. Canvases and figures render asynchronously after the
        kernel is idle, so the visual checks are retried for up to ``settle`` seconds (default:
        the page's)."""
        deadline = time.monotonic() + (self.settle if settle is None else settle)
        while True:
            visual, self.n_canvases_drawn = checks.canvas_problems(self.page)
            visual += checks.plotly_problems(self.page) + checks.control_problems(
                self.page, self.kernel)
            if not visual or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        return (checks.cell_problems(self.page) + checks.kernel_problems(self.kernel)
                + checks.console_problems(self.console) + visual)

    # -- the prompt widget (notebook 03 and the fixture) ---------------------------------------
    def has_prompt_widget(self) -> bool:
        return all(self.page.locator(f"{ACTIVE} .{cls}").count() > 0
                   for cls in ("cl-prompt", "cl-generate", "cl-results"))

    def results_text(self) -> str:
        return self.page.locator(f"{ACTIVE} .cl-results").first.inner_text().strip()

    def generate(self, prompt: str, timeout: float = 180.0) -> tuple[str, str]:
        """Type ``prompt`` into ``.cl-prompt``, press ``.cl-generate`` and wait until the text in
        ``.cl-results`` changes and the kernel is idle. Returns (text before, text after)."""
        before = self.results_text()
        field = self.page.locator(f"{ACTIVE} .cl-prompt input, {ACTIVE} .cl-prompt textarea")
        field.first.fill(prompt)
        field.first.press("Tab")  # "change" on blur: syncs a Text with continuous_update=False
        self.page.locator(f"{ACTIVE} .cl-generate").first.click()
        deadline = time.monotonic() + timeout
        after = before
        while time.monotonic() < deadline:
            after = self.results_text()
            if after and after != before:
                break
            time.sleep(0.5)
        else:
            raise TimeoutError(f"{self.path}: .cl-results did not change within {timeout:.0f} s "
                               f"after Generate with prompt {prompt!r} (still {before[:80]!r})")
        self.wait_idle(timeout)
        # a callback that samples in a thread returns at once: wait for the text to settle too
        stable_since, after = time.monotonic(), self.results_text()
        while time.monotonic() - stable_since < 2.0 and time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.results_text()
            if now != after:
                stable_since, after = time.monotonic(), now
        # the new structure's picture (plotly or a viewer canvas) may follow the text
        view_deadline = min(deadline, time.monotonic() + self.settle)
        while self.results_views() == 0 and time.monotonic() < view_deadline:
            time.sleep(0.5)
        return before, after

    def results_views(self) -> int:
        """Structure pictures in ``.cl-results``: rendered plotly figures and canvases."""
        return self.page.evaluate(f"""() => {{
            const r = document.querySelector('{ACTIVE} .cl-results');
            if (!r) return 0;
            return r.querySelectorAll('.js-plotly-plot svg.main-svg').length
                 + [...r.querySelectorAll('canvas')]
                     .filter(c => !c.closest('.js-plotly-plot')).length;
        }}""")

    # -- screenshots and teardown ---------------------------------------------------------------
    def screenshot(self, path: Path, max_height: int = 12000) -> Path:
        """The whole notebook in one picture: the viewport grows to the notebook's height."""
        # the scroller's height minus what it shows already, up to the last cell's bottom
        # (JupyterLab pads the end of a notebook; that padding is left out)
        height = self.page.evaluate(f"""() => {{
            const s = document.querySelector('{ACTIVE} .jp-WindowedPanel-outer');
            const cells = document.querySelectorAll('{ACTIVE} .jp-Notebook .jp-Cell');
            if (!s || !cells.length) return 0;
            s.scrollTop = 0;
            const bottom = cells[cells.length - 1].getBoundingClientRect().bottom;
            return Math.max(0, bottom - s.getBoundingClientRect().top + 24 - s.clientHeight);
        }}""")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.set_viewport_size({"width": VIEWPORT["width"],
                                     "height": int(min(VIEWPORT["height"] + height, max_height))})
        try:
            self.page.wait_for_timeout(1500)  # relayout; canvases redraw at the new size
            self.page.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(VIEWPORT)
        return path

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self.server.shutdown_kernels()
