"""The lab in a real browser: JupyterLab in headless Chromium, looked at as a student sees it.

A notebook that executes under nbval can still show students a blank box: a widget frontend
that does not register, a WebGL canvas that never draws, a figure that does not render or is
drawn 100 px wide, a button whose callback raises into a log nobody reads. nbval has already
executed every course notebook, so these tests do not run them again: they check what only a
browser can, on small notebooks in ``tests/data/browser/`` that show every kind of view the
course shows (``views_*.ipynb``: the structure, noise, toy, generation and evaluation views, at
a few steps), plus the check's own positive and negative fixtures, the WebGL budget of several
open tabs, the phase diagram's size and the quality box of a workspace made from the wheel.
What is asserted is in ``tests/browser/checks.py``; see ``tests/browser/README.md``.

The course notebooks themselves, Run All in the browser (``-m course``, not part of ``make
test``: ``make browser-course``), refresh the README's screenshots.

Time limits: a quiet-machine budget of at least 5x the measured quiet time, times the machine's
load factor measured at the start of the session (``browser/calibrate.py``); the variable
``CRYSTAL_LAB_BROWSER_TIMEOUT`` replaces the per-notebook limit.

Screenshots and a log per notebook go to ``artifacts/browser/`` (or ``$CRYSTAL_LAB_ARTIFACTS``);
``CRYSTAL_LAB_UPDATE_ASSETS=1`` also refreshes ``assets/`` pictures for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper package tests/browser
from browser.calibrate import load_factor
from browser.images import drawn_fraction, shrink_png
from browser.kernel_log import KernelLog, decode_frame

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "browser"
# the course notebooks (another folder, e.g. a workshop's copy: CRYSTAL_LAB_NOTEBOOKS_DIR)
NOTEBOOK_DIR = Path(os.environ.get("CRYSTAL_LAB_NOTEBOOKS_DIR", REPO / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
VIEWS = ["views_structures", "views_generate", "views_evaluate"]
ARTIFACTS = Path(os.environ.get("CRYSTAL_LAB_ARTIFACTS", REPO / "artifacts")) / "browser"
PROMPT = "Na Cl"  # what the interactivity check types into the prompt widget

# Quiet-machine budgets in seconds, each at least 5x what it took on the 2-core machine
# (Run All of one views_* fixture: 10-20 s; of the slowest course notebook at CI size: about
# 90 s with other work beside it); times the load factor measured when the session starts.
LOAD = load_factor()
_OVERRIDE = os.environ.get("CRYSTAL_LAB_BROWSER_TIMEOUT")
TIMEOUT = float(_OVERRIDE) if _OVERRIDE else 300.0 * LOAD         # one fixture notebook
COURSE_TIMEOUT = float(_OVERRIDE) if _OVERRIDE else 900.0 * LOAD  # one course notebook
START_TIMEOUT = 120.0 * LOAD        # JupyterLab answering, a kernel starting (quiet: 3-10 s)
SETTLE = 30.0 * LOAD                # canvases and figures drawing once the kernel is idle (1-3 s)


# --------------------------------------------------------------------------- session fixtures
@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab serving a temporary copy of notebooks/ and the fixtures, stopped at the end."""
    from browser.server import start_lab

    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    # outputs of earlier runs stay behind: the copy starts like a clean clone
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "runs", "results")
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks", ignore=ignore)
    shutil.copytree(FIXTURES, root / "fixtures", ignore=ignore)
    # the kernels run at CI size; CRYSTAL_LAB_BROWSER_CI=0: at workshop size (the README's figures)
    env = {"CRYSTAL_LAB_CI": os.environ.get("CRYSTAL_LAB_BROWSER_CI", "1")}
    data = os.environ.get("CRYSTAL_LAB_DATA") or str(REPO.parent / "shared" / "data")
    env["CRYSTAL_LAB_DATA"] = data
    server = start_lab(root, base / "state", env, timeout=START_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_browser():
    """Headless Chromium. A browser test that cannot drive one fails (never skips): ``make
    test`` must not pass with no browser test run. Without a browser, deselect them
    explicitly: ``pytest -m "not browser"``."""
    try:
        from browser.driver import CHROMIUM, LabBrowser
    except ImportError as error:  # playwright not installed
        pytest.fail(f"the browser tests cannot run: {error} (pip install -e '.[test]' installs "
                    "playwright; or deselect them: -m 'not browser')", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests cannot run: {CHROMIUM} not found (`make chromium`, "
                    "apt-get install -y --no-install-recommends chromium, or set "
                    "CRYSTAL_LAB_CHROMIUM; or deselect them: -m 'not browser')", pytrace=False)
    lab = LabBrowser()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def open_notebook(lab_browser, lab_server):
    """``open_notebook("fixtures/x.ipynb")`` -> an opened NotebookPage, closed after the test
    (its kernel shut down); its console and kernel errors are written to the artefacts."""
    from browser.driver import NotebookPage

    pages = []

    def _open(path: str):
        page = NotebookPage(lab_browser, lab_server, path, settle=SETTLE)
        pages.append(page)
        page.open(START_TIMEOUT)
        return page

    yield _open
    for page in pages:
        _write_log(page)
        page.close()


def _write_log(page) -> None:
    """Browser console and kernel errors of one notebook, for debugging a failure."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lines = [f"# {page.path}", f"Run All took {page.run_seconds} s",
             (f"load factor {LOAD:.2f}: limits {TIMEOUT:.0f} s a fixture, "
              f"{COURSE_TIMEOUT:.0f} s a course notebook"),
             "## kernel errors", *page.kernel.errors, "## browser console"]
    lines += [f"[{kind}] {text}" for kind, text in page.console if kind != "debug"]
    (ARTIFACTS / f"{Path(page.path).stem}.log.txt").write_text("\n".join(lines) + "\n")


def _screenshot(page, stem: str, asset: bool = False) -> Path:
    """Full-notebook screenshot in the artefacts; for a course notebook (``asset``) with
    CRYSTAL_LAB_UPDATE_ASSETS=1 also a small copy in assets/nb_<stem>.png for the README."""
    shot = page.screenshot(ARTIFACTS / f"{stem}.png")
    if asset and os.environ.get("CRYSTAL_LAB_UPDATE_ASSETS") == "1":
        shrink_png(shot, REPO / "assets" / f"nb_{stem}.png", max_bytes=300_000)   # kept small
    return shot


def _report(path: str, problems: list[str]) -> str:
    return (f"{path}: {len(problems)} problem(s) in the browser "
            f"(screenshot and console log in {ARTIFACTS}):\n  - " + "\n  - ".join(problems))


# the README's figures, from the course notebooks as they ran: (notebook, words of the figure's
# title, asset name); each passes the projector checks (test_figures_fit_a_projector) first
FIGURE_ASSETS = {
    "03_generate": [("quality against steps", "vis_quality_steps"),
                    ("the network's score", "vis_score")],
    "04_evaluate": [("CHGNet hull of the MP-20 reference phases", "vis_hull")],
}


def _figure_assets(page, stem: str) -> list[str]:
    """With CRYSTAL_LAB_UPDATE_ASSETS=1: each of the notebook's README figures (FIGURE_ASSETS)
    found by its title and checked as a projector needs it (no label over another text, the
    title clear of the toolbar), then saved as assets/<name>.png. The problems found."""
    if os.environ.get("CRYSTAL_LAB_UPDATE_ASSETS") != "1":
        return []
    from browser.driver import ACTIVE

    problems = []
    for words, name in FIGURE_ASSETS.get(stem, []):
        selector = f".js-plotly-plot:has-text({words!r})"
        figure = page.page.locator(f"{ACTIVE} {selector}").first
        if figure.count() == 0:
            problems.append(f"no figure whose title says {words!r} (for assets/{name}.png)")
            continue
        figure.scroll_into_view_if_needed()
        page.page.wait_for_timeout(1500)   # drawn once in view
        drawn = figure.locator("xpath=..").evaluate(_FIGURE_TEXTS)
        found = _text_problems(drawn[0], name) if drawn else [f"{name}: not drawn"]
        problems += found
        if not found:
            _asset(page, selector, name)
    return problems


# --------------------------------------------------------------------------- the views
def _check_generate(page, name: str) -> list[str]:
    """Type a new prompt into the prompt widget, press Generate: new structures, with a picture."""
    problems = []
    before, after = page.generate(PROMPT, TIMEOUT)
    assert any(el in after for el in PROMPT.split()), (
        f"{name}: after Generate with {PROMPT!r}, .cl-results shows {after[:200]!r} "
        f"(before: {before[:200]!r}): no {PROMPT} structure")
    if page.results_views() == 0:
        problems.append(f"after Generate with {PROMPT!r}, .cl-results shows the formulas "
                        f"({after[:80]!r}) but no structure picture (plotly figure or viewer)")
    return problems + page.problems()


@pytest.mark.browser
@pytest.mark.parametrize("name", VIEWS)
def test_views_in_browser(name, open_notebook):
    """Run All on a views fixture: no errors, every widget registered and drawn, every figure
    rendered; where there is a prompt widget, a new prompt generates new structures."""
    page = open_notebook(f"fixtures/{name}.ipynb")
    page.run_all(TIMEOUT)
    problems = page.problems()
    if name == "views_generate":
        assert page.has_prompt_widget(), (
            "no prompt widget: expected elements with the classes cl-prompt (Text), "
            "cl-generate (Button) and cl-results (output box)")
        if not problems:
            problems = _check_generate(page, name)
    _screenshot(page, f"fixture_{name}")
    assert not problems, _report(f"{name}.ipynb", problems)
    assert page.n_canvases_drawn >= 1 or name == "views_evaluate", "no viewer canvas drew"


@pytest.mark.browser
@pytest.mark.course
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_browser(notebook, open_notebook):
    """A course notebook, Run All in JupyterLab (``-m course``, not part of ``make test``: nbval
    runs every notebook already): the same checks, and Generate where there is a prompt widget;
    refreshes ``assets/nb_<name>.png`` with CRYSTAL_LAB_UPDATE_ASSETS=1."""
    page = open_notebook(f"notebooks/{notebook.name}")
    page.run_all(COURSE_TIMEOUT)
    problems = page.problems()
    _screenshot(page, notebook.stem, asset=True)
    problems += _figure_assets(page, notebook.stem)
    if page.has_prompt_widget() and not problems:
        problems = _check_generate(page, notebook.name)
        _screenshot(page, notebook.stem, asset=True)
    assert not problems, _report(notebook.name, problems)


# --------------------------------------------------------------------------- fixtures: positive
@pytest.mark.browser
def test_viewers_draw(open_notebook):
    """nglview draws its WebGL canvas (SwiftShader under --disable-gpu) and both plotly figures
    (SVG and WebGL) render; the CI switch reaches the kernel (cell 2 asserts it)."""
    page = open_notebook("fixtures/viewers.ipynb")
    page.run_all(TIMEOUT)
    problems = page.problems()
    _screenshot(page, "fixture_viewers")
    assert not problems, _report("viewers.ipynb", problems)
    assert page.n_canvases_drawn >= 1, "the nglview canvas was not found"
    assert page.page.locator(".js-plotly-plot svg.main-svg").count() >= 2


@pytest.mark.browser
def test_prompt_widget_generates(open_notebook):
    """The notebook-03 mechanism on a stand-in: type a prompt, press Generate, see a structure."""
    page = open_notebook("fixtures/prompt_widget.ipynb")
    page.run_all(TIMEOUT)
    assert page.has_prompt_widget()
    problems = page.problems()
    assert not problems, _report("prompt_widget.ipynb", problems)
    drawn_before = page.n_canvases_drawn
    before, after = page.generate(PROMPT, TIMEOUT)
    assert before == "no structures yet"
    assert "Cl4Na4" in after, after  # the stand-in builds a cubic rock-salt cell
    assert page.results_views() == 1, "no viewer in .cl-results"
    problems = page.problems()
    _screenshot(page, "fixture_prompt_widget")
    assert not problems, _report("prompt_widget.ipynb", problems)
    assert page.n_canvases_drawn == drawn_before + 1, "the new structure's viewer did not draw"


# --------------------------------------------------------------------------- fixtures: negative
@pytest.mark.browser
def test_broken_widgets_are_reported(open_notebook):
    """The checks catch a frontend mismatch on purpose: an unregistered widget module, an
    nglview view asking for a frontend version that is not installed (nglview 4.0.1's failure),
    a raising button callback, a raising cell, and the cell Run All therefore skipped."""
    page = open_notebook("fixtures/broken_widget.ipynb")
    page.run_all(TIMEOUT)
    page.page.locator(".cl-explode").click()
    page.wait_idle(TIMEOUT)
    problems = page.problems(settle=2)
    _screenshot(page, "fixture_broken_widget")
    report = _report("broken_widget.ipynb", problems)
    expected = [
        "No version of module nonexistent-widget is registered",
        "Module nglview-js-widgets, version 99.0.0 is not registered",
        "cell 2: widget shown as an error box",
        "cell 3: widget shown as an error box",
        "ZeroDivisionError: division by zero (from a widget callback",
        "cell 5: error output: RuntimeError: deliberate failure in a cell",
        "cell 6: never executed",
    ]
    missing = [text for text in expected if text not in report]
    assert not missing, f"the checks missed {missing}; they reported:\n{report}"
    print(report)


# --------------------------------------------------------------------------- helpers, no browser
def _png(width: int, height: int, pixel) -> bytes:
    """A tiny RGB PNG (``pixel(x, y) -> (r, g, b)``), written by hand to test the pixel check."""
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(width))
                    for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_drawn_fraction_tells_blank_from_drawn():
    blank = _png(20, 10, lambda x, y: (255, 255, 255))
    dot = _png(20, 10, lambda x, y: (200, 0, 0) if x < 4 and y < 5 else (255, 255, 255))
    assert drawn_fraction(blank) == 0.0
    assert drawn_fraction(dot) == pytest.approx(20 / 200)


def test_decode_frame_reads_v1_and_legacy_frames():
    import json

    parts = [json.dumps(x).encode() for x in (
        {"msg_type": "error"}, {"msg_type": "comm_msg"}, {}, {"ename": "E", "evalue": "v"})]
    channel = b"iopub"
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    for part in [channel, *parts]:
        offsets.append(offsets[-1] + len(part))
    frame = len(offsets).to_bytes(8, "little") + b"".join(
        o.to_bytes(8, "little") for o in offsets) + channel + b"".join(parts)
    assert decode_frame(frame)[0] == "iopub"
    log = KernelLog()
    log.on_frame(frame)
    assert log.errors and log.errors[0].startswith("E: v (from a widget callback")
    legacy = json.dumps({"channel": "iopub", "header": {"msg_type": "status"},
                         "parent_header": {}, "content": {}})
    assert decode_frame(legacy)[0] == "iopub"
    assert decode_frame('{"schema_id": "events"}') is None


def test_shrink_png_stays_under_limit(tmp_path):
    noisy = _png(300, 200, lambda x, y: ((x * 7) % 256, (y * 13) % 256, (x * y) % 256))
    source = tmp_path / "big.png"
    source.write_bytes(noisy)
    size = shrink_png(source, tmp_path / "small.png", max_bytes=20_000, width=200)
    assert size <= 20_000 and (tmp_path / "small.png").stat().st_size == size



def test_kernel_log_tracks_displayed_widgets():
    """Displayed boxes count their children; closed and hidden widgets are not expected."""
    import json

    log = KernelLog()

    def send(msg_type, content):
        log.on_frame(json.dumps({"channel": "iopub", "header": {"msg_type": msg_type},
                                 "parent_header": {}, "content": content}))

    def model(comm_id, name, **state):
        send("comm_open", {"comm_id": comm_id, "data": {"state": {"_model_name": name, **state}}})

    model("lay", "LayoutModel", display="none")
    model("b", "ButtonModel")
    model("hidden", "IntSliderModel", layout="IPY_MODEL_lay")
    model("bar", "FloatProgressModel")
    model("box", "VBoxModel", children=["IPY_MODEL_b", "IPY_MODEL_hidden", "IPY_MODEL_bar"])
    send("display_data", {"data": {"application/vnd.jupyter.widget-view+json":
                                   {"model_id": "box"}}})
    assert log.displayed_models() == {"VBoxModel", "ButtonModel", "FloatProgressModel"}
    send("comm_close", {"comm_id": "bar"})
    assert log.displayed_models() == {"VBoxModel", "ButtonModel"}


# ----------------------------------------------------------------- WebGL contexts
WEBGL_WARNING = "Too many active WebGL contexts"
# counts the WebGL contexts the page creates (one per canvas), before any script of the page runs
_COUNT_WEBGL = """(() => {
  const original = HTMLCanvasElement.prototype.getContext;
  window.__clWebgl = 0;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const ctx = original.call(this, type, ...rest);
    if (ctx && /webgl/.test(String(type)) && !this.__clCounted) {
      this.__clCounted = true;
      this.__clContext = ctx;
      window.__clWebgl += 1;
    }
    return ctx;
  };
})();"""


def _open_in_same_page(page, path: str, timeout: float = 120.0) -> None:
    """File > Open from Path...: another notebook as a tab of the same JupyterLab page (the
    WebGL contexts of every open tab count together), then wait for its kernel."""

    page.page.locator(".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('File'))").click()
    page.page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-matches('Open from Path'))"
                      ).click()
    field = page.page.locator(".jp-Dialog input")
    field.fill(path)
    field.press("Enter")
    page.path = path
    deadline = time.monotonic() + timeout
    name = Path(path).name
    page.page.wait_for_selector(f".lm-TabBar-tab.lm-mod-current:has-text('{name[:20]}')",
                                timeout=timeout * 1000)
    while not page._session_idle():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: the kernel did not start within {timeout:.0f} s")
        time.sleep(0.5)


# live WebGL canvases (in the page) whose context the browser took away
_LOST_LIVE = """() => [...document.querySelectorAll('canvas')]
    .filter(c => c.__clContext && c.getBoundingClientRect().width > 1
                 && c.__clContext.isContextLost())
    .map(c => c.closest('.js-plotly-plot') ? 'plotly figure' : 'viewer')"""


def _without_outputs(path: Path, target: Path) -> None:
    """A copy of a notebook with its stored outputs removed (as after Edit > Clear Outputs)."""
    import json

    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    target.write_text(json.dumps(nb, indent=1))


def _asset(page, selector: str, name: str) -> None:
    """With CRYSTAL_LAB_UPDATE_ASSETS=1: a screenshot of one widget as assets/<name>.png."""
    if os.environ.get("CRYSTAL_LAB_UPDATE_ASSETS") != "1":
        return
    from browser.driver import ACTIVE, VIEWPORT

    element = page.page.locator(f"{ACTIVE} {selector}").first
    page.page.set_viewport_size({"width": VIEWPORT["width"], "height": 2400})  # all of it
    try:
        element.scroll_into_view_if_needed()
        page.page.wait_for_timeout(2000)   # relayout; canvases redraw at the new size
        shot = ARTIFACTS / f"{name}.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        element.screenshot(path=str(shot))
    finally:
        page.page.set_viewport_size(VIEWPORT)
    shrink_png(shot, REPO / "assets" / f"{name}.png", width=900)


def _activate_tab(page, name: str) -> None:
    page.page.locator(f".lm-DockPanel-tabBar .lm-TabBar-tab:has-text('{name[:20]}')").first.click()
    page.page.wait_for_timeout(2500)   # the tab's canvases redraw once visible


def _three_tabs(lab_server, source: str) -> list[str]:
    """The three notebooks to open side by side: the views fixtures, or course notebooks 02-04
    copied with their stored outputs cleared (see test_viewers_never_go_blank)."""
    if source == "views":
        return [f"fixtures/{name}.ipynb" for name in VIEWS]
    clean = lab_server.root_dir / "clean"
    clean.mkdir(exist_ok=True)
    paths = []
    for number in ("02", "03", "04"):
        notebook = next(p for p in NOTEBOOKS if p.name.startswith(number))
        _without_outputs(notebook, clean / notebook.name)
        paths.append(f"clean/{notebook.name}")
    for extra in NOTEBOOK_DIR.iterdir():   # data files the notebooks read beside themselves
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy(extra, clean / extra.name)
    return paths


@pytest.mark.browser
@pytest.mark.parametrize("source", ["views", pytest.param("course", marks=pytest.mark.course)])
def test_viewers_never_go_blank(lab_browser, lab_server, source):
    """Open three notebooks in one JupyterLab page as a student does (the structure, generation
    and evaluation views; ``course``: notebooks 02, 03 and 04), play the reverse widget, run
    Generate three times: the browser never drops a WebGL context ("Too many active WebGL
    contexts") and every viewer canvas of every notebook still draws at the end.

    Course notebooks are opened with their stored outputs cleared: a stored plotly 3D figure is
    drawn when the notebook opens and replaced when it runs, and plotly.js does not release the
    replaced figure's WebGL context (it waits for garbage collection), so stored outputs add
    stale contexts that say nothing about the views. ``_LOST_LIVE`` checks that no context
    still on screen was taken away. The course run also refreshes the vis_* screenshots."""
    from browser import checks
    from browser.driver import ACTIVE, NotebookPage

    course = source == "course"
    limit = COURSE_TIMEOUT if course else TIMEOUT
    paths = _three_tabs(lab_server, source)
    page = NotebookPage(lab_browser, lab_server, paths[0], settle=SETTLE)
    page.context.add_init_script(_COUNT_WEBGL)
    try:
        page.open(START_TIMEOUT)
        page.run_all(limit)
        if course and os.environ.get("CRYSTAL_LAB_UPDATE_ASSETS") == "1":  # forward at t = 0.5
            forward = page.page.locator(
                f"{ACTIVE} .cl-forward-widget .cl-frame-slider .noUi-handle").first
            forward.scroll_into_view_if_needed()
            forward.focus()
            for _ in range(10):   # 21 frames: the 11th is t = 0.5
                forward.press("ArrowRight")
                page.page.wait_for_timeout(300)
            _asset(page, ".cl-forward-widget", "vis_forward")
        _open_in_same_page(page, paths[1], START_TIMEOUT)
        page.run_all(limit)
        reverse = page.page.locator(f"{ACTIVE} .cl-reverse-widget")
        assert reverse.count() == 1, f"no reverse widget (class cl-reverse-widget) in {paths[1]}"
        reverse.scroll_into_view_if_needed()
        reverse.locator(".cl-play button:visible").first.click()   # ▶
        handle = reverse.locator(".cl-frame-slider .noUi-handle").first
        page.page.wait_for_function(   # played to the last frame (t = 0)
            """h => parseFloat(h.getAttribute('aria-valuenow'))
                     === parseFloat(h.getAttribute('aria-valuemax'))""",
            arg=handle.element_handle(), timeout=limit * 1000)
        page.page.wait_for_timeout(2000)
        for prompt in ("Na Cl", "Ba Ti O", "Li O"):
            _before, after = page.generate(prompt, limit)
            assert prompt.split()[0] in after, (prompt, after[:200])
        if course:
            _asset(page, ".cl-generate-widget", "vis_generate")
        _open_in_same_page(page, paths[2], START_TIMEOUT)
        page.run_all(limit)
        if course:
            _asset(page, ".cl-dashboard", "vis_dashboard")
        problems, drawn = [], 0
        for path in paths:
            _activate_tab(page, Path(path).name)
            deadline = time.monotonic() + SETTLE   # the tab's canvases redraw once visible
            visual, n = checks.canvas_problems(page.page)
            while visual and time.monotonic() < deadline:
                time.sleep(1.0)
                visual, n = checks.canvas_problems(page.page)
            problems += [f"{Path(path).stem}: {p}" for p in visual]
            drawn += n
        n_contexts = page.page.evaluate("() => window.__clWebgl")
        lost_live = page.page.evaluate(_LOST_LIVE)
        lost = [text for _kind, text in page.console if WEBGL_WARNING in text]
        _screenshot(page, f"webgl_contexts_{source}")
        print(f"{n_contexts} WebGL contexts created, {drawn} viewer canvases drawn")
        assert not lost, (f"{len(lost)} x '{WEBGL_WARNING}' ({n_contexts} WebGL contexts "
                          f"created): viewers went blank")
        assert not lost_live, f"WebGL context lost on screen: {lost_live}"
        page_errors = [text for kind, text in page.console if kind == "pageerror"]
        assert not page_errors, f"errors in the page: {page_errors[:5]}"
        assert drawn >= 4, f"only {drawn} viewer canvases drew"
        assert not problems, _report(" + ".join(paths), problems)
    finally:
        _write_log(page)
        page.close()


def test_browser_tests_fail_without_a_browser(tmp_path):
    """No chromium: the browser tests fail (an error), never skip, so `make test` cannot pass
    with no browser test run."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", f"{__file__}::test_viewers_draw", "-p", "no:cacheprovider",
         "-q", "-rA"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CRYSTAL_LAB_CHROMIUM": str(tmp_path / "no-chromium"),
             "CRYSTAL_LAB_ARTIFACTS": str(tmp_path)})
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-2000:]
    assert "1 error" in out and "skipped" not in out, out[-2000:]
    assert "no-chromium not found" in out, out[-2000:]


