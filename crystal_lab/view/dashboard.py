"""An evaluation dashboard for a batch of generated crystals (ipywidgets + plotly).

``EvaluationDashboard(structures)`` computes :func:`~crystal_lab.evaluate.summarize` (with an
ipywidgets progress bar while it works) and shows

* a table (HTML, scrolls inside its own box, nothing cut; :mod:`.tables`): one row per
  structure with formula, space group, validity with its full reason, unique, novel, CHGNet
  energy, E_hull, the three-valued stable verdict (yes / no / unknown, when the evaluation
  gives it) and whether the hull was complete; a "sort by" choice whose direction (▲/▼) is
  shown and a filter (all / valid / invalid / S.U.N.) that says "none" when nothing passes;
* summary bars (plotly): the valid, unique, novel, stable and S.U.N. rates;
* the CHGNet phase diagram of a chemical system at a readable fixed size
  (:mod:`.hull_figure`): the reference phases labelled, the colour scale starting at the hull,
  the generated structures as one marker trace of their own, legend and colour bar outside;
* the chosen structure in ONE persistent viewer (nglview stage, or a plotly figure with
  ``viewer="plotly"``);
* a "Save CSV" button writing into ``results/`` (the folder the Generate widget saves to).

Formulas are :func:`crystal_lab.structures.formula` everywhere, as chemists write them (the
evaluation writes its table and reasons with the same function). The dashboard reads the
evaluation's rows (:mod:`crystal_lab.evaluate.rows`): each structure is converted and checked
once, by ``summarize``, and never again here.
"""
from __future__ import annotations

import html
from pathlib import Path

from crystal_lab.evaluate.rows import rows_of
from crystal_lab.evaluate.settings import RELAX_STEPS, STABILITY_THRESHOLD
from crystal_lab.structures import as_list

from . import hull_figure, tables
from .tables import COLUMNS, FILTERS

__all__ = ["COLUMNS", "FILTERS", "RESULTS_DIR", "EvaluationDashboard"]

