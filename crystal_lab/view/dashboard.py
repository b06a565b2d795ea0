"""An evaluation dashboard for a batch of generated crystals (ipywidgets + plotly).

``EvaluationDashboard(structures)`` computes :func:`~crystal_lab.evaluate.summarize` (with an
ipywidgets progress bar while it works) and shows

* a table (HTML, scrolls inside its own box, nothing cut): one row per structure with formula,
  space group, validity with its full reason, unique, novel, CHGNet energy, E_hull (and, when
  the evaluation provides them, whether the hull was complete and which subsystems it missed);
  a "sort by" choice whose direction (▲/▼) is shown and a filter (all / valid / invalid /
  S.U.N.) that says "none" when nothing passes;
* summary bars (plotly): the valid, unique, novel, stable and S.U.N. rates;
* the CHGNet phase diagram of a chemical system: the reference phases labelled, the colour
  scale starting at the hull (0 eV/atom), each generated structure its own marker named by its
  formula;
* the chosen structure in ONE persistent viewer (nglview stage, or a plotly figure with
  ``viewer="plotly"``);
* a "Save CSV" button writing into ``results/`` (the folder the Generate widget saves to).

Formulas are written by :func:`crystal_lab.view.facts.formula` everywhere, reasons included.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np

from crystal_lab.evaluate.stability import RELAX_STEPS, STABILITY_THRESHOLD
from crystal_lab.structures import as_list, to_atoms, to_structure

from .facts import formula

__all__ = ["COLUMNS", "FILTERS", "RESULTS_DIR", "EvaluationDashboard"]

RESULTS_DIR = Path("results")
# (table column, header text)
COLUMNS = [
    ("index", "#"), ("formula", "formula"), ("space_group", "space group"), ("valid", "valid"),
    ("reason", "reason"), ("unique", "unique"), ("novel", "novel"),
    ("energy_per_atom", "E eV/atom"), ("e_above_hull", "E_hull eV/atom"),
]
OPTIONAL_COLUMNS = [("hull_complete", "hull complete"),
                    ("missing_subsystems", "missing subsystems")]
FILTERS = ("all", "valid", "invalid", "S.U.N.")
_FILTER_WORDS = {"valid": "valid", "invalid": "invalid", "S.U.N.": "S.U.N. (stable, unique "
                 "and novel)"}


def _text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "none"
    if value is None or value is _na():
        return ""
    return str(value)


def _na():
    import pandas as pd

    return pd.NA


def _missing(value: Any) -> bool:
    import pandas as pd

    if isinstance(value, (list, tuple)):
        return False
    return value is None or value is pd.NA or value == "" or \
        (isinstance(value, (float, np.floating)) and not np.isfinite(value))


def _ev(value: float) -> str:
    return "n/a" if _missing(value) else f"{value:.3f} eV/atom"


def _same_formula_reason(reason: str, row_formula: str) -> str:
    """Write formulas at the start of a reason ("OTiBa3: no charge-neutral ...") the way the
    table does ("Ba3TiO: ...")."""
    from pymatgen.core import Composition

    def fix(match):
        try:
            same = Composition(match.group(1)).reduced_formula == \
                Composition(row_formula).reduced_formula
        except Exception:  # noqa: BLE001 - not a formula: leave the text alone
            return match.group(0)
        return f"{row_formula}:" if same else match.group(0)

    return re.sub(r"\b([A-Z][A-Za-z0-9]*):", fix, reason) if reason else reason


class EvaluationDashboard:
    """Evaluate ``structures`` and explore the results (see the module docstring).

    ``summary``: a :class:`~crystal_lab.evaluate.Summary` computed earlier (skips the work).
    ``reference``, ``stability``, ``threshold``, ``relax``, ``steps``: passed to ``summarize``.
    ``viewer``: "nglview" or "plotly" for the selected structure. Display the object (or
    ``.widget``) in a notebook.
    """

    def __init__(self, structures, reference=None, summary=None, stability: bool = True,
                 threshold: float = STABILITY_THRESHOLD, relax: bool = True,
                 steps: int = RELAX_STEPS, viewer: str = "nglview",
                 results_dir=RESULTS_DIR):
        import ipywidgets as w

        if viewer not in ("nglview", "plotly"):
            raise ValueError(f"viewer must be 'nglview' or 'plotly', not {viewer!r}")
        self.structures = as_list(structures)
        self.viewer = viewer
        self.results_dir = Path(results_dir)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="evaluating",
                                      layout=w.Layout(width="420px"))
        self.status = w.Label("")
        if summary is None:
            summary = self._compute(reference, stability, threshold, relax, steps)
        if len(summary.table) != len(self.structures):
            raise ValueError(f"summary has {len(summary.table)} rows for "
                             f"{len(self.structures)} structures")
        self.summary = summary
        self.formulas = [formula(to_atoms(s)) for s in self.structures]
        self.sort_column, self.descending = "index", False
        self.order = list(range(len(self.structures)))
        self.selected: int | None = None
        self._viewer = None
        self._build()

    # ------------------------------------------------------------------ computation
    def _compute(self, reference, stability, threshold, relax, steps):
        import time

        from crystal_lab.evaluate.summary import summarize

        shown = _display(self._progress_box())

        def callback(stage: str, done: int, total: int) -> None:
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress.description = stage[:14]
            self.status.value = f"{stage}: {done}/{total}" + (
                " (CHGNet relaxes each structure and its competing phases: minutes)"
                if stage.startswith("CHGNet") and done < total else "")

        start = time.perf_counter()
        summary = summarize(self.structures, reference=reference, stability=stability,
                            threshold=threshold, relax=relax, steps=steps,
                            progress=not shown, callback=callback)
        # keep the finished bar (a closed widget would show as an error in a saved notebook)
        self.status.value = (f"evaluated {len(self.structures)} structures in "
                             f"{time.perf_counter() - start:.1f} s")
        return summary

    def _progress_box(self):
        import ipywidgets as w

        return w.HBox([self.progress, self.status])

    @property
    def columns(self) -> list[tuple[str, str]]:
        """The table's columns: the fixed ones plus the optional ones the summary has."""
        table = self.summary.table
        return COLUMNS + [(c, h) for c, h in OPTIONAL_COLUMNS if c in table.columns]

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        import ipywidgets as w

        from .boxes import SentenceVBox, sentence

        self.sort = w.Dropdown(options=[(h, c) for c, h in self.columns], value="index",
                               description="sort by", layout=w.Layout(width="260px"))
        self.direction = w.ToggleButton(value=False, description="▲ ascending",
                                        tooltip="click to reverse the order",
                                        layout=w.Layout(width="130px"))
        self.sort.observe(lambda c: self.sort_by(c["new"], descending=self.descending),
                          names="value")
        self.direction.observe(lambda c: self.sort_by(self.sort_column, descending=c["new"]),
                               names="value")
        self.filter = w.ToggleButtons(options=FILTERS, value="all", description="show")
        self.filter.observe(lambda _c: self._refresh_rows(), names="value")
        self.table_html = w.HTML(layout=w.Layout(width="100%"))
        self.table_html.add_class("cl-eval-table")
        self.rows = w.Dropdown(options=[], description="structure",
                               layout=w.Layout(width="420px"))
        self.rows.observe(self._on_select, names="value")
        self.detail = w.HTML("")
        self.view_out = w.Output()
        self.view_box = w.VBox([self.view_out])
        self.save_path = w.Text(value=str(self.results_dir / "evaluation.csv"),
                                description="file", layout=w.Layout(width="340px"))
        self.save_button = w.Button(description="Save CSV", icon="save")
        self.save_button.on_click(lambda _b: self._save_clicked())
        self.save_status = w.Label("")

        self.bars = self.summary_figure()
        self.bars_out = w.Output()
        with self.bars_out:
            _display(self.bars)
        systems = self.chemical_systems()
        self.pd_system = w.Dropdown(options=systems or ["(no CHGNet results)"],
                                    description="system", disabled=not systems)
        self.pd_out = w.Output()
        self.pd_system.observe(lambda _c: self._show_phase_diagram(), names="value")

        rates = w.HTML(f"<pre>{html.escape(self.summary.text())}</pre>")
        table = w.VBox([w.HBox([self.sort, self.direction]), self.filter, self.table_html,
                        self.rows, w.HBox([self.save_path, self.save_button, self.save_status])],
                       layout=w.Layout(width="100%"))
        tabs = w.Tab(children=[w.HBox([self.bars_out, rates]),
                               w.VBox([self.pd_system, self.pd_out])])
        tabs.set_title(0, "summary")
        tabs.set_title(1, "phase diagram")
        self.widget = SentenceVBox([table, w.HBox([self.view_box, self.detail]), tabs],
                                   text=sentence("EvaluationDashboard", "the table and charts"))
        self.widget.add_class("cl-dashboard")
        self._refresh_rows()
        if systems:
            self._show_phase_diagram()

    def _ipython_display_(self) -> None:
        _display(self.widget)

    # ------------------------------------------------------------------ table
    def _cell(self, i: int, column: str) -> str:
        row = self.summary.table.loc[i]
        if column == "index":
            return str(i)
        if column == "formula":
            return self.formulas[i]
        if column == "reason":
            return _same_formula_reason(str(row["reason"] or ""), self.formulas[i])
        return _text(row[column])

    def _visible(self, i: int) -> bool:
        row, f = self.summary.table.loc[i], self.filter.value
        return (f == "all" or (f == "valid" and row["valid"])
                or (f == "invalid" and not row["valid"]) or (f == "S.U.N." and row["sun"]))

    def table_html_text(self) -> str:
        """The table as HTML (what the table widget shows)."""
        rows = [i for i in self.order if self._visible(i)]
        arrow = "▼" if self.descending else "▲"
        head = "".join(
            f"<th style='text-align:left;padding:3px 8px;border-bottom:2px solid #999;"
            f"vertical-align:bottom'>{html.escape(h)}{' ' + arrow if c == self.sort_column else ''}"
            f"</th>" for c, h in self.columns)
        if not rows:
            what = _FILTER_WORDS.get(self.filter.value, self.filter.value)
            return (f"<div class='cl-empty' style='padding:6px;color:#555'>none: no structure "
                    f"is {html.escape(what)}.</div>")
        body = []
        for i in rows:
            cells = []
            for c, _ in self.columns:
                style = "padding:3px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top"
                style += ";white-space:normal;min-width:200px" if c == "reason" else \
                    ";white-space:nowrap"
                cells.append(f"<td style='{style}'>{html.escape(self._cell(i, c))}</td>")
            mark = " style='background:#eef4ff'" if i == self.selected else ""
            body.append(f"<tr{mark}>{''.join(cells)}</tr>")
        return ("<div style='max-height:360px;overflow:auto;max-width:100%'>"
                "<table style='border-collapse:collapse;font-size:13px;width:100%'>"
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")

    def _refresh_rows(self) -> None:
        keep = self.selected
        visible = [i for i in self.order if self._visible(i)]
        self.table_html.value = self.table_html_text()
        self.rows.unobserve(self._on_select, names="value")
        self.rows.options = [(f"#{i}: {self.formulas[i]}", i) for i in visible]
        self.rows.value = keep if keep in visible else None
        self.rows.layout.display = "" if visible else "none"
        self.rows.observe(self._on_select, names="value")
        if keep is not None and keep not in visible:   # the shown structure is filtered out
            self.selected = None
            self.detail.value = ""
            self.view_box.layout.display = "none"

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort the table by ``column``; ``descending=None`` reverses the order when ``column``
        is already the sort column. Missing values (nan, e.g. no CHGNet energy) go last."""
        table = self.summary.table
        if column not in ("index", "formula") and column not in table.columns:
            raise ValueError(f"unknown column {column!r}; choose from {list(table.columns)}")
        if descending is None:
            descending = (not self.descending) if column == self.sort_column else False
        self.descending, self.sort_column = bool(descending), column
        if column == "index":
            values = {i: i for i in table.index}
        elif column == "formula":
            values = {i: self.formulas[i] for i in table.index}
        else:
            values = {i: table.at[i, column] for i in table.index}
            values = {i: (_text(v) if isinstance(v, (list, tuple)) else v)
                      for i, v in values.items()}
        present = [i for i in table.index if not _missing(values[i])]
        missing = [i for i in table.index if _missing(values[i])]
        present.sort(key=lambda i: values[i], reverse=self.descending)
        self.order = present + missing
        for widget, trait, value in ((self.sort, "value", column),
                                     (self.direction, "value", self.descending)):
            if getattr(widget, trait) != value:
                with widget.hold_trait_notifications():
                    widget.unobserve_all(trait)
                    setattr(widget, trait, value)
                self._reobserve(widget)
        self.direction.description = "▼ descending" if self.descending else "▲ ascending"
        self._refresh_rows()

    def _reobserve(self, widget) -> None:
        if widget is self.sort:
            widget.observe(lambda c: self.sort_by(c["new"], descending=self.descending),
                           names="value")
        else:
            widget.observe(lambda c: self.sort_by(self.sort_column, descending=c["new"]),
                           names="value")

    # ------------------------------------------------------------------ selection
    def _on_select(self, change) -> None:
        if change["new"] is not None and change["new"] != self.selected:
            self.select(change["new"])

    def select(self, index: int) -> None:
        """Show structure ``index``: its details and the structure in the viewer."""
        table = self.summary.table
        if index not in table.index:
            raise IndexError(f"no structure {index}; the table has {len(table)} rows")
        self.selected = index  # set first: the Dropdown's observer sees it and does not recurse
        if self.rows.value != index and any(v == index for _, v in self.rows.options):
            self.rows.value = index
        row = table.loc[index]
        items = [("formula", self.formulas[index]), ("atoms", row["n_atoms"]),
                 ("space group", f"{row['space_group']} ({row['space_group_number']})"
                  if row["space_group"] else "n/a"),
                 ("valid", "yes" if row["valid"] else
                  f"no: {_same_formula_reason(row['reason'], self.formulas[index])}"),
                 ("unique", "yes" if row["unique"] else f"no, same as #{row['duplicate_of']}"),
                 ("novel", "yes" if row["novel"] else "no, matches a reference structure"),
                 ("CHGNet energy", _ev(row["energy_per_atom"])),
                 ("formation energy", _ev(row["formation_energy_per_atom"])),
                 ("E_hull", _ev(row["e_above_hull"])),
                 ("stable", (f"{'yes' if row['stable'] else 'no'} (E_hull < "
                             f"{self.summary.rates['stability_threshold']} eV/atom)")),
                 ("S.U.N.", "yes" if row["sun"] else "no")]
        for c, h in OPTIONAL_COLUMNS:
            if c in table.columns:
                items.append((h, _text(row[c])))
        if row["stability_note"]:
            items.append(("note", row["stability_note"]))
        self.detail.value = "<table>" + "".join(
            f"<tr><td style='padding-right:8px'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in items) + "</table>"
        self.table_html.value = self.table_html_text()
        self.view_box.layout.display = ""
        self._show_structure(index)

    def _show_structure(self, index: int) -> None:
        """One viewer for the dashboard: the nglview stage is created once and updated in
        place; the plotly figure replaces the previous one."""
        atoms = to_atoms(self.structures[index])
        if self.viewer == "plotly":
            from .plotly import structure_figure

            self.view_out.clear_output(wait=True)
            with self.view_out:
                _display(structure_figure(atoms, height=380))
            return
        if self._viewer is None:
            from .ngl import FrameViewer

            self._viewer = FrameViewer([atoms], controls=False, compact=True,
                                       save_dir=self.results_dir)
            self.view_box.children = [self._viewer.widget]
        else:
            self._viewer.set_frames([atoms])

    # ------------------------------------------------------------------ figures
    def summary_figure(self):
        """Plotly bars of the valid / unique / novel / stable / S.U.N. rates (in %)."""
        import plotly.graph_objects as go

        r = self.summary.rates
        names = ["valid", "unique", "novel"]
        keys = ["validity", "uniqueness", "novelty"]
        counts = [r["n_valid"], r["n_unique"], r["n_novel"]]
        if r.get("stability_evaluated"):
            names += ["stable", "S.U.N."]
            keys += ["stability", "sun"]
            counts += [r["n_stable"], r["n_sun"]]
        values = [100 * r[k] if r[k] == r[k] else 0 for k in keys]
        fig = go.Figure(go.Bar(x=names, y=values, name="model",
                               text=[f"{v:.0f} % ({c})" for v, c in zip(values, counts)],
                               textposition="outside", marker_color="#4c78a8"))
        baseline = getattr(self.summary, "baseline", None)
        if baseline is not None:   # the model's rates beside a random baseline's
            b = baseline.rates
            bv = [100 * b[k] if k in b and b[k] == b[k] else 0 for k in keys]
            fig.add_trace(go.Bar(x=names, y=bv, name="random baseline", marker_color="#bab0ac",
                                 text=[f"{v:.0f} %" for v in bv], textposition="outside"))
            fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.12})
        title = f"{r['n']} structures"
        if r.get("stability_evaluated"):
            title += f"; stable = CHGNet E_hull < {r['stability_threshold']} eV/atom"
        fig.update_layout(title=title, yaxis={"title": "% of structures", "range": [0, 110]},
                          height=320, width=520, margin={"l": 50, "r": 10, "t": 50, "b": 40})
        return fig

    def chemical_systems(self) -> list[str]:
        """Chemical systems ("Cl-Na") of the structures that have an E_hull, 2-4 elements."""
        table = self.summary.table
        systems = []
        for i in table.index[np.isfinite(table["e_above_hull"].to_numpy(dtype=float))]:
            els = sorted({site.specie.symbol for site in to_structure(self.structures[i])})
            name = "-".join(els)
            if 2 <= len(els) <= 4 and name not in systems:
                systems.append(name)
        return systems

    def phase_diagram_figure(self, system: str):
        """pymatgen's plotly phase diagram of ``system`` (e.g. "Cl-Na"): the CHGNet reference
        hull with its stable phases labelled, the colour scale from the hull (0 eV/atom)
        upward, and each generated structure of that system its own marker named
        "#i formula"."""
        import plotly.graph_objects as go
        from pymatgen.analysis.phase_diagram import PDEntry, PDPlotter, PhaseDiagram

        hull = self.summary.hull
        if hull is None:
            raise ValueError("no CHGNet results: evaluate with stability=True")
        elements = set(system.split("-"))
        table = self.summary.table
        generated = []
        for i in table.index:
            e = table.at[i, "energy_per_atom"]
            comp = to_structure(self.structures[i]).composition
            if np.isfinite(e) and {el.symbol for el in comp.elements} <= elements:
                name = f"#{i} {self.formulas[i]}"
                entry = PDEntry(comp, float(e) * comp.num_atoms, name=name)
                entry.entry_id = name
                generated.append((i, entry))
        reference = PhaseDiagram(hull.entries(sorted(elements)))
        worst = max([reference.get_e_above_hull(g, allow_negative=True) or 0
                     for _, g in generated] + [0.2])
        plotter = PDPlotter(reference, show_unstable=worst + 0.05, backend="plotly")
        fig = plotter.get_plot(label_stable=True)
        for tr in fig.data:   # the colour scale starts at the hull: 0 eV/atom
            marker = getattr(tr, "marker", None)
            if marker is not None and marker.colorscale is not None and \
                    marker.color is not None and not isinstance(marker.color, str):
                tr.marker.cmin = 0.0
                tr.marker.cmid = None
        binary = len(elements) == 2
        symbols = [str(el) for el in reference.elements]
        for k, (i, entry) in enumerate(generated):
            e_hull = reference.get_e_above_hull(entry, allow_negative=True)
            text = f"#{i} {self.formulas[i]}<br>E_hull {e_hull:+.3f} eV/atom"
            if binary:
                x = entry.composition.get_atomic_fraction(symbols[1])
                y = reference.get_form_energy_per_atom(entry)
                fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", name=f"#{i} "
                                         f"{self.formulas[i]}", text=[f"#{i} {self.formulas[i]}"],
                                         textposition="top center", hovertext=[text],
                                         hoverinfo="text",
                                         marker={"symbol": "star", "size": 14,
                                                     "line": {"width": 1, "color": "black"}}))
        if not binary and generated:
            hl = PDPlotter(PhaseDiagram(reference.all_entries + [g for _, g in generated]),
                           show_unstable=worst + 0.05, backend="plotly").get_plot(
                label_stable=True, highlight_entries=[g for _, g in generated])
            for tr in hl.data:
                if tr.name and "ighlight" in tr.name:
                    tr.name = "generated: " + ", ".join(g.name for _, g in generated)
                    fig.add_trace(tr)
        fig.update_layout(title={"text": f"{system}: CHGNet hull of the reference phases and "
                                         "the generated structures (stars)", "y": 0.99},
                          margin={"t": 90}, showlegend=True)
        return fig

    def _show_phase_diagram(self) -> None:
        self.pd_out.clear_output(wait=True)
        with self.pd_out:
            try:
                _display(self.phase_diagram_figure(self.pd_system.value))
            except Exception as err:  # noqa: BLE001 -- shown to the user, never silent
                print(f"cannot draw the phase diagram: {err}")

    # ------------------------------------------------------------------ saving
    def save(self, path=None) -> str:
        """Write the table (one row per structure) as CSV; a bare file name goes into
        ``results/`` (the folder every save of the lab uses). Returns the path."""
        path = Path(path) if path is not None else self.results_dir / "evaluation.csv"
        if path.parent == Path("."):
            path = self.results_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return self.summary.save(path)

    def _save_clicked(self) -> None:
        try:
            self.save_status.value = f"saved {self.save(self.save_path.value)}"
        except OSError as err:
            self.save_status.value = f"could not save: {err}"


def _display(obj) -> bool:
    """Display ``obj`` when running under IPython; return whether it was shown."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    display(obj)
    return True
