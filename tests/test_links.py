"""Launch links and notebook hygiene.

Broken Binder/Colab badges (links to renamed files) are the commonest failure of workshop repos:
every Binder, Colab and GitHub link in README.md, docs/*.md and notebooks/*.ipynb must name this
repository, the branch, and a file that exists. Notebooks must carry no machine-specific
kernelspec name and no saved widget state, and stay small.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: used until pyproject.toml names the repository in [project.urls] Repository
FALLBACK_REPOSITORY = "https://github.com/crystal-lab/crystal_lab"
BRANCH = "main"
MAX_NOTEBOOK_BYTES = 1_000_000


def repository_slug() -> str:
    """``owner/name`` of the public GitHub repository (pyproject's [project.urls] Repository)."""
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("urls", {})
    url = urls.get("Repository", FALLBACK_REPOSITORY)
    parts = urlsplit(url)
    assert parts.netloc == "github.com", f"Repository URL {url} is not on github.com"
    return parts.path.strip("/").removesuffix(".git")


SLUG = repository_slug()

BINDER = re.compile(r"https?://mybinder\.org/v2/gh/([\w.-]+)/([\w.-]+)/([^/?\s)\"'<>]+)"
                    r"(\?[^\s)\"'<>]*)?")
COLAB = re.compile(r"https?://colab\.research\.google\.com/github/([\w.-]+)/([\w.-]+)/blob/"
                   r"([^/\s]+)/([^\s)\"'<>?#]+)")
GITHUB = re.compile(r"https?://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?"
                    r"(?:/(?:blob|tree)/([^/\s]+)/([^\s)\"'<>?#]+))?(?=[\s)\"'<>?#@]|$)")


def text_of(path: Path) -> str:
    """The text to search for links: a markdown file, or all cell sources of a notebook."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []))
    return path.read_text()


def binder_targets(query: str) -> list[str]:
    """Repository paths a Binder link opens (``labpath``, ``filepath``,
    ``urlpath=lab/tree/...``)."""
    params = parse_qs(html.unescape(query or "").lstrip("?"))
    targets = params.get("labpath", []) + params.get("filepath", [])
    for urlpath in params.get("urlpath", []):
        urlpath = unquote(urlpath).lstrip("/")
        match = re.match(r"(?:lab/tree|tree|notebooks|edit|lab/workspaces/[^/]+/tree)/(.+)",
                         urlpath)
        if match:
            targets.append(match.group(1))
    return [unquote(t).split("?")[0] for t in targets]


def links(path: Path) -> list[tuple[str, str, str, str | None]]:
    """(kind, slug, branch, target path or None) for every launch/GitHub link in ``path``."""
    text = text_of(path)
    found = []
    for owner, name, ref, query in BINDER.findall(text):
        targets = binder_targets(query) or [None]
        found += [("binder", f"{owner}/{name}", ref, t) for t in targets]
    for owner, name, ref, target in COLAB.findall(text):
        found.append(("colab", f"{owner}/{name}", ref, target))
    for owner, name, ref, target in GITHUB.findall(text):
        if f"{owner}/{name}".lower() == SLUG.lower() or owner == SLUG.split("/")[0]:
            found.append(("github", f"{owner}/{name}", ref or BRANCH, target or None))
    return found


def link_problems(path: Path) -> list[str]:
    """Every link in ``path`` that names another repository or branch, or a missing file."""
    problems = []
    for kind, slug, ref, target in links(path):
        where = f"{path.name}: {kind} link to {slug}@{ref}:{target}"
        if slug != SLUG:
            problems.append(f"{where}: the repository is {SLUG}")
        elif ref != BRANCH:
            problems.append(f"{where}: the branch is {BRANCH}")
        elif target is not None and not (REPO / target).exists():
            problems.append(f"{where}: {target} does not exist in the repository")
    return problems


@pytest.mark.parametrize("path", [*DOCS, *NOTEBOOKS], ids=lambda p: str(p.relative_to(REPO)))
def test_launch_links_point_at_files_that_exist(path):
    assert path.exists(), f"{path.relative_to(REPO)} is missing"
    assert link_problems(path) == []


def test_readme_has_a_binder_link_that_opens_a_notebook():
    targets = [t for kind, _, _, t in links(REPO / "README.md") if kind == "binder"]
    assert targets, "README.md needs a Binder launch link (badge)"
    assert any(t and t.endswith(".ipynb") for t in targets), (
        "README's Binder link should open a notebook, e.g. "
        "?urlpath=lab/tree/notebooks/00_welcome.ipynb")


def test_instructor_guide_links_the_same_binder_as_readme():
    readme = {t for kind, _, _, t in links(REPO / "README.md") if kind == "binder"}
    guide = {t for kind, _, _, t in links(REPO / "docs" / "instructor.md") if kind == "binder"}
    assert guide & readme, (
        f"docs/instructor.md Binder targets {guide} should match README's {readme}")


def test_instructor_guide_names_the_real_unlock_switches():
    from crystal_lab.exercises import INSTRUCTOR_ENV, INSTRUCTOR_FILE

    guide = (REPO / "docs" / "instructor.md").read_text()
    assert f"{INSTRUCTOR_ENV}=1" in guide
    assert str(INSTRUCTOR_FILE) in guide


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_in_colab_from_its_own_link(nb_path):
    rel = str(nb_path.relative_to(REPO))
    colab = [t for kind, _, _, t in links(nb_path) if kind == "colab"]
    assert rel in colab, f"{rel} needs an 'Open in Colab' link to itself ({colab or 'none'})"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_metadata_is_portable(nb_path):
    assert nb_path.stat().st_size < MAX_NOTEBOOK_BYTES, (
        f"{nb_path.name} is {nb_path.stat().st_size / 1e6:.1f} MB: clear large outputs")
    nb = json.loads(nb_path.read_text())
    kernelspec = nb.get("metadata", {}).get("kernelspec")
    if kernelspec is not None:
        assert kernelspec.get("name") == "python3", (
            f"{nb_path.name}: kernelspec name {kernelspec.get('name')!r} is machine-specific; "
            "use 'python3'")
    assert "widgets" not in nb.get("metadata", {}), (
        f"{nb_path.name} carries saved widget state (metadata.widgets): clear it before committing")
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            assert "application/vnd.jupyter.widget-state+json" not in out.get("data", {}), (
                f"{nb_path.name} cell {i}: saved widget state in an output")


def test_link_parser_finds_and_checks_links(tmp_path):
    """The checker itself: every link form is understood, and a badge to a missing file, a
    wrong branch or another repository is caught."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        f"[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/{SLUG}/"
        f"{BRANCH}?urlpath=lab%2Ftree%2FREADME.md)\n"
        f"<a href=\"https://mybinder.org/v2/gh/{SLUG}/{BRANCH}?labpath=notebooks/gone.ipynb&amp;a=1\">\n"
        f"https://colab.research.google.com/github/{SLUG}/blob/{BRANCH}/pyproject.toml\n"
        f"pip install git+https://github.com/{SLUG}.git@{BRANCH}\n"
        f"https://github.com/{SLUG}/blob/dev/README.md\n"
        f"https://colab.research.google.com/github/someone/else/blob/{BRANCH}/README.md\n"
        "https://github.com/someone/else\n")
    assert links(doc) == [
        ("binder", SLUG, BRANCH, "README.md"),
        ("binder", SLUG, BRANCH, "notebooks/gone.ipynb"),
        ("colab", SLUG, BRANCH, "pyproject.toml"),
        ("colab", "someone/else", BRANCH, "README.md"),
        ("github", SLUG, BRANCH, None),
        ("github", SLUG, "dev", "README.md"),
    ]
    assert link_problems(doc) == [
        (f"doc.md: binder link to {SLUG}@{BRANCH}:notebooks/gone.ipynb: "
         "notebooks/gone.ipynb does not exist in the repository"),
        f"doc.md: colab link to someone/else@{BRANCH}:README.md: the repository is {SLUG}",
        f"doc.md: github link to {SLUG}@dev:README.md: the branch is {BRANCH}",
    ]


# ------------------------------------------------------ committed notebooks: no live-only outputs
#: output types that need a live kernel or plotly.js to mean anything: on GitHub, or in a notebook
#: opened before running, they show a widget repr or nothing; the committed notebook stays clean
LIVE_ONLY_OUTPUTS = (
    "application/vnd.plotly.v1+json",             # a stored plotly figure (large, stale)
    # a widget view: "VBox(children=..." without a kernel
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",  # saved widget state
)


def live_only_outputs(nb: dict) -> list[str]:
    """Where a notebook stores plotly figures, widget views or widget state (cell attachments,
    images and text are fine)."""
    problems = []
    if "widgets" in nb.get("metadata", {}):
        problems.append("metadata.widgets: saved widget state")
    for i, cell in enumerate(nb.get("cells", []), start=1):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            kinds = [k for k in LIVE_ONLY_OUTPUTS if k in data]
            html_text = "".join(data.get("text/html", ""))
            if "Plotly.newPlot" in html_text or "plotly.js" in html_text.lower():
                kinds.append("text/html with an embedded plotly figure")
            problems += [f"cell {i}: {kind}" for kind in kinds]
    return problems


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_plotly_or_widget_outputs(nb_path):
    problems = live_only_outputs(json.loads(nb_path.read_text()))
    assert not problems, (f"{nb_path.name} stores outputs that need a live kernel "
                          f"(clear them before committing): {problems[:8]}")


def test_live_only_output_check_catches_each_kind():
    def output(data):
        return {"output_type": "display_data", "data": data, "metadata": {}}

    attachment = {"image/png": "iVBORw0KGgo="}
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [
        {"cell_type": "markdown", "source": "![x](attachment:x.png)",
         "attachments": {"x.png": attachment}},
        {"cell_type": "code", "outputs": [output({"image/png": "iVBORw0KGgo=",
                                                  "text/plain": "<Figure>"})]},
        {"cell_type": "code", "outputs": [output({"application/vnd.plotly.v1+json": {},
                                                  "text/html": "<div></div>"})]},
        {"cell_type": "code", "outputs": [output({
            "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
            "text/plain": "VBox(children=(HBox(...)))"})]},
        {"cell_type": "code", "outputs": [output({
            "text/html": "<script>Plotly.newPlot('id', [])</script>"})]},
        {"cell_type": "code", "outputs": [output({
            "application/vnd.jupyter.widget-state+json": {}})]},
    ]}
    assert live_only_outputs(nb) == [
        "metadata.widgets: saved widget state",
        "cell 3: application/vnd.plotly.v1+json",
        "cell 4: application/vnd.jupyter.widget-view+json",
        "cell 5: text/html with an embedded plotly figure",
        "cell 6: application/vnd.jupyter.widget-state+json",
    ]
    nb["metadata"] = {}
    nb["cells"] = nb["cells"][:2]
    assert live_only_outputs(nb) == []
