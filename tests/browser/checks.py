"""What "the notebook works in the browser" means, as checks that return problems (strings).

Each check looks at the page after all cells ran and returns one line per problem, naming the
cell (1-based, as JupyterLab's status bar counts) so a failure says where to look:
- errors: a cell's error / traceback output, or an error the kernel sent anywhere (a widget
  callback's exception lands in JupyterLab's Log Console, not in a cell);
- cells that never executed (Run All stops at the first error);
- widget-manager errors in the browser console (a frontend that did not register, a model
  class that did not load) and widgets shown as the widget manager's error box;
- widget canvases (nglview's three.js view) that drew nothing: uniform pixels;
- ipywidgets controls the kernel displayed but the page does not show;
- plotly figures without a rendered SVG trace or a drawn WebGL canvas.
"""

from __future__ import annotations

import re

from .images import drawn_fraction
from .kernel_log import KernelLog

# Messages of @jupyter-widgets/base's manager and jupyterlab-manager when a widget cannot be
# built (e.g. "Module nglview-js-widgets, version 4.0 is not registered, however, 3.1.5 is").
WIDGET_CONSOLE_ERRORS = (
    "is not registered", "No version of module", "no comm channel", "Could not create a model",
    "Could not create view", "Failed to load model class", "Failed to create view",
    "Error creating widget", "Could not find a comm", "not found in module",
    "widget model not found", "Error displaying widget",
)

# ipywidgets 8 model name -> a CSS class its view always carries (from the rendered DOM)
CONTROL_SELECTORS = {
    "ButtonModel": ".widget-button", "TextModel": ".widget-text",
    "TextareaModel": ".widget-textarea", "IntSliderModel": ".widget-slider",
    "FloatSliderModel": ".widget-slider", "FloatLogSliderModel": ".widget-slider",
    "IntRangeSliderModel": ".widget-slider", "FloatRangeSliderModel": ".widget-slider",
    "DropdownModel": ".widget-dropdown", "CheckboxModel": ".widget-checkbox",
    "IntProgressModel": ".widget-hprogress, .widget-vprogress",
    "FloatProgressModel": ".widget-hprogress, .widget-vprogress", "HTMLModel": ".widget-html",
    "NGLModel": "canvas[data-engine^='three.js']",
}

# last line of an exception report, e.g. "ZeroDivisionError: division by zero"
_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception)\b")

# A canvas counts as drawn when at least this share of its pixels differ from its commonest one
# (a blank WebGL canvas: 0; nglview showing two atoms in a 1100x300 view: about 0.002).
MIN_DRAWN_FRACTION = 0.0005

_CELL_STATE_JS = """() => {
  const cells = [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')];
  return cells.map((cell, i) => {
    const code = cell.classList.contains('jp-CodeCell');
    const prompt = code ? (cell.querySelector('.jp-InputArea-prompt')?.textContent || '') : '';
    const source = cell.querySelector('.cm-content')?.innerText || '';
    const stderr = [...cell.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(o => o.innerText);
    // the error box shows its message only once clicked: the console errors carry it
    const widgetErrors = [...cell.querySelectorAll('.jupyter-widgets-error-widget')]
        .map(o => '').concat(
          [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText.trim())
            .filter(t => t.startsWith('Error displaying widget')));
    return {index: i + 1, code, prompt: prompt.trim(), empty: source.trim() === '',
            stderr, widgetErrors};
  });
}"""

