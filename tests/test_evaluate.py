"""Evaluation metrics on known cases: validity, uniqueness, novelty, matching, summary,
dashboard."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Structure

from crystal_lab import evaluate as ev
from crystal_lab.structures import to_structure
from crystal_lab.view import EvaluationDashboard


def rocksalt(a: float = 5.64) -> Atoms:
    return bulk("NaCl", "rocksalt", a=a)


def cscl_type(a: float = 3.4) -> Atoms:
    return bulk("NaCl", "cesiumchloride", a=a)


def rotated_translated_permuted_supercell(atoms: Atoms, seed: int = 0) -> Atoms:
    """The same crystal written differently: 2x1x1 supercell, rotated, shifted, atoms reordered."""
    rng = np.random.default_rng(seed)
    sc = atoms.repeat((2, 1, 1))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # a proper rotation
    out = Atoms(sc.numbers, positions=sc.positions @ q.T, cell=sc.cell[:] @ q.T, pbc=True)
    out.translate(rng.normal(size=3))
    out.wrap()
    return out[rng.permutation(len(out))]


# ---------------------------------------------------------------------------------- validity

def test_rocksalt_nacl_is_valid():
    v = ev.validity(rocksalt())
    assert v.valid and v.reason == ""
    assert ev.structural_validity(rocksalt()).valid
    assert ev.smact_validity(rocksalt()).valid


def test_atoms_too_close_are_invalid_with_reason():
    pair = Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[6, 6, 6], pbc=True)
    v = ev.structural_validity(pair)
    assert not v.valid
    assert "0.30 Å apart" in v.reason and "0.5" in v.reason
    # periodic images count: two atoms 0.3 A apart across the cell boundary
    wrapped = Atoms("NaCl", positions=[[0.1, 0, 0], [5.8, 0, 0]], cell=[6, 6, 6], pbc=True)
    assert "0.30 Å apart" in ev.structural_validity(wrapped).reason
    # 0.6 A apart is still valid by the CDVAE definition
    ok = Atoms("NaCl", positions=[[0, 0, 0], [0.6, 0, 0]], cell=[6, 6, 6], pbc=True)
    assert ev.structural_validity(ok).valid


def test_small_volume_absurd_lattice_and_nan_are_invalid():
    flat = Atoms("Na", cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0.005]], pbc=True)
    assert "volume" in ev.structural_validity(flat).reason
    long = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=[61, 5, 5], pbc=True)
    assert "absurd lattice" in ev.structural_validity(long).reason
    nan = Atoms("Na", positions=[[np.nan, 0, 0]], cell=[3, 3, 3], pbc=True)
    assert "non-finite" in ev.structural_validity(nan).reason
    tiny = Atoms("Na", cell=[0.3, 5, 5], pbc=True)  # an atom 0.3 A from its own image
    assert "own periodic image" in ev.structural_validity(tiny).reason


@pytest.mark.parametrize("formula,valid", [
    ("BaTiO3", True), ("NaCl", True), ("LiFePO4", True),
    ("NaCl2", False), ("Na2O3", False),
    ("Fe", True),              # a single element
    ("Fe3Ni", True), ("CuZn", True),  # all-metal alloys
])
def test_smact_validity_known_compositions(formula, valid):
    v = ev.smact_validity(formula)
    assert v.valid is valid
    assert (v.reason == "") is valid


def test_smact_validity_matches_smact_library_with_smact14_states():
    from smact.screening import smact_validity as library

    formulas = ["BaTiO3", "NaCl2", "Fe2O3", "CsPbI3", "Mg2Si", "LiCoO2", "NaO3", "Cu2S",
                "BaS3", "TiN2", "CaC2", "Al2O5", "SrTiO2", "KMnF3", "LaNi5"]
    ours = [ev.smact_validity(f).valid for f in formulas]
    theirs = [library(f, oxidation_states_set="smact14") for f in formulas]
    assert ours == theirs
    assert any(ours) and not all(ours)


def test_smact_validity_of_a_structure_uses_reduced_counts_and_reports_unknown_elements():
    nacl2 = Atoms("NaCl2Na2Cl4", positions=np.random.default_rng(0).uniform(0, 6, (9, 3)),
                  cell=[6, 6, 6], pbc=True)
    assert not ev.smact_validity(nacl2).valid
    masked = Atoms([0, 11], positions=[[0, 0, 0], [2, 2, 2]], cell=[4, 4, 4], pbc=True)
    assert "unknown element" in ev.smact_validity(masked).reason


def test_public_names_are_the_functions_not_the_modules():
    import importlib
    import types

    homes = {"validity": "validation", "uniqueness": "duplicates", "stability": "hull",
             "novelty": "duplicates", "match": "matching", "summarize": "summary",
             "chgnet_energy": "chgnet", "relax": "chgnet"}
    for name, module in homes.items():
        public = getattr(ev, name)
        assert not isinstance(public, types.ModuleType), name
        assert public is getattr(importlib.import_module(f"crystal_lab.evaluate.{module}"), name)
    assert ev.validity(rocksalt()).valid
    assert ev.uniqueness([rocksalt(), rocksalt()]) == pytest.approx(0.5)
    assert not hasattr(ev, "MAX_ATOMS")  # the CHGNet cap is MAX_ATOMS_CHGNET, not the model's
    assert ev.MAX_ATOMS_CHGNET == 64


def test_accepts_atoms_and_structures_one_or_many():
    s = to_structure(rocksalt())
    assert isinstance(s, Structure)
    assert ev.validity(s).valid
    out = ev.validity([rocksalt(), s, Atoms("NaCl", positions=[[0, 0, 0], [0.2, 0, 0]],
                                             cell=[5, 5, 5], pbc=True)])
    assert [v.valid for v in out] == [True, True, False]
    with pytest.raises(TypeError):
        ev.validity(42)


# ---------------------------------------------------------------------------------- uniqueness

def test_supercell_rotated_translated_permuted_counts_as_one():
    base = _rutile()
    copy = rotated_translated_permuted_supercell(base)
    assert len(copy) == 2 * len(base)
    assert ev.duplicate_groups([base, copy]) == [0, 0]
    assert ev.uniqueness([base, copy]) == pytest.approx(0.5)
    # a different polymorph of the same composition stays distinct
    fluorite_type = bulk("CaF2", "fluorite", a=4.9)
    fluorite_type.set_chemical_symbols(["Ti", "O", "O"])
    assert ev.uniqueness([base, copy, rocksalt(), cscl_type()]) == pytest.approx(0.75)
    assert ev.is_unique([base, copy, fluorite_type]) == [True, False, True]


def _rutile(a: float = 4.59, c: float = 2.96, u: float = 0.305) -> Atoms:
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [1 - u, 1 - u, 0],
            [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    return Atoms("Ti2O4", scaled_positions=frac, cell=[a, a, c], pbc=True)


def test_novelty_against_an_explicit_reference():
    reference = [rocksalt(), _rutile()]
    probe = [rotated_translated_permuted_supercell(rocksalt(), 1), cscl_type(), bulk("Cu")]
    assert ev.is_novel(probe, reference) == [False, True, True]
    assert ev.novelty(probe, reference) == pytest.approx(2 / 3)
    assert ev.is_novel(rocksalt(5.7), reference) is False


# ---------------------------------------------------------------------------------- matching

def test_perturbed_structure_matches_original_and_polymorph_does_not():
    original = rocksalt().repeat((2, 1, 1))
    perturbed = original.copy()
    perturbed.rattle(stdev=0.05, seed=1)
    m = ev.match(perturbed, original)
    assert m.matched and 0 < m.rms < 0.05
    assert ev.match(original, original).rms == pytest.approx(0, abs=1e-6)
    miss = ev.match(cscl_type(), original)
    assert not miss.matched and miss.rms is None


def test_match_against_a_reference_list_by_formula():
    references = [_rutile(), cscl_type(), rocksalt()]
    results = ev.match([rocksalt(5.66), bulk("Cu"), cscl_type(3.45)], references)
    assert [r.matched for r in results] == [True, False, True]
    assert [r.reference_index for r in results] == [2, None, 1]


def test_match_rate_is_diffcsp_style():
    preds = [rocksalt(5.66), cscl_type(), Atoms("NaCl", positions=[[0, 0, 0], [0.1, 0, 0]],
                                                 cell=[5, 5, 5], pbc=True)]
    targets = [rocksalt(), rocksalt(), rocksalt()]
    out = ev.match_rate(preds, targets)
    assert out["match_rate"] == pytest.approx(1 / 3)
    assert out["n_matched"] == 1 and out["rms_dist"] < 0.05
    with pytest.raises(ValueError):
        ev.match_rate(preds, targets[:2])


@pytest.mark.parametrize("prediction,target,rate", [
    (rocksalt(), rocksalt(), 1.0),                   # issue 29.6: was 0.0 over n=2 "pairs" (atoms)
    (rocksalt(5.66), to_structure(rocksalt()), 1.0),  # an Atoms against a Structure
    (cscl_type(), rocksalt(), 0.0),                   # a polymorph: one pair, not matched
    (_rutile(), to_structure(_rutile(4.62)), 1.0),      # a slightly larger rutile
])
def test_match_rate_of_one_structure_each_is_one_pair(prediction, target, rate):
    out = ev.match_rate(prediction, target)
    assert out["n"] == 1 and out["match_rate"] == rate, out


def test_match_rate_refuses_one_structure_against_a_list():
    for prediction, targets in ((rocksalt(), [rocksalt(), rocksalt()]), ([rocksalt()], rocksalt())):
        with pytest.raises(ValueError, match="give one structure each, or two lists"):
            ev.match_rate(prediction, targets)


@pytest.mark.parametrize("metric", [
    lambda d: ev.summarize(d, reference=[], stability=False, progress=False),
    ev.validity, ev.structural_validity, ev.uniqueness, ev.novelty,
    lambda d: ev.match(d, rocksalt()), lambda d: ev.chgnet_energy(d, progress=False),
])
def test_a_dict_is_refused_never_scored_by_its_keys(metric):
    """Issue 29.6: summarize of a dict scored its keys (strings) as invalid structures."""
    batch = {"rock salt": rocksalt(), "cesium chloride": cscl_type()}
    with pytest.raises(TypeError, match=r"got a dict: pass list\(d.values\(\)\)"):
        metric(batch)
    summary = ev.summarize(list(batch.values()), reference=[], stability=False, progress=False)
    assert summary.table["valid"].tolist() == [True, True]   # the values, as the message says


# ---------------------------------------------------------------------------------- summary

def test_summary_without_stability(tmp_path):
    batch = [rocksalt(), rotated_translated_permuted_supercell(rocksalt()), cscl_type(),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True),
             Atoms("NaCl2", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]], cell=[5, 5, 5],
                   pbc=True)]
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, progress=False)
    table, rates = summary
    assert len(table) == 5
    assert table["valid"].tolist() == [True, True, True, False, False]
    # the invalid row 3 is never compared: neither unique nor novel (see uniqueness.py)
    assert table["unique"].tolist() == [True, False, True, False, True]
    assert table["novel"].tolist() == [False, False, True, False, True]
    assert table.loc[0, "space_group"] == "Fm-3m" and table.loc[0, "space_group_number"] == 225
    assert "0.30 Å apart" in table.loc[3, "reason"] and "SMACT" in table.loc[4, "reason"]
    assert rates["n_valid"] == 3 and rates["validity"] == pytest.approx(0.6)
    assert rates["uniqueness"] == pytest.approx(0.6) and rates["n_novel"] == 2
    assert np.isnan(rates["sun"]) and (table["stable_verdict"] == "unknown").all()
    assert "E_hull" not in summary.text()
    path = summary.save(tmp_path / "summary.csv")
    with open(path) as fh:
        text = fh.read()
    assert text.startswith("# n=5") and "Fm-3m" in text


@pytest.mark.slow  # ~10 s: reads 40 MP-20 test CIFs and the matching val rows
def test_mp20_test_structures_are_valid_unique_and_mostly_novel():
    from crystal_lab.datasets import load_dataset

    sample = load_dataset("mp_20", "test", limit=40, seed=0)
    structural = [v.valid for v in ev.structural_validity(sample)]
    assert all(structural)
    assert np.mean([v.valid for v in ev.smact_validity(sample)]) > 0.7  # ~0.9 (bench_metrics.py)
    assert ev.uniqueness(sample) == 1.0
    assert ev.novelty(sample) > 0.8  # default reference: MP-20 val through the shipped index


def test_training_structures_are_not_novel_against_the_default_index():
    from crystal_lab.datasets import load_dataset

    training = load_dataset("mp_20", "val", limit=3)
    assert ev.is_novel(training) == [False, False, False]
    assert ev.is_novel(bulk("NaCl", "cesiumchloride", a=3.4)) is True


# ---------------------------------------------------------------------------------- bad input

def bad_structures() -> list:
    return [Atoms("NaCl", positions=[[np.nan, 0, 0], [2, 2, 2]], cell=[5, 5, 5], pbc=True),
            Atoms("NaCl", positions=[[1, 1, 1], [1, 1, 1]], cell=[5, 5, 5], pbc=True),
            Atoms("NaCl", positions=[[0, 0, 0], [1, 1, 1]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]],
                  pbc=True),
            Atoms("Na")]  # a single atom, no cell


def test_bad_structures_get_a_reason_each_and_never_stop_the_batch():
    batch = bad_structures() + [rocksalt()]
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, progress=False)
    table = summary.table
    assert table["valid"].tolist() == [False, False, False, False, True]
    assert "non-finite" in table.loc[0, "reason"]
    assert "0.00 Å apart" in table.loc[1, "reason"]
    assert "volume" in table.loc[2, "reason"] and "volume" in table.loc[3, "reason"]
    assert not table.loc[4, "novel"] and table.loc[4, "unique"]
    assert summary.rates["n_valid"] == 1


def test_empty_batch_gives_an_empty_summary():
    summary = ev.summarize([])
    assert summary.rates["n"] == 0 and len(summary.table) == 0
    assert (
        "hull_complete" in summary.table.columns and "missing_subsystems" in summary.table.columns
    )
    assert np.isnan(summary.rates["validity"])
    assert summary.text().startswith("0 structures")


# ---------------------------------------------------------------------------------- baseline

def test_random_baseline_keeps_the_composition_and_the_training_volume():
    from crystal_lab.evaluate.baseline import VOLUME_PER_ATOM

    formula = ev.random_baseline("Li3PS4", n_samples=3, seed=1)
    assert len(formula) == 3
    assert all(a.get_chemical_formula() == "Li3PS4" for a in formula)
    assert all(a.get_volume() / len(a) == pytest.approx(VOLUME_PER_ATOM) for a in formula)
    scaled = ev.random_baseline("NaCl", n_atoms=8)
    assert scaled[0].get_chemical_formula() == "Cl4Na4"
    system = ev.random_baseline("Li P S Cl", n_samples=20, seed=2)
    assert all(set(a.get_chemical_symbols()) == {"Li", "P", "S", "Cl"} for a in system)
    assert len({len(a) for a in system}) > 1  # random counts
    targets = [_rutile(), rocksalt()]
    per_target = ev.random_baseline(targets, n_samples=2)
    assert [a.get_chemical_formula() for a in per_target] == ["O4Ti2", "O4Ti2", "ClNa", "ClNa"]
    again = ev.random_baseline(targets, n_samples=2)
    assert np.allclose(per_target[0].positions, again[0].positions)  # seeded
    assert not np.allclose(per_target[0].positions, per_target[1].positions)
    with pytest.raises(ValueError):
        ev.random_baseline(None)


def test_summary_shows_the_baseline_beside_every_rate():
    batch = [rocksalt(), _rutile()]
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, baseline=True,
                           progress=False)
    assert summary.baseline.rates["n"] == 2
    assert summary.text().count("random baseline") >= 4
    assert list(summary.compare().index) == ["validity", "uniqueness", "novelty"]
    values = summary.compare().to_numpy(dtype=float).ravel()
    assert all(v == round(v, 3) for v in values[np.isfinite(values)])  # 0.75, not 0.750000


# ---------------------------------------------------------------------------------- dashboard

def test_dashboard_table_sorting_selection_and_save(tmp_path):
    batch = [cscl_type(), rocksalt(), _rutile(),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)]
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, progress=False)
    dash = EvaluationDashboard(batch, summary=summary)
    import ipywidgets

    def descendants(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from descendants(child)

    parts = list(descendants(dash.widget))
    assert isinstance(dash.widget, ipywidgets.Box)
    assert dash.detail in parts and dash.table_html in parts
    dash.sort_by("formula")
    assert [dash.summary.table.loc[i, "formula"] for i in dash.order] == \
        sorted(dash.summary.table["formula"])
    dash.sort_by("formula")  # a second click reverses
    assert [dash.summary.table.loc[i, "formula"] for i in dash.order] == \
        sorted(dash.summary.table["formula"], reverse=True)
    dash.select(3)
    assert dash.selected == 3
    assert "0.30 Å apart" in dash.detail.value
    assert len(dash.bars.data) >= 1
    path = dash.save(tmp_path / "eval.csv")
    with open(path) as fh:
        assert "Fm-3m" in fh.read()


# -------------------------------------------------------------------------------- the bad-row class

def disordered() -> Structure:
    from pymatgen.core import Lattice

    return Structure(Lattice.cubic(4.2), [{"Na": 0.5, "K": 0.5}, "Cl"],
                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def nan_positions() -> Atoms:
    a = rocksalt()
    a.positions[1] = [np.nan, 0, 0]
    return a


BAD_ROWS = [  # (input, words its reason must contain)
    (None, "not a structure"),
    (disordered(), "disordered: partial occupancy on site 0"),
    (Atoms(cell=[4, 4, 4], pbc=True), "no atoms"),
    (nan_positions(), "non-finite"),
    ("NaCl", "not a structure"),
    (42, "not a structure"),
    (Atoms("NaCl", positions=[[0, 0, 0], [2, 0, 0]]), "flat or missing cell"),  # no cell
]


def mixed_batch():
    """Good rows at 0, 2, 4, ...; one bad row of each kind in between."""
    batch = []
    for bad, _ in BAD_ROWS:
        batch += [rocksalt(), bad]
    return batch + [_rutile()]


def test_every_bad_kind_gets_a_reason_and_the_good_rows_are_still_scored():
    batch = mixed_batch()
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, progress=False)
    table = summary.table
    assert len(table) == len(batch)
    good = list(range(0, 2 * len(BAD_ROWS), 2)) + [len(batch) - 1]
    bad = list(range(1, 2 * len(BAD_ROWS), 2))
    assert table.loc[good, "valid"].all() and not table.loc[bad, "valid"].any()
    for i, (_, words) in zip(bad, BAD_ROWS, strict=True):
        assert words in table.loc[i, "reason"], (i, table.loc[i, "reason"])
        assert not table.loc[i, "unique"] and not table.loc[i, "novel"]
    # the rock salts are one crystal; rutile is new
    assert table.loc[good, "unique"].tolist() == [True] + [False] * (len(BAD_ROWS) - 1) + [True]
    assert table.loc[len(batch) - 1, "novel"] and not table.loc[0, "novel"]
    assert summary.rates["n_valid"] == len(good)


def test_the_single_metrics_give_bad_rows_a_verdict_and_keep_the_rest():
    batch = mixed_batch()
    n_bad = len(BAD_ROWS)
    struct = ev.structural_validity(batch)
    comp = ev.smact_validity(batch)
    assert [v.valid for v in struct] == [True, False] * n_bad + [True]
    for v, (_, words) in zip(struct[1::2], BAD_ROWS, strict=True):
        assert not v and words in v.reason
    assert all(comp[0::2])
    assert not comp[3] and "disordered" in comp[3].reason
    assert comp[7].valid  # a NaN structure still has a composition: NaCl is charge balanced
    labels = ev.duplicate_groups(batch)
    assert labels[1::2][:n_bad] == [-1] * n_bad and labels[0] == 0 and labels[2] == 0
    assert ev.is_unique(batch).count(True) == 2 and ev.uniqueness(batch) == pytest.approx(
        2 / len(batch)
    )
    novel = ev.is_novel(batch, reference=[rocksalt()])
    assert novel == [False, False] * n_bad + [True]
    targets = [rocksalt()] * len(batch)
    rate = ev.match_rate(batch, targets)
    # the n_bad rock salts match; rutile is compared and does not; the bad rows are not compared
    assert rate["n_matched"] == n_bad and rate["n_invalid"] == n_bad
    assert set(rate["reasons"]) == set(range(1, 2 * n_bad, 2))
    assert "prediction: disordered" in rate["reasons"][3]
    matches = ev.match(batch, rocksalt())
    assert all(m.matched for m in matches[0:2 * n_bad:2])
    assert all(not m.matched and m.reason.startswith("invalid") for m in matches[1::2][:n_bad])
    with pytest.warns(UserWarning, match=f"skipped {n_bad - 2} of {len(batch)} target"):
        random = ev.random_baseline(batch, seed=0)
    assert len(random) == len(batch) - (n_bad - 2)  # NaN and cell-less rows keep a composition
    assert all(len(a) for a in random)


def test_identical_copies_are_one_crystal_and_identical_invalid_copies_none():
    copies = [rocksalt(), rocksalt(), rocksalt().copy()]
    assert ev.is_unique(copies) == [True, False, False]
    flat = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]],
                 cell=[[5, 0, 0], [4.9999, 0.001, 0], [0, 0, 5]], pbc=True)
    assert ev.is_unique([flat, flat.copy()]) == [False, False]
    table = ev.summarize([flat, flat.copy(), rocksalt(), rocksalt()], reference=[rocksalt()],
                         stability=False, progress=False).table
    assert table["unique"].tolist() == [False, False, True, False]
    assert table["duplicate_of"].isna().tolist() == [True, True, False, False]


def test_validity_prints_readably_with_the_readers_formula():
    assert repr(ev.Validity(True)) == "<Validity valid>" and str(ev.Validity(True)) == "valid"
    close = ev.structural_validity(Atoms("NaCl", positions=[[0, 0, 0], [0.4, 0, 0]],
                                         cell=[6, 6, 6], pbc=True))
    assert str(close) == "invalid: atoms 0 (Na) and 1 (Cl) are 0.40 Å apart (< 0.5 Å)"
    for symbols, written in [("OTiBa3", "Ba3TiO"), ("ONa3", "Na3O"), ("ClNa2", "Na2Cl"),
                             ("O3Ca2", "Ca2O3")]:
        atoms = Atoms(symbols, positions=np.arange(3 * len(Atoms(symbols))).reshape(-1, 3),
                      cell=[20, 20, 20], pbc=True)
        reason = ev.smact_validity(atoms).reason
        assert reason.startswith(f"{written}: no charge-neutral"), reason


# ---------------------------------------------------------------------------------- memory class

MEMORY_CHECK = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (__LIMIT__, __LIMIT__))
import numpy as np
from ase import Atoms
from ase.build import bulk
import crystal_lab.evaluate as ev

def cell(c, symbols="NaCl", frac=((0, 0, 0), (0.5, 0.5, 0.5))):
    return Atoms(symbols, scaled_positions=frac, cell=c, pbc=True)

cases = {
    "flat": cell([[5, 0, 0], [4.9999, 0.001, 0], [0, 0, 5]]),
    "near-singular": cell([[5, 0, 0], [4.99, 0.01, 0], [0, 0, 5]]),
    "sliver": cell([[6, 0, 0], [0, 6, 0], [3, 3, 0.004]]),
    "absurd volume": cell([[500, 0, 0], [0, 500, 0], [0, 0, 500]]),
    "overlapping": cell([[5, 0, 0], [0, 5, 0], [0, 0, 5]], frac=((0, 0, 0), (0, 0, 1e-4))),
}
for name, bad in cases.items():
    batch = [bad, bad.copy()]
    t = ev.summarize(batch, reference=[bulk("NaCl", "rocksalt", a=5.64)], stability=False,
                     progress=False).table
    assert not t["valid"].any() and not t["unique"].any(), (name, t)
    assert ev.is_unique(batch) == [False, False], name
    assert ev.is_novel(bad) is False, name
    assert not ev.match(bad, bad.copy()).matched, name
    assert ev.match_rate(batch, batch, require_valid=False)["n_matched"] == 0, name
    assert ev.rms_distance(bad, bad.copy()) is None, name
# a big valid cell: the closest-pair search grows with the atoms (a 27-image distance matrix of
# 4,000 atoms would need about 10 GB)
big = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((10, 10, 5))
assert len(big) == 4000
assert ev.structural_validity(big).valid, ev.structural_validity(big)
squeezed = big.copy()
squeezed.positions[5] = squeezed.positions[4] + [0.1, 0, 0]
assert "0.10 Å apart" in ev.structural_validity(squeezed).reason
print("peak MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_invalid_cells_never_reach_the_matchers_under_a_memory_limit():
    """Before: summarize([flat, flat]) grew to 19 GB in pymatgen's StructureMatcher. Here it runs
    in a child process limited to 3 GB of address space and 300 s, so it fails instead of
    taking the machine down."""
    import os
    import subprocess
    import sys

    limit = 3 << 30
    result = subprocess.run([sys.executable, "-c", MEMORY_CHECK.replace("__LIMIT__", str(limit))],
                            check=False, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "peak MB" in result.stdout


def test_summarize_converts_each_structure_once(monkeypatch):
    import sys

    from crystal_lab import structures

    conversions = []
    original = structures.to_structure

    def counting(x):
        if isinstance(x, Atoms):
            conversions.append(x)
        return original(x)

    for name, module in list(sys.modules.items()):
        if name.startswith("crystal_lab") and getattr(module, "to_structure", None) is original:
            monkeypatch.setattr(module, "to_structure", counting)
    batch = [rocksalt(), rocksalt(5.5), _rutile(), cscl_type()]
    reference = [to_structure(rocksalt())]  # already a Structure: nothing to convert
    summary = ev.summarize(batch, reference=reference, stability=False, progress=False)
    assert summary.table["valid"].all()
    assert len(conversions) == len(batch)
    assert all(any(c is b for c in conversions) for b in batch)


# --------------------------------------------------------------------------------- nonsense numbers

@pytest.mark.parametrize("kwargs,words", [
    ({"volume_per_atom": -5}, "volume_per_atom"), ({"volume_per_atom": 0}, "volume_per_atom"),
    ({"volume_per_atom": float("nan")}, "volume_per_atom"),
    ({"volume_per_atom": float("inf")}, "volume_per_atom"),
    ({"volume_per_atom": 1e9}, "volume_per_atom"), ({"volume_per_atom": "20"}, "volume_per_atom"),
    ({"n_samples": -1}, "n_samples"), ({"n_samples": 2.5}, "n_samples"),
    ({"n_samples": 10**7}, "the cap is"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"n_atoms": 0}, "n_atoms"), ({"n_atoms": True}, "n_atoms"),
])
def test_random_baseline_refuses_nonsense_numbers(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ev.random_baseline("NaCl", **kwargs)
    if "n_atoms" not in kwargs:
        with pytest.raises(ValueError, match=words):
            ev.random_baseline([rocksalt()], **kwargs)


def test_random_baseline_accepts_numpy_numbers():
    out = ev.random_baseline("NaCl", n_samples=np.int64(2), seed=np.int64(3),
                             volume_per_atom=np.float64(25.0))
    assert len(out) == 2 and out[0].get_volume() / 2 == pytest.approx(25.0)


@pytest.mark.parametrize("kwargs,error", [
    ({"threshold": float("nan")}, ValueError), ({"threshold": "0.1"}, ValueError),
    ({"steps": -3}, ValueError), ({"steps": 2.5}, ValueError), ({"fmax": 0}, ValueError),
    ({"fmax": float("inf")}, ValueError), ({"max_atoms": 0}, ValueError),
    ({"relax": "yes"}, TypeError), ({"progress": 2}, TypeError),
])
def test_stability_settings_refuse_nonsense(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        ev.StabilitySettings(**kwargs)
    with pytest.raises(error, match=next(iter(kwargs))):
        ev.summarize([rocksalt()], reference=[rocksalt()], **kwargs)


@pytest.mark.parametrize("kwargs", [{"cutoff": -0.5}, {"min_volume": 0}, {"max_length": np.nan}])
def test_validity_tolerances_must_be_positive(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ev.structural_validity(rocksalt(), **kwargs)


def test_callback_must_be_a_function():
    with pytest.raises(TypeError, match="callback must be a function"):
        ev.summarize([rocksalt()], stability=False, callback=123)


def test_a_summary_displays_as_its_report():
    summary = ev.summarize([rocksalt(), cscl_type()], reference=[rocksalt()], stability=False,
                           progress=False)
    assert repr(summary).startswith("<Summary: 2 structures") and "DataFrame" not in repr(summary)
    assert summary.report() == summary.text() == str(summary)
    assert "valid:      2  (100.0 %)" in summary.text()
    assert (
        "unique:     2  (100.0 %)" in summary.text() and "novel:      1  (50.0 %)" in summary.text()
    )


@pytest.mark.parametrize("viewer", ["plotly", "nglview"])
def test_the_dashboard_shows_bad_rows_with_their_reason(viewer):
    import re

    batch = mixed_batch()
    summary = ev.summarize(batch, reference=[rocksalt()], stability=False, progress=False)
    dash = EvaluationDashboard(batch, summary=summary, viewer=viewer)
    for i in range(len(batch)):
        dash.select(i)  # no row raises, bad or good
        text = re.sub(r"<[^>]+>", " ", dash.detail.value)
        if i % 2 and i < 2 * len(BAD_ROWS):
            assert BAD_ROWS[i // 2][1] in text
            assert "not compared (invalid structure)" in text and "#<NA>" not in text
    dash.select(0)
    assert dash.view_box.layout.display != "none"


def test_the_closest_pair_agrees_with_the_distance_matrix():
    rng = np.random.default_rng(7)
    for _ in range(30):
        n = int(rng.integers(2, 9))
        cell = np.diag(rng.uniform(2.0, 6.0, 3)) + rng.uniform(-1, 1, (3, 3))
        atoms = Atoms(["Na"] * n, scaled_positions=rng.uniform(0, 1, (n, 3)), cell=cell, pbc=True)
        s = to_structure(atoms)
        dist = s.distance_matrix + np.diag(np.full(n, np.inf))
        expected = float(dist.min())
        verdict = ev.structural_validity(atoms, cutoff=1.0)
        if expected < 1.0:
            assert f"{expected:.2f} Å apart" in verdict.reason, (expected, verdict)
        else:
            assert verdict.valid or "own periodic image" in verdict.reason


def test_bad_reference_rows_are_never_candidates():
    flat = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]],
                 cell=[[5, 0, 0], [4.9999, 0.001, 0], [0, 0, 5]], pbc=True)
    reference = [None, disordered(), flat, rocksalt()]
    assert ev.is_novel([rocksalt(), cscl_type()], reference=reference) == [False, True]
    best = ev.match(rocksalt(5.6), reference)
    assert best.matched and best.reference_index == 3
    from crystal_lab.evaluate.duplicates import reference_index

    index = reference_index(reference)
    assert sorted(i for i, _ in index.skipped) == [0, 1, 2]  # flat: found when NaCl was matched


# ------------------------------------------------------------------------- one formula, one verdict

def _perovskite_written_backwards() -> Atoms:
    return Atoms("O3TiBa", cell=[4.0] * 3, pbc=True, scaled_positions=[
        [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 0]])


def test_every_output_writes_formulas_as_chemists_do(tmp_path):
    """Issue 30.6: the evaluation table, the dashboard, CIF names, reference phases and reasons
    all use crystal_lab.structures.formula (BaTiO3, Li3PS2Cl2), never Hill order or groups."""
    from crystal_lab.workspace import structure_file_names

    argyrodite_like = Atoms("Cl2S2PLi3", cell=[6.0] * 3, pbc=True,
                            scaled_positions=np.random.default_rng(3).uniform(0, 1, (8, 3)))
    batch = [_perovskite_written_backwards(), argyrodite_like, Atoms("Cl2Na", cell=[6.0] * 3,
             pbc=True, scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])]
    summary = ev.summarize(batch, reference=[], stability=False, progress=False)
    assert summary.table["formula"].tolist() == ["BaTiO3", "Li3PS2Cl2", "NaCl2"]
    assert summary.table.loc[2, "reason"].startswith("NaCl2: no charge-neutral")
    dash = EvaluationDashboard(batch, summary=summary, viewer="plotly")
    assert dash.formulas == ["BaTiO3", "Li3PS2Cl2", "NaCl2"]
    assert "BaTiO3" in dash.table_html_text() and "BaO3Ti" not in dash.table_html_text()
    assert structure_file_names(batch) == ["000_BaTiO3.cif", "001_Li3PS2Cl2.cif",
                                           "002_NaCl2.cif"]
    names = [e.name for e in ev.reference_table().entries(["Li", "Co", "O"])]
    assert "LiCo2O4" in names and not any("(" in n for n in names)  # pymatgen: Li(CoO2)2


def test_stability_is_said_once_in_the_table_the_dashboard_and_the_saved_results(tmp_path):
    """Issue 28.5: one stability column (yes / no / unknown), not a boolean beside a verdict."""
    import zipfile
    from pathlib import Path

    from crystal_lab.workspace import save_results

    summary = ev.summarize([rocksalt()], reference=[], stability=False, progress=False)
    table = summary.table
    stability_columns = [c for c in table.columns if c.startswith("stable")]
    assert stability_columns == ["stable_verdict", "stable_note"]   # the verdict and why
    assert set(table["stable_verdict"]) <= {"yes", "no", "unknown"}
    dash = EvaluationDashboard([rocksalt()], summary=summary, viewer="plotly")
    assert dash.table_html_text().count(">stable<") == 1
    saved = save_results(tmp_path / "r.zip", [rocksalt()], table=table)
    with zipfile.ZipFile(saved) as zf:
        header = zf.read("evaluation.csv").decode().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("stable")] == ["stable_verdict", "stable_note"]
    csv_lines = Path(summary.save(tmp_path / "t.csv")).read_text().splitlines()
    csv_header = csv_lines[1].split(",")   # line 0: the rates as a comment
    assert [c for c in csv_header if c.startswith("stable")] == ["stable_verdict", "stable_note"]


def test_no_function_shadows_its_module():
    """Issue 28.5: ``import crystal_lab.evaluate.<m>`` is the module for every submodule m."""
    import importlib
    import pkgutil
    import types

    for info in pkgutil.iter_modules(ev.__path__):
        module = importlib.import_module(f"crystal_lab.evaluate.{info.name}")
        assert getattr(ev, info.name, module) is module, info.name
        assert not callable(getattr(module, info.name, None)), info.name
        assert isinstance(module, types.ModuleType)
