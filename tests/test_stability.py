"""CHGNet stability on known cases against the shipped MP-20 reference table.

CHGNet's weights ship in the chgnet wheel (offline). The hull tests need the shipped table
``crystal_lab/evaluate/data/mp20_chgnet.npz`` (built by scripts/build_reference_table.py); the
logic tests build a tiny table of their own.
"""
from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Structure

from crystal_lab import evaluate as ev
from crystal_lab.evaluate.reference_phases import ReferenceTable, subsystems
from crystal_lab.structures import to_structure
from crystal_lab.view import EvaluationDashboard

chgnet_module = importlib.import_module("crystal_lab.evaluate.chgnet")
hull_module = importlib.import_module("crystal_lab.evaluate.hull")


def rocksalt(a: float = 5.64) -> Atoms:
    return bulk("NaCl", "rocksalt", a=a)


def cubic_srtio3(a: float = 3.91) -> Atoms:
    return Atoms("SrTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0],
                                             [0.5, 0, 0.5], [0, 0.5, 0.5]], cell=[a] * 3, pbc=True)


def tiny_table(tmp_path, rows):
    """An npz in the shipped layout from (row, split, formula, n_atoms, e_per_atom); ``row`` is
    the structure's row in its data set split, -1 for a built reference."""
    path = tmp_path / "table.npz"
    cols = list(zip(*rows, strict=True))
    np.savez(path, row=np.array(cols[0], dtype=np.int32), split=np.array(cols[1]),
             formula=np.array(cols[2]), n_atoms=np.array(cols[3], dtype=np.int16),
             e_per_atom=np.array(cols[4], dtype=np.float32),
             built=np.array([s == "built" for s in cols[1]]),
             built_from=np.array(["fcc" if s == "built" else "" for s in cols[1]]))
    return path


# ---------------------------------------------------------------------------------- CHGNet

def test_compressed_nacl_is_higher_in_energy_than_equilibrium():
    e_eq, e_compressed, e_expanded = ev.chgnet_energy(
        [rocksalt(5.64), rocksalt(5.0), rocksalt(6.3)], progress=False)
    assert e_compressed > e_eq + 0.1
    assert e_expanded > e_eq
    assert -4.5 < e_eq < -3.0  # CHGNet / MP scale for NaCl: about -3.67 eV/atom
    assert isinstance(ev.chgnet_energy(rocksalt(), progress=False), float)


def test_relaxation_is_bounded_lowers_energy_and_keeps_the_input_type():
    squeezed = rocksalt(5.2)
    relaxed = ev.relax(squeezed, steps=30, progress=False)
    assert isinstance(relaxed, Atoms)
    assert relaxed.info["relax_steps"] <= 30
    before = ev.chgnet_energy(squeezed, progress=False)
    assert relaxed.info["chgnet_energy_before"] == pytest.approx(before, abs=1e-4)
    assert relaxed.info["chgnet_energy"] < before - 0.05
    assert relaxed.get_volume() > squeezed.get_volume()
    as_structure = ev.relax(to_structure(squeezed), steps=3, progress=False)
    assert isinstance(as_structure, Structure)
    assert as_structure.properties["relax_steps"] <= 3


def test_relax_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(chgnet_module, "RELAX_CACHE_SIZE", 2)
    chgnet_module._RELAX_CACHE.clear()
    for a in (5.5, 5.6, 5.7):
        ev.relax(rocksalt(a), steps=1, progress=False)
    assert len(chgnet_module._RELAX_CACHE) == 2


def test_cells_above_the_memory_cap_are_refused_with_a_clear_error():
    big = rocksalt().repeat((5, 5, 2))  # 100 atoms > MAX_ATOMS_CHGNET = 64
    with pytest.raises(ev.CellTooLargeError, match="100-atom cell is above the CHGNet cap"):
        ev.chgnet_energy(big, progress=False)
    with pytest.raises(ev.CellTooLargeError):
        ev.relax(big, progress=False)
    energies = ev.chgnet_energy([big, rocksalt()], skip_too_large=True, progress=False)
    assert np.isnan(energies[0]) and np.isfinite(energies[1])
    result = ev.stability(big, progress=False)
    assert np.isnan(result.e_above_hull) and "CellTooLargeError" in result.reason
    assert result.hull_complete is True and result.missing_subsystems == ()  # the reference is
    assert result.verdict()[0] == "unknown"
    none, good = ev.stability([None, rocksalt()], progress=False, relax=False)
    assert none.hull_complete is None and none.reason.startswith("not a structure")
    assert np.isfinite(good.e_above_hull)


