"""Shared test set-up.

* ``CRYSTAL_LAB_DATA`` defaults to ``../shared/data`` beside the checkout (the reference data
  that developers and CI have there; it is never copied into the repository). It is set at
  import time, before any kernel starts, so nbval's notebook kernels inherit it too.
* nbval: outputs that can never match between runs are left out of the comparison
  (``NBVAL_SKIP_COMPARE``) by extending nbval's ``skip_compare`` from a ``conftest.py``, the
  way nbval's documentation (https://nbval.readthedocs.io) shows. Everything else is
  compared strictly after ``tests/nbval_sanitize.cfg`` has masked addresses, timings and ids.
* Committed notebooks store no widget views, widget state or plotly figures
  (tests/test_links.py). An output that carries one (``LIVE_ONLY``) is left out of the
  comparison whole, with its text/plain fallback; a stored text/plain-only output that is
  exactly such a fallback (the widget's one sentence, kept for readers without a kernel) is left
  out with it. So a notebook stripped either way (the live keys only, or those outputs whole)
  passes, and every other output is still compared.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

os.environ.setdefault("CRYSTAL_LAB_DATA", str((REPO.parent / "shared" / "data").resolve()))

#: output keys nbval must not compare, each for a reason that holds on every run
NBVAL_SKIP_COMPARE = (
    "text/html",                                  # plotly embeds a random div id in its HTML
    "application/javascript",                     # widget / plotly loaders, not content
    "application/vnd.jupyter.widget-view+json",   # widget model ids are random
    "application/vnd.jupyter.widget-state+json",  # saved widget state (never committed anyway)
    "application/vnd.plotly.v1+json",             # full-precision floats: last digits vary by CPU
    "stderr",                                     # tqdm bars, timings and warnings
)

#: output keys that only a live kernel or plotly.js can show
LIVE_ONLY = frozenset({
    "application/vnd.plotly.v1+json",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
})


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def comparable_outputs(test: list, ref: list) -> tuple[list, list]:
    """``(test, ref)`` without live-only outputs and without stored copies of their text."""
    live = [out for out in test if LIVE_ONLY.intersection(out.get("data", {}))]
    fallbacks = {_text(out["data"].get("text/plain", "")) for out in live}
    test = [out for out in test if out not in live]
    ref = [out for out in ref
           if not LIVE_ONLY.intersection(out.get("data", {}))
           and not (set(out.get("data", {})) == {"text/plain"}
                    and _text(out["data"]["text/plain"]) in fallbacks)]
    return test, ref


def _compare_comparable(compare):
    def compare_outputs(test, ref, skip_compare=None):
        return compare(*comparable_outputs(test, ref), skip_compare)
    return compare_outputs


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "course: a course notebook run in the browser (make browser-course; "
                   "make test leaves it out: nbval runs the notebooks)")


def pytest_ignore_collect(collection_path, config):
    """Notebooks under ``tests/`` are fixtures of other tests (some broken on purpose), not
    lessons: nbval runs only the course notebooks."""
    if collection_path.suffix == ".ipynb" and TESTS in collection_path.parents:
        return True
    return None


def pytest_collection_modifyitems(session, config, items):
    """Add ``NBVAL_SKIP_COMPARE`` to every collected notebook's ``skip_compare``, and compare
    each cell's ``comparable_outputs``.

    This hook (unlike ``pytest_collectstart``) sees the notebooks wherever they live, not only
    under ``tests/``: it runs once for the whole session after collection, before any cell.
    """
    seen = set()
    for item in items:
        if callable(getattr(item, "compare_outputs", None)) and hasattr(item, "cell"):
            item.compare_outputs = _compare_comparable(item.compare_outputs)
        nb = item.parent
        if id(nb) in seen or not hasattr(nb, "skip_compare"):
            continue
        seen.add(id(nb))
        nb.skip_compare = tuple(nb.skip_compare) + tuple(
            k for k in NBVAL_SKIP_COMPARE if k not in nb.skip_compare)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's top folder."""
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The reference data folder (``$CRYSTAL_LAB_DATA``); fails loudly when it is missing,
    because a silently skipped data test is a test that never runs in CI."""
    path = Path(os.environ["CRYSTAL_LAB_DATA"])
    if not path.is_dir():
        pytest.fail(f"CRYSTAL_LAB_DATA={path} does not exist: put the reference data there "
                    "(../shared/data beside the checkout) or set the variable")
    return path


@pytest.fixture
def nacl():
    """A two-atom rock-salt NaCl cell (ase.Atoms), built, not read from the data."""
    from ase.build import bulk

    return bulk("NaCl", "rocksalt", a=5.64)


@pytest.fixture
def batio3():
    """A five-atom cubic perovskite BaTiO3 cell (ase.Atoms)."""
    from ase import Atoms

    return Atoms("BaTiO3", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0),
                                             (0.5, 0, 0.5), (0, 0.5, 0.5)],
                 cell=[4.0, 4.0, 4.0], pbc=True)
