"""Look at crystals: an nglview widget for notebooks and a plotly figure for everywhere else.

``Visualizer(structures)`` takes a list of ``ase.Atoms`` or pymatgen ``Structure`` objects
(or one trajectory, i.e. a list of frames) and offers

* ``view(index, repeat)``: an nglview 4.0 widget (ball-and-stick, element colours, unit
  cell) with an index slider, a short description (formula, space group, volume, density,
  minimum distance) and a "Save CIF" button;
* ``view_trajectory()``: the same viewer with a play button, rebuilding the structure on
  every frame. nglview's own ASE trajectory adaptor keeps frame 0's cell and species and
  only moves positions, which is wrong for a diffusion trajectory whose cell and atom types
  change every step (see FIELD-NOTES);
* ``plot(index, repeat)`` / ``plot_trajectory()``: plotly 3D figures that need no widget
  frontend (static exports, nbval, papermill).

Atoms with atomic number 0 (symbol "X") are atom types still masked during diffusion; they
are drawn small, grey and semi-transparent.

Colours are the Jmol element colours and sizes follow the covalent radii tabulated in ASE
(``ase.data.colors.jmol_colors``, ``ase.data.covalent_radii``, Cordero et al., Dalton Trans.
2008, 2832). Space groups come from spglib through pymatgen's ``SpacegroupAnalyzer``.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, chemical_symbols, covalent_radii
from ase.data.colors import jmol_colors

__all__ = ["Visualizer", "FrameViewer", "describe", "min_distance", "structure_figure",
           "trajectory_figure", "as_atoms"]

MASKED_COLOR = "#a0a0a0"
CELL_COLOR = "#303030"
BOND_COLOR = "#909090"
SYMPREC = 0.1
_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


# --------------------------------------------------------------------------- input

def as_atoms(x) -> Atoms:
    """Return a copy of ``x`` (ase.Atoms or pymatgen Structure) as periodic ``ase.Atoms``."""
    if isinstance(x, Atoms):
        atoms = x.copy()
    elif type(x).__name__ in ("Structure", "IStructure"):
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(x)
    else:
        raise TypeError(f"expected ase.Atoms or pymatgen Structure, got {type(x).__name__}")
    if atoms.cell.rank != 3:
        raise ValueError("structure has no 3D unit cell: a crystal needs three lattice vectors")
    atoms.pbc = True
    return atoms


def _as_list(structures) -> list[Atoms]:
    if isinstance(structures, Atoms) or type(structures).__name__ in ("Structure", "IStructure"):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ValueError("Visualizer needs at least one structure")
    return [as_atoms(s) for s in structures]


def _check_repeat(repeat) -> tuple[int, int, int]:
    if isinstance(repeat, int):
        repeat = (repeat,) * 3
    repeat = tuple(int(r) for r in repeat)
    if len(repeat) != 3 or min(repeat) < 1:
        raise ValueError(f"repeat must be three positive integers, got {repeat}")
    return repeat


def _symbol(z: int) -> str:
    return "X" if z == 0 else chemical_symbols[z]


def _color(z: int) -> str:
    if z == 0:
        return MASKED_COLOR
    r, g, b = (int(round(255 * c)) for c in jmol_colors[z])
    return f"rgb({r},{g},{b})"


# --------------------------------------------------------------------------- numbers

def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance in Å, periodic images included (``inf`` for none < 12 Å)."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0 or abs(atoms.cell.volume) < 1e-8:
        return float("nan")
    for cutoff in (4.0, 12.0):
        d = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(d):
            return float(d.min())
    return float("inf")


def spacegroup(atoms: Atoms, symprec: float = SYMPREC) -> str:
    """Space-group symbol and number (spglib via pymatgen), or a short reason it has none."""
    if (atoms.numbers == 0).any():
        return "n/a (masked atoms)"
    try:
        from pymatgen.io.ase import AseAtomsAdaptor
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        sga = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=symprec)
        return f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception:  # spglib fails on degenerate cells: a description must not crash
        return "unknown"


def _formula(symbols: list[str], reduce: bool = True) -> str:
    """pymatgen's electronegativity-ordered formula ("BaTiO3"), reduced or with the actual
    counts, without pymatgen's diatomic special cases ("Cl", not "Cl2")."""
    from pymatgen.core import Composition

    if not symbols:
        return ""
    elements, counts = np.unique(symbols, return_counts=True)
    if reduce:
        counts = counts // np.gcd.reduce(counts)
    comp = Composition(dict(zip(elements, counts.tolist())))
    return "".join(p[:-1] if re.fullmatch(r"[A-Z][a-z]?1", p) else p
                   for p in comp.formula.split())


