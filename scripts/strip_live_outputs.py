"""Strip the outputs of notebooks that need a live kernel: stored plotly figures, widget views
and saved widget state. Text, images and cell attachments stay (nbval compares the text).

    python scripts/strip_live_outputs.py notebooks/*.ipynb      # rewrites the files that change

The pre-commit hook in .pre-commit-config.yaml runs it on every committed notebook; it exits 1
when it changed a file (so the commit stops and the stripped file can be added), else 0.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

#: output types that mean nothing without a live kernel or plotly.js
LIVE_ONLY = ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json",
             "application/vnd.jupyter.widget-state+json")


def is_live_only(output: dict) -> bool:
    data = output.get("data", {})
    html = "".join(data.get("text/html", ""))
    return (
        any(k in data for k in LIVE_ONLY) or "Plotly.newPlot" in html or "plotly.js" in html.lower()
    )


def strip(nb: dict) -> dict:
    """``nb`` without live-only outputs and without ``metadata.widgets``."""
    nb = {**nb, "metadata": {k: v for k, v in nb.get("metadata", {}).items() if k != "widgets"}}
    cells = []
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell = {**cell, "outputs": [o for o in cell["outputs"] if not is_live_only(o)]}
        cells.append(cell)
    nb["cells"] = cells
    return nb


def main(paths: list[str]) -> int:
    changed = []
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        stripped = strip(nb)
        if stripped != nb:
            path.write_text(
                json.dumps(stripped, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            changed.append(path)
    for path in changed:
        print(f"stripped live-only outputs from {path}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