# ----------------------------------------------------------------- the phase diagram's size
# px: a hull a projector can show (1280 px window). Measured here: the Ba-O-Ti triangle of the
# dashboard tab drew 266 px wide at first, 480 px once made readable, 658 px at 960x720 (issue 30:
# at least 600 px of plot area).
MIN_PLOT_WIDTH = 600

# the plot area of each visible plotly figure under ``root``: the ternary triangle, the 3D scene
# or the x axis's domain, in px, and where the legend lies relative to the plot area
_PLOT_AREAS = """root => [...root.querySelectorAll('.js-plotly-plot')]
  .filter(gd => gd.getBoundingClientRect().width > 1 && gd._fullLayout)
  .map(gd => {
    const L = gd._fullLayout, size = L._size, box = gd.getBoundingClientRect();
    const kind = L.ternary ? 'ternary' : (L.scene ? '3d' : '2d');
    const sub = L.ternary || L.scene || L.xaxis || {};
    const dx = sub.domain && sub.domain.x ? sub.domain.x : (sub.domain || [0, 1]);
    const dy = L.ternary || L.scene ? sub.domain.y : ((L.yaxis && L.yaxis.domain) || [0, 1]);
    let width = size.w * (dx[1] - dx[0]), height = size.h * (dy[1] - dy[0]);
    if (kind === 'ternary' && L.ternary._subplot && L.ternary._subplot.w) {
      width = L.ternary._subplot.w; height = L.ternary._subplot.h;   // the drawn triangle
    }
    const left = box.left + size.l + size.w * dx[0];
    const legend = gd.querySelector('.legend');
    const lr = legend ? legend.getBoundingClientRect() : null;
    return {kind, width, height, figure_width: box.width, plot_left: left,
            plot_right: left + size.w * (dx[1] - dx[0]), figure_right: box.right,
            legend_left: lr ? lr.left : null, legend_right: lr ? lr.right : null,
            title: ((L.title || {}).text || '').slice(0, 80)};
  })"""


