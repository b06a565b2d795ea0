"""Execute one course notebook and store it the way the repository keeps notebooks.

    python scripts/run_notebook.py notebooks/03_generate.ipynb            # CI size, written back
    python scripts/run_notebook.py notebooks/03_generate.ipynb --workshop # workshop size, timed
    only

At CI size (``CRYSTAL_LAB_CI=1``) the executed notebook is written back with its text outputs
(nbval compares them) and without what must not be committed (:func:`strip`): plotly figures,
widget views and saved widget state. A widget output keeps its one-sentence ``text/plain``, which
is what a reader without a kernel (GitHub, a reopened file) sees. At workshop size the notebook is
not changed: the wall time is printed (the README's time table) and the executed copy is written
to ``$TMPDIR/run_notebook/`` for reading.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

#: output data that is never committed (random ids, megabytes of figure JSON, dead widgets)
STRIPPED = ("application/vnd.jupyter.widget-view+json", "application/vnd.plotly.v1+json",
            "application/vnd.jupyter.widget-state+json")


#: Materials Project ids, as tests/nbval_sanitize.cfg writes them: a data row may be shown, its
#: id is never stored (no piece of the reference data is committed)
MATERIAL_ID = re.compile(r"\b(mp|mvc)-\d+\b")


def _scrub(text):
    if isinstance(text, list):
        return [MATERIAL_ID.sub("MATERIAL_ID", t) for t in text]
    return MATERIAL_ID.sub("MATERIAL_ID", text) if isinstance(text, str) else text


def strip(nb: nbformat.NotebookNode, timings: bool = False) -> nbformat.NotebookNode:
    """Remove plotly figures, widget views and widget state from ``nb`` (in place). A widget
    output keeps its one-sentence ``text/plain`` (what a reader without a kernel sees, and what
    nbval compares); an output left with no data goes, and so do the cells' execution
    timestamps (noise in every diff) unless ``timings``. Materials Project ids in text become
    ``MATERIAL_ID``. Attachments stay."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not timings:
            cell.metadata.pop("execution", None)
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None:
                for key in STRIPPED:
                    data.pop(key, None)
                if not data:
                    continue
                if set(data) == {"text/html"} and "plotly" in "".join(data["text/html"]).lower():
                    continue
            if "text" in out:
                out["text"] = _scrub(out["text"])
            for key in ("text/plain", "text/html", "text/markdown"):
                if data is not None and key in data:
                    data[key] = _scrub(data[key])
            kept.append(out)
        cell.outputs = kept
    return nb


def run(path: Path, workshop: bool = False, timeout: int = 1800) -> float:
    """Execute ``path`` in its folder; return the wall time in seconds."""
    from nbclient import NotebookClient

    os.environ["CRYSTAL_LAB_CI"] = "0" if workshop else "1"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    if workshop:
        out = Path(tempfile.gettempdir()) / "run_notebook" / path.name
        out.parent.mkdir(exist_ok=True)
        nbformat.write(strip(nb, timings=True), out)
        print(f"executed copy: {out}", file=sys.stderr)
    else:
        nbformat.write(strip(nb), path)
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--workshop", action="store_true",
                        help="workshop defaults; timed, the file is not changed")
    parser.add_argument("--timeout", type=int, default=1800, help="per cell, seconds")
    parser.add_argument("--strip-only", action="store_true", help="strip, do not execute")
    args = parser.parse_args(argv)
    if args.strip_only:
        nbformat.write(strip(nbformat.read(args.notebook, as_version=4)), args.notebook)
        return 0
    wall = run(args.notebook.resolve(), workshop=args.workshop, timeout=args.timeout)
    size = "workshop" if args.workshop else "CI"
    print(f"{args.notebook.name}: {wall:.0f} s at {size} size", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