def describe(atoms: Atoms) -> dict:
    """Formula, space group, volume (Å³), density (g/cm³; NaN while atom types are masked),
    minimum distance (Å, periodic) and ``t`` when ``atoms.info`` has it."""
    real = atoms.numbers[atoms.numbers > 0]
    n_masked = int((atoms.numbers == 0).sum())
    formula = _formula([_symbol(z) for z in real], reduce=not n_masked)
    if n_masked:
        formula = f"{formula} + {n_masked} X".lstrip(" +")
    volume = float(abs(atoms.cell.volume))
    mass = float(atomic_masses[real].sum())
    info = {
        "formula": formula,
        "n_atoms": len(atoms),
        "spacegroup": spacegroup(atoms),
        "volume": volume,
        # the density of a structure with masked (unknown) atom types is unknown too
        "density": (mass / volume * _AMU_PER_A3_TO_G_PER_CM3
                    if volume > 0 and not n_masked else float("nan")),
        "min_distance": min_distance(atoms),
    }
    if "t" in atoms.info:
        info["t"] = float(atoms.info["t"])
    return info


def _fmt(x: float, unit: str, digits: int = 2) -> str:
    return f"{x:.{digits}f} {unit}" if np.isfinite(x) else "n/a"


def _describe_html(atoms: Atoms, title: str = "", inline: bool = False) -> str:
    d = describe(atoms)
    if inline:
        t = f"t = {d['t']:.2f} · " if "t" in d else ""
        head = f"<b>{title}</b><br>" if title else ""
        return (f"<div style='font-size:13px;line-height:1.5'>{head}{t}<b>{d['formula']}</b> · "
                f"{d['n_atoms']} atoms · {d['spacegroup']}<br>V = {d['volume']:.1f} Å³ · "
                f"ρ = {_fmt(d['density'], 'g/cm³')} · "
                f"d<sub>min</sub> = {_fmt(d['min_distance'], 'Å')}</div>")
    rows = [("formula", d["formula"]), ("atoms", d["n_atoms"]), ("space group", d["spacegroup"]),
            ("volume", f"{d['volume']:.1f} Å³"), ("density", _fmt(d["density"], "g/cm³")),
            ("min distance", _fmt(d["min_distance"], "Å"))]
    if "t" in d:
        rows.insert(0, ("t", f"{d['t']:.3f}"))
    body = "".join(f"<tr><td style='padding-right:8px;color:#666'>{k}</td><td>{v}</td></tr>"
                   for k, v in rows)
    head = f"<b>{title}</b>" if title else ""
    return f"{head}<table style='font-size:13px'>{body}</table>"


# --------------------------------------------------------------------------- nglview