@pytest.mark.browser
def test_phase_diagram_tab_is_readable(open_notebook):
    """The dashboard's "phase diagram" tab draws the Ba-O-Ti hull at least MIN_PLOT_WIDTH px
    wide (it drew 100-270 px in a corner), and its legend stays inside the figure."""
    from browser.driver import ACTIVE

    page = open_notebook("fixtures/views_evaluate.ipynb")
    page.run_all(TIMEOUT)
    dashboard = page.page.locator(f"{ACTIVE} .cl-dashboard").first
    dashboard.locator(".lm-TabBar-tab:has-text('phase diagram')").first.click()
    panel = dashboard.locator(".widget-tab-contents > :not(.lm-mod-hidden), "
                              ".lm-TabPanel-stackedPanel > :not(.lm-mod-hidden)")
    deadline_ms = TIMEOUT * 1000
    dashboard.locator(".js-plotly-plot svg.main-svg").last.wait_for(state="visible",
                                                                      timeout=deadline_ms)
    deadline = time.monotonic() + SETTLE   # plotly lays the figure out again once visible
    areas = dashboard.evaluate(_PLOT_AREAS)
    while (len(areas) != 1 or areas[0]["width"] < MIN_PLOT_WIDTH) and time.monotonic() < deadline:
        time.sleep(1.0)
        areas = dashboard.evaluate(_PLOT_AREAS)
    _screenshot(page, "fixture_phase_diagram")
    assert panel.count() >= 1, "the phase diagram tab did not open"
    assert len(areas) == 1, f"expected one visible figure in the phase diagram tab: {areas}"
    (area,) = areas
    assert area["width"] >= MIN_PLOT_WIDTH, (
        f"the {area['kind']} phase diagram is drawn {area['width']:.0f} px wide "
        f"(figure {area['figure_width']:.0f} px): at least {MIN_PLOT_WIDTH} px: {area}")
    if area["legend_right"] is not None:
        assert area["legend_right"] <= area["figure_right"] + 1, (
            f"the legend runs off the figure's right edge: {area}")
    (figure,) = dashboard.evaluate(_FIGURE_TEXTS)   # the CHGNet hull's labels, as drawn
    overlaps = _text_problems(figure, "phase diagram")
    assert not overlaps, "\n".join(overlaps)
    problems = page.problems()
    assert not problems, _report("views_evaluate.ipynb", problems)


