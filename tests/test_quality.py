"""The "How good is this model?" box reads the shipped model's facts file: nothing about the
model is hard-coded, so a new file changes the box, and the file is package data, so a copy of
the package installed from a wheel shows the same numbers outside the source checkout."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crystal_lab.view.quality import (
    ANCHORS,
    RANDOM_SEARCH,
    default_results_path,
    load_quality,
    quality_box,
)


def _write(tmp_path, rate, n=1000, steps=50, sv=0.9, cv=0.7):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"csp": {"match_rate": rate, "n": n, "steps": steps},
                                "generation": {"structural_validity": sv,
                                               "compositional_validity": cv}}))
    return path


def test_box_shows_the_file_numbers_floor_and_anchors(tmp_path):
    box = quality_box(_write(tmp_path, 0.2345, n=321, steps=17))
    md, html = box._repr_markdown_(), box._repr_html_()
    for text in (md, html):
        assert "23.4%" in text and "321 MP-20" in text and "17 steps" in text
        assert "8.7%" in text and "33.9%" in text and "51.5%" in text and "61.4%" in text
    assert "above random search but below" in md


def test_quality_line_follows_the_file(tmp_path, monkeypatch):
    from crystal_lab.view.quality import quality_line

    line = quality_line(_write(tmp_path, 0.2345, n=321))
    assert "23.4%" in line and "321 MP-20" in line and "8.7%" in line and "33.9%" in line
    assert "61.4%" in line and len(line.splitlines()) == 1
    assert "not available" in quality_line(tmp_path / "nope.json")
    monkeypatch.delenv("CRYSTAL_LAB_BENCHMARK", raising=False)
    assert "trained on MP-20 val" in quality_line()


def test_box_follows_the_file(tmp_path):
    low = str(quality_box(_write(tmp_path, 0.091)))
    assert "9.1%" in low and "about the level of random search" in low
    high = str(quality_box(_write(tmp_path, 0.55)))
    assert "55.0%" in high and "9.1%" not in high and "range of the published" in high


REPO = Path(__file__).resolve().parents[1]


def test_the_package_file_is_read(monkeypatch):
    monkeypatch.delenv("CRYSTAL_LAB_BENCHMARK", raising=False)
    path = default_results_path()
    assert path.name == "mp20.quality.json" and path.parent.name == "weights" and path.exists()
    assert path.resolve().parent.parent == (REPO / "crystal_lab").resolve()
    rate = json.loads(path.read_text())["csp"]["match_rate"]
    assert load_quality().match_rate == pytest.approx(rate)
    assert f"{100 * rate:.1f}%" in str(quality_box())
    assert "MP-20 val" in str(quality_box())            # from the weights' record


def test_package_file_and_benchmark_result_agree():
    """bench_model.py writes both files: the shipped facts are the benchmark's numbers."""
    shipped = json.loads((REPO / "crystal_lab" / "weights" / "mp20.quality.json").read_text())
    bench = json.loads((REPO / "benchmarks" / "results" / "model.json").read_text())
    assert shipped["csp"] == bench["csp"] and shipped["generation"] == bench["generation"]


def test_shipped_results_are_the_benchmark_files():
    from crystal_lab.view.quality import shipped_results

    for name, bench in (("quality", "model.json"), ("conditioning", "conditioning.json")):
        shipped = shipped_results(name)
        result = json.loads((REPO / "benchmarks" / "results" / bench).read_text())
        common = set(shipped) & set(result)
        assert len(common) >= 3 and all(shipped[k] == result[k] for k in common), name
    with pytest.raises(ValueError, match="available: conditioning, quality"):
        shipped_results("model")


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_shows_the_numbers(tmp_path):
    """Build a wheel from a copy of the sources, install it into a fresh venv and read the facts
    from a directory that is not the checkout."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "crystal_lab", src / "crystal_lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "jupyter-settings", src / "jupyter-settings")   # the wheel's data files
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "CRYSTAL_LAB_BENCHMARK", "VIRTUAL_ENV")}
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(wheels), str(src)],
                   check=True, env=env, cwd=tmp_path, timeout=600)
    (wheel,) = wheels.glob("crystal_lab-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, env=env, timeout=300)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, env=env, cwd=tmp_path, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import crystal_lab.view.quality as q, json; box = q.quality_box(); "
            "print(json.dumps({'file': q.__file__, 'rate': q.load_quality().match_rate, "
            "'box': str(box), 'cond': q.shipped_results('conditioning')['size']}))")
    out = subprocess.run([str(python), "-c", code], check=True, env=env, cwd=elsewhere,
                         capture_output=True, text=True, timeout=300).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert Path(seen["file"]).resolve().is_relative_to(venv.resolve())   # not the checkout
    rate = json.loads((REPO / "crystal_lab" / "weights" / "mp20.quality.json").read_text())
    assert seen["rate"] == pytest.approx(rate["csp"]["match_rate"])
    assert f"{100 * seen['rate']:.1f}%" in seen["box"] and "not available" not in seen["box"]
    assert seen["cond"] == json.loads((REPO / "benchmarks" / "results" / "conditioning.json")
                                      .read_text())["size"]


def test_env_variable_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTAL_LAB_BENCHMARK", str(_write(tmp_path, 0.4)))
    assert load_quality().match_rate == pytest.approx(0.4)
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match="no model quality facts"):
        load_quality(missing)
    box = str(quality_box(missing))
    assert "not available" in box and "8.7%" in box     # anchors still shown
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="no csp.match_rate"):
        load_quality(bad)


def test_anchor_values():
    assert RANDOM_SEARCH[0] == 0.087
    assert {k: v[0] for k, v in ANCHORS.items()} == {"CDVAE": 0.339, "DiffCSP": 0.515,
                                                      "FlowMM": 0.614}