def test_settings_are_one_frozen_object_with_checked_overrides():
    s = ev.StabilitySettings()
    assert (s.relax, s.steps, s.threshold) == (True, 100, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 3
    assert s.replace(steps=3).steps == 3 and s.replace(steps=None) is s
    with pytest.raises(TypeError, match="unknown setting"):
        s.replace(stepz=3)
    with pytest.raises(ValueError, match="steps"):
        ev.StabilitySettings(steps=-1)


# ---------------------------------------------------------------------------------- table logic

def test_subsystems_a_hull_depends_on():
    assert subsystems(["Na"]) == []
    assert subsystems(["Li", "Cl"]) == [("Cl", "Li")]
    assert subsystems(["Sr", "Ti", "O"]) == [("O", "Sr"), ("O", "Ti"), ("Sr", "Ti")]
    assert len(subsystems(["Li", "P", "S", "Cl"])) == 6 + 4  # binaries and ternaries


def test_table_logic_on_a_tiny_table(tmp_path):
    path = tiny_table(tmp_path, [
        (11, "val", "Na", 1, -1.3), (12, "test", "Na", 2, -1.31),
        (13, "val", "Cl2", 4, -1.8), (14, "val", "Li", 1, -1.9),
        (15, "val", "NaCl", 8, -3.7), (16, "test", "LiCl", 2, -4.0),
        (-1, "built", "Al", 1, -3.7)])
    val = ReferenceTable(("val",), path=path)
    full = ReferenceTable(("val", "test"), path=path)
    assert val.missing_subsystems(["Li", "Cl"]) == ["Cl-Li"]
    assert full.missing_subsystems(["Li", "Cl"]) == []
    assert full.missing_subsystems(["Na", "Li", "Cl"]) == ["Li-Na"]
    # elemental references: lowest of the selected splits, else the rest of the table, else built
    e, source, built = full.elemental_reference("Na")
    assert e == pytest.approx(-1.31) and "MP-20 test row 12" in source and not built
    e, source, _ = val.elemental_reference("Na")
    assert e == pytest.approx(-1.3) and "MP-20 val row 11" in source
    e, source, built = full.elemental_reference("Al")
    assert built and source.startswith("built")
    with pytest.raises(KeyError, match="no elemental reference for Fe"):
        full.elemental_reference("Fe")
    names = {e.name for e in full.phase_diagram(["Li", "Cl"]).stable_entries}
    assert names == {"Li", "Cl", "LiCl"}
    # every compound entry is keyed by split and data row, unique across the splits
    keys = {e.attribute for e in full.entries(["Na", "Li", "Cl"]) if len(e.composition) > 1}
    assert keys == {"val:15", "test:16"}
    assert full.key(6) == "built:Al"
    assert {e.name for e in val.phase_diagram(["Li", "Cl"]).stable_entries} == {"Li", "Cl"}


# ---------------------------------------------------------------------------------- shipped hull

def test_shipped_table_loads_and_marks_built_elemental_references():
    table = ev.reference_table()
    assert len(table.rows("val")) == 9047 and len(table.rows("test")) == 9046
    built = set(table.formula[table.built])
    assert built == {"Ac", "Al", "Au", "Cr", "Eu", "Ge", "Lu", "Mo", "Os", "Pa", "Pt", "Th",
                     "U", "V", "Zn"}
    assert all(table.built_from[table.built])
    refs = ev.elemental_references(["Al", "Na"])
    assert refs["Al"].built and not refs["Na"].built
    result = ev.stability(bulk("Al", "fcc", a=4.04), progress=False)
    assert result.built_references == ("Al",) and abs(result.e_above_hull) < 0.05


def test_stability_relaxes_only_the_evaluated_structure(monkeypatch):
    calls = []
    original = hull_module.relax_one

    def counting(row, *args, **kwargs):
        calls.append(row.formula)   # the evaluated row, read once
        return original(row, *args, **kwargs)

    monkeypatch.setattr(hull_module, "relax_one", counting)
    result = ev.stability(cubic_srtio3(), steps=20, progress=False)
    assert calls == ["SrTiO3"]  # one relaxation: the structure, no reference phase
    assert np.isfinite(result.e_above_hull)


@pytest.mark.parametrize("label,atoms", [
    ("NaCl", rocksalt(5.69)), ("LiCl", bulk("LiCl", "rocksalt", a=5.14)),
    ("Si", bulk("Si", "diamond", a=5.47)), ("SrTiO3", cubic_srtio3())])
def test_known_ground_states_lie_on_the_full_hull(label, atoms):
    result = ev.stability(atoms, progress=False)
    assert abs(result.e_above_hull) < 0.05, (label, result)
    assert result.formation_energy_per_atom < 0.05


def test_rock_salt_mgo_which_mp20_lacks_lies_a_little_below_the_hull():
    result = ev.stability(bulk("MgO", "rocksalt", a=4.25), progress=False)
    assert -0.15 < result.e_above_hull < -0.01  # about the rock-salt / wurtzite difference
    assert result.hull_complete


def test_rock_salt_licl_against_a_val_only_table_is_flagged_not_ranked():
    licl = bulk("LiCl", "rocksalt", a=5.14)
    result = ev.stability(licl, "val", progress=False)
    assert not result.hull_complete and result.missing_subsystems == ("Cl-Li",)
    assert "incomplete reference" in result.reason
    assert result.e_above_hull < -1.0  # the whole formation energy: why it must be flagged
    summary = ev.summarize([licl], reference=[rocksalt()], hull="val", progress=False)
    row = summary.table.iloc[0]
    assert not row["hull_complete"] and row["missing_subsystems"] == ["Cl-Li"]
    assert row["stable_verdict"] == "unknown" and not row["sun"]
    assert summary.rates["n_stable_uncertain"] == 1       # below the cut, yet unknown
    assert row["stable_note"].startswith("unknown: the reference table has no compound of Cl-Li")
    assert summary.rates["n_sun"] == 0 and summary.rates["n_sun_uncertain"] == 1
    assert "stable yes / no / unknown: 0 / 0 / 1" in summary.text()
    full = ev.summarize([licl], reference=[rocksalt()], progress=False)
    assert full.table.iloc[0]["hull_complete"]
    assert full.table.iloc[0]["stable_verdict"] == "yes"


def test_your_own_reference_phases_join_the_table():
    cscl = bulk("NaCl", "cesiumchloride", a=3.4)
    rs, cs = ev.stability([rocksalt(5.7), cscl], reference=[rocksalt(), cscl], steps=60,
                          progress=False)
    assert rs.formation_energy_per_atom < -1.0  # DFT (MP): about -2.0 eV/atom
    assert abs(rs.e_above_hull) < 0.02
    assert cs.e_above_hull > rs.e_above_hull + 0.01
    with pytest.raises(TypeError, match="structures="):
        ev.HullReference([rocksalt()])


def test_summary_and_dashboard_place_generated_structures_on_the_phase_diagram(tmp_path):
    batch = [rocksalt(5.5).repeat((1, 1, 2)), bulk("NaCl", "cesiumchloride", a=3.3), bulk("Na"),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)]
    summary = ev.summarize(batch, reference=[rocksalt()], steps=60, progress=False)
    table, rates = summary
    assert table["sun"].tolist() == [False, False, True, False]  # rock salt is not novel
    assert table["hull_complete"].tolist()[:3] == [True, True, True]
    assert table["hull_complete"].isna().tolist() == [False, False, False, True]  # not evaluated
    assert table.loc[3, "missing_subsystems"] is None  # never "missing: none" for it
    assert table["stable_verdict"].tolist() == ["yes", "no", "yes", "no"]
    assert table.loc[3, "stable_note"].startswith("no: not evaluated, the structure is invalid")
    assert np.isnan(table.loc[3, "e_above_hull"])
    assert rates["n_sun"] == 1 and rates["stability_threshold"] == 0.1
    assert "E_hull < 0.1 eV/atom" in summary.text()

    dash = EvaluationDashboard(batch, summary=summary, viewer="plotly")
    assert dash.chemical_systems() == ["Cl-Na"]
    fig = dash.phase_diagram_figure("Cl-Na")
    generated = [tr for tr in fig.data if (tr.name or "").startswith("generated")]
    assert len(generated) == 1 and generated[0].name == "generated (3)"   # one legend entry
    assert list(generated[0].text) == ["#0", "#1", "#2"]                 # one marker each
    assert [h.split("<br>")[0] for h in generated[0].hovertext] == ["#0 NaCl", "#1 NaCl", "#2 Na"]
    dash.sort_by("e_above_hull")
    assert dash.order[-1] == 3  # nan (not evaluated) sorts last
    assert table.loc[dash.order[0], "e_above_hull"] == table["e_above_hull"].min()
    dash.select(1)
    assert "E_hull" in dash.detail.value and "no: E_hull" in dash.detail.value