# ------------------------------------------------- the quality box in a workspace from the wheel
QUALITY_DATA = "crystal_lab/weights/mp20.quality.json"   # the shipped model's measured facts


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """crystal_lab built as a wheel from a copy of the working tree and installed (without
    dependencies: those are the test environment's) into a folder of its own."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "crystal_lab", source / "crystal_lab", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "jupyter-settings", source / "jupyter-settings")
    quiet = {"capture_output": True, "text": True, "timeout": 600 * LOAD}
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(base / "dist"), str(source)],
                           **quiet, check=False)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = (base / "dist").glob("crystal_lab-*.whl")
    site = base / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                              "--target", str(site), str(wheel)], **quiet, check=False)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return site


def test_the_wheel_installs_the_jupyterlab_settings(wheel_site):
    """The package installs its JupyterLab settings where JupyterLab reads overrides
    (<prefix>/share/jupyter/lab/settings/overrides.d): the widget manager saves widget state
    with the notebook in every lab that installs the package (make lab, Binder, the hubs)."""
    import json

    installed = wheel_site / "share/jupyter/lab/settings/overrides.d/crystal-lab.json"
    assert installed.is_file(), sorted(str(p.relative_to(wheel_site))
                                       for p in wheel_site.rglob("*.json"))[:20]
    settings = json.loads(installed.read_text())
    assert settings["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True


@pytest.mark.browser
def test_quality_box_in_a_workspace_from_the_wheel(lab_browser, wheel_site, tmp_path):
    """``crystal-lab start`` a workspace with the package installed from its wheel (as Binder's
    ``pip install .`` and the hub recipes do), open a notebook there and run it down to its
    quality box: the box shows the shipped model's measured match rate (package data), not
    "not available"."""
    import json

    from browser.driver import ACTIVE, NotebookPage
    from browser.server import start_lab

    env = {**os.environ, "PYTHONPATH": str(wheel_site), "CRYSTAL_LAB_BENCHMARK": "",
           "CRYSTAL_LAB_NOTEBOOKS": str(NOTEBOOK_DIR)}
    which = subprocess.run([sys.executable, "-c",
                            "import crystal_lab; print(crystal_lab.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           check=False)
    assert str(wheel_site) in which.stdout, ("the kernel would import "
                                             f"{which.stdout or which.stderr}")
    facts = wheel_site / QUALITY_DATA
    assert facts.is_file(), f"the wheel ships no {QUALITY_DATA}"
    rate = f"{100 * json.loads(facts.read_text())['csp']['match_rate']:.1f}%"

    workspace = tmp_path / "workspace"
    start = subprocess.run([sys.executable, "-m", "crystal_lab.cli", "start", str(workspace),
                            "--dry-run"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, check=False)
    assert start.returncode == 0, start.stdout + start.stderr
    target = None
    for notebook in sorted(workspace.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        index = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"
                      and "quality_box()" in "".join(c["source"])), None)
        if index is not None:
            target = (notebook.name, index)
            break
    assert target, f"no notebook in the workspace {workspace} calls quality_box()"
    name, index = target

    server = start_lab(workspace, tmp_path / "state", {
        "PYTHONPATH": str(wheel_site), "CRYSTAL_LAB_BENCHMARK": "", "CRYSTAL_LAB_CI": "1",
        "CRYSTAL_LAB_NOTEBOOKS": str(NOTEBOOK_DIR),
        "CRYSTAL_LAB_DATA": os.environ.get("CRYSTAL_LAB_DATA", str(REPO.parent / "shared/data"))},
        timeout=START_TIMEOUT)
    page = NotebookPage(lab_browser, server, name, settle=SETTLE)
    try:
        page.open(START_TIMEOUT)
        cells = page.page.locator(f"{ACTIVE} .jp-Notebook .jp-Cell")
        cells.first.locator(".jp-InputPrompt").click()    # command mode on the first cell
        for _ in range(index + 1):                        # Shift+Enter: run, select the next
            page.page.keyboard.press("Shift+Enter")
            page.page.wait_for_timeout(150)
        page.wait_idle(TIMEOUT)
        box = cells.nth(index).locator(".jp-OutputArea-output").first.inner_text()
        _screenshot(page, "workspace_quality_box")
        assert rate in box and "not available" not in box, (
            f"{name} cell {index + 1}: the quality box says {box[:300]!r}; expected the "
            f"shipped model's measured match rate {rate} (from {QUALITY_DATA})")
        # the cells below the box were not run on purpose
        problems = [p for p in page.problems(settle=5) if "never executed" not in p]
        assert not problems, _report(name, problems)
    finally:
        _write_log(page)
        page.close()
        server.stop()


# ------------------------------------------------------------------------ the score as arrows
# each visible plotly figure: its traces (type, name, number of points) and its drawn size
_FIGURE_TRACES = """root => [...root.querySelectorAll('.js-plotly-plot')]
  .filter(gd => gd.getBoundingClientRect().width > 1 && gd._fullData)
  .map(gd => ({width: gd.getBoundingClientRect().width, height: gd.getBoundingClientRect().height,
               traces: gd._fullData.map(t => ({type: t.type, name: t.name || '',
                 n: (t.x || []).filter(v => v !== null).length}))}))"""


@pytest.mark.browser
def test_score_arrows_draw(open_notebook):
    """The score figure (``crystal_lab.view.score_figure``) renders in the browser: a drawn 3D
    scene with one arrow per atom (line segments and cone heads) and the atoms before and after
    the step."""
    from browser.driver import ACTIVE

    page = open_notebook("fixtures/views_score.ipynb")
    page.run_all(TIMEOUT)
    problems = page.problems()
    _screenshot(page, "fixture_views_score")
    assert not problems, _report("views_score.ipynb", problems)
    figures = page.page.locator(f"{ACTIVE} .jp-Notebook").first.evaluate(_FIGURE_TRACES)
    assert len(figures) == 1, f"expected the score figure: {figures}"
    (figure,) = figures
    kinds = [t["type"] for t in figure["traces"]]
    assert "cone" in kinds, f"no cone (arrow head) trace: {figure['traces']}"
    arrows = [t for t in figure["traces"] if t["type"] == "scatter3d" and "score" in t["name"]]
    assert arrows and arrows[0]["n"] == 2 * 5, (
        f"expected one line segment (2 points) per atom of the 5-atom cell: {figure['traces']}")
    markers = [t for t in figure["traces"] if t["type"] == "scatter3d" and t["n"] == 5]
    assert len(markers) >= 2, f"expected the atoms before and after the step: {figure['traces']}"
    assert figure["width"] >= 400 and figure["height"] >= 400, figure


# ------------------------------------------------------------- views after a reload and a reopen
# the structure views of the active notebook: each canvas's cell and its share of coloured pixels
def _view_colours(page) -> list[tuple[int, float]]:
    from browser import checks  # noqa: F401  (the package the canvases are judged by)
    from browser.driver import ACTIVE
    from browser.images import coloured_fraction

    canvases = page.page.locator(f"{ACTIVE} .jp-OutputArea-output canvas[data-engine^='three.js']")
    found = []
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        cell = canvas.evaluate(f"""c => [...document.querySelectorAll(
            '{ACTIVE} .jp-Notebook .jp-Cell')].indexOf(c.closest('.jp-Cell')) + 1""")
        canvas.scroll_into_view_if_needed()
        found.append((cell, coloured_fraction(canvas.screenshot())))
    return found


# a view "draws again" when it shows at least this share of the coloured pixels it showed at first
REDRAWN = 0.5


def _wait_redrawn(page, before: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The views' colours once each drew again (or after SETTLE seconds)."""
    deadline = time.monotonic() + SETTLE
    while True:
        after = _view_colours(page)
        again = len(after) == len(before) and all(
            a >= REDRAWN * b for (_, a), (_, b) in zip(after, before, strict=True))
        if again or time.monotonic() > deadline:
            return after
        time.sleep(1.0)


