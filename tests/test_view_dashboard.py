"""The evaluation dashboard's table: full reasons, one formula style, sort direction, empty
filters that say so, optional evaluation columns, one results folder, the baseline bars."""
from __future__ import annotations

import re
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


# ------------------------------------------------------------------ the phase diagram figure

def _ternary_entries():
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    def entry(formula, e_per_atom):
        comp = Composition(formula)
        return PDEntry(comp, e_per_atom * comp.num_atoms, name=formula)

    return [entry("Ba", -1.9), entry("Ti", -7.8), entry("O", -4.9), entry("BaO", -5.8),
            entry("TiO2", -8.9), entry("BaTiO3", -8.1), entry("Ba2TiO4", -7.4),
            entry("Ti2O3", -8.6)]


@pytest.mark.parametrize("system", [("Ba", "O"), ("Ba", "O", "Ti"), ("Ba", "O", "Ti", "Sr")])
def test_hull_figure_is_large_labelled_and_has_one_generated_trace(system):
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    from crystal_lab.view.hull_figure import HULL_HEIGHT, HULL_WIDTH, phase_diagram_figure

    entries = [e for e in _ternary_entries()
               if {el.symbol for el in e.composition.elements} <= set(system)]
    if "Sr" in system:
        entries += [PDEntry(Composition("Sr"), -1.7), PDEntry(Composition("SrO"), -2 * 6.0)]
    generated = [(f"#{i} {f}", Composition(f), e) for i, (f, e) in
                 enumerate([("BaTiO3", -8.0), ("BaO2", -5.0), ("BaTiO3", -8.3), ("BaO", -5.5)])
                 if {el.symbol for el in Composition(f).elements} <= set(system)]
    fig = phase_diagram_figure(entries, generated, title="test")
    layout = fig.layout
    assert (layout.width, layout.height, layout.autosize) == (HULL_WIDTH, HULL_HEIGHT, False)
    assert layout.width >= 900 and layout.height >= 700     # >= 600 px of plot area
    assert layout.legend.x >= 1.0 and layout.legend.xanchor == "left"    # outside the plot
    for tr in fig.data:
        bar = getattr(getattr(tr, "marker", None), "colorbar", None)
        if bar is not None and bar.x is not None:
            assert bar.x >= 1.0 and bar.xanchor == "left"                 # outside the plot
    mine = [tr for tr in fig.data if (tr.name or "").startswith("generated")]
    assert len(mine) == 1 and mine[0].name == f"generated ({len(generated)})"
    # text for the picked structures only (default: the 3 lowest in E_hull), one per point
    texts = (next(tr for tr in fig.data if tr.name == "labels").text if len(system) == 3
             else mine[0].text)
    shown = [m for t in texts if t for m in re.findall(r"#\d+(?:, #\d+)*", t)]
    picked = sorted(", ".join(shown).split(", "))
    assert len(picked) == min(3, len(generated))
    if len(system) >= 3:
        assert "#0, #2" in shown                      # two BaTiO3 at one composition
        assert "#1" not in picked                     # BaO2, far above the hull: on hover
    assert all("E_hull" in h for h in mine[0].hovertext)
    names = " ".join(str(tr.name) for tr in fig.data)
    assert "#0 BaTiO3" not in names                   # no legend entry listing the structures
    if len(system) == 3:                              # pymatgen's ternary plot has no labels
        from pymatgen.analysis.phase_diagram import PhaseDiagram

        labels = next(tr for tr in fig.data if tr.name == "labels")
        stable = {e.composition.reduced_formula for e in PhaseDiagram(entries).stable_entries
                  if len(e.composition.elements) > 1}
        named = {re.sub(r" \(#.*\)$", "", t) for t in labels.text if not t.startswith("#")}
        assert named == stable and {"BaO", "TiO2", "BaTiO3"} <= stable
        assert "BaTiO3 (#0, #2)" in labels.text   # a picked text joins the phase at its point
    if len(system) == 4:                              # shown, not hidden behind a legend click
        assert any((tr.name or "").startswith("Labels") and tr.visible is True
                   for tr in fig.data)


