"""The evaluation table as plain functions: cell text, the stable verdict, sorting, filtering,
the HTML table and the detail list of one row.

Every function takes ``summarize``'s table (a pandas DataFrame, one row per structure) and the
rows' formulas (:func:`crystal_lab.structures.formula`, the one formula of the lab, as chemists
write it). Stability is one column, ``stable_verdict`` (yes / no / unknown), shown as "stable".
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["COLUMNS", "FILTERS", "OPTIONAL_COLUMNS", "cell_text", "columns_of", "detail_items",
           "ev_text", "is_missing", "sort_order", "stable_text", "table_html", "visible"]

# (table column, header text)
COLUMNS = [
    ("index", "#"), ("formula", "formula"), ("space_group", "space group"), ("valid", "valid"),
    ("reason", "reason"), ("unique", "unique"), ("novel", "novel"),
    ("energy_per_atom", "E eV/atom"), ("e_above_hull", "E_hull eV/atom"),
]
# shown when the summary has them
OPTIONAL_COLUMNS = [("stable_verdict", "stable"), ("hull_complete", "hull complete"),
                    ("missing_subsystems", "missing subsystems")]
FILTERS = ("all", "valid", "invalid", "S.U.N.")
_FILTER_WORDS = {"valid": "valid", "invalid": "invalid",
                 "S.U.N.": "S.U.N. (stable, unique and novel)"}


def is_missing(value: Any) -> bool:
    """None, pandas NA, "" or a non-finite float (a list is never missing: it may be empty)."""
    import pandas as pd

    if isinstance(value, (list, tuple)):
        return False
    return value is None or value is pd.NA or value == "" or \
        (isinstance(value, (float, np.floating)) and not np.isfinite(value))


def cell_text(value: Any) -> str:
    """A table value as text: yes/no, three decimals, "a, b" for lists ("none" if empty)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "none"
    if is_missing(value):
        return ""
    return str(value)


def ev_text(value: Any) -> str:
    """An energy per atom as text, "n/a" when there is none."""
    return "n/a" if is_missing(value) else f"{value:.3f} eV/atom"


def columns_of(table) -> list[tuple[str, str]]:
    """The fixed columns plus the optional ones ``table`` has."""
    return COLUMNS + [(c, h) for c, h in OPTIONAL_COLUMNS if c in table.columns]


def stable_text(row, threshold: float) -> str:
    """The three-valued stable verdict of one row (its one stability column, ``stable_verdict``):
    "yes", "no" or "unknown", with the evaluation's note ("unknown: the reference table has no
    compound of Ba-Ti"); "unknown" when the table has no verdict."""
    verdict = row.get("stable_verdict")
    if is_missing(verdict):
        verdict = "unknown"
    note = row.get("stable_note")
    if not is_missing(note):
        note = str(note)
        return note if note.lower().startswith(str(verdict).lower()) else f"{verdict}: {note}"
    if verdict in ("yes", "no") and not is_missing(row.get("e_above_hull")):
        sign = "<" if verdict == "yes" else "≥"
        return f"{verdict} (E_hull {sign} {threshold} eV/atom)"
    return str(verdict)


def visible(row, filter_: str) -> bool:
    """Whether ``row`` passes the filter (one of :data:`FILTERS`)."""
    return (filter_ == "all" or (filter_ == "valid" and bool(row["valid"]))
            or (filter_ == "invalid" and not row["valid"])
            or (filter_ == "S.U.N." and bool(row["sun"])))


def sort_order(table, formulas: Sequence[str], column: str, descending: bool) -> list:
    """Row labels of ``table`` sorted by ``column`` ("index", "formula" or a table column);
    rows without a value (nan, e.g. no CHGNet energy) go last in either direction."""
    if column not in ("index", "formula") and column not in table.columns:
        raise ValueError(f"unknown column {column!r}; choose from "
                         f"{['index', 'formula', *table.columns]}")
    if column == "index":
        values = {i: i for i in table.index}
    elif column == "formula":
        values = {i: formulas[i] for i in table.index}
    else:
        values = {i: table.at[i, column] for i in table.index}
        values = {i: (cell_text(v) if isinstance(v, (list, tuple)) else v)
                  for i, v in values.items()}
    present = [i for i in table.index if not is_missing(values[i])]
    missing = [i for i in table.index if is_missing(values[i])]
    present.sort(key=lambda i: values[i], reverse=descending)
    return present + missing


def _cell(table, formulas, i, column: str) -> str:
    if column == "index":
        return str(i)
    if column == "formula":
        return formulas[i]
    return cell_text(table.at[i, column])


def table_html(table, formulas: Sequence[str], order: Sequence, filter_: str = "all",
               sort_column: str = "index", descending: bool = False, selected=None) -> str:
    """The table as HTML in its own scrolling box (nothing cut); the sort column's header
    carries ▲/▼; an empty filter says "none: no structure is ...". """
    columns = columns_of(table)
    rows = [i for i in order if visible(table.loc[i], filter_)]
    if not rows:
        what = _FILTER_WORDS.get(filter_, filter_)
        return (f"<div class='cl-empty' style='padding:6px;color:#555'>none: no structure "
                f"is {html.escape(what)}.</div>")
    arrow = "▼" if descending else "▲"
    head = "".join(
        f"<th style='text-align:left;padding:3px 8px;border-bottom:2px solid #999;"
        f"vertical-align:bottom'>{html.escape(h)}{' ' + arrow if c == sort_column else ''}"
        f"</th>" for c, h in columns)
    body = []
    for i in rows:
        cells = []
        for c, _ in columns:
            style = "padding:3px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top"
            style += ";white-space:normal;min-width:200px" if c == "reason" else \
                ";white-space:nowrap"
            cells.append(f"<td style='{style}'>{html.escape(_cell(table, formulas, i, c))}</td>")
        mark = " style='background:#eef4ff'" if i == selected else ""
        body.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return ("<div style='max-height:360px;overflow:auto;max-width:100%'>"
            "<table style='border-collapse:collapse;font-size:13px;width:100%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def detail_items(table, i, formula: str, threshold: float) -> list[tuple[str, str]]:
    """(name, text) pairs describing row ``i``: what the dashboard shows beside the viewer."""
    row = table.loc[i]
    items = [("formula", formula), ("atoms", str(row["n_atoms"])),
             ("space group", f"{row['space_group']} ({row['space_group_number']})"
              if row["space_group"] else "n/a"),
             ("valid", "yes" if row["valid"] else f"no: {row['reason']}"),
             ("unique", "yes" if row["unique"] else f"no, same as #{row['duplicate_of']}"
              if not is_missing(row["duplicate_of"]) else "not compared (invalid structure)"),
             ("novel", "yes" if row["novel"] else "no, matches a reference structure"
              if row["structurally_valid"] else "not compared (invalid structure)"),
             ("CHGNet energy", ev_text(row["energy_per_atom"])),
             ("formation energy", ev_text(row["formation_energy_per_atom"])),
             ("E_hull", ev_text(row["e_above_hull"])),
             ("stable", stable_text(row, threshold)),
             ("S.U.N.", "yes" if row["sun"] else "no")]
    for c, h in OPTIONAL_COLUMNS[1:]:
        if c in table.columns and row["valid"]:   # an invalid row has no hull to speak of
            items.append((h, cell_text(row[c])))
    return items