def _not_found(page) -> list[str]:
    """'model not found' in the page: widget error boxes and console errors."""
    from browser.driver import ACTIVE

    boxes = page.page.evaluate(f"""() => [...document.querySelectorAll(
        '{ACTIVE} .jp-OutputArea-output')].filter(o => o.innerText.includes('model not found'))
        .length""")
    console = [text for _kind, text in page.console if "model not found" in text]
    return [f"{boxes} output(s) say 'model not found'"] * bool(boxes) + console[:3]


def _redraw_problems(when: str, before, after) -> list[str]:
    if len(after) != len(before):
        return [f"{when}: {len(after)} 3D views on the page, {len(before)} before"]
    return [f"{when}: the view in cell {cell} drew {a:.3%} coloured pixels, {b:.3%} before"
            for (cell, a), (_, b) in zip(after, before, strict=True) if a < REDRAWN * b]


def _save(page, lab_server) -> dict:
    """Save the notebook (File > Save Notebook, else Ctrl+S in the notebook: a keystroke can
    land outside it); returns the saved file (the contents API's) once it holds the outputs."""
    from browser.driver import ACTIVE

    def menu():
        page.page.locator(".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('File'))").click()
        page.page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Save Notebook'))"
                          ).click()

    def keys():
        page.page.keyboard.press("Escape")
        page.page.locator(f"{ACTIVE} .jp-Cell .jp-InputPrompt").first.click()
        page.page.keyboard.press("Control+s")

    for attempt in (menu, keys, menu):
        attempt()
        deadline = time.monotonic() + SETTLE / 2
        while time.monotonic() < deadline:
            try:
                saved = lab_server.api(f"/api/contents/{page.path}")["content"]
            except urllib.error.HTTPError as err:
                if err.code != 400:   # 400: read while the save was writing the file
                    raise
                saved = {"cells": []}
            if any(cell.get("outputs") for cell in saved["cells"]):
                return saved
            time.sleep(0.5)
    raise AssertionError(f"{page.path}: no outputs in the saved notebook after Save")


