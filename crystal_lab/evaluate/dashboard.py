"""An evaluation dashboard for a batch of generated crystals (ipywidgets + plotly).

``EvaluationDashboard(structures)`` computes :func:`~crystal_lab.evaluate.summarize` (with an
ipywidgets progress bar while it works) and shows

* a table, one row per structure (formula, space group, validity with reason, unique, novel, CHGNet
  energy, E_hull), sortable by clicking a column button (a second click reverses the order) and
  filterable (all / valid / invalid / S.U.N.);
* summary bars (plotly): the valid, unique, novel, stable and S.U.N. rates, the stability threshold
  in the title;
* the CHGNet phase diagram of a chemical system (pymatgen ``PDPlotter``, plotly) with the generated
  structures placed on it and highlighted;
* the selected row's structure in :class:`crystal_lab.Visualizer` (nglview, or plotly with
  ``viewer="plotly"``), or a text description if the visualiser is not available;
* a "Save CSV" button (:meth:`save`).
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..structures import as_list, reduced_formula, to_atoms, to_structure
from .stability import RELAX_STEPS, STABILITY_THRESHOLD

# (table column, header text, width in characters)
COLUMNS = [
    ("index", "#", 4), ("formula", "formula", 12), ("space_group", "space grp", 10),
    ("valid", "valid", 6), ("unique", "uniq", 5), ("novel", "novel", 6),
    ("energy_per_atom", "E eV/at", 8), ("e_above_hull", "E_hull", 7), ("reason", "reason", 44),
]
FILTERS = ("all", "valid", "invalid", "S.U.N.")
_STYLE = ("<style>.crystal-lab-table select, .crystal-lab-table option, .crystal-lab-mono "
          "{font-family: monospace !important; white-space: pre; font-size: 12px;}</style>")


def _cell(value: Any, width: int) -> str:
    if isinstance(value, (bool, np.bool_)):
        text = "yes" if value else "no"
    elif isinstance(value, (float, np.floating)):
        text = "" if not np.isfinite(value) else f"{value:.3f}"
    else:
        text = str(value)
    return text[:width].ljust(width)


class EvaluationDashboard:
    """Evaluate ``structures`` and explore the results (see the module docstring).

    ``summary``: a :class:`~crystal_lab.evaluate.Summary` computed earlier (skips the work).
    ``reference``, ``stability``, ``threshold``, ``relax``, ``steps``: passed to ``summarize``.
    ``viewer``: "nglview" or "plotly" for the selected structure. Display the object (or
    ``.widget``) in a notebook.
    """

    def __init__(self, structures, reference=None, summary=None, stability: bool = True,
                 threshold: float = STABILITY_THRESHOLD, relax: bool = True,
                 steps: int = RELAX_STEPS, viewer: str = "nglview"):
        import ipywidgets as w

        if viewer not in ("nglview", "plotly"):
            raise ValueError(f"viewer must be 'nglview' or 'plotly', not {viewer!r}")
        self.structures = as_list(structures)
        self.viewer = viewer
        self.progress = w.IntProgress(value=0, min=0, max=1, description="evaluating",
                                      layout=w.Layout(width="420px"))
        self.status = w.Label("")
        if summary is None:
            summary = self._compute(reference, stability, threshold, relax, steps)
        if len(summary.table) != len(self.structures):
            raise ValueError(f"summary has {len(summary.table)} rows for "
                             f"{len(self.structures)} structures")
        self.summary = summary
        self.sort_column, self.descending = "index", False
        self.order = list(range(len(self.structures)))
        self.selected: int | None = None
        self._build()

    # ------------------------------------------------------------------ computation
    def _compute(self, reference, stability, threshold, relax, steps):
        from .summary import summarize

        box = self._progress_box()
        shown = _display(box)

        def callback(stage: str, done: int, total: int) -> None:
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress.description = stage[:14]
            self.status.value = f"{stage}: {done}/{total}" + (
                " (CHGNet relaxes each structure and its competing phases: minutes)"
                if stage.startswith("CHGNet") and done < total else "")

        import time

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

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        import ipywidgets as w

        self.sort_buttons = []
        for column, header, _ in COLUMNS:
            b = w.Button(description=header, tooltip=f"sort by {column}",
                         layout=w.Layout(width="auto"))
            b.on_click(lambda _b, c=column: self.sort_by(c))
            self.sort_buttons.append(b)
        self.filter = w.ToggleButtons(options=FILTERS, value="all", description="show")
        self.filter.observe(lambda _c: self._refresh_rows(), names="value")
        header = "".join(_cell(h, width) + " " for _, h, width in COLUMNS)
        self.header = w.HTML(_STYLE + f"<div class='crystal-lab-mono'>{html.escape(header)}</div>")
        self.rows = w.Select(options=[], rows=12, layout=w.Layout(width="100%"))
        self.rows.add_class("crystal-lab-table")
        self.rows.observe(self._on_select, names="value")
        self.detail = w.HTML("")
        self.view_out = w.Output()
        self.save_path = w.Text(value="evaluation.csv", description="file",
                                layout=w.Layout(width="300px"))
        self.save_button = w.Button(description="Save CSV", icon="save")
        self.save_button.on_click(lambda _b: self._save_clicked())
        self.save_status = w.Label("")

        self.bars = self.summary_figure()
        self.bars_out = w.Output()
        with self.bars_out:
            _show(self.bars)
        systems = self.chemical_systems()
        self.pd_system = w.Dropdown(options=systems or ["(no CHGNet results)"],
                                    description="system", disabled=not systems)
        self.pd_out = w.Output()
        self.pd_system.observe(lambda _c: self._show_phase_diagram(), names="value")

        rates = w.HTML(f"<pre>{html.escape(self.summary.text())}</pre>")
        table = w.VBox([w.HBox([w.Label("sort:")] + self.sort_buttons), self.filter,
                        self.header, self.rows,
                        w.HBox([self.save_path, self.save_button, self.save_status])])
        tabs = w.Tab(children=[w.HBox([self.bars_out, rates]),
                               w.VBox([self.pd_system, self.pd_out])])
        tabs.set_title(0, "summary")
        tabs.set_title(1, "phase diagram")
        self.widget = w.VBox([table, w.HBox([self.view_out, self.detail]), tabs])
        self._refresh_rows()
        if systems:
            self._show_phase_diagram()

    def _ipython_display_(self) -> None:
        _display(self.widget)

    # ------------------------------------------------------------------ table
    def _row_text(self, i: int) -> str:
        row = self.summary.table.loc[i]
        return " ".join(_cell(i if c == "index" else row[c], width) for c, _, width in COLUMNS)

    def _visible(self, i: int) -> bool:
        row, f = self.summary.table.loc[i], self.filter.value
        return (f == "all" or (f == "valid" and row["valid"])
                or (f == "invalid" and not row["valid"]) or (f == "S.U.N." and row["sun"]))

    def _refresh_rows(self) -> None:
        keep = self.selected
        self.rows.options = [(self._row_text(i), i) for i in self.order if self._visible(i)]
        if keep is not None and self._visible(keep):
            self.rows.value = keep

    def sort_by(self, column: str) -> None:
        """Sort the table by ``column`` (a second call with the same column reverses the order).
        Missing values (nan, e.g. no CHGNet energy) always go last."""
        table = self.summary.table
        if column != "index" and column not in table.columns:
            raise ValueError(f"unknown column {column!r}; choose from {list(table.columns)}")
        self.descending = (not self.descending) if column == self.sort_column else False
        self.sort_column = column
        values = table.index.to_series() if column == "index" else table[column]
        present = [i for i in table.index if not _missing(values[i])]
        missing = [i for i in table.index if _missing(values[i])]
        present.sort(key=lambda i: values[i], reverse=self.descending)
        self.order = present + missing
        self._refresh_rows()

    # ------------------------------------------------------------------ selection
    def _on_select(self, change) -> None:
        if change["new"] is not None and change["new"] != self.selected:
            self.select(change["new"])

    def select(self, index: int) -> None:
        """Show structure ``index``: its details and the structure in the Visualizer."""
        table = self.summary.table
        if index not in table.index:
            raise IndexError(f"no structure {index}; the table has {len(table)} rows")
        self.selected = index  # set first: the Select's observer sees it and does not recurse
        if self.rows.value != index and any(v == index for _, v in self.rows.options):
            self.rows.value = index
        row = table.loc[index]
        items = [("formula", row["formula"]), ("atoms", row["n_atoms"]),
                 ("space group", f"{row['space_group']} ({row['space_group_number']})"
                  if row["space_group"] else "n/a"),
                 ("valid", "yes" if row["valid"] else f"no: {row['reason']}"),
                 ("unique", "yes" if row["unique"] else f"no, same as #{row['duplicate_of']}"),
                 ("novel", "yes" if row["novel"] else "no, matches a reference structure"),
                 ("CHGNet energy", _ev(row["energy_per_atom"])),
                 ("formation energy", _ev(row["formation_energy_per_atom"])),
                 ("E_hull", _ev(row["e_above_hull"])),
                 ("stable", (f"{'yes' if row['stable'] else 'no'} (E_hull < "
                             f"{self.summary.rates['stability_threshold']} eV/atom)")),
                 ("S.U.N.", "yes" if row["sun"] else "no")]
        if row["stability_note"]:
            items.append(("note", row["stability_note"]))
        self.detail.value = "<table>" + "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
            for k, v in items) + "</table>"
        self.view_out.clear_output(wait=True)
        with self.view_out:
            _display(self._structure_view(index))

    def _structure_view(self, index: int):
        """The Visualizer widget/figure for one structure, or a plain text description."""
        atoms = to_atoms(self.structures[index])
        try:
            from crystal_lab.visualize import Visualizer

            vis = Visualizer([atoms])
            return vis.plot(0) if self.viewer == "plotly" else vis.view(0)
        except Exception as err:  # noqa: BLE001 -- no visualiser (yet): describe in text
            import ipywidgets as w

            return w.HTML(f"<pre>{html.escape(_describe(atoms))}\n"
                          f"(Visualizer not available: {html.escape(str(err))})</pre>")

    # ------------------------------------------------------------------ figures
    def summary_figure(self):
        """Plotly bars of the valid / unique / novel / stable / S.U.N. rates (in %)."""
        import plotly.graph_objects as go

        r = self.summary.rates
        names = ["valid", "unique", "novel"]
        keys = ["validity", "uniqueness", "novelty"]
        if r.get("stability_evaluated"):
            names += ["stable", "S.U.N."]
            keys += ["stability", "sun"]
        values = [100 * r[k] if r[k] == r[k] else 0 for k in keys]
        counts = [r["n_valid"], r["n_unique"], r["n_novel"], r["n_stable"], r["n_sun"]]
        fig = go.Figure(go.Bar(x=names, y=values,
                               text=[f"{v:.0f} % ({c})" for v, c in zip(values, counts)],
                               textposition="outside", marker_color="#4c78a8"))
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
        """pymatgen's plotly phase diagram of ``system`` (e.g. "Cl-Na"): the CHGNet reference hull
        with this batch's structures of that system added and highlighted ("gen #i")."""
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
                entry = PDEntry(comp, float(e) * comp.num_atoms, name=f"gen #{i}")
                entry.entry_id = f"gen #{i}"
                generated.append(entry)
        diagram = PhaseDiagram(hull.entries(sorted(elements)) + generated)
        worst = max([diagram.get_e_above_hull(g) or 0 for g in generated] + [0.2])
        fig = PDPlotter(diagram, show_unstable=worst + 0.05, backend="plotly").get_plot(
            highlight_entries=generated)
        fig.update_layout(title={"text": f"{system}: CHGNet hull of the reference phases, "
                                         "generated structures highlighted", "y": 0.99},
                          margin={"t": 90})
        return fig

    def _show_phase_diagram(self) -> None:
        self.pd_out.clear_output(wait=True)
        with self.pd_out:
            try:
                _show(self.phase_diagram_figure(self.pd_system.value))
            except Exception as err:  # noqa: BLE001 -- shown to the user, never silent
                print(f"cannot draw the phase diagram: {err}")

    # ------------------------------------------------------------------ saving
    def save(self, path="evaluation.csv") -> str:
        """Write the table (one row per structure) as CSV; returns the path."""
        return self.summary.save(path)

    def _save_clicked(self) -> None:
        try:
            self.save_status.value = f"saved {self.save(self.save_path.value)}"
        except OSError as err:
            self.save_status.value = f"could not save: {err}"


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or value == "" or \
        (isinstance(value, (float, np.floating)) and not np.isfinite(value))


def _ev(value: float) -> str:
    return "n/a" if _missing(value) else f"{value:.3f} eV/atom"


def _describe(atoms) -> str:
    cell = atoms.cell.cellpar()
    return (f"{reduced_formula(atoms)} ({len(atoms)} atoms)\n"
            f"a, b, c = {cell[0]:.3f}, {cell[1]:.3f}, {cell[2]:.3f} A\n"
            f"alpha, beta, gamma = {cell[3]:.1f}, {cell[4]:.1f}, {cell[5]:.1f} deg\n"
            f"volume = {atoms.get_volume():.2f} A^3")


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


def _show(fig) -> None:
    """Show a plotly figure inside an Output widget (no-op outside IPython)."""
    _display(fig)