def test_generated_markers_sit_where_pymatgen_draws_that_composition():
    """The generated trace uses pymatgen's own plot coordinates: an unstable reference
    phase and a generated structure of the same composition are drawn at one point."""
    from pymatgen.analysis.phase_diagram import PDPlotter, PhaseDiagram
    from pymatgen.core import Composition

    from crystal_lab.view.hull_figure import phase_diagram_figure

    entries = _ternary_entries()
    diagram = PhaseDiagram(entries)
    unstable = [e for e in entries if e not in diagram.stable_entries]
    assert unstable                                  # Ba2TiO4 and Ti2O3 lie above the hull here
    generated = [(f"#{k} x", Composition(e.composition.reduced_formula), -1.0)
                 for k, e in enumerate(unstable)]
    fig = phase_diagram_figure(entries, generated)
    mine = next(tr for tr in fig.data if (tr.name or "").startswith("generated"))
    above = next(tr for tr in PDPlotter(diagram, show_unstable=10, backend="plotly").get_plot()
                 .data if tr.name == "Above Hull")
    theirs = {(round(a / (a + b + c), 6), round(b / (a + b + c), 6))
              for a, b, c in zip(above.a, above.b, above.c, strict=True)}
    ours = {(round(a, 6), round(b, 6)) for a, b in zip(mine.a, mine.b, strict=True)}
    assert ours <= theirs and len(ours) == len(unstable)


# ------------------------------------------------------------------ the stable verdict

def test_stable_verdict_is_three_valued_in_table_and_details(batch_and_summary):
    from crystal_lab.view import tables

    batch, summary = batch_and_summary
    table = summary.table.copy()
    table["e_above_hull"] = [0.0, 0.001, float("nan")]
    table["stable_verdict"] = ["yes", "unknown", "no"]
    table["stable_note"] = ["", "unknown: the reference table has no compound of Ba-Ti",
                            "no: not evaluated (invalid)"]
    rates = dict(summary.rates, stability_threshold=0.1)
    extended = SimpleNamespace(table=table, rates=rates, hull=None, baseline=None,
                               text=summary.text, save=summary.save)
    dash = EvaluationDashboard(batch, summary=extended)
    html_text = dash.table_html_text()
    assert ">stable<" in html_text and ">unknown<" in html_text and ">yes<" in html_text
    dash.select(1)
    assert "unknown: the reference table has no compound of Ba-Ti" in dash.detail.value
    assert "stable: no" not in dash.detail.value and "E_hull &lt; 0.1" not in dash.detail.value
    dash.select(0)
    assert "yes (E_hull &lt; 0.1 eV/atom)" in dash.detail.value
    row = table.loc[2]
    assert tables.stable_text(row, 0.1) == "no: not evaluated (invalid)"
    dash.select(2)                      # invalid: no "hull complete" / "missing" lines at all
    assert "hull complete" not in dash.detail.value
    assert "missing subsystems" not in dash.detail.value


def test_sort_widgets_have_one_observer_each(batch_and_summary):
    batch, summary = batch_and_summary
    dash = EvaluationDashboard(batch, summary=summary)
    for _ in range(5):
        dash.sort_by("formula")
        dash.direction.value = not dash.direction.value
        dash.sort.value = "index"
    for widget in (dash.sort, dash.direction):
        handlers = [h for h in widget._trait_notifiers["value"]["change"]
                    if getattr(h, "__self__", None) is dash]
        assert len(handlers) == 1, handlers
    dash.sort_by("index", descending=False)
    calls = []
    real = dash.sort_by
    dash.sort_by = lambda *a, **k: (calls.append(a), real(*a, **k))
    dash.sort.value = "formula"                  # one user change: one sort
    assert len(calls) == 1
    assert [dash.formulas[i] for i in dash.order] == sorted(dash.formulas)
    dash.direction.value = True
    assert len(calls) == 2 and [dash.formulas[i] for i in dash.order] == \
        sorted(dash.formulas, reverse=True)
    assert repr(dash) == "EvaluationDashboard: run this cell to open the table and charts."
