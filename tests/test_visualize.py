"""Visualizer: nglview widget contents, plotly traces, descriptions, CIF saving."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from crystal_lab import Visualizer
from crystal_lab.view import describe, min_distance, trajectory_figure
from crystal_lab.view.ngl import shown_component


def _loaded_pdb(ngl) -> str:
    """The PDB text of the last structure sent to the nglview frontend."""
    loads = [m for m in ngl._ngl_msg_archive if m.get("methodName") == "loadFile"]
    assert loads, "nothing was loaded into the nglview widget"
    return loads[-1]["args"][0]["data"]


def _n_atoms(pdb: str) -> int:
    """Atoms in the PDB text (the invisible cell-corner markers, residue CEL, excluded)."""
    return sum(ln.startswith("HETATM") and ln[17:20] in ("UNL", "MSK") for ln in pdb.splitlines())


def _cryst1(pdb: str) -> np.ndarray:
    line = next(ln for ln in pdb.splitlines() if ln.startswith("CRYST1"))
    return np.array([float(line[6:15]), float(line[15:24]), float(line[24:33]),
                     float(line[33:40]), float(line[40:47]), float(line[47:54])])


def test_view_is_nglview_widget_with_atoms_and_cell(batio3):
    import nglview

    box = Visualizer([batio3]).view(0)
    ngl = box.viewer.ngl
    assert isinstance(ngl, nglview.NGLWidget)
    pdb = _loaded_pdb(ngl)
    assert _n_atoms(pdb) == len(batio3) == 5
    assert sum(ln[17:20] == "CEL" for ln in pdb.splitlines()) == 8
    np.testing.assert_allclose(_cryst1(pdb), batio3.cell.cellpar(), atol=1e-3)
    reprs = [m["args"][0] for m in ngl._ngl_msg_archive
             if m.get("methodName") == "addRepresentation"]
    assert "unitcell" in reprs and "ball+stick" in reprs
    assert "BaTiO3" in box.viewer.info.value and "Pm-3m (221)" in box.viewer.info.value
    conect = sorted(ln for ln in pdb.splitlines() if ln.startswith("CONECT"))
    assert conect[0].split() == ["CONECT", "2", "3", "4", "5"]   # Ti bonded to its 3 O in cell
    load = next(m for m in ngl._ngl_msg_archive if m.get("methodName") == "loadFile")
    assert load["kwargs"]["inferBonds"] == "none"                 # NGL must not guess bonds


def test_view_repeat_and_index_slider(nacl, batio3):
    box = Visualizer([nacl, batio3]).view(0, repeat=(2, 2, 2))
    ngl = box.viewer.ngl
    pdb = _loaded_pdb(ngl)
    assert _n_atoms(pdb) == 8 * len(nacl)
    np.testing.assert_allclose(_cryst1(pdb)[:3], 2 * nacl.cell.lengths(), atol=1e-3)
    box.viewer.slider.value = 1                  # the slider loads structure 1 into the stage
    pdb = _loaded_pdb(ngl)
    assert _n_atoms(pdb) == 8 * len(batio3)
    box.viewer.slider.value = 0                  # back: shown again, not loaded again
    names = [m["methodName"] for m in ngl._ngl_msg_archive]
    assert names.count("loadFile") == 2 and box.viewer.ngl is ngl
    assert "Na" in box.viewer.legend.value and "Cl" in box.viewer.legend.value


def _sent(ngl) -> list[dict]:
    """Messages queued for the (not yet displayed) nglview frontend, in order."""
    return [cb._ngl_msg for cb in ngl._callbacks_before_loaded]


def _frames(nacl, n):
    frames = []
    for k in range(n):
        a = nacl.copy()
        t = 1.0 - k / (n - 1)
        a.set_cell(nacl.cell * (1 + 0.3 * t), scale_atoms=True)
        if t > 0.5:
            a.numbers[:] = 0                      # masked types, as early in sampling
        a.info["t"] = t
        frames.append(a)
    return frames


def test_trajectory_plays_every_frame_in_one_stage(nacl):
    """50 frames are loaded once into ONE stage; playing shows each frame in turn by
    visibility alone (no reload, no new stage), and the replay archive shows only the
    current frame."""
    frames = _frames(nacl, 50)
    box = Visualizer(frames).view_trajectory()
    viewer = box.viewer
    ngl = viewer.ngl
    assert viewer.slider.description == "frame" and viewer.slider.label == "0 / 49 · t = 1.00"
    assert len(ngl._ngl_component_ids) == 50
    n_before = len(_sent(ngl))
    for k in range(50):                           # what the Play button does, frame by frame
        viewer.slider.index = k
    played = _sent(ngl)[n_before:]
    assert not [m for m in played if m["methodName"] == "loadFile"]
    shown = [shown_component(m) for m in played if shown_component(m) is not None]
    assert shown == list(range(1, 50))            # every frame shown once, in order
    assert viewer.slider.label == "49 / 49 · t = 0.00" and viewer.index == 49
    arch = ngl._ngl_msg_archive
    assert [shown_component(m) for m in arch if shown_component(m) is not None] == [49]
    assert sum(m["methodName"] == "loadFile" for m in arch) == 50
    first = next(m["args"][0]["data"] for m in arch if m["methodName"] == "loadFile")
    assert "MSK" in first and " X" in first
    np.testing.assert_allclose(_cryst1(_loaded_pdb(ngl)), nacl.cell.cellpar(), atol=1e-3)


def test_set_frames_replaces_the_structure_in_the_same_stage(nacl, batio3):
    from crystal_lab.view.ngl import FrameViewer

    viewer = FrameViewer([], controls=False)
    assert viewer.widget.layout.display == "none"        # empty: hidden, nothing to draw
    ngl = viewer.ngl
    for atoms in (nacl, batio3, nacl):
        viewer.set_frames([atoms])
    assert viewer.ngl is ngl and len(ngl._ngl_component_ids) == 1
    assert viewer.widget.layout.display == ""
    assert _n_atoms(_loaded_pdb(ngl)) == len(nacl)
    reprs = [m for m in ngl._ngl_msg_archive if m["methodName"] == "addRepresentation"]
    assert len(reprs) == 2                                # ball+stick and unit cell, once


def test_masked_atoms_are_translucent_labelled_and_no_element_colour(nacl):
    from ase.data.colors import jmol_colors

    from crystal_lab.view.style import MASKED_COLOR, legend_html

    rgb = np.array([int(MASKED_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    assert np.linalg.norm(jmol_colors[1:] * 255 - rgb, axis=1).min() > 80
    m = nacl.copy()
    m.numbers[0] = 0
    box = Visualizer(m).view()
    reprs = {msg["args"][0]: msg["kwargs"] for msg in box.viewer.ngl._ngl_msg_archive
             if msg["methodName"] == "addRepresentation"}
    assert reprs["spacefill"]["color"] == MASKED_COLOR and reprs["spacefill"]["opacity"] < 0.5
    assert reprs["label"]["sele"] == "MSK" and reprs["label"]["labelType"] == "atomname"
    assert "X = masked" in box.viewer.legend.value and "Cl" in box.viewer.legend.value
    assert legend_html([11, 17]).count("cl-legend-item") == 2


def test_plot_has_every_atom_and_twelve_cell_edges(batio3):
    fig = Visualizer(batio3).plot(0)
    by_name = {tr.name: tr for tr in fig.data}
    atoms = [tr for tr in fig.data if tr.name in ("Ba", "Ti", "O")]
    assert sum(len(tr.x) for tr in atoms) == len(batio3)
    pos = np.concatenate([np.c_[tr.x, tr.y, tr.z] for tr in atoms]).astype(float)
    for p in batio3.positions:
        assert np.isclose(pos, p, atol=1e-6).all(1).any()
    cell = by_name["cell"]
    xs = np.array(cell.x, dtype=object)
    assert len(xs) == 36 and sum(v is None for v in xs) == 12   # 12 segments
    seg = np.array([[cell.x[i], cell.y[i], cell.z[i], cell.x[i + 1], cell.y[i + 1], cell.z[i + 1]]
                    for i in range(0, 36, 3)], float)
    lengths = np.linalg.norm(seg[:, 3:] - seg[:, :3], axis=1)
    np.testing.assert_allclose(sorted(lengths), [4.0] * 12)
    # Ba sits on a corner: its 7 other corner images are drawn as periodic images
    assert len(by_name["images"].x) >= 7


def test_plot_bonds_end_on_drawn_atoms(nacl, batio3):
    """Every bond ends on an atom the figure draws (an atom of the cell or a periodic image
    the bond reaches): no stick ends in empty space."""
    for atoms in (nacl, batio3):
        fig = Visualizer(atoms).plot(0)
        bonds = next(tr for tr in fig.data if tr.name == "bonds")
        ends = np.array([[x, y, z] for x, y, z in zip(bonds.x, bonds.y, bonds.z, strict=True)
                         if x is not None], float)
        assert len(ends) > 0
        drawn = np.concatenate([np.c_[tr.x, tr.y, tr.z] for tr in fig.data
                                if tr.name not in ("bonds", "cell")]).astype(float)
        dist = np.linalg.norm(ends[:, None] - drawn[None], axis=2).min(1)
        assert dist.max() < 1e-6


def test_plot_repeat_and_masked_atoms(nacl):
    m = nacl.repeat((2, 1, 1))
    m.numbers[0] = 0
    fig = Visualizer(m).plot(0, repeat=(1, 2, 1))
    names = {tr.name: len(tr.x) for tr in fig.data}
    assert names["X (masked)"] == 2 and names["Na"] == 2 and names["Cl"] == 4


def test_plot_trajectory_has_a_frame_per_structure_labelled_by_t(nacl):
    frames = []
    for t in (1.0, 0.5, 0.0):
        a = nacl.copy()
        a.info["t"] = t
        frames.append(a)
    fig = Visualizer(frames).plot_trajectory()
    assert len(fig.frames) == 3
    assert [s.label for s in fig.layout.sliders[0].steps] == ["1.00", "0.50", "0.00"]
    assert fig.layout.sliders[0].active == 2                 # a static export shows the crystal
    assert fig.layout.sliders[0].currentvalue.prefix == "t = "
    legend = [tr.name for tr in fig.data if tr.legendgroup == "elements"]
    assert legend == ["Na", "Cl"]                            # the element key beside the view
    # every frame fits the camera to its own cell: the crystal fills the view at every t
    big = nacl.copy()
    big.set_cell(nacl.cell * 3, scale_atoms=True)
    fig = Visualizer([big, nacl]).plot_trajectory()
    spans = [np.diff(f.layout.scene.xaxis.range)[0] for f in fig.frames]
    assert spans[0] > 2.5 * spans[1]
    atoms = next(tr for tr in fig.data if tr.name == "atoms")
    wrapped = frames[2].get_scaled_positions(wrap=True) @ frames[2].cell.array
    np.testing.assert_allclose(np.c_[atoms.x, atoms.y, atoms.z], wrapped, atol=1e-9)
    with pytest.raises(ValueError):
        trajectory_figure([])


def test_describe_and_min_distance(nacl):
    d = describe(nacl)
    assert d["formula"] == "NaCl" and d["spacegroup"] == "Fm-3m (225)"
    assert d["min_distance"] == pytest.approx(5.64 / 2, abs=1e-6)
    assert d["volume"] == pytest.approx(5.64 ** 3 / 4)
    assert d["density"] == pytest.approx(2.165, abs=0.01)     # rock salt, g/cm3
    one = Atoms("Cu", cell=[2.5, 3.0, 4.0], pbc=True)         # only periodic images
    assert min_distance(one) == pytest.approx(2.5)
    degenerate = Atoms("Cu2", positions=[(0, 0, 0), (0, 0, 0)], cell=[3, 3, 3], pbc=True)
    d = describe(degenerate)                                  # never raises
    assert d["spacegroup"] == "unknown" and d["min_distance"] == 0.0
    assert describe(Atoms("Cu", cell=[2.5, 2.5, 2.5], pbc=True))["spacegroup"] == "Pm-3m (221)"
    rutile_like = Atoms("Ti2O4", scaled_positions=[(0, 0, 0), (.5, .5, .5), (.3, .3, 0),
                                                   (.7, .7, 0), (.8, .2, .5), (.2, .8, .5)],
                        cell=[4.6, 4.6, 2.96], pbc=True)
    assert describe(rutile_like)["spacegroup"] == "P4_2/mnm (136)"
    masked = nacl.copy()
    masked.numbers[0] = 0
    d = describe(masked)
    assert d["formula"] == "Cl + 1 X" and d["spacegroup"] == "n/a (masked atoms)"
    assert np.isnan(d["density"])                             # unknown types: unknown mass


def test_save_cif_roundtrip(tmp_path, batio3):
    from pymatgen.core import Structure

    vis = Visualizer([batio3])
    path = vis.save_cif(0, tmp_path / "bto.cif")
    s = Structure.from_file(path)
    assert s.composition.reduced_formula == "BaTiO3" and len(s) == 5
    masked = batio3.copy()
    masked.numbers[0] = 0
    with pytest.raises(ValueError, match="masked"):
        Visualizer(masked).save_cif(0, tmp_path / "x.cif")


def test_accepts_pymatgen_and_rejects_bad_input(batio3):
    from pymatgen.io.ase import AseAtomsAdaptor

    vis = Visualizer([AseAtomsAdaptor.get_structure(batio3)])
    assert len(vis[0]) == 5
    with pytest.raises(ValueError):
        Visualizer([])
    with pytest.raises(TypeError):
        Visualizer(["BaTiO3"])
    with pytest.raises(IndexError):
        Visualizer([batio3]).plot(3)
    with pytest.raises(ValueError):
        Visualizer([batio3]).plot(0, repeat=(0, 1, 1))


def test_slider_labels_read_an_index_and_t(nacl):
    from crystal_lab.view.ngl import frame_labels as _labels

    frames = []
    for t in (1.0, 0.5, 0.004, 0.0):
        a = nacl.copy()
        a.info["t"] = t
        frames.append(a)
    assert _labels(frames) == ["0 / 3 · t = 1.000", "1 / 3 · t = 0.500", "2 / 3 · t = 0.004",
                               "3 / 3 · t = 0.000"]                    # 0.00 twice: 3 decimals
    assert _labels(frames[:2]) == ["0 / 1 · t = 1.00", "1 / 1 · t = 0.50"]
    assert _labels([nacl, nacl, nacl]) == ["0 / 2", "1 / 2", "2 / 2"]  # no t: the index only


def test_index_must_be_a_whole_number_and_numpy_ints_work(nacl, batio3):
    vis = Visualizer([nacl, batio3])
    for bad in (1.5, 1.0, "1", None, True):
        with pytest.raises(TypeError, match="index must be a whole number"):
            vis.plot(bad)
        with pytest.raises(TypeError, match="index must be a whole number"):
            vis.describe(bad)
    for good in (np.int64(1), np.int32(1), -1, 1):
        assert vis.describe(good)["formula"] == "BaTiO3"
    with pytest.raises(IndexError, match="index 2 out of range for 2 structures"):
        vis.plot(np.int64(2))
    fig = vis.plot(0, repeat=(np.int64(2), 1, 1))
    atoms = [tr for tr in fig.data if tr.name in ("Na", "Cl")]
    assert sum(len(tr.x) for tr in atoms) == 4
    with pytest.raises(TypeError, match="repeat must be a whole number"):
        vis.plot(0, repeat=(1.5, 1, 1))


def test_supercells_above_the_cap_are_refused_fast_with_an_estimate(nacl):

    from crystal_lab.view.facts import MAX_DRAWN_ATOMS

    vis = Visualizer([nacl])
    for repeat in ((50, 50, 50), (11, 10, 10), 13):
        with pytest.raises(ValueError, match=r"would draw \d+ atoms .*pass max_atoms=\d+"):
            vis.plot(repeat=repeat)
        with pytest.raises(ValueError, match=r"would draw \d+ atoms"):
            vis.view(repeat=repeat)
    with pytest.raises(ValueError, match="250000 atoms"):
        vis.plot(repeat=(50, 50, 50))
    assert MAX_DRAWN_ATOMS == 2000
    fig = vis.plot(repeat=(9, 9, 9), max_atoms=1500, bonds=False, images=False)  # the way past it
    assert sum(len(tr.x) for tr in fig.data if tr.name in ("Na", "Cl")) == 2 * 9 ** 3


def test_nan_positions_are_refused_and_never_get_a_distance(nacl):
    bad = nacl.copy()
    bad.positions[1] = [np.nan, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"NaN or infinite positions \(atom 1\)"):
        Visualizer([bad])
    inf = nacl.copy()
    inf.positions[0, 2] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite positions \(atom 0\)"):
        Visualizer([nacl, inf]).plot()
    for atoms in (bad, inf):
        assert np.isnan(min_distance(atoms))
        assert np.isnan(describe(atoms)["min_distance"])
    nan_cell = nacl.copy()
    nan_cell.cell[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite lattice"):
        Visualizer(nan_cell)


def test_widgets_read_as_one_sentence_without_a_kernel(nacl, batio3):
    box = Visualizer([nacl, batio3]).view()
    text = box._repr_mimebundle_()["text/plain"]
    assert text == "Visualizer: run this cell to open the viewer."
    assert "VBox" not in repr(box) and "NGLWidget" not in repr(box)
    assert repr(Visualizer([nacl]).view_trajectory()) == text


def test_view_dispatches_to_one_backend_each_and_names_the_choices():
    """``view(atoms, viewer=...)``, ASE-style: the ngl widget box or a plotly figure of the same
    crystal, a list gets the index it asks for, and an unknown viewer is one line."""
    import ipywidgets
    import plotly.graph_objects as go
    from ase.build import bulk

    from crystal_lab.view import VIEWERS, view

    nacl, cu = bulk("NaCl", "rocksalt", a=5.64), bulk("Cu", "fcc", a=3.6)
    assert isinstance(view(nacl), ipywidgets.Widget)
    fig = view([nacl, cu], viewer="plotly", index=1)
    assert isinstance(fig, go.Figure)
    assert {tr.name for tr in fig.data if tr.name} >= {"Cu"}
    assert "Na" not in {tr.name for tr in fig.data if tr.name}
    for bad in ("ase", "NGL", ""):
        with pytest.raises(ValueError, match=r"^viewer must be one of 'ngl', 'plotly', got") as err:
            view(nacl, viewer=bad)
        assert "\n" not in str(err.value)
    assert VIEWERS == ("ngl", "plotly")