def _pdb_text(atoms: Atoms) -> str:
    """PDB text with a CRYST1 record (NGL draws the unit cell from it).

    Positions are written in PDB's standard orientation (a along x, b in the xy plane).
    Real atoms get residue name ``UNL``, masked ones ``MSK`` so representations can select them.
    Eight invisible pseudo-atoms (residue ``CEL``, never drawn) mark the cell corners, so that
    NGL's auto-view frames the whole cell and not only the atoms. Bonds are written as CONECT
    records (the same rule as the plotly figure, see ``_bond_pairs``; bonds inside the cell
    only), and the viewer loads the text with NGL's own bond guessing switched off.
    """
    cellpar = atoms.cell.cellpar()
    rcell = np.asarray(atoms.cell.standard_form()[0])
    pos = atoms.get_scaled_positions(wrap=False) @ rcell
    corners = _corners(rcell)
    lines = ["CRYST1{:9.3f}{:9.3f}{:9.3f}{:7.2f}{:7.2f}{:7.2f} P 1           1".format(*cellpar)]
    rows = [(_symbol(int(z)), "MSK" if z == 0 else "UNL", p) for z, p in zip(atoms.numbers, pos)]
    rows += [("X", "CEL", c) for c in corners]
    for i, (sym, res, (x, y, z)) in enumerate(rows):
        lines.append(f"HETATM{i + 1:5d} {sym.upper():>4s} {res} A   1    "
                     f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {sym.upper():>2s}")
    partners: dict[int, set] = {}
    for a, b, shift in _bond_pairs(atoms):
        if not np.any(shift) and a != b:
            partners.setdefault(int(a), set()).add(int(b))
    for a in sorted(partners):
        nb = sorted(partners[a])
        for k in range(0, len(nb), 4):
            lines.append(f"CONECT{a + 1:5d}" + "".join(f"{b + 1:5d}" for b in nb[k:k + 4]))
    lines.append("END")
    return "\n".join(lines) + "\n"


class FrameViewer:
    """An nglview stage showing one of ``frames`` at a time, rebuilt on every change.

    Rebuilding (remove the component, load the next) is what lets cell and species change
    between frames. ``widget`` is the ipywidgets box to display; ``ngl`` the NGLWidget;
    ``slider`` the frame index; ``info`` the description panel; ``atoms`` the shown structure.
    ``controls=False`` hides the slider (for a caller that drives ``show``); ``compact=True``
    puts the description below the view instead of beside it.
    """

    def __init__(self, frames: Sequence[Atoms], index: int = 0, repeat=(1, 1, 1),
                 play: bool = False, interval_ms: int = 300, width: str = "420px",
                 height: str = "380px", title: str = "", on_change=None,
                 controls: bool = True, compact: bool = False):
        import ipywidgets as w
        import nglview

        self.frames = [as_atoms(f) for f in frames]
        self.repeat = _check_repeat(repeat)
        self.title, self.compact = title, compact
        self._on_change = on_change
        self._component = None
        n = len(self.frames)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} structures")

        self.ngl = nglview.NGLWidget()
        self.ngl.camera = "orthographic"
        self.ngl.background = "white"
        self.ngl._set_size(width, height)
        self.ngl.layout = w.Layout(width=width, height=height)
        stage = w.Box([self.ngl], layout=w.Layout(width=width, height=height, overflow="hidden",
                                                  border="1px solid #ddd", flex="0 0 auto"))
        self.info = w.HTML(layout=w.Layout(min_width="210px"))
        self.slider = w.IntSlider(value=index, min=0, max=max(n - 1, 0), description="index",
                                  continuous_update=False, layout=w.Layout(width="330px"))
        self.slider.observe(lambda ch: self._render(ch["new"]), names="value")
        show_controls, controls = controls, [self.slider]
        if play:
            self.player = w.Play(value=index, min=0, max=max(n - 1, 0), interval=interval_ms)
            w.jslink((self.player, "value"), (self.slider, "value"))
            self.slider.description = "frame"
            controls.insert(0, self.player)
        self.save_button = w.Button(description="Save CIF", icon="download",
                                    layout=w.Layout(width="110px"))
        self.save_status = w.HTML()
        self.save_button.on_click(self._save_clicked)
        bottom = w.HBox(controls, layout=w.Layout(display="flex" if n > 1 and show_controls
                                                  else "none"))
        side = w.VBox([self.info, w.HBox([self.save_button]), self.save_status],
                      layout=w.Layout(padding="0 0 0 12px"))
        if compact:
            side = w.VBox([self.info, w.HBox([self.save_button, self.save_status])],
                          layout=w.Layout(width=width))
        main = w.VBox([stage, side]) if compact else w.HBox([stage, side])
        self.widget = w.VBox([main, bottom])
        self.widget.viewer = self  # keep a handle from the displayed box
        self._render(index)

    @property
    def index(self) -> int:
        return int(self.slider.value)

    def show(self, index: int) -> None:
        """Display frame ``index`` (moves the slider, which rebuilds the nglview component)."""
        if not 0 <= index < len(self.frames):
            raise IndexError(f"index {index} out of range for {len(self.frames)} frames")
        if self.slider.value != index:
            self.slider.value = index
        else:
            self._render(index)

    def _render(self, index: int) -> None:
        atoms = self.frames[index].repeat(self.repeat)
        self.atoms = atoms
        import nglview

        if self._component is not None:
            self.ngl.remove_component(self._component)
        comp = self.ngl.add_component(nglview.TextStructure(_pdb_text(atoms), ext="pdb"),
                                      default_representation=False, infer_bonds="none")
        comp.add_ball_and_stick(selection="not MSK and not CEL", color_scheme="element",
                                radius_scale=1.0, aspect_ratio=2.2)
        if (atoms.numbers == 0).any():
            comp.add_spacefill(selection="MSK", color=MASKED_COLOR, radius=0.4, opacity=0.6)
        comp.add_unitcell()
        first = self._component is None
        self._component = comp
        self._prune_archive()
        self.ngl.center()  # fit the cell (its corners are in the structure); keeps the rotation
        if first:  # a tilted view shows all three cell axes
            self.ngl.control.spin([1, 0, 0], -0.45)
            self.ngl.control.spin([0, 1, 0], 0.6)
        title = self.title
        if self.repeat != (1, 1, 1):
            rep = "x".join(map(str, self.repeat))
            note = f"{rep} supercell shown; numbers per unit cell"
            title = f"{title} ({note})" if title else note
        self.info.value = _describe_html(self.frames[index], title, inline=self.compact)
        if self._on_change is not None:
            self._on_change(index)

    def _prune_archive(self) -> None:
        """Drop representation messages of removed components from nglview's replay archive
        (nglview drops their loadFile but keeps them; a long trajectory would pile them up)."""
        arch = self.ngl._ngl_msg_archive
        loads = [i for i, m in enumerate(arch) if m.get("methodName") == "loadFile"]
        if loads:
            self.ngl._ngl_msg_archive = [
                m for i, m in enumerate(arch)
                if i >= loads[-1] or m.get("methodName") not in ("addRepresentation",
                                                                 "removeRepresentation")]

    def _save_clicked(self, _button) -> None:
        i = self.index
        atoms = self.frames[i]
        name = f"{describe(atoms)['formula'].replace(' ', '') or 'structure'}_{i}.cif"
        try:
            path = save_cif(atoms, name)
            self.save_status.value = f"saved <code>{path}</code>"
        except ValueError as err:
            self.save_status.value = f"<span style='color:#b00'>{err}</span>"


