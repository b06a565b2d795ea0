"""The "How good is this model?" box reads the benchmark file: nothing about the model is
hard-coded, so a new model.json changes the box."""
from __future__ import annotations

import json

import pytest

from crystal_lab.quality import (
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


def test_box_follows_the_file(tmp_path):
    low = str(quality_box(_write(tmp_path, 0.091)))
    assert "9.1%" in low and "about the level of random search" in low
    high = str(quality_box(_write(tmp_path, 0.55)))
    assert "55.0%" in high and "9.1%" not in high and "range of the published" in high


def test_the_repository_file_is_read(monkeypatch):
    monkeypatch.delenv("CRYSTAL_LAB_BENCHMARK", raising=False)
    path = default_results_path()
    assert path.name == "model.json" and path.exists()
    rate = json.loads(path.read_text())["csp"]["match_rate"]
    assert load_quality().match_rate == pytest.approx(rate)
    assert f"{100 * rate:.1f}%" in str(quality_box())


def test_env_variable_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTAL_LAB_BENCHMARK", str(_write(tmp_path, 0.4)))
    assert load_quality().match_rate == pytest.approx(0.4)
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match="no benchmark results"):
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
