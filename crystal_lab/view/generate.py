"""The generate widget: type a prompt, press Generate, watch crystals form, Stop any time.

``GenerateWidget(model)`` is an ``ipywidgets.VBox`` with

* a prompt box (CSS class ``cl-prompt``) and, under it, a live prompt-helper line: the model's
  own checks (``model.check``, the checks ``model.sample`` runs, on every field) and, when they
  pass, :func:`crystal_lab.chemistry.describe_prompt`; it also suggests a corrected spelling
  ("did you mean SrTiO3?", :func:`suggest_prompt`). The helper and Generate never disagree.
  The prompt is parsed once per change of its text (a :class:`~crystal_lab.prompts.Condition`
  that the other fields only resize or override); the words it holds show in the controls
  ("cubic SrTiO3" sets the crystal-system menu, "Ef=-1.5" the energy field), and when a control
  was set by hand to something else, the helper says that the control wins;
* ``n_atoms`` (0 = let the model choose), ``n_samples``, ``steps`` (0 = the model's default)
  and ``seed`` controls, and three optional targets: a crystal system, a formation energy
  (eV/atom) and a space group (a number or a symbol), passed to ``model.sample`` only when set:
  left empty, the sampler draws a space-group template from MP-20 val's (the default), and
  1 = P1 is the free model;
* Generate (``cl-generate``), Stop (``cl-stop``) and Save results (``cl-save``) buttons;
* a progress bar with the current diffusion time ``t`` and an estimate of the time left, and a
  status line (``cl-status``) that says how each run ended ("stopped at step 700 of 2000
  (t = 0.63) after 12 s");
* a results area (``cl-results``): the formulas of the run, a picker, the quality badges of the
  picked structure (:mod:`crystal_lab.view.badges`) and ONE persistent nglview stage
  (:class:`crystal_lab.view.ngl.FrameViewer`) that shows the structure forming and then the
  results, updated in place for every run; beside it, the model's measured quality
  (``cl-quality-facts``: its match rate beside the random-search floor,
  :func:`crystal_lab.view.quality.quality_facts`). A refused prompt leaves the last good
  results and their view in place.

Sampling runs in a background thread so the kernel stays free to handle the Stop button
(widget updates from a thread reach JupyterLab 4; see the ipywidgets documentation,
"Asynchronous widgets", https://ipywidgets.readthedocs.io/en/stable/examples/Widget%20Asynchronous.html).
Stop asks ``model.sample``'s callback to end sampling: the sampler jumps to t = 0 from its
last prediction and returns partial results (``atoms.info["complete"] == False``).
"""
from __future__ import annotations

import html
import threading
import time
from datetime import datetime
from pathlib import Path

import ipywidgets as w

from crystal_lab.prompts import CRYSTAL_SYSTEMS, suggest_prompt
from crystal_lab.structures import formula

from .boxes import sentence
from .generate_prompt import PromptControls
from .messages import ERROR as _ERROR
from .messages import coloured as _coloured
from .messages import format_seconds, plain_error, progress_of, run_status

__all__ = ["CRYSTAL_SYSTEMS", "SPACE_GROUP_CHOICES", "GenerateWidget", "suggest_prompt"]

#: the space-group field's suggestions (any number 1-230 or symbol can be typed): the free model,
#: then groups common in MP-20 (Fm-3m 14% of MP-20 val, I4/mmm, C2/m and Pnma 5% each)
SPACE_GROUP_CHOICES = ("1 · P1", "225 · Fm-3m", "221 · Pm-3m", "139 · I4/mmm", "12 · C2/m",
                       "62 · Pnma", "194 · P6_3/mmc", "166 · R-3m", "136 · P4_2/mnm")