@pytest.mark.browser
def test_views_survive_reload_and_reopen(lab_browser, lab_server):
    """A student reloads the page with the kernel running, then reopens the saved notebook with
    a new kernel: every 3D view (a structure, a slider over two, a played trajectory, nglview's
    own view) draws again and no widget says "model not found" (a finished progress bar
    included: tqdm alone closes its widget, crystal_lab.progress hides it). The shipped
    JupyterLab setting (jupyter-settings/crystal-lab.json) saves the widget state with the
    notebook; each FrameViewer's replay archive ends with a message that rebuilds its stage."""
    from browser.driver import ACTIVE, NotebookPage

    path = "fixtures/views_reload.ipynb"
    page = NotebookPage(lab_browser, lab_server, path, settle=SETTLE)
    try:
        page.open(START_TIMEOUT)
        page.run_all(TIMEOUT)
        assert not page.problems(), _report(path, page.problems(settle=1))
        before = _view_colours(page)
        _screenshot(page, "fixture_views_first")
        assert len(before) == 3 and all(b > 0 for _, b in before), f"views at first: {before}"
        saved = _save(page, lab_server)
        state = saved["metadata"].get("widgets", {}).get(
            "application/vnd.jupyter.widget-state+json", {}).get("state", {})
        assert any(s.get("model_name") == "NGLModel" for s in state.values()), (
            "the saved notebook holds no widget state: is saveState on "
            "(@jupyter-widgets/jupyterlab-manager:plugin, jupyter-settings/crystal-lab.json)?")
        page.console.clear()
        page.page.reload()
        page.page.wait_for_selector(f"{ACTIVE} .jp-Notebook .jp-Cell", timeout=START_TIMEOUT * 1000)
        reloaded = _wait_redrawn(page, before)
        _screenshot(page, "fixture_views_reload")
        problems = _redraw_problems("after a reload", before, reloaded) + _not_found(page)
        _write_log(page)
        page.context.close()
        lab_server.shutdown_kernels()   # the student comes back later: a new kernel
        page = NotebookPage(lab_browser, lab_server, path, settle=SETTLE)
        page.open(START_TIMEOUT, reset=False)
        reopened = _wait_redrawn(page, before)
        _screenshot(page, "fixture_views_reopen")
        problems += _redraw_problems("after a reopen", before, reopened) + _not_found(page)
        print(f"coloured pixels per view: first {before}, reloaded {reloaded}, "
              f"reopened {reopened}")
        assert not problems, _report(path, problems)
    finally:
        _write_log(page)
        page.close()


