"""CHGNet stability on small known cases (offline: the weights ship in the chgnet wheel)."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Structure

from crystal_lab import evaluate as ev
from crystal_lab.structures import to_structure

pytest.importorskip("chgnet")


def rocksalt(a: float = 5.64) -> Atoms:
    return bulk("NaCl", "rocksalt", a=a)


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
    assert relaxed.info["chgnet_energy"] < ev.chgnet_energy(squeezed, progress=False) - 0.05
    assert relaxed.get_volume() > squeezed.get_volume()
    as_structure = ev.relax(to_structure(squeezed), steps=3, progress=False)
    assert isinstance(as_structure, Structure)
    assert as_structure.properties["relax_steps"] <= 3


def test_cells_above_the_memory_cap_are_refused_with_a_clear_error():
    big = rocksalt().repeat((5, 5, 2))  # 100 atoms > MAX_ATOMS = 64
    with pytest.raises(ev.CellTooLargeError, match="100-atom cell is above the CHGNet cap"):
        ev.chgnet_energy(big, progress=False)
    with pytest.raises(ev.CellTooLargeError):
        ev.relax(big, progress=False)
    energies = ev.chgnet_energy([big, rocksalt()], skip_too_large=True, progress=False)
    assert np.isnan(energies[0]) and np.isfinite(energies[1])
    result = ev.stability(big, reference=[rocksalt()], progress=False)
    assert np.isnan(result.e_above_hull) and "CellTooLargeError" in result.reason


def test_rock_salt_nacl_is_on_its_chgnet_hull_and_the_cscl_polymorph_is_above():
    cscl = bulk("NaCl", "cesiumchloride", a=3.4)
    reference = [rocksalt(), cscl]
    hull = ev.hull_reference(reference, steps=60, progress=False)
    refs = hull.elemental_references(["Na", "Cl"])
    assert set(refs) == {"Na", "Cl"} and all(np.isfinite(r.energy_per_atom) for r in refs.values())
    rs, cs = ev.stability([rocksalt(5.7), cscl], reference=hull, progress=False)
    assert rs.formation_energy_per_atom < -1.0  # DFT (MP): about -2.0 eV/atom
    assert abs(rs.e_above_hull) < 0.02           # on the hull
    assert cs.e_above_hull > rs.e_above_hull + 0.01
    diagram = hull.phase_diagram(["Na", "Cl"])
    assert {e.composition.reduced_formula for e in diagram.stable_entries} >= {"NaCl"}


def test_summary_and_dashboard_place_generated_structures_on_the_phase_diagram(tmp_path):
    pytest.importorskip("ipywidgets")
    batch = [rocksalt(5.5).repeat((1, 1, 2)), bulk("NaCl", "cesiumchloride", a=3.3), bulk("Na"),
             Atoms("NaCl", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[5, 5, 5], pbc=True)]
    summary = ev.summarize(batch, reference=[rocksalt()], steps=60, progress=False)
    table, rates = summary
    assert table["stable"].tolist() == [True, False, True, False]
    assert table["sun"].tolist() == [False, False, True, False]  # rock salt is not novel
    assert table.loc[3, "stability_note"] == "not evaluated (invalid)"
    assert np.isnan(table.loc[3, "e_above_hull"])
    assert rates["n_sun"] == 1 and rates["stability_threshold"] == 0.1
    assert "E_hull < 0.1 eV/atom" in summary.text()

    dash = ev.EvaluationDashboard(batch, summary=summary, viewer="plotly")
    assert dash.chemical_systems() == ["Cl-Na"]
    fig = dash.phase_diagram_figure("Cl-Na")
    assert any(trace.name == "Highlighted" for trace in fig.data)
    dash.sort_by("e_above_hull")
    assert dash.order[-1] == 3  # nan (not evaluated) sorts last
    assert table.loc[dash.order[0], "e_above_hull"] == table["e_above_hull"].min()
    dash.select(1)
    assert "E_hull" in dash.detail.value and "no" in dash.detail.value