def save_cif(atoms: Atoms, path) -> Path:
    """Write ``atoms`` to a CIF file with pymatgen's ``CifWriter``; returns the path."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifWriter

    if (atoms.numbers == 0).any():
        raise ValueError("cannot save a structure with masked atom types (X) as CIF")
    path = Path(path)
    CifWriter(AseAtomsAdaptor.get_structure(atoms)).write_file(str(path))
    return path


# --------------------------------------------------------------------------- plotly

def _corners(cell: np.ndarray) -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=3)), float) @ cell


def _cell_edges(cell: np.ndarray):
    """x, y, z lists of the 12 cell edges, separated by ``None`` (3 entries per edge)."""
    xs, ys, zs = [], [], []
    for a in itertools.product((0, 1), repeat=3):
        for k in range(3):
            if a[k] == 0:
                b = list(a)
                b[k] = 1
                p, q = np.array(a, float) @ cell, np.array(b, float) @ cell
                xs += [p[0], q[0], None]
                ys += [p[1], q[1], None]
                zs += [p[2], q[2], None]
    return xs, ys, zs


def _is_metal(z: int) -> bool:
    from pymatgen.core import Element

    return z > 0 and Element.from_Z(int(z)).is_metal


def _bond_pairs(atoms: Atoms, scale: float = 1.1, max_bonds: int = 8):
    """Bonded pairs ``(i, j, shift)``: closer than ``scale`` x the sum of covalent radii.

    Two kinds of contact are left out because they crowd the picture of ionic crystals:
    metal-metal contacts (unless every atom is a metal) and all contacts of an atom with more
    than ``max_bonds`` of them (e.g. the 12-coordinated perovskite A site). Masked atoms
    (Z = 0) get no bonds.
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list

    if (atoms.numbers > 0).sum() < 1 or abs(atoms.cell.volume) < 1e-8:
        return []
    cut = [c * scale if z > 0 else 0.0 for c, z in zip(natural_cutoffs(atoms), atoms.numbers)]
    i, j, S = neighbor_list("ijS", atoms, cut)
    metal = np.array([_is_metal(z) for z in atoms.numbers])
    keep_metal_bonds = bool(metal[atoms.numbers > 0].all())
    pairs = [(a, b, s) for a, b, s in zip(i, j, S)
             if keep_metal_bonds or not (metal[a] and metal[b])]
    count = np.bincount([a for a, _, _ in pairs], minlength=len(atoms))
    return [(a, b, s) for a, b, s in pairs if count[a] <= max_bonds and count[b] <= max_bonds]


