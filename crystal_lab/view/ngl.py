"""The nglview viewer: ONE persistent NGL stage per widget, updated in place.

Browsers allow a page about 16 live WebGL contexts ("Too many active WebGL contexts. Oldest
context will be lost"), and every NGL stage is one. So a :class:`FrameViewer` creates its
``NGLWidget`` once and never another: each frame is loaded once as a component of that stage
and frames are switched by showing one component and hiding the others (a visibility flag, no
reload: playback never blanks and shows every frame). New structures (a Generate run, a table
row) replace the components with :meth:`FrameViewer.set_frames`, in the same stage.

Structures reach NGL as PDB text (:func:`pdb_text`) with a CRYST1 record for the unit cell and
CONECT records for the bonds (NGL's own bond guessing is off); masked atoms (atomic number 0)
are translucent near-black spheres labelled "X". Beside the stage: an element legend (colour
chips and symbols) and a short description (:func:`.facts.describe_html`).
"""
from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from .bonds import bond_pairs, corners
from .facts import (
    MAX_DRAWN_ATOMS,
    as_atoms,
    check_index,
    check_repeat,
    describe,
    describe_html,
    symbol,
)
from .style import MASKED_COLOR, MASKED_OPACITY, legend_html

__all__ = ["FrameViewer", "frame_labels", "pdb_text", "save_cif"]


