"""The evaluation dashboard's table: full reasons, one formula style, sort direction, empty
filters that say so, optional evaluation columns, one results folder, the baseline bars."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ase import Atoms
from ase.build import bulk

from crystal_lab import evaluate as ev
from crystal_lab.view.dashboard import EvaluationDashboard


@pytest.fixture(scope="module")
def batch_and_summary():
    batch = [bulk("NaCl", "rocksalt", a=5.64),
             Atoms("Ba3TiO", scaled_positions=[(0, 0, 0), (.5, .5, 0), (.5, 0, .5), (0, .5, .5),
                                               (.5, .5, .5)], cell=[4.2] * 3, pbc=True),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)]
    return batch, ev.summarize(batch, reference=[batch[0]], stability=False, progress=False)


def test_table_has_full_reasons_one_formula_style_and_a_direction(batch_and_summary, tmp_path):
    batch, summary = batch_and_summary
    dash = EvaluationDashboard(batch, summary=summary, results_dir=tmp_path / "results")
    text = dash.table_html_text()
    reason = summary.table.loc[1, "reason"]
    assert "SMACT" in reason and "Ba3TiO:" in text           # the table's formula, not OTiBa3
    assert "(SMACT)" in text                                  # the whole reason, not cut
    assert "overflow:auto" in text and "# ▲" in text
    dash.sort_by("formula")
    dash.sort_by("formula")                                   # again: descending
    assert dash.descending and "formula ▼" in dash.table_html_text()
    assert dash.direction.description.startswith("▼")
    dash.select(0)
    dash.filter.value = "S.U.N."                              # nothing is stable: say so
    assert "none: no structure is S.U.N." in dash.table_html.value
    assert dash.selected is None and dash.view_box.layout.display == "none"
    assert dash.save("evaluation.csv") == str(tmp_path / "results" / "evaluation.csv")


def test_optional_columns_and_baseline_bars(batch_and_summary):
    batch, summary = batch_and_summary
    table = summary.table.copy()
    table["hull_complete"] = [True, False, False]
    table["missing_subsystems"] = [[], ["Ba-Ti"], []]
    extended = SimpleNamespace(table=table, rates=summary.rates, hull=None,
                               baseline=SimpleNamespace(rates=summary.rates),
                               text=summary.text, save=summary.save)
    dash = EvaluationDashboard(batch, summary=extended)
    text = dash.table_html_text()
    assert "hull complete" in text and "Ba-Ti" in text
    assert [tr.name for tr in dash.summary_figure().data] == ["model", "random baseline"]


def test_one_viewer_for_every_selection(batch_and_summary):
    batch, summary = batch_and_summary
    dash = EvaluationDashboard(batch, summary=summary)
    dash.select(0)
    ngl = dash._viewer.ngl
    dash.select(1)
    dash.select(2)
    assert dash._viewer.ngl is ngl and len(ngl._ngl_component_ids) == 1