def _bond_segments(atoms: Atoms, images: bool = True, tol: float = 1e-3):
    """Bonds as x, y, z segment lists (``None``-separated) drawn inside the cell box.

    Drawn atoms are the atoms of the cell plus (``images=True``) their periodic images on
    cell faces, edges and corners. A bond between two drawn atoms is drawn whole; a bond that
    leaves the box is cut where it crosses the cell boundary, so periodic bonds show as stubs
    ending on the face through which they continue.
    """
    cell = np.asarray(atoms.cell)
    inv = np.linalg.inv(cell)
    frac = atoms.get_scaled_positions(wrap=False)
    starts = [(k, np.zeros(3)) for k in range(len(atoms))]
    if images:
        idx, off = _boundary_images(atoms, tol, offsets=True)
        starts += list(zip(idx, off))
    by_atom: dict[int, list] = {}
    for k, o in starts:
        by_atom.setdefault(k, []).append(o)
    bonds = {}
    for a, b, s in _bond_pairs(atoms):
        for o in by_atom.get(a, []):
            p = (frac[a] + o) @ cell
            q = (frac[b] + s + o) @ cell
            fq = q @ inv
            inside = bool(((fq > -tol) & (fq < 1 + tol)).all())
            if inside:
                key = tuple(sorted([tuple(np.round(p, 3)), tuple(np.round(q, 3))]))
                bonds[key] = (p, q)
            else:
                fp = p @ inv
                d = fq - fp
                lam = 1.0
                for ax in range(3):
                    if d[ax] > 1e-12:
                        lam = min(lam, (1 - fp[ax]) / d[ax])
                    elif d[ax] < -1e-12:
                        lam = min(lam, -fp[ax] / d[ax])
                lam = max(lam, 0.0)
                bonds[(tuple(np.round(p, 3)), tuple(np.round(q, 3)))] = (p, p + lam * (q - p))
    xs, ys, zs = [], [], []
    for p, q in bonds.values():
        xs += [p[0], q[0], None]
        ys += [p[1], q[1], None]
        zs += [p[2], q[2], None]
    return xs, ys, zs


def _boundary_images(atoms: Atoms, tol: float = 1e-3, offsets: bool = False):
    """Periodic images of atoms lying on cell faces, edges and corners.

    Returns the atom indices and the image positions (or, with ``offsets=True``, the
    fractional offsets to add to the atoms' unwrapped fractional coordinates).
    """
    frac_raw = atoms.get_scaled_positions(wrap=False)
    frac = frac_raw % 1.0
    frac[np.abs(frac - 1) < tol] = 0.0
    idx, out = [], []
    for k, f in enumerate(frac):
        on = [d for d in range(3) if f[d] < tol]
        for r in range(1, len(on) + 1):
            for dims in itertools.combinations(on, r):
                g = f.copy()
                g[list(dims)] += 1.0
                idx.append(k)
                out.append(g - frac_raw[k] if offsets else g @ np.asarray(atoms.cell))
    return idx, np.array(out).reshape(-1, 3)


def _marker_size(z: int) -> float:
    return 11.0 if z == 0 else 9.0 + 16.0 * float(covalent_radii[z])