# ------------------------------------------------------------------ figures for a projector
# every rendered text of each visible plotly figure, with its kind and box (px), and the toolbar
_FIGURE_TEXTS = """root => [...root.querySelectorAll('.js-plotly-plot')]
  .filter(gd => gd.getBoundingClientRect().width > 1 && gd._fullLayout)
  .map(gd => {
    const box = e => { const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
    const kind = t => t.closest('.textpoint') ? 'label' : t.closest('.legend') ? 'legend'
      : t.closest('.g-gtitle') ? 'title' : t.closest('.colorbar') ? 'colorbar'
      : t.closest('.xtick, .x2tick') ? 'xtick' : 'axis';
    const texts = [...gd.querySelectorAll('svg text')]
      .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
      .map(t => ({text: t.textContent.trim().slice(0, 50), kind: kind(t), box: box(t)}));
    const bar = gd.querySelector('.modebar');
    return {texts, modebar: bar ? box(bar) : null,
            kind: gd._fullLayout.ternary ? 'ternary' : (gd._fullLayout.scene ? '3d' : '2d'),
            width: gd.getBoundingClientRect().width, height: gd.getBoundingClientRect().height};
  })"""


def _overlaps(p, q, tolerance: float = 1.0) -> bool:
    return (min(p[2], q[2]) - max(p[0], q[0]) > tolerance
            and min(p[3], q[3]) - max(p[1], q[1]) > tolerance)


