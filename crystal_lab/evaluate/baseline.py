"""A random baseline: the floor every generated-crystal rate should be read against.

:func:`random_baseline` places atoms uniformly at random in a cell whose volume is the training
set's mean volume per atom times the number of atoms: the "random search" row of the
crystal-structure-prediction tables (e.g. DiffCSP, Jiao et al. NeurIPS 2023, Table 1), without
any relaxation. Whatever rate a model reaches, the same rate of random structures with the same
compositions is the part of it the model did not have to learn.

The cell: three lengths with ratios drawn uniformly from [0.8, 1.25] and three angles uniformly
from [70, 110] degrees, scaled to the volume. ``VOLUME_PER_ATOM`` = 20.12 A^3 is the mean over
MP-20 val (9,047 structures, measured with pymatgen); the median is 18.3.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..prompts import MAX_ATOMS

VOLUME_PER_ATOM = 20.12  # A^3/atom, mean of MP-20 val (the training data)
#: a sensible range of volume per atom (A^3): MP-20 spans about 5-90
VOLUME_PER_ATOM_RANGE = (1.0, 1000.0)
#: at most this many random structures per call (about 1 KB each); call again for more
MAX_BASELINE_STRUCTURES = 100_000


def _cell(n_atoms: int, rng: np.random.Generator, volume_per_atom: float) -> np.ndarray:
    from ase.geometry import cellpar_to_cell

    lengths = rng.uniform(0.8, 1.25, size=3)
    angles = rng.uniform(70.0, 110.0, size=3)
    cell = cellpar_to_cell(np.concatenate([lengths, angles]))
    volume = abs(np.linalg.det(cell))
    return cell * (n_atoms * volume_per_atom / volume) ** (1 / 3)


def _random_structure(counts: dict[str, int], rng: np.random.Generator,
                      volume_per_atom: float):
    from ase import Atoms

    symbols = [el for el, n in counts.items() for _ in range(n)]
    cell = _cell(len(symbols), rng, volume_per_atom)
    atoms = Atoms(symbols, scaled_positions=rng.uniform(0, 1, size=(len(symbols), 3)),
                  cell=cell, pbc=True)
    atoms.info["source"] = "random baseline"
    return atoms


def _training_n_atoms() -> np.ndarray:
    """Atoms per structure of MP-20 val (from the shipped table); 1..MAX_ATOMS if it is missing."""
    try:
        from .reference_phases import reference_table

        table = reference_table()
        return table.n_atoms[table.rows("val")]
    except FileNotFoundError:
        return np.arange(1, MAX_ATOMS + 1)


def _system_counts(elements, n_atoms: int | None, rng: np.random.Generator) -> dict[str, int]:
    k = len(elements)
    if n_atoms is None:
        sizes = _training_n_atoms()
        sizes = sizes[sizes >= k]
        n_atoms = int(rng.choice(sizes)) if len(sizes) else k
    extra = rng.multinomial(n_atoms - k, np.full(k, 1 / k))
    return {el: 1 + int(x) for el, x in zip(elements, extra, strict=True)}


def random_baseline(prompt_or_targets, n_atoms: int | None = None, n_samples: int = 1,
                    seed: int = 0, volume_per_atom: float = VOLUME_PER_ATOM) -> list:
    """Random crystals: atoms placed uniformly in a cell of the training set's volume per atom.

    ``prompt_or_targets``:

    * a formula (``"NaCl"``, ``"Li3PS4"``): ``n_samples`` structures of exactly that composition
      (scaled to ``n_atoms`` if given, as :func:`crystal_lab.prompts.parse_prompt` does);
    * a chemical system (``"Li P S Cl"`` or ``["Li", "P", "S"]``): random counts of those elements
      (every element at least once), ``n_atoms`` atoms or a size drawn from the training data;
    * a list of ``ase.Atoms`` / pymatgen ``Structure`` (e.g. a model's samples or CSP targets):
      ``n_samples`` random structures per target, each with that target's composition.

    Returns a list of ``ase.Atoms`` (``atoms.info["source"] = "random baseline"``); reproducible
    for a given ``seed``. A target with no known composition (None, not a structure, a
    disordered Structure, no atoms, masked atoms) is skipped with one warning naming the rows.
    Nonsense numbers (``volume_per_atom`` outside 1-1000 A^3, a negative ``n_samples`` or
    ``seed``, more than ``MAX_BASELINE_STRUCTURES`` structures) raise ``ValueError``.
    """
    from ..prompts import PromptError, parse_prompt
    from ..structures import is_single
    from .rows import rows_of

    _check_arguments(n_samples, seed, volume_per_atom, n_atoms)
    rng = np.random.default_rng(seed)
    if is_single(prompt_or_targets):
        prompt_or_targets = [prompt_or_targets]
    if isinstance(prompt_or_targets, (list, tuple)) and prompt_or_targets and \
            not all(isinstance(x, str) for x in prompt_or_targets):
        rows, _ = rows_of(list(prompt_or_targets))
        _check_total(n_samples * len(rows))
        out, skipped = [], []
        for i, row in enumerate(rows):
            if not row.symbols or "X" in row.symbols:
                skipped.append(f"row {i}: {row.problem or 'masked atoms (X)'}")
                continue
            counts: dict[str, int] = {}
            for el in row.symbols:
                counts[el] = counts.get(el, 0) + 1
            out += [_random_structure(counts, rng, volume_per_atom) for _ in range(n_samples)]
        if skipped:
            warnings.warn(f"random_baseline: skipped {len(skipped)} of {len(rows)} target(s) "
                          "with no known composition: " + "; ".join(skipped[:5]), stacklevel=2)
        return out
    _check_total(n_samples)
    condition = parse_prompt(prompt_or_targets, n_atoms=n_atoms, max_atoms=MAX_ATOMS)
    if condition.kind == "formula":
        return [_random_structure(dict(condition.counts), rng, volume_per_atom)
                for _ in range(n_samples)]
    if condition.kind == "chemical_system":
        return [_random_structure(_system_counts(condition.elements, n_atoms, rng), rng,
                                  volume_per_atom) for _ in range(n_samples)]
    raise PromptError("random_baseline needs a formula, a chemical system or a list of target "
                      "structures (for unconditional samples, pass the samples as targets)")


def _check_arguments(n_samples, seed, volume_per_atom, n_atoms) -> None:
    from ..arguments import is_number

    if not is_number(n_samples, integer=True) or n_samples < 0:
        raise ValueError(f"n_samples must be a whole number >= 0, got {n_samples!r}")
    if seed is not None and (not is_number(seed, integer=True) or seed < 0):
        raise ValueError(f"seed must be a whole number >= 0 (or None), got {seed!r}")
    lo, hi = VOLUME_PER_ATOM_RANGE
    if not is_number(volume_per_atom) or not lo <= volume_per_atom <= hi:  # NaN fails too
        raise ValueError(f"volume_per_atom must be a number of A^3 per atom between {lo:g} and "
                         f"{hi:g} (MP-20's mean is {VOLUME_PER_ATOM}), got {volume_per_atom!r}")
    if n_atoms is not None and (not is_number(n_atoms, integer=True) or n_atoms < 1):
        raise ValueError(f"n_atoms must be a whole number >= 1 (or None), got {n_atoms!r}")


def _check_total(total: int) -> None:
    if total > MAX_BASELINE_STRUCTURES:
        raise ValueError(f"{total} random structures asked for in one call; the cap is "
                         f"{MAX_BASELINE_STRUCTURES} (about 1 KB each): call random_baseline "
                         "several times for more")