def _hover(atoms: Atoms, k: int, pos) -> str:
    z = int(atoms.numbers[k])
    f = atoms.get_scaled_positions(wrap=False)[k]
    name = "X (masked)" if z == 0 else _symbol(z)
    return (f"{name} #{k}<br>frac ({f[0]:.3f}, {f[1]:.3f}, {f[2]:.3f})"
            f"<br>cart ({pos[0]:.2f}, {pos[1]:.2f}, {pos[2]:.2f}) Å")


def structure_traces(atoms: Atoms, bonds: bool = True, images: bool = True,
                     per_element: bool = True, scene: str = "scene") -> list:
    """Plotly traces for one structure: atoms (one trace per element, or one in total), the
    12 cell edges (trace ``"cell"``), bonds (``"bonds"``) and boundary images (``"images"``)."""
    import plotly.graph_objects as go

    atoms = atoms.copy()
    atoms.wrap(eps=1e-6)
    traces = []
    cx, cy, cz = _cell_edges(np.asarray(atoms.cell))
    traces.append(go.Scatter3d(x=cx, y=cy, z=cz, mode="lines", name="cell", hoverinfo="skip",
                               line=dict(color=CELL_COLOR, width=3), showlegend=False,
                               scene=scene))
    if bonds:
        bx, by, bz = _bond_segments(atoms, images=images)
        traces.append(go.Scatter3d(x=bx, y=by, z=bz, mode="lines", name="bonds",
                                   hoverinfo="skip", line=dict(color=BOND_COLOR, width=5),
                                   showlegend=False, scene=scene))
    pos = atoms.positions
    if per_element:
        groups = [(z, np.flatnonzero(atoms.numbers == z)) for z in sorted(set(atoms.numbers))]
    else:
        groups = [(None, np.arange(len(atoms)))]
    for z, idx in groups:
        zs = atoms.numbers[idx]
        traces.append(go.Scatter3d(
            x=pos[idx, 0], y=pos[idx, 1], z=pos[idx, 2], mode="markers",
            name=("atoms" if z is None else ("X (masked)" if z == 0 else _symbol(int(z)))),
            marker=dict(size=[_marker_size(int(q)) for q in zs], color=[_color(int(q)) for q in zs],
                        opacity=1.0 if (z is None or z > 0) else 0.6,
                        line=dict(color="#333333", width=1)),
            text=[_hover(atoms, k, pos[k]) for k in idx], hoverinfo="text",
            showlegend=z is not None, scene=scene))
    if images:
        idx, ipos = _boundary_images(atoms)
        zs = atoms.numbers[idx] if idx else np.array([], int)
        traces.append(go.Scatter3d(
            x=ipos[:, 0], y=ipos[:, 1], z=ipos[:, 2], mode="markers", name="images",
            marker=dict(size=[_marker_size(int(q)) for q in zs], color=[_color(int(q)) for q in zs],
                        opacity=0.55), hoverinfo="skip", showlegend=False, scene=scene))
    return traces


def _scene(ranges=None, zoom: float = 1.0) -> dict:
    axis = dict(visible=False, showbackground=False)
    eye = dict(x=1.5, y=-1.6, z=0.9)
    scene = dict(xaxis=dict(axis), yaxis=dict(axis), zaxis=dict(axis), aspectmode="data",
                 camera=dict(eye=eye, projection=dict(type="orthographic")))
    if ranges is not None:
        lo, hi = ranges
        span = np.maximum(hi - lo, 1e-6)
        for k, ax in enumerate("xyz"):
            scene[f"{ax}axis"]["range"] = [float(lo[k]), float(hi[k])]
        scene["aspectmode"] = "manual"
        # orthographic views ignore the eye distance: zoom by enlarging the aspect box
        scene["aspectratio"] = {ax: float(zoom * span[k] / span.max())
                                for k, ax in enumerate("xyz")}
    return scene


