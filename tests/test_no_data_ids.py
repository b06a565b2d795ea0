"""No piece of the reference data is committed: no Materials Project id in the shipped CHGNet table
or in any committed text file (course notebooks and their stored outputs, the package, benchmark
scripts and results, docs). A structure is named by its split and row in the data set instead
(``"val:812"`` is ``load_dataset("mp_20", "val")[812]``), and the shipped table's rows do point at
the right structures.
"""
from __future__ import annotations

import csv
import gzip
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition

from crystal_lab.datasets import dataset_path
from crystal_lab.evaluate.reference_phases import TABLE_PATH, ReferenceTable

REPO = Path(__file__).resolve().parents[1]
MP_ID = re.compile(r"\b(mp|mvc)-\d+\b")
TABLE_ARRAYS = {"row", "split", "formula", "n_atoms", "e_per_atom", "built", "built_from"}
#: the committed folders (and files) checked, by group, so one group can be run alone
CHECKED = {"crystal_lab": ["crystal_lab"], "benchmarks": ["benchmarks"],
           "notebooks": ["notebooks"], "docs": ["docs", "scripts", "README.md"]}


def committed_files(paths: list[str]) -> list[Path]:
    """The files git tracks under ``paths`` (every file there outside a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=REPO, check=True,
                             capture_output=True, text=True, timeout=60).stdout
        return [REPO / p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        return [p for name in paths for p in sorted((REPO / name).rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts]


def ids_in_text_files(files: list[Path]) -> dict[str, list[str]]:
    """``{file: [ids]}`` of the text files (binary files are skipped) naming an MP id."""
    found = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        ids = sorted({m.group(0) for m in MP_ID.finditer(text)})
        if ids:
            found[str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)] = ids[:5]
    return found


def test_the_id_pattern_finds_ids_and_nothing_else(tmp_path):
    assert MP_ID.search("worst case mp-123456789 GaTe") and MP_ID.search('"mvc-123"')
    assert not MP_ID.search("MP-20 val, mp_20, test:812, built:Al, bump-3")
    (tmp_path / "a.json").write_text('{"material_id": "mp-987654321"}')
    (tmp_path / "b.txt").write_text("MP-20 test row 812")
    (tmp_path / "c.bin").write_bytes(b"\xff\xfe mp-1 \x00")
    found = ids_in_text_files(sorted(tmp_path.iterdir()))
    assert {Path(k).name: v for k, v in found.items()} == {"a.json": ["mp-987654321"]}


def test_shipped_table_holds_no_material_ids():
    with np.load(TABLE_PATH, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert set(arrays) == TABLE_ARRAYS
    for name, values in arrays.items():
        if values.dtype.kind == "U":
            assert not any(MP_ID.search(str(v)) for v in values), name
    assert arrays["row"].dtype.kind == "i"
    assert ((arrays["row"] == -1) == arrays["built"]).all()


@pytest.mark.parametrize("group", sorted(CHECKED))
def test_committed_text_files_hold_no_material_ids(group):
    files = committed_files(CHECKED[group])
    assert files, f"no committed files under {CHECKED[group]}"
    assert ids_in_text_files(files) == {}


def _data_rows(split: str) -> list[dict]:
    path = Path(dataset_path("mp_20", split))
    csv.field_size_limit(1 << 30)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", newline="") as fh:
        return [{k: r[k] for k in ("pretty_formula", "num_atoms")} for r in csv.DictReader(fh)]


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity")
@pytest.mark.parametrize("split", ["val", "test"])
def test_each_table_row_names_its_structure_in_the_data(split):
    """Every row of a split appears once, and the data set's row has the table's formula and
    number of atoms (read from the data's own columns, not from the table)."""
    table = ReferenceTable()
    rows = table.rows(split)
    data = _data_rows(split)
    assert sorted(table.row[rows]) == list(range(len(data)))
    for i in rows:
        d = data[table.row[i]]
        assert int(d["num_atoms"]) == table.n_atoms[i], table.key(i)
        assert (Composition(d["pretty_formula"]).reduced_composition
                == Composition(str(table.formula[i])).reduced_composition), table.key(i)
    assert table.key(int(rows[0])) == f"{split}:{table.row[rows[0]]}"