def test_model_versus_random_baseline_side_by_side():
    batch = [rocksalt(5.69), bulk("Si", "diamond", a=5.47)]
    summary = ev.summarize(batch, reference=[rocksalt()], relax=False, baseline=True,
                           progress=False)
    assert summary.baseline is not None and summary.baseline.rates["n"] == 2
    assert [a.get_chemical_formula() for a in summary.baseline.structures] == ["ClNa", "Si2"]
    compare = summary.compare()
    assert list(compare.columns) == ["model", "random baseline"]
    assert compare.loc["stability", "model"] == 1.0
    assert compare.loc["stability", "random baseline"] < 1.0  # random atoms are not stable
    assert "random baseline" in summary.text()


# ---------------------------------------------------------------------------------- three-valued

@pytest.mark.parametrize("e_hull,complete,verdict,words", [
    (0.0, True, "yes", "yes: E_hull 0.000 eV/atom is below the 0.1 eV/atom cut"),
    (0.001, True, "yes", "below"), (0.0999, True, "yes", "below"), (-0.3, True, "yes", "below"),
    (0.1, True, "no", "at or above"), (0.7, True, "no", "at or above"),
    (0.0, False, "unknown", "unknown: the reference table has no compound of Ba-Ti"),
    (-2.0, False, "unknown", "may be too low"),
    (0.4, False, "no", "a missing phase could only raise"),
    (float("nan"), False, "unknown", "no E_hull could be computed (CellTooLargeError"),
])
def test_the_verdict_is_yes_no_or_unknown_and_says_why(e_hull, complete, verdict, words):
    result = ev.Stability(-5.0, -1.0, e_hull, None,
                          "CellTooLargeError: too big" if np.isnan(e_hull) else "",
                          complete, () if complete else ("Ba-Ti",))
    got, note = result.verdict(0.1)
    assert got == verdict and words in note, note
    assert not (got == "no" and "below" in note)  # E_hull 0.000 never reads as "no"