def structure_figure(atoms: Atoms, repeat=(1, 1, 1), bonds: bool = True,
                     images: bool = True, title: str | None = None, height: int = 460):
    """A plotly 3D figure of one structure (see ``structure_traces``)."""
    import plotly.graph_objects as go

    atoms = as_atoms(atoms).repeat(_check_repeat(repeat))
    if title is None:
        d = describe(atoms)
        title = f"{d['formula']}  ·  {d['spacegroup']}  ·  {d['n_atoms']} atoms"
        if "t" in d:
            title += f"  ·  t = {d['t']:.2f}"
    fig = go.Figure(structure_traces(atoms, bonds=bonds, images=images))
    fig.update_layout(title=dict(text=title, x=0.02, font=dict(size=14)), scene=_scene(),
                      height=height, margin=dict(l=0, r=0, t=36, b=0), paper_bgcolor="white",
                      legend=dict(itemsizing="constant", x=0.0, y=0.92))
    return fig


def _frame_ranges(frames: Sequence[Atoms], pad: float = 0.6):
    pts = np.vstack([np.vstack([_corners(np.asarray(a.cell)),
                                a.get_scaled_positions(wrap=True) @ np.asarray(a.cell)])
                     for a in frames])
    return pts.min(0) - pad, pts.max(0) + pad


def _frame_label(atoms: Atoms, k: int) -> str:
    return f"{atoms.info['t']:.2f}" if "t" in atoms.info else str(k)