_PLOTLY_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell .js-plotly-plot')].map(el => {
  const cells = [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')];
  return {cell: cells.indexOf(el.closest('.jp-Cell')) + 1,
          svg: !!el.querySelector('svg.main-svg'),
          traces: el.querySelectorAll('svg .trace, svg .point, svg image, svg .hm').length,
          canvases: el.querySelectorAll('canvas').length,
          nData: (el.data || []).length};
})"""


def cell_problems(page) -> list[str]:
    """Error outputs, widget error boxes, and code cells without an execution count."""
    problems = []
    for cell in page.evaluate(_CELL_STATE_JS):
        where = f"cell {cell['index']}"
        for text in cell["stderr"]:  # JupyterLab renders error outputs with this mime type too
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if lines and ("Traceback" in text or _ERROR_LINE.match(lines[-1])):
                problems.append(f"{where}: error output: {lines[-1][:200]}")
        for text in cell["widgetErrors"]:
            reason = text[:120] or "its frontend did not load: see the browser console errors"
            problems.append(f"{where}: widget shown as an error box ({reason})")
        if cell["code"] and not cell["empty"] and not cell["prompt"][1:-2].strip().isdigit():
            problems.append(f"{where}: never executed (prompt {cell['prompt'] or 'empty'!r})")
    return problems


def kernel_problems(log: KernelLog) -> list[str]:
    """Errors the kernel sent (cells and widget callbacks alike)."""
    return [f"kernel error: {line}" for line in log.errors]


def console_problems(console: list[tuple[str, str]]) -> list[str]:
    """Widget-manager errors among the browser console messages ``(type, text)``."""
    problems = []
    for kind, text in console:
        if kind in ("error", "warning", "pageerror") and any(
                pattern.lower() in text.lower() for pattern in WIDGET_CONSOLE_ERRORS):
            first_line = " ".join(text.splitlines()[0].split())
            problems.append(f"browser console {kind}: {first_line[:240]}")
    return problems


def control_problems(page, log: KernelLog) -> list[str]:
    """Every kind of control the kernel displayed must be on the page."""
    problems = []
    root = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
    for model in sorted(log.displayed_models()):
        selector = CONTROL_SELECTORS.get(model)
        if selector is None:
            continue
        scoped = ", ".join(f"{root} {part.strip()}" for part in selector.split(","))
        if page.locator(scoped).count() == 0:
            problems.append(f"the kernel displayed a {model} but the page shows no {selector}")
    return problems


def canvas_problems(page) -> tuple[list[str], int]:
    """Widget canvases (outside plotly figures) that drew nothing. Returns (problems, n_drawn)."""
    problems, n_drawn = [], 0
    root = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
    canvases = page.locator(f"{root} .jp-OutputArea-output canvas")
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        info = canvas.evaluate("""c => {
            const cells = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')];
            const r = c.getBoundingClientRect();
            return {cell: cells.indexOf(c.closest('.jp-Cell')) + 1,
                    plotly: !!c.closest('.js-plotly-plot'),
                    w: r.width, h: r.height, engine: c.dataset.engine || 'canvas'};
        }""")
        if info["plotly"]:
            continue  # judged with its figure in plotly_problems
        if info["w"] < 2 or info["h"] < 2:
            continue  # not on screen (a closed tab or accordion): nothing a student sees
        fraction = drawn_fraction(canvas.screenshot())
        if fraction < MIN_DRAWN_FRACTION:
            problems.append(f"cell {info['cell']}: {info['engine']} canvas "
                            f"{info['w']:.0f}x{info['h']:.0f} drew nothing "
                            f"({fraction:.2%} non-background pixels)")
        else:
            n_drawn += 1
    return problems, n_drawn


def plotly_problems(page) -> list[str]:
    """Plotly figures must have an SVG with trace elements, or a WebGL canvas that drew."""
    problems = []
    figures = page.evaluate(_PLOTLY_JS)
    handles = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell .js-plotly-plot")
    for i, figure in enumerate(figures):
        where = f"cell {figure['cell']}: plotly figure {i + 1}"
        if not figure["svg"]:
            problems.append(f"{where} has no svg.main-svg (not rendered)")
            continue
        if figure["traces"] > 0 or figure["nData"] == 0:
            continue
        canvases = handles.nth(i).locator("canvas")
        drawn = False
        for j in range(canvases.count()):
            box = canvases.nth(j).bounding_box()
            if box and box["width"] >= 2 and box["height"] >= 2 and \
                    drawn_fraction(canvases.nth(j).screenshot()) >= MIN_DRAWN_FRACTION:
                drawn = True
                break
        if not drawn:
            problems.append(f"{where}: {figure['nData']} trace(s) but no SVG trace and no "
                            f"drawn WebGL canvas ({figure['canvases']} canvases)")
    return problems