def test_batio3_reads_unknown_because_the_table_has_no_ba_ti_compound():
    summary = ev.summarize([cubic_batio3(), rocksalt()], reference=[rocksalt()], relax=False,
                           progress=False)
    table, rates = summary
    assert table["stable_verdict"].tolist() == ["unknown", "yes"]
    assert table.loc[0, "stable_note"].startswith(
        "unknown: the reference table has no compound of Ba-Ti")
    assert (rates["n_stable"], rates["n_stable_no"], rates["n_stable_unknown"]) == (1, 0, 1)
    assert "stable yes / no / unknown: 1 / 0 / 1" in summary.text()
    no_chgnet = ev.summarize([rocksalt()], reference=[rocksalt()], stability=False,
                             progress=False)
    assert no_chgnet.table.loc[0, "stable_verdict"] == "unknown"
    assert "not computed" in no_chgnet.text()


def cubic_batio3(a: float = 4.0) -> Atoms:
    return Atoms("BaTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0],
                                             [0.5, 0, 0.5], [0, 0.5, 0.5]], cell=[a] * 3, pbc=True)


CHGNET_MEMORY_CHECK = r"""
import resource
resource.setrlimit(resource.RLIMIT_AS, (__LIMIT__, __LIMIT__))
import numpy as np
from ase import Atoms
import crystal_lab.evaluate as ev

def cell(c, frac=((0, 0, 0), (0.5, 0.5, 0.5))):
    return Atoms("NaCl", scaled_positions=frac, cell=c, pbc=True)

for bad in (cell([[5, 0, 0], [4.9999, 0.001, 0], [0, 0, 5]]),
            cell([[6, 0, 0], [0, 6, 0], [3, 3, 0.004]]),
            cell([[5, 0, 0], [0, 5, 0], [0, 0, 5]], frac=((0, 0, 0), (0, 0, 1e-4)))):
    try:
        ev.chgnet_energy(bad, progress=False)
        raise SystemExit("chgnet_energy accepted an invalid cell")
    except ev.InvalidCellError:
        pass
    assert np.isnan(ev.chgnet_energy([bad], skip_invalid=True, progress=False)[0])
    result = ev.stability(bad, progress=False)
    assert np.isnan(result.e_above_hull) and "InvalidCellError" in result.reason, result
    assert result.verdict()[0] == "unknown"
print("ok")
"""


