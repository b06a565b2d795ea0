"""The shipped index of training templates: each distinct template of MP-20 ``val`` and how many
crystals have it.

The index holds derived statistics only (a space group, Wyckoff letters, primitive-cell
multiplicities, an element per orbit, a count): no coordinates, lattices or material ids.
``scripts/build_template_index.py`` rebuilds it from the data layer; the file records the data
set, the split, spglib's tolerance and spglib's version. It is read once, on first use.
"""
from __future__ import annotations

import gzip
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .templates import Orbit, Template

#: the files shipped in ``crystal_lab/symmetry/data``
INDEX_FILE = "templates_mp20_val.json.gz"
SIMILARITY_FILE = "element_similarity.json.gz"
_ORBIT = re.compile(r"([a-zA])(\d+)([A-Z][a-z]?)?$")


def encode_orbits(template: Template) -> str:
    """``"a1Na b1Cl"``: letter, primitive multiplicity, element (none for an open orbit)."""
    return " ".join(f"{o.letter}{o.multiplicity}{o.element or ''}" for o in template.orbits)


def decode_template(space_group: int, text: str) -> Template:
    """The template of :func:`encode_orbits`' text."""
    orbits = []
    for token in text.split():
        match = _ORBIT.match(token)
        if match is None:
            raise ValueError(f"not an orbit: {token!r} (letter, multiplicity, element: 'a1Na')")
        orbits.append(Orbit(match[1], int(match[2]), match[3]))
    return Template.make(space_group, orbits)


@dataclass(frozen=True)
class TemplateIndex:
    """Distinct templates and their counts; ``meta`` says where they come from."""

    templates: tuple[Template, ...]
    counts: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        """The number of crystals the index was built from (the sum of the counts)."""
        return int(self.counts.sum())

    @cached_property
    def _count_of(self) -> dict[Template, int]:
        return {t: int(c) for t, c in zip(self.templates, self.counts, strict=True)}

    @cached_property
    def open_counts(self) -> dict[Template, int]:
        """The templates with their elements removed (:meth:`Template.opened`) and their counts."""
        out: dict[Template, int] = defaultdict(int)
        for t, c in zip(self.templates, self.counts, strict=True):
            out[t.opened()] += int(c)
        return dict(out)

    def count(self, template: Template) -> int:
        """How many indexed crystals have this template (in canonical form); for an open template
        (no elements), how many have its space group and Wyckoff pattern."""
        if template.is_open:
            return self.open_counts.get(template.opened(), 0)
        return self._count_of.get(template, 0)

    @cached_property
    def by_signature(self) -> dict[tuple[int, ...], list[int]]:
        """Template positions grouped by their sorted per-element atom counts ((1, 1) for NaCl)."""
        out: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, t in enumerate(self.templates):
            out[signature(t.counts)].append(i)
        return dict(out)

    def to_json(self) -> dict:
        return {**self.meta, "n_templates": len(self.templates), "n_structures": self.total,
                "templates": [[t.space_group, encode_orbits(t), int(c)]
                              for t, c in zip(self.templates, self.counts, strict=True)]}

    @classmethod
    def from_json(cls, data: dict) -> TemplateIndex:
        rows = data["templates"]
        meta = {k: v for k, v in data.items() if k != "templates"}
        return cls(tuple(decode_template(sg, text) for sg, text, _ in rows),
                   np.array([c for *_, c in rows], dtype=np.int64), meta)

    def save(self, path) -> Path:
        """Write the gzipped JSON file (deterministic bytes: no time stamp in the gzip header)."""
        path = Path(path)
        text = json.dumps(self.to_json(), separators=(",", ":"))
        with open(path, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(text.encode())
        return path


def signature(counts: dict[str, int]) -> tuple[int, ...]:
    """A composition's per-element atom counts, sorted: what a template must match to be relabelled
    onto it."""
    return tuple(sorted(counts.values()))


def build_index(templates, meta: dict) -> TemplateIndex:
    """Count the templates (most frequent first, then by space group and orbits)."""
    counted: dict[Template, int] = defaultdict(int)
    for t in templates:
        counted[t] += 1
    order = sorted(counted, key=lambda t: (-counted[t], t.space_group, encode_orbits(t)))
    return TemplateIndex(tuple(order), np.array([counted[t] for t in order], dtype=np.int64), meta)


def _read_data(name: str) -> dict:
    source = resources.files("crystal_lab.symmetry").joinpath("data", name)
    return json.loads(gzip.decompress(source.read_bytes()))


@lru_cache(maxsize=1)
def _similarity_table() -> dict:
    data = _read_data(SIMILARITY_FILE)
    pairs = {}
    for key, value in data["pairs"].items():
        a, b = key.split()
        pairs[a, b] = pairs[b, a] = float(value)
    return {**data, "pairs": pairs}


def electronegativity() -> dict[str, float]:
    """Pauling electronegativities (pymatgen's, shipped with the similarity table; noble gases
    without one are missing)."""
    return _similarity_table()["electronegativity"]


@lru_cache(maxsize=8192)
def element_similarity(a: str, b: str) -> float:
    """How readily element ``b`` takes element ``a``'s place in a crystal: 1 for the same element,
    else in (0, 1): pymatgen's substitution probabilities summed over oxidation states, times
    exp(-(electronegativity difference / 0.7)^2) (Na/K 0.23, Cl/Br 0.31, Na/Cl 1e-6)."""
    if a == b:
        return 1.0
    table = _similarity_table()
    value = table["pairs"].get((a, b), table["floor"])
    chi = table["electronegativity"]
    if a in chi and b in chi:
        value *= math.exp(-(((chi[a] - chi[b]) / table["sigma"]) ** 2))
    return value


@lru_cache(maxsize=4)
def load_index(path: str | None = None) -> TemplateIndex:
    """The shipped index (or the one at ``path``), read once and cached."""
    if path is None:
        return TemplateIndex.from_json(_read_data(INDEX_FILE))
    return TemplateIndex.from_json(json.loads(gzip.decompress(Path(path).read_bytes())))