def trajectory_figure(frames: Sequence[Atoms], curves: dict | None = None,
                      x: Sequence[float] | None = None, xlabel: str = "t",
                      bonds: bool = True, title: str = "", frame_ms: int = 250,
                      height: int = 480, show: str = "first"):
    """A plotly animation over ``frames`` with a slider labelled by ``atoms.info["t"]``.

    ``curves`` (name -> values, one per frame, or name -> (xs, ys) for a dense curve) are drawn
    in a 2D panel beside the structure with a marker at the current frame's ``x`` (default: t,
    or the frame index when frames have no t). ``show`` (``"first"`` or ``"last"``) is the
    frame a static export shows; the play button always runs from the first frame.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frames = [as_atoms(a) for a in frames]
    if not frames:
        raise ValueError("trajectory_figure needs at least one frame")
    if show not in ("first", "last"):
        raise ValueError(f"show must be 'first' or 'last', got {show!r}")
    active = 0 if show == "first" else len(frames) - 1
    if x is None:
        x = [a.info.get("t", k) for k, a in enumerate(frames)]
    x = [float(v) for v in x]
    if curves:
        fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.06,
                            specs=[[{"type": "scene"}, {"type": "xy"}]])
    else:
        fig = go.Figure()

    def frame_data(k: int) -> list:
        data = structure_traces(frames[k], bonds=bonds, images=False, per_element=False)
        if curves:
            for name, vals in curves.items():
                ys = vals[1] if isinstance(vals, tuple) else vals
                xs = vals[0] if isinstance(vals, tuple) else x
                yk = float(np.interp(x[k], np.sort(xs), np.asarray(ys)[np.argsort(xs)]))
                data.append(go.Scatter(x=[x[k]], y=[yk], mode="markers", showlegend=False,
                                       marker=dict(size=10, line=dict(width=1, color="black")),
                                       hoverinfo="skip", xaxis="x", yaxis="y"))
        return data

    first = frame_data(active)
    n_dynamic = len(first)
    for tr in first:
        fig.add_trace(tr)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    if curves:
        for c, (name, vals) in enumerate(curves.items()):
            xs, ys = vals if isinstance(vals, tuple) else (x, vals)
            fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines", name=name,
                                     line=dict(color=colors[c % len(colors)], width=2)),
                          row=1, col=2)
        # match marker colours to their curves
        for c in range(len(curves)):
            fig.data[n_dynamic - len(curves) + c].marker.color = colors[c % len(colors)]
        fig.update_xaxes(title_text=xlabel, row=1, col=2)
    anim = []
    for k in range(len(frames)):
        data = frame_data(k)
        if curves:
            for c in range(len(curves)):
                data[n_dynamic - len(curves) + c].marker.color = colors[c % len(colors)]
        anim.append(go.Frame(data=data, name=str(k), traces=list(range(n_dynamic))))
    fig.frames = anim
    step_args = dict(mode="immediate", frame=dict(duration=0, redraw=True),
                     transition=dict(duration=0))
    slider = dict(active=active, currentvalue=dict(prefix=f"{xlabel} = " if xlabel else ""),
                  pad=dict(t=40, b=10), len=0.9, x=0.1,
                  steps=[dict(method="animate", label=_frame_label(a, k),
                              args=[[str(k)], step_args]) for k, a in enumerate(frames)])
    play = dict(type="buttons", showactive=False, x=0.0, y=0, xanchor="left", yanchor="top",
                pad=dict(t=45), buttons=[
                    dict(label="▶", method="animate",
                         args=[[str(k) for k in range(len(frames))], dict(mode="immediate",
                                          frame=dict(duration=frame_ms, redraw=True),
                                          transition=dict(duration=0))]),
                    dict(label="❚❚", method="animate",
                         args=[[None], dict(mode="immediate", frame=dict(duration=0),
                                            transition=dict(duration=0))])])
    fig.update_layout(scene=_scene(_frame_ranges(frames), zoom=1.4), sliders=[slider],
                      updatemenus=[play], height=height, title=dict(text=title, x=0.02, y=0.98),
                      margin=dict(l=0, r=10, t=70 if curves else 40, b=0),
                      paper_bgcolor="white", plot_bgcolor="white",
                      legend=dict(x=0.6, y=1.02, xanchor="left", yanchor="bottom",
                                  orientation="h"))
    if curves:
        fig.update_yaxes(gridcolor="#e5e5e5", row=1, col=2)
        fig.update_xaxes(gridcolor="#e5e5e5", row=1, col=2)
    return fig


# --------------------------------------------------------------------------- facade

class Visualizer:
    """Show a list of crystals (or one trajectory) with nglview or plotly.

    >>> vis = Visualizer(atoms_list)   # doctest: +SKIP
    >>> vis.view(index=0)              # nglview widget box   # doctest: +SKIP
    >>> vis.plot(index=0)              # plotly Figure        # doctest: +SKIP
    """

    def __init__(self, structures):
        self.structures = _as_list(structures)

    def __len__(self) -> int:
        return len(self.structures)

    def __getitem__(self, index: int) -> Atoms:
        return self.structures[self._index(index)]

    def _index(self, index: int) -> int:
        n = len(self.structures)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} structures")
        return index % n

    def describe(self, index: int = 0) -> dict:
        """Formula, space group, volume, density and minimum distance of one structure."""
        return describe(self[index])

    def view(self, index: int = 0, repeat=(1, 1, 1), width: str = "420px",
             height: str = "380px"):
        """An nglview widget box: viewer, description, Save-CIF button and an index slider."""
        viewer = FrameViewer(self.structures, index=self._index(index), repeat=repeat,
                             width=width, height=height)
        return viewer.widget

    def view_trajectory(self, repeat=(1, 1, 1), interval_ms: int = 300, width: str = "420px",
                        height: str = "380px"):
        """Play the structures as frames (cell and species rebuilt on every frame)."""
        viewer = FrameViewer(self.structures, index=0, repeat=repeat, play=True,
                             interval_ms=interval_ms, width=width, height=height)
        return viewer.widget

    def plot(self, index: int = 0, repeat=(1, 1, 1), bonds: bool = True, images: bool = True,
             height: int = 460):
        """A plotly 3D figure of one structure (works without a widget frontend)."""
        return structure_figure(self[index], repeat=repeat, bonds=bonds, images=images,
                                height=height)

    def plot_trajectory(self, bonds: bool = True, frame_ms: int = 250, height: int = 480,
                        show: str = "last"):
        """A plotly animation of all structures, with a slider showing ``atoms.info["t"]``.

        ``show="last"``: a static export shows the last frame (the finished crystal of a
        sampling trajectory); play runs from the first.
        """
        return trajectory_figure(self.structures, bonds=bonds, frame_ms=frame_ms, height=height,
                                 show=show)

    def save_cif(self, index: int, path) -> Path:
        """Write structure ``index`` to ``path`` as CIF; returns the path."""
        return save_cif(self[index], path)