def _text_problems(figure: dict, name: str) -> list[str]:
    """Labels covering any other text (label, legend, colour bar, title), the title under the
    toolbar or the legend."""
    problems = []
    texts = figure["texts"]
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            pair = {a["kind"], b["kind"]}
            if ("label" in pair or pair <= {"title", "legend", "colorbar"}) and \
                    _overlaps(a["box"], b["box"]):
                problems.append(f"{name}: {a['kind']} {a['text']!r} overlaps "
                                f"{b['kind']} {b['text']!r}")
    if figure["modebar"]:
        problems += [f"{name}: the title {t['text']!r} runs under the toolbar"
                     for t in texts if t["kind"] == "title"
                     and _overlaps(t["box"], figure["modebar"])]
    return problems


@pytest.mark.browser
def test_figures_fit_a_projector(open_notebook):
    """The hull (a Ba-O-Ti ternary with close Ti-O phases and 23 generated structures), the
    quality-against-steps figure and the score figure, as drawn in JupyterLab: the hull's
    triangle at least 600 px wide, no label over another text or the colour bar, titles clear of
    the toolbar, readable log ticks (one per measured step count), the score's element legend."""
    from browser.driver import ACTIVE

    page = open_notebook("fixtures/views_projector.ipynb")
    page.run_all(TIMEOUT)
    problems = page.problems()
    notebook = page.page.locator(f"{ACTIVE} .jp-Notebook").first
    figures = notebook.evaluate(_FIGURE_TEXTS)
    areas = notebook.evaluate(_PLOT_AREAS)
    _screenshot(page, "fixture_views_projector")
    assert not problems, _report("views_projector.ipynb", problems)
    assert [f["kind"] for f in figures] == ["ternary", "2d", "3d"], figures
    hull, steps, score = figures
    assert areas[0]["width"] >= 600 and areas[0]["height"] >= 500, areas[0]
    labels = [t["text"] for t in hull["texts"] if t["kind"] == "label"]
    phases = {re.sub(r" \(#.*\)$", "", t) for t in labels}
    assert {"TiO", "Ti2O3", "TiO2", "BaTiO3", "BaO"} <= phases, labels
    picked = re.findall(r"#\d+", " ".join(labels))
    assert 1 <= len(picked) <= 3, labels   # the picked ones; the other 20 on hover
    colourbar = [t for t in hull["texts"] if t["kind"] == "colorbar"]
    assert colourbar, "no colour bar text"
    ticks = [t["text"] for t in steps["texts"] if t["kind"] == "xtick"]
    assert ticks == ["5", "10", "20", "50"], ticks   # one per measured step count, no "6 7 8 9"
    assert steps["width"] >= 800 and score["width"] >= 600 and score["height"] >= 480
    legend = {t["text"] for t in score["texts"] if t["kind"] == "legend"}
    assert {"Ba", "Ti", "O"} & legend or any("masked" in t for t in legend), legend
    problems = []
    for name, figure in zip(("hull", "quality against steps", "score"), figures, strict=True):
        problems += _text_problems(figure, name)
    print(f"hull plot area {areas[0]['width']:.0f}x{areas[0]['height']:.0f} px, "
          f"{len(hull['texts'])} texts; labels {labels}")
    assert not problems, "\n".join(problems)
