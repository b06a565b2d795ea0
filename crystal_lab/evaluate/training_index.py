"""The novelty reference (MP-20 val, the training data) without parsing 9,047 CIFs.

Novelty compares a structure only with the reference structures of the same reduced formula, and
most generated formulas match none. The shipped CHGNet table (:mod:`.reference_phases`) already
holds the reduced formula and data row of every MP-20 val structure, so it is the index: a
formula with no entry is novel at once, and for a formula with entries only those few rows are
read from the data layer (``crystal_lab.datasets``; the CSV text is read once, ~0.3 s, and only the
matching CIFs are parsed, then cached). Nothing from the data set is shipped beyond the formula
and the row number.
"""
from __future__ import annotations

import csv
import gzip
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from .reference_phases import reference_table

STRUCTURE_CACHE_SIZE = 2048


@lru_cache(maxsize=2)
def _cif_text(name: str, split: str) -> list[str]:
    """The CIF of every row of one data set split, in the data layer's row order, read as text
    (no CIF is parsed here)."""
    from crystal_lab.datasets import dataset_path

    path = Path(dataset_path(name, split))
    opener = gzip.open if path.suffix == ".gz" else open
    csv.field_size_limit(1 << 30)
    with opener(path, "rt", newline="") as fh:
        return [row["cif"] for row in csv.DictReader(fh)]


class TrainingIndex:
    """MP-20 val by reduced formula, from the shipped table; structures are loaded lazily.

    The same interface as :class:`~crystal_lab.evaluate.duplicates.ReferenceIndex`:
    ``candidates(formula)`` gives row numbers, ``structure(i)`` the pymatgen Structure of one row.
    """

    name, split = "mp_20", "val"

    def __init__(self):
        table = reference_table()
        rows = table.rows(self.split)
        self.data_rows = table.row[rows]
        self.by_formula: dict[str, list[int]] = {}
        for k, f in enumerate(table.formula[rows]):
            self.by_formula.setdefault(str(f), []).append(k)
        self._structures: OrderedDict[int, object] = OrderedDict()

    def __len__(self) -> int:
        return len(self.data_rows)

    def candidates(self, formula: str) -> list[int]:
        return self.by_formula.get(formula, [])

    def data_row(self, i: int) -> int:
        """The row of ``i`` in the data set split (``load_dataset(name, split)[row]``)."""
        return int(self.data_rows[i])

    def structure(self, i: int):
        if i in self._structures:
            self._structures.move_to_end(i)
            return self._structures[i]
        import warnings

        from pymatgen.core import Structure

        cif = _cif_text(self.name, self.split)[self.data_row(i)]
        with warnings.catch_warnings():  # CIF rounding notes and noble-gas electronegativities
            warnings.simplefilter("ignore")
            s = Structure.from_str(cif, fmt="cif")
        self._structures[i] = s
        while len(self._structures) > STRUCTURE_CACHE_SIZE:
            self._structures.popitem(last=False)
        return s


@lru_cache(maxsize=1)
def load_training_index() -> TrainingIndex:
    """The :class:`TrainingIndex` of MP-20 val, built once per session (milliseconds)."""
    return TrainingIndex()



