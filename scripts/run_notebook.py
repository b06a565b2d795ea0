"""Execute one course notebook and store it the way the repository keeps notebooks.

    python scripts/run_notebook.py notebooks/03_generate.ipynb            # CI size, written back
    python scripts/run_notebook.py notebooks/03_generate.ipynb --workshop # workshop size, timed only

At CI size (``CRYSTAL_LAB_CI=1``) the executed notebook is written back with its text outputs
(nbval compares them) and without what must not be committed (:func:`strip`, the pre-commit
hook's rule): plotly figures, widget views and saved widget state. At workshop size the notebook is
not changed: the wall time is printed (the README's time table) and the executed copy is written
to ``$TMPDIR/run_notebook/`` for reading.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat


def _strip_live_outputs():
    """``scripts/strip_live_outputs.py``'s ``strip`` (the pre-commit hook's), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "strip_live_outputs", Path(__file__).with_name("strip_live_outputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.strip


def strip(nb: nbformat.NotebookNode, timings: bool = False) -> nbformat.NotebookNode:
    """``nb`` as the pre-commit hook stores it (no plotly figures, widget views or widget state:
    a widget output goes whole, its text fallback too, and nbval leaves such outputs out of the
    comparison), and without the cells' execution timestamps (noise in every diff) unless
    ``timings``. Attachments (pictures of workshop-size results) stay."""
    nb = nbformat.from_dict(_strip_live_outputs()(nb))
    if not timings:
        for cell in nb.cells:
            cell.get("metadata", {}).pop("execution", None)
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