def test_chgnet_never_builds_a_graph_for_an_invalid_cell():
    """A flat cell has tens of thousands of neighbours per atom inside CHGNet's cutoff: it is
    refused before the graph is built (checked in a child process limited to 4 GB)."""
    import os
    import subprocess
    import sys

    code = CHGNET_MEMORY_CHECK.replace("__LIMIT__", str(4 << 30))
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_relaxation_steps_are_capped_with_an_estimate():
    from crystal_lab.evaluate.settings import MAX_RELAX_STEPS

    for steps in (MAX_RELAX_STEPS + 1, 10**6):
        with pytest.raises(ValueError, match=r"min per structure; the cap is .*CRYSTAL_LAB_MAX"):
            ev.StabilitySettings(steps=steps)
        with pytest.raises(ValueError, match="the cap is"):
            ev.relax(rocksalt(), steps=steps, progress=False)
    assert ev.StabilitySettings(steps=MAX_RELAX_STEPS).steps == MAX_RELAX_STEPS


# ---------------------------------------------------------------------------------- converted once

def _count_calls(monkeypatch, module_name: str, name: str, key) -> dict:
    """Count calls of ``module.name`` by ``key(first argument)``, wherever crystal_lab imported
    it."""
    import sys

    counts: dict = {}
    original = getattr(importlib.import_module(module_name), name)

    def counting(x, *args, **kwargs):
        k = key(x)
        counts[k] = counts.get(k, 0) + 1
        return original(x, *args, **kwargs)

    for mod_name, module in list(sys.modules.items()):
        if mod_name.startswith("crystal_lab") and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, counting)
    return counts


def test_summarize_and_the_dashboard_read_convert_and_validate_each_structure_once(monkeypatch):
    """Issue 28.3: over a whole summarize with stability on (relaxation included) and the
    dashboard built on it, each input is read once (``unreadable_reason``, ``symbols_of``),
    converted to pymatgen once, and validated once (structural and compositional)."""
    batch = [rocksalt(), cubic_srtio3(),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)]
    ids = {id(a): k for k, a in enumerate(batch)}

    def which(x):   # an input (by identity), a Row of one, or anything else
        return ids.get(id(getattr(x, "original", x)), "other")

    conversions = _count_calls(monkeypatch, "crystal_lab.structures", "to_structure",
                               lambda x: which(x) if isinstance(x, Atoms) else "not Atoms")
    reads = _count_calls(monkeypatch, "crystal_lab.structures", "unreadable_reason", which)
    symbols = _count_calls(monkeypatch, "crystal_lab.structures", "symbols_of", which)
    structural = _count_calls(monkeypatch, "crystal_lab.evaluate.validation", "check_structure",
                              which)
    compositional = _count_calls(monkeypatch, "crystal_lab.evaluate.validation",
                                 "check_composition", which)
    dash = EvaluationDashboard(batch, reference=[], stability=True, steps=5, viewer="plotly")
    table = dash.summary.table
    assert table["valid"].tolist() == [True, True, False]
    assert np.isfinite(table["e_above_hull"][:2]).all()          # CHGNet ran on the valid two
    assert all(r.info["relax_steps"] <= 5 for r in dash.summary.relaxed[:2])
    assert dash.chemical_systems() == ["Cl-Na", "O-Sr-Ti"]
    assert dash.phase_diagram_figure("Cl-Na").data                # the hull reads the rows too
    once = {0: 1, 1: 1, 2: 1}
    assert {k: v for k, v in conversions.items() if k != "not Atoms"} == once, conversions
    assert reads == once and symbols == once, (reads, symbols)
    assert structural == once and compositional == once, (structural, compositional)