RESULTS_DIR = Path("results")


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
        self.records = _rows(summary, self.structures)   # one Row per structure, made once
        self.formulas = [r.formula if r.ok else "n/a"    # a bad row has its reason in the table
                         for r in self.records]
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
        from .boxes import SentenceHBox

        # without a live kernel this reads as the finished status, never a widget repr
        box = SentenceHBox([self.progress, self.status], text="Evaluation progress: run this "
                           "cell to evaluate the structures.")
        return box

    @property
    def columns(self) -> list[tuple[str, str]]:
        """The table's columns: the fixed ones plus the optional ones the summary has."""
        return tables.columns_of(self.summary.table)

    @property
    def threshold(self) -> float:
        return self.summary.rates.get("stability_threshold", STABILITY_THRESHOLD)

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        import ipywidgets as w

        from .boxes import SentenceVBox, sentence

        self.sort = w.Dropdown(options=[(h, c) for c, h in self.columns], value="index",
                               description="sort by", layout=w.Layout(width="260px"))
        self.direction = w.ToggleButton(value=False, description="▲ ascending",
                                        tooltip="click to reverse the order",
                                        layout=w.Layout(width="130px"))
        self._syncing = False
        for widget in (self.sort, self.direction):   # one observer for the sort state
            widget.observe(self._on_sort_widgets, names="value")
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
        # a fixed size: a phase diagram in a tab keeps it (autosize would shrink it to a corner)
        self.pd_out = w.Output(layout=w.Layout(width=f"{hull_figure.HULL_WIDTH + 20}px",
                                               min_height=f"{hull_figure.HULL_HEIGHT + 20}px"))
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

    def __repr__(self) -> str:
        return repr(self.widget)

    # ------------------------------------------------------------------ table
    def table_html_text(self) -> str:
        """The table as HTML (what the table widget shows)."""
        return tables.table_html(self.summary.table, self.formulas, self.order,
                                 self.filter.value, self.sort_column, self.descending,
                                 self.selected)

    def _refresh_rows(self) -> None:
        keep = self.selected
        table = self.summary.table
        visible = [i for i in self.order if tables.visible(table.loc[i], self.filter.value)]
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

    def _on_sort_widgets(self, _change) -> None:
        if not self._syncing:
            self.sort_by(self.sort.value, descending=self.direction.value)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort the table by ``column``; ``descending=None`` reverses the order when ``column``
        is already the sort column. Missing values (nan, e.g. no CHGNet energy) go last."""
        if descending is None:
            descending = (not self.descending) if column == self.sort_column else False
        self.order = tables.sort_order(self.summary.table, self.formulas, column,
                                       bool(descending))
        self.descending, self.sort_column = bool(descending), column
        self._syncing = True   # the widgets follow the state; their observer stays quiet
        try:
            self.sort.value, self.direction.value = column, self.descending
        finally:
            self._syncing = False
        self.direction.description = "▼ descending" if self.descending else "▲ ascending"
        self._refresh_rows()

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
        items = tables.detail_items(table, index, self.formulas[index], self.threshold)
        self.detail.value = "<table>" + "".join(
            f"<tr><td style='padding-right:8px'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in items) + "</table>"
        self.table_html.value = self.table_html_text()
        self.view_box.layout.display = ""
        self._show_structure(index)

    def _show_structure(self, index: int) -> None:
        """One viewer for the dashboard: the nglview stage is created once and updated in
        place; the plotly figure replaces the previous one. A row with nothing to draw (None,
        a disordered or NaN structure) hides the viewer; its reason is in the detail."""
        row = self.records[index]
        if row.problem:
            self.view_box.layout.display = "none"
            return
        atoms = row.atoms
        if self.viewer == "plotly":
            from .crystal_figures import structure_figure

            self.view_out.clear_output(wait=True)
            with self.view_out:
                _display(structure_figure(atoms, height=380))
            return
        if self._viewer is None:
            from .ngl import FrameViewer

            self._viewer = FrameViewer([atoms], controls=False, compact=True,
                                       save_dir=self.results_dir, what="EvaluationDashboard")
            self.view_box.children = [self._viewer.widget]
        else:
            self._viewer.set_frames([atoms])

    # ------------------------------------------------------------------ figures
    def summary_figure(self):
        """Plotly bars of the valid / unique / novel / stable / S.U.N. rates (in %)."""
        baseline = getattr(self.summary, "baseline", None)
        return hull_figure.summary_figure(self.summary.rates,
                                          None if baseline is None else baseline.rates)

    def chemical_systems(self) -> list[str]:
        """Chemical systems ("Cl-Na") of the structures that have an E_hull, 2-4 elements."""
        table = self.summary.table
        systems = []
        for i in table.index:
            if tables.is_missing(table.at[i, "e_above_hull"]):
                continue
            els = sorted(set(self.records[i].symbols))
            name = "-".join(els)
            if 2 <= len(els) <= 4 and name not in systems:
                systems.append(name)
        return systems

    def phase_diagram_figure(self, system: str):
        """The CHGNet phase diagram of ``system`` (e.g. "Ba-O-Ti"): the reference hull with its
        stable phases labelled and the generated structures of that system as one marker
        trace (:func:`crystal_lab.view.hull_figure.phase_diagram_figure`)."""
        hull = self.summary.hull
        if hull is None:
            raise ValueError("no CHGNet results: evaluate with stability=True")
        elements = sorted(system.split("-"))
        generated = hull_figure.generated_rows(self.summary.table,
                                               [r.structure for r in self.records],
                                               self.formulas, elements)
        return hull_figure.phase_diagram_figure(
            hull.entries(elements), generated,
            title=f"{system}: CHGNet hull of the reference phases and the generated structures")

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


def _rows(summary, structures) -> list:
    """The summary's rows when it has them for these structures, else rows made once here."""
    rows = getattr(summary, "rows", None) or []
    if len(rows) == len(structures) and all(
        r.original is s for r, s in zip(rows, structures, strict=True)
    ):
        return list(rows)
    return rows_of(structures)[0]


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