def pdb_text(atoms: Atoms) -> str:
    """PDB text with a CRYST1 record (NGL draws the unit cell from it).

    Positions are written in PDB's standard orientation (a along x, b in the xy plane).
    Real atoms get residue name ``UNL``, masked ones ``MSK`` so representations can select them.
    Eight invisible pseudo-atoms (residue ``CEL``, never drawn) mark the cell corners, so that
    NGL's auto-view frames the whole cell and not only the atoms. Bonds are written as CONECT
    records (the rule of :func:`crystal_lab.view.bonds.bond_pairs`; bonds inside the cell only,
    so no bond ends on an atom that is not drawn).
    """
    cellpar = atoms.cell.cellpar()
    rcell = np.asarray(atoms.cell.standard_form()[0])
    pos = atoms.get_scaled_positions(wrap=False) @ rcell
    lines = ["CRYST1{:9.3f}{:9.3f}{:9.3f}{:7.2f}{:7.2f}{:7.2f} P 1           1".format(*cellpar)]
    rows = [(symbol(int(z)), "MSK" if z == 0 else "UNL", p) for z, p in zip(atoms.numbers, pos,
                                                                            strict=True)]
    rows += [("X", "CEL", c) for c in corners(rcell)]
    for i, (sym, res, (x, y, z)) in enumerate(rows):
        lines.append(f"HETATM{i + 1:5d} {sym.upper():>4s} {res} A   1    "
                     f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {sym.upper():>2s}")
    partners: dict[int, set] = {}
    for a, b, shift in bond_pairs(atoms):
        if not np.any(shift) and a != b:
            partners.setdefault(int(a), set()).add(int(b))
    for a in sorted(partners):
        nb = sorted(partners[a])
        for k in range(0, len(nb), 4):
            lines.append(f"CONECT{a + 1:5d}" + "".join(f"{b + 1:5d}" for b in nb[k:k + 4]))
    lines.append("END")
    return "\n".join(lines) + "\n"


def save_cif(atoms: Atoms, path, keep_existing: bool = False) -> Path:
    """Write ``atoms`` to the CIF file ``path`` (:func:`crystal_lab.structures.write_cif`:
    ValueError for NaN coordinates or masked "X" atoms, a one-line OSError for a path that
    cannot be written); returns the path written. ``keep_existing=True``: an existing file stays
    and the CIF goes to the next free name (``name-2.cif``, ...), claimed atomically."""
    from crystal_lab.structures import write_cif

    return write_cif(atoms, path, keep_existing=keep_existing)


# Show component ``show`` of the stage and hide the others, in the browser. NGL loads files
# asynchronously and nglview does not queue its messages behind a load, so a message naming a
# component that is still loading fails ("Cannot read properties of undefined"). This code
# never names a missing component: it flips what is there, and a hook on NGL's componentAdded
# signal gives every component that arrives later the right visibility (and fits the camera to
# the shown frame's cell, whose corners are in the structure: the crystal fills the view).
_SHOW_JS = """
var view = this, show = %d;
view._clShow = show;
if (!view._clHooked) {
  view._clHooked = true;
  view.stage.signals.componentAdded.add(function (c) {
    var k = view.stage.compList.indexOf(c);
    c.setVisibility(k === view._clShow);
    if (k === view._clShow) { c.autoView(0); }
  });
}
view.stage.compList.forEach(function (c, k) { c.setVisibility(k === show); });
if (view.stage.compList[show]) { view.stage.compList[show].autoView(0); }
"""

# A view that connects again (reloaded page, notebook reopened from saved widget state) is
# rebuilt by nglview from the archive: all files loaded at once (any order), then only
# ``fire_embed`` messages, then the representations the frontend last reported (hidden frames'
# recorded invisible: a blank stage). This ``fire_embed`` message, the archive's last, restores
# the kernel's order (by load name) and representations, stops that re-application, shows.
_RESTORE_JS = """
var view = this, order = %s, specs = %s;
view._set_representation_from_repr_dict = function () {};
var rank = function (c) { return c.name in order ? order[c.name] : 1e9; };
view.stage.compList.sort(function (a, b) { return rank(a) - rank(b); });
view.stage.compList.forEach(function (c) {
  if (!(c.name in specs)) { return; }
  c.removeAllRepresentations();
  specs[c.name].forEach(function (r) { c.addRepresentation(r[0], r[1]); });
});
"""
# The tilt every new view gets (a tilted view shows all three cell axes): (axis, angle) spins.
TILT = (([1, 0, 0], -0.45), ([0, 1, 0], 0.6))

# once the rebuilt view is sized: face-on (the empty stage's camera was saved) gets TILT; refit
_REFIT_JS = """
setTimeout(function () {
  var controls = view.stage.viewerControls, m = controls.getOrientation().elements;
  var turned = Math.abs(m[1]) + Math.abs(m[2]) + Math.abs(m[4]) + Math.abs(m[6])
               + Math.abs(m[8]) + Math.abs(m[9]) > 1e-3 * Math.abs(m[0]);
  if (!turned) { TILT_SPINS }
  var c = view.stage.compList[view._clShow];
  if (c) { c.autoView(0); }
}, 300);
""".replace("TILT_SPINS", " ".join(f"controls.spin({axis}, {angle});" for axis, angle in TILT))


def shown_component(message: dict) -> int | None:
    """The component a FrameViewer show message (nglview ``executeCode``) shows, else None."""
    if message.get("methodName") != "executeCode" or "_clShow" not in str(message.get("args")):
        return None
    return int(re.search(r"show = (-?\d+)", message["args"][0]).group(1))


def frame_labels(frames: Sequence[Atoms]) -> list[str]:
    """Slider labels: the frame's position, ``"2 / 9"``, and its t when the frames carry one,
    ``"2 / 9 · t = 0.40"`` (three decimals where two would make two frames read the same t)."""
    last = len(frames) - 1
    if not all("t" in a.info for a in frames):
        return [f"{k} / {last}" for k in range(len(frames))]
    ts = [float(a.info["t"]) for a in frames]
    digits = 2 if len({f"{t:.2f}" for t in ts}) == len(ts) else 3
    return [f"{k} / {last} · t = {t:.{digits}f}" for k, t in enumerate(ts)]


def _stage(width: str, height: str):
    """The one NGLWidget of a viewer (orthographic, white) and the fixed-size box around it."""
    import ipywidgets as w
    import nglview

    ngl = nglview.NGLWidget()
    ngl.camera = "orthographic"
    ngl.background = "white"
    ngl._set_size(width, height)
    ngl.layout = w.Layout(width=width, height=height)
    ngl.add_class("cl-stage")
    return ngl, w.Box([ngl], layout=w.Layout(width=width, height=height, overflow="hidden",
                                             border="1px solid #ddd", flex="0 0 auto"))


class FrameViewer:
    """One persistent nglview stage showing one of ``frames`` at a time.

    ``widget`` is the ipywidgets box to display; ``ngl`` the NGLWidget (created once, never
    replaced); ``slider`` picks the frame (labelled in ``t`` when the frames carry
    ``info["t"]``); ``legend`` the element key; ``info`` the description; ``atoms`` the shown
    structure. ``play=True`` adds a play button and loads every frame up front, so playback
    only flips visibility. ``controls=False`` hides the slider (for a caller that drives
    ``show``); ``compact=True`` puts the description below the view instead of beside it.
    """

    def __init__(self, frames: Sequence[Atoms], index: int = 0, repeat=(1, 1, 1),
                 play: bool = False, interval_ms: int = 300, width: str = "420px",
                 height: str = "380px", title: str = "", on_change=None,
                 controls: bool = True, compact: bool = False, save_dir="results",
                 max_atoms: int | None = MAX_DRAWN_ATOMS, what: str = "Visualizer"):
        import ipywidgets as w

        from .boxes import SentenceVBox, sentence

        self.repeat = check_repeat(repeat)
        self.max_atoms = max_atoms
        self.title, self.compact, self.play = title, compact, play
        self.save_dir = Path(save_dir)
        self._on_change = on_change
        self._show_controls = controls
        self.ngl, stage = _stage(width, height)
        self.legend = w.HTML(layout=w.Layout(width=width))
        self.legend.add_class("cl-legend-box")
        self.info = w.HTML(layout=w.Layout(min_width="210px"))
        self.slider = w.SelectionSlider(options=[("0", 0)], description="index",
                                        continuous_update=True, layout=w.Layout(width="330px"))
        self.slider.observe(self._slider_moved, names="index")
        self.slider.add_class("cl-frame-slider")
        self.player = w.Play(value=0, min=0, max=0, interval=interval_ms,
                             layout=w.Layout(display="" if play else "none"))
        self.player.add_class("cl-play")
        w.jslink((self.player, "value"), (self.slider, "index"))
        self.save_button = w.Button(description="Save CIF", icon="download",
                                    layout=w.Layout(width="110px"))
        self.save_status = w.HTML()
        self.save_button.on_click(self._save_clicked)
        self.controls = w.HBox([self.player, self.slider])
        side = w.VBox([self.info, w.HBox([self.save_button]), self.save_status],
                      layout=w.Layout(padding="0 0 0 12px"))
        if compact:
            side = w.VBox([self.info, w.HBox([self.save_button, self.save_status])],
                          layout=w.Layout(width=width))
        left = w.VBox([stage, self.legend])
        main = w.VBox([left, side]) if compact else w.HBox([left, side])
        self.widget = SentenceVBox([main, self.controls], text=sentence(what))
        self.widget.viewer = self  # keep a handle from the displayed box
        self.frames: list[Atoms] = []
        self._components: dict[int, object] = {}
        self._reprs: dict[str, tuple[str, list]] = {}   # component id -> (name, representations)
        self._serial = itertools.count()
        self._html: dict[int, str] = {}
        self._shown: int | None = None
        self._oriented = False
        self._show_js(-1)   # the hook first, before any file arrives: nothing shown yet
        frames = list(frames)
        if frames:
            self.set_frames(frames, index)
        else:  # an empty stage, hidden until set_frames gives it a structure
            self.widget.layout.display = "none"

    # ------------------------------------------------------------------ public
    @property
    def index(self) -> int:
        return int(self.slider.index or 0)

    @property
    def atoms(self) -> Atoms:
        """The shown structure (repeated as displayed)."""
        return self.frames[self.index].repeat(self.repeat)

    def set_frames(self, frames: Sequence[Atoms], index: int = 0) -> None:
        """Show new ``frames`` in the same stage: the new structure is loaded and shown
        first, then the old components are removed (no blank stage in between)."""
        frames = [as_atoms(f) for f in frames]
        n = len(frames)
        if n == 0:
            raise ValueError("FrameViewer needs at least one structure")
        index = check_index(index, n)
        check_repeat(self.repeat, max(len(f) for f in frames), self.max_atoms)
        old = list(self._components.values())
        self._components, self._html, self._shown = {}, {}, None
        self.frames = frames
        has_t = all("t" in a.info for a in frames)
        self.slider.unobserve(self._slider_moved, names="index")
        self.slider.options = [(lab, k) for k, lab in enumerate(frame_labels(frames))]
        self.slider.description = "frame" if has_t or self.play else "index"
        self.slider.index = index
        self.slider.observe(self._slider_moved, names="index")
        self.player.max = max(n - 1, 0)
        self.player.value = index
        self.controls.layout.display = "flex" if n > 1 and self._show_controls else "none"
        if self.play:  # load every frame now: playback then only flips visibility
            with self.ngl.hold_sync():   # the replay archive goes to the frontend once
                for k in range(n):
                    self._component(k)
        self._render(index, sync=False)
        if self.widget.layout.display == "none":
            self.widget.layout.display = ""
            self.ngl.handle_resize()   # the stage was created in a hidden box: size it now
        for comp in old:
            self.ngl.remove_component(comp)
            self._reprs.pop(comp.id, None)
        if old:   # positions moved down: say again which one is shown
            self._show_js(self._position(self._components[index]))
        self._sync_archive()

    def show(self, index: int) -> None:
        """Display frame ``index`` (moves the slider)."""
        index = check_index(index, len(self.frames), "frames")
        if self.slider.index != index:
            self.slider.index = index
        else:
            self._render(index)

    # ------------------------------------------------------------------ internals
    def _slider_moved(self, change) -> None:
        if change["new"] is not None:
            self._render(int(change["new"]))

    def _component(self, k: int):
        """Frame ``k``'s component in the stage, loaded on first use (then kept)."""
        import nglview

        if k not in self._components:
            atoms = self.frames[k].repeat(self.repeat)
            name = f"cl-frame-{next(self._serial)}"   # how a reconnected view finds it
            before = {id(m) for m in self.ngl._ngl_msg_archive}
            comp = self.ngl.add_component(nglview.TextStructure(pdb_text(atoms), ext="pdb"),
                                          default_representation=False, infer_bonds="none",
                                          name=name)
            comp.add_ball_and_stick(selection="not MSK and not CEL", color_scheme="element",
                                    radius_scale=1.0, aspect_ratio=2.2)
            if (atoms.numbers == 0).any():
                comp.add_spacefill(selection="MSK", color=MASKED_COLOR, radius=0.45,
                                   opacity=MASKED_OPACITY)
                comp.add_label(selection="MSK", labelType="atomname", color="black",
                               zOffset=1.0, fixedSize=True, radius=2.0)
            comp.add_unitcell()   # hidden on arrival by the _SHOW_JS hook unless it is shown
            self._components[k] = comp
            self._reprs[comp.id] = (name, [
                [m["args"][0], m["kwargs"]] for m in self.ngl._ngl_msg_archive
                if id(m) not in before and m.get("methodName") == "addRepresentation"])
        return self._components[k]

    def _show_js(self, position: int) -> None:
        # not archived one by one (nglview re-sends its whole archive on every archived call);
        # _sync_archive writes the current state once
        self.ngl._remote_call("executeCode", target="Widget", args=[_SHOW_JS % position],
                              fire_once=True)

    def _render(self, index: int, sync: bool = True) -> None:
        comp = self._component(index)
        if self._shown != index:
            self._show_js(self._position(comp))   # one message: show this frame, hide the rest
            self._shown = index
            if sync:
                self._sync_archive()
            if not self._oriented:  # a tilted view shows all three cell axes
                for axis, angle in TILT:
                    self.ngl.control.spin(axis, angle)
                self._oriented = True
        frame = self.frames[index]
        self.legend.value = legend_html(frame.numbers)
        if index not in self._html:
            title = self.title
            if self.repeat != (1, 1, 1):
                rep = "x".join(map(str, self.repeat))
                note = f"{rep} supercell shown; numbers per unit cell"
                title = f"{title} ({note})" if title else note
            self._html[index] = describe_html(frame, title, inline=self.compact)
        self.info.value = self._html[index]
        if self._on_change is not None:
            self._on_change(index)

    def _position(self, comp) -> int:
        return self.ngl._ngl_component_ids.index(comp.id)

    def _sync_archive(self) -> None:
        """Make nglview's replay archive (what a re-rendered view replays) describe the stage
        as it is: representations of removed components dropped, and one show message at the
        end, showing only the current frame."""
        arch = self.ngl._ngl_msg_archive
        loads = [i for i, m in enumerate(arch) if m.get("methodName") == "loadFile"]
        first = loads[0] if loads else len(arch)
        keep = [m for i, m in enumerate(arch) if shown_component(m) is None and (
            i >= first or m.get("methodName") not in ("addRepresentation",
                                                      "removeRepresentation"))]
        shown = self._components.get(self._shown)
        position = self._position(shown) if shown is not None else -1
        keep.append(self._restore_msg(position))
        self.ngl._ngl_msg_archive = keep

    def _restore_msg(self, position: int) -> dict:
        """The ``fire_embed`` message that rebuilds a reconnected view: every component in the
        kernel's order with its representations, frame ``position`` shown, camera refitted."""
        order, specs = {}, {}
        for k, comp_id in enumerate(self.ngl._ngl_component_ids):
            if comp_id in self._reprs:
                name, reprs = self._reprs[comp_id]
                order[name], specs[name] = k, reprs
        code = (_RESTORE_JS % (json.dumps(order), json.dumps(specs)) + _SHOW_JS % position
                + _REFIT_JS)
        msg = self.ngl._get_remote_call_msg("executeCode", target="Widget", args=[code])
        msg["fire_embed"] = True
        return msg

    def _save_clicked(self, _button) -> None:
        i = self.index
        atoms = self.frames[i]
        name = f"{describe(atoms)['formula'].replace(' ', '') or 'structure'}_{i}.cif"
        try:
            path = save_cif(atoms, self.save_dir / name, keep_existing=True)
            self.save_status.value = f"saved <code>{html.escape(str(path))}</code>"
        except (ValueError, OSError) as err:   # a read-only folder too: the status line says it
            self.save_status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