class GenerateWidget(PromptControls, w.VBox):
    """Prompt, controls, live progress, Stop, results and Save for ``model.sample``.

    ``model``: a :class:`crystal_lab.model.diffusion.CrystalDiffusionModel` (default: the shipped
    model, loaded when the helper line first runs its checks, as the widget is built).
    ``steps=None`` uses the model's default number of steps. ``quality``: the facts line beside the
    output (default: the shipped model's measured quality; ``""`` for none, e.g. for a model you
    trained yourself, whose quality nobody measured). ``batch_size``: passed to ``model.sample``
    (and used for the progress bar). ``stream_every``: redraw the forming structure every this many
    steps (default: about ten redraws per run). ``save_dir``: where Save results writes (default
    ``results/``). After a run, ``.results`` holds the structures (``ase.Atoms``), ``.quality``
    their badges' facts, ``.stopped`` whether Stop ended it, ``.error`` the exception of a failed
    run (or None), ``.last_step`` the callback info of the last step.
    """

    def __init__(self, model=None, prompt: str = "Ba Ti O", n_atoms: int | None = 5,
                 n_samples: int = 3, steps: int | None = None, seed: int = 0,
                 stream_every: int | None = None, save_dir: str = "results",
                 batch_size: int = 64, quality: str | None = None):
        self._model = model
        self.results: list = []
        self.quality: list[dict] = []
        self.stopped = False
        self.error: BaseException | None = None
        self.last_step: dict | None = None
        self.stream_every = stream_every
        self.batch_size = int(batch_size)
        self.save_dir = Path(save_dir)
        self._thread: threading.Thread | None = None
        self._shown_prompt = ""   # the prompt of the results on show
        self._init_prompt_state()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._build_fields(prompt, n_atoms, n_samples, steps, seed)
        self._build_targets()
        self._build_buttons()
        self._build_results(quality)
        self._connect()
        super().__init__([
            self.prompt, self.helper,
            w.HBox([self.n_atoms, self.n_samples, self.steps, self.seed]),
            w.HBox([self.crystal_system, self.formation_energy, self.space_group]),
            w.HBox([self.generate_button, self.stop_button, self.save_button]),
            w.HBox([self.progress, self.status]),
            self.results_box,
        ])
        self.add_class("cl-generate-widget")

    def _build_targets(self) -> None:
        """The three optional targets: crystal system, formation energy, space group."""
        self.crystal_system = w.Dropdown(options=("any",) + CRYSTAL_SYSTEMS,
                                         value="any", description="crystal system",
                                         style={"description_width": "100px"},
                                         layout=w.Layout(width="260px"))
        self.formation_energy = w.Text(value="", description="E_form target",
                                       placeholder="eV/atom, optional",
                                       style={"description_width": "100px"},
                                       layout=w.Layout(width="260px"))
        self.space_group = w.Combobox(value="", options=SPACE_GROUP_CHOICES, ensure_option=False,
                                      description="space group",
                                      placeholder="a template; 1 = free (P1)",
                                      style={"description_width": "100px"},
                                      layout=w.Layout(width="260px"))

    def _build_buttons(self) -> None:
        """Generate, Stop and Save results, the progress bar and the status line."""
        self.generate_button = w.Button(description="Generate", button_style="primary",
                                        icon="play")
        self.generate_button.add_class("cl-generate")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    disabled=True)
        self.stop_button.add_class("cl-stop")
        self.save_button = w.Button(description="Save results", icon="download", disabled=True)
        self.save_button.add_class("cl-save")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                        layout=w.Layout(width="300px"))
        self.status = w.HTML("Press Generate to sample.")
        self.status.add_class("cl-status")

    def _build_results(self, quality: str | None) -> None:
        """The results area: formulas, picker, badges, the one viewer and the quality facts."""
        self.label = w.HTML("")
        self.label.add_class("cl-formulas")
        self.picker = w.Dropdown(options=[], description="show",
                                 style={"description_width": "80px"},
                                 layout=w.Layout(width="420px", display="none"))
        self.badges = w.HTML("")
        from .ngl import FrameViewer
        from .quality import quality_facts

        self.viewer = FrameViewer([], controls=False, compact=True, width="420px",
                                  height="340px", save_dir=self.save_dir)
        facts = quality_facts() if quality is None else quality
        self.facts = w.HTML(f'<div style="font-size:90%;color:#444;border-left:3px solid #d9822b;'
                            f'padding-left:8px">{html.escape(facts)}</div>' if facts else "",
                            layout=w.Layout(width="240px", margin="0 0 0 12px"))
        self.facts.add_class("cl-quality-facts")
        self.results_box = w.VBox([self.label, self.picker, self.badges,
                                   w.HBox([self.viewer.widget, self.facts])])
        self.results_box.add_class("cl-results")

    def _connect(self) -> None:
        """Wire the fields and buttons to their handlers, then run the helper line once."""
        self.prompt.observe(self._on_prompt, names="value")
        for field in (self.n_atoms, self.n_samples, self.steps):
            field.observe(self._update_helper, names="value")
        for field in (self.crystal_system, self.formation_energy, self.space_group):
            field.observe(self._on_target, names="value")
        self.generate_button.on_click(self._on_generate)
        self.stop_button.on_click(self._on_stop)
        self.save_button.on_click(self._on_save)
        self.picker.observe(self._on_pick, names="value")
        self._on_prompt()

    # ------------------------------------------------------------------ helpers
    def _max_atoms(self) -> int:
        if self._model is not None:
            return int(self._model.config.network.max_atoms)
        from crystal_lab.prompts import MAX_ATOMS

        return int(MAX_ATOMS)

    @property
    def model(self):
        """The model (the shipped one is loaded on first use)."""
        if self._model is None:
            from crystal_lab.model.checkpoint import load_model

            self._model = load_model()
        return self._model

    @property
    def running(self) -> bool:
        """True while a sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _set_running(self, running: bool) -> None:
        self.generate_button.disabled = running
        self.stop_button.disabled = not running
        self.save_button.disabled = running or not self.results
        for c in (self.prompt, self.n_atoms, self.n_samples, self.steps, self.seed,
                  self.crystal_system, self.formation_energy, self.space_group):
            c.disabled = running

    def _set_picker(self, options: list, value) -> None:
        """New picker choices without the picker's observer redrawing on the way."""
        self.picker.unobserve(self._on_pick, names="value")
        self.picker.options = options
        self.picker.value = value
        self.picker.layout.display = "" if len(options) > 1 else "none"
        self.picker.observe(self._on_pick, names="value")

    def _clear_results(self, label: str = "") -> None:
        self.results, self.quality = [], []
        self.label.value = label
        self.badges.value = ""
        self._set_picker([], None)
        self.viewer.widget.layout.display = "none"
        self.save_button.disabled = True

    def _show(self, atoms, title: str = "") -> None:
        """Show ``atoms`` in the one stage of this widget (safe from the sampling thread)."""
        self.viewer.title = title
        self.viewer.set_frames([atoms])

    def _sample_kwargs(self) -> dict:
        """``model.sample``'s keywords from the fields: ``n_atoms`` (None for 0), ``n_samples``,
        ``steps`` (None for 0: the model's default), ``seed``, ``batch_size`` and the optional
        targets, only when set (ValueError for an energy that is not a number)."""
        extra = {"n_atoms": self.n_atoms.value or None, "n_samples": int(self.n_samples.value),
                 "steps": self.steps.value or None, "seed": int(self.seed.value),
                 "batch_size": self.batch_size}
        if self.crystal_system.value != "any":
            extra["crystal_system"] = self.crystal_system.value
        group = self.space_group.value.split("·")[0].strip()
        if group:   # a number (225) or a symbol (Fm-3m): the model checks it
            extra["space_group"] = int(group) if group.isdigit() else group
        text = self.formation_energy.value.strip()
        if text:
            try:
                extra["formation_energy"] = float(text)
            except ValueError:
                raise ValueError(f"the formation-energy target must be a number in eV/atom, "
                                 f"not {text!r}") from None
        return extra

    # ------------------------------------------------------------------ actions
    def generate(self, wait: bool = False) -> None:
        """Start sampling with the current settings (what the Generate button does).
        ``wait=True`` blocks until it finishes (scripts and tests)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self.error, self.stopped, self.last_step = None, False, None
            problem = self._check_inputs()
            if problem is not None:   # refused: the last good results and their view stay
                kept = (f" (below: the last results, of {html.escape(self._shown_prompt)!s})"
                        if self.results else "")
                self.status.value = _coloured(problem, _ERROR) + kept
                return
            self._clear_results("<i>generating...</i>")
            self._set_running(True)
            self.progress.value = 0.0
            self.progress.bar_style = ""
            self.status.value = "starting..."
            self._thread = threading.Thread(target=self._run, name="crystal_lab-generate",
                                            daemon=True)
            self._thread.start()
        if wait:
            self.wait()

    def stop(self) -> None:
        """Ask a running sampler to stop after its current step (what Stop does)."""
        if self.running:
            self._stop.set()
            self.status.value = "stopping..."

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def save(self, path=None) -> Path:
        """Write the last results into a zip (CIF + extxyz) in ``save_dir``; returns its path.
        An existing file is never replaced: the zip goes to the next free name
        (``name-2.zip``, ...), claimed atomically by :func:`crystal_lab.workspace.save_results`."""
        from crystal_lab.workspace import save_results

        if not self.results:
            raise ValueError("nothing to save yet: press Generate first")
        if path is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            name = "".join(c if c.isalnum() else "_" for c in self.prompt.value.strip()) or "any"
            path = self.save_dir / f"generated_{name}_{stamp}.zip"
        return Path(save_results(path, self.results))

    def _on_generate(self, _button=None) -> None:
        self.generate()

    def _on_stop(self, _button=None) -> None:
        self.stop()

    def _on_save(self, _button=None) -> None:
        try:
            path = self.save()
        except Exception as err:  # noqa: BLE001 - shown, not raised: a button has nowhere to raise to
            self.status.value = _coloured(f"Save failed: {plain_error(err)}", _ERROR)
            return
        self.status.value = (f"Saved <code>{html.escape(str(path))}</code> (download it from "
                             f"the file browser).")

    def _on_pick(self, change) -> None:
        i = change["new"]
        if i is not None and 0 <= i < len(self.results) and not self.running:
            self._show_result(i)

    def _show_result(self, i: int) -> None:
        from .badges import quality_badges

        self.badges.value = quality_badges(self.results[i], self.quality[i])
        self._show(self.results[i], title=f"{i}: {formula(self.results[i])}")

    # ------------------------------------------------------------------ the sampling thread
    def _run(self) -> None:
        try:
            self._sample()
        except Exception as err:  # noqa: BLE001 - reported in the widget; the thread must not die silently
            self.error = err
            self.label.value = ""   # "generating..." goes: nothing is being generated now
            self.progress.bar_style = "danger"
            self.status.value = _coloured(f"Sampling failed: {plain_error(err)}", _ERROR)
        finally:
            self._set_running(False)

    def _sample(self) -> None:
        if self._model is None:
            self.status.value = "loading the model..."
        model = self.model
        kwargs = self._sample_kwargs()
        n_samples = kwargs["n_samples"]
        cond = self._checked   # Generate's check parsed the prompt; it is sampled as is
        t0 = time.perf_counter()
        last = {"shown": -1.0}

        def callback(info: dict) -> bool:
            # let the kernel's main thread run (it handles the Stop click): without this the
            # sampling thread keeps the GIL most of the time and a click waits for seconds
            time.sleep(0.001)
            self.last_step = {k: info[k] for k in ("step", "n_steps", "t", "n_done", "n_total")}
            every = self.stream_every or max(1, info["n_steps"] // 10)
            streaming = info["step"] % every == 0
            now = time.perf_counter()
            if not streaming and now - last["shown"] < 0.2:   # at most ~5 label updates a second
                return self._stop.is_set()
            last["shown"] = now
            done, total = progress_of(info, self.batch_size)
            left = (now - t0) / max(done, 1) * (total - done)
            self.progress.value = done / total
            self.status.value = (f"t = {info['t']:.2f} &middot; step {info['step']} of "
                                 f"{info['n_steps']} &middot; about {format_seconds(left)} left")
            if streaming:
                self._show(info["atoms"][0], title=f"forming: t = {info['t']:.2f}")
            return self._stop.is_set()

        results = model.sample(cond, progress=False, callback=callback, **kwargs)
        elapsed = time.perf_counter() - t0
        from .badges import structure_quality

        self.quality = [structure_quality(a) for a in results]
        self.results = results
        self._shown_prompt = repr(self.prompt.value)
        self.stopped = bool(results) and not all(a.info.get("complete", True) for a in results)
        formulas = [formula(a) for a in results]
        note = " (stopped early: partial results)" if self.stopped else ""
        self.label.value = (f"<b>{len(results)} structure{'s' if len(results) != 1 else ''}"
                            f"{note}:</b> " + html.escape(", ".join(formulas)))
        self._set_picker([(f"{i}: {f} · " + ("valid" if q["valid"] else "invalid")
                           + f" · {q['spacegroup']}", i)
                          for i, (f, q) in enumerate(zip(formulas, self.quality, strict=True))],
                         0 if results else None)
        if results:
            self._show_result(0)
        self.progress.bar_style = "warning" if self.stopped else "success"
        if not self.stopped:
            self.progress.value = 1.0
        self.status.value = self._final_status(elapsed, n_samples)

    def _final_status(self, elapsed: float, n_samples: int) -> str:
        return run_status(self.last_step, self.batch_size, self.stopped, elapsed, n_samples)

    def __repr__(self) -> str:  # what a notebook shows without a live kernel (text/plain)
        return sentence("GenerateWidget", "the prompt box and the Generate button")
