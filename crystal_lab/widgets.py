"""The generate widget: type a prompt, press Generate, watch crystals form, Stop any time.

``GenerateWidget(model)`` is an ``ipywidgets.VBox`` with

* a prompt box (CSS class ``cl-prompt``) and, under it, a live prompt-helper line
  (:func:`crystal_lab.prompts.describe_prompt`: normalised prompt, valid ``n_atoms``, SMACT
  charge-balance warning);
* ``n_atoms`` (0 = let the model choose), ``n_samples``, ``steps`` and ``seed`` controls;
* Generate (``cl-generate``), Stop (``cl-stop``) and Save results (``cl-save``) buttons;
* a progress bar with the current diffusion time ``t`` and an estimate of the time left,
  measured on this machine while it runs;
* a results area (``cl-results``): a label with the formulas of the generated structures and
  a plotly picture of one of them, redrawn every few steps while the structure forms.

Sampling runs in a background thread so the kernel stays free to handle the Stop button
(widget updates from a thread reach JupyterLab 4; see the ipywidgets documentation,
"Asynchronous widgets", https://ipywidgets.readthedocs.io/en/stable/examples/Widget%20Asynchronous.html).
Stop asks ``model.sample``'s callback to end sampling: the sampler jumps to t = 0 from its
last prediction and returns partial results (``atoms.info["complete"] == False``).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import ipywidgets as w

__all__ = ["GenerateWidget", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``"42 s"`` or ``"3 min 05 s"`` (for progress labels)."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s"


def _formula(atoms) -> str:
    """Reduced formula, or the raw one while some species are still masked ("X")."""
    if (atoms.numbers == 0).any():
        return atoms.get_chemical_formula()
    from pymatgen.core import Composition

    return Composition(atoms.get_chemical_formula()).reduced_formula


class GenerateWidget(w.VBox):
    """Prompt, controls, live progress, Stop, results and Save for ``model.sample``.

    ``model``: a :class:`crystal_lab.model.CrystalDiffusionModel` (default: the shipped model,
    loaded on the first Generate). ``steps=None`` uses the model's default number of steps.
    ``stream_every``: redraw the forming structure every this many steps (default: about ten
    redraws per run). After a run, ``.results`` holds the structures (``ase.Atoms``),
    ``.stopped`` whether Stop ended it, ``.error`` the exception of a failed run (or None).
    """

    def __init__(self, model=None, prompt: str = "Ba Ti O", n_atoms: int | None = 5,
                 n_samples: int = 3, steps: int | None = None, seed: int = 0,
                 stream_every: int | None = None, save_dir: str = "."):
        self._model = model
        self.results: list = []
        self.stopped = False
        self.error: BaseException | None = None
        self.stream_every = stream_every
        self.save_dir = Path(save_dir)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

        style = {"description_width": "80px"}
        self.prompt = w.Text(value=prompt, description="prompt", style=style,
                             placeholder='e.g. "Ba Ti O", "BaTiO3", "Li-P-S" or "" for any',
                             layout=w.Layout(width="420px"))
        self.prompt.add_class("cl-prompt")
        self.helper = w.HTML(layout=w.Layout(width="640px"))
        self.helper.add_class("cl-prompt-helper")
        self.n_atoms = w.BoundedIntText(value=n_atoms or 0, min=0, max=self._max_atoms(),
                                        description="n_atoms", style=style,
                                        layout=w.Layout(width="160px"),
                                        tooltip="atoms per cell (0: the model chooses)")
        self.n_samples = w.BoundedIntText(value=n_samples, min=1, max=64, description="n_samples",
                                          style=style, layout=w.Layout(width="160px"))
        self.steps = w.BoundedIntText(value=steps or 0, min=0, max=2000, description="steps",
                                      style=style, layout=w.Layout(width="160px"),
                                      tooltip="reverse steps (0: the model's default)")
        self.seed = w.IntText(value=seed, description="seed", style=style,
                              layout=w.Layout(width="160px"))
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
        self.label = w.HTML("")
        self.label.add_class("cl-formulas")
        self.picker = w.Dropdown(options=[], description="show", style=style,
                                 layout=w.Layout(width="320px", display="none"))
        self.output = w.Output(layout=w.Layout(min_height="40px"))
        self.results_box = w.VBox([self.label, self.picker, self.output])
        self.results_box.add_class("cl-results")

        self.prompt.observe(self._update_helper, names="value")
        self.n_atoms.observe(self._update_helper, names="value")
        self.generate_button.on_click(self._on_generate)
        self.stop_button.on_click(self._on_stop)
        self.save_button.on_click(self._on_save)
        self.picker.observe(self._on_pick, names="value")
        self._update_helper()

        super().__init__([
            self.prompt, self.helper,
            w.HBox([self.n_atoms, self.n_samples, self.steps, self.seed]),
            w.HBox([self.generate_button, self.stop_button, self.save_button]),
            w.HBox([self.progress, self.status]),
            self.results_box,
        ])
        self.add_class("cl-generate-widget")

    # ------------------------------------------------------------------ helpers
    def _max_atoms(self) -> int:
        if self._model is not None:
            return int(self._model.config.max_atoms)
        from crystal_lab.prompts import MAX_ATOMS

        return int(MAX_ATOMS)

    @property
    def model(self):
        """The model (the shipped one is loaded on first use)."""
        if self._model is None:
            from crystal_lab.model import load_model

            self._model = load_model()
        return self._model

    @property
    def running(self) -> bool:
        """True while a sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _update_helper(self, change=None) -> None:
        from crystal_lab.prompts import describe_prompt

        text = describe_prompt(self.prompt.value, self.n_atoms.value or None,
                               max_atoms=self._max_atoms())
        colour = "#b00020" if text.startswith("Cannot") else (
            "#9a6700" if "Warning" in text else "#555")
        import html

        self.helper.value = f'<span style="color:{colour};font-size:90%">{html.escape(text)}</span>'

    def _set_running(self, running: bool) -> None:
        self.generate_button.disabled = running
        self.stop_button.disabled = not running
        self.save_button.disabled = running or not self.results
        for c in (self.prompt, self.n_atoms, self.n_samples, self.steps, self.seed):
            c.disabled = running

    def _show(self, atoms, title: str = "") -> None:
        """Replace the picture in the results area (safe from the sampling thread)."""
        import plotly.io as pio

        from crystal_lab.visualize import structure_figure

        fig = structure_figure(atoms, height=380)
        if title:
            fig.update_layout(title=title)
        # the plotly mime bundle built here, not by IPython's formatter: the formatter is not
        # reliable from a thread, and one assignment replaces the picture without a flicker
        bundle = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())
        bundle["text/plain"] = f"<structure {title or _formula(atoms)}>"
        self.output.outputs = ({"output_type": "display_data", "data": bundle,
                                "metadata": {}},)

    # ------------------------------------------------------------------ actions
    def generate(self, wait: bool = False) -> None:
        """Start sampling with the current settings (what the Generate button does).
        ``wait=True`` blocks until it finishes (scripts and tests)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self.error, self.stopped = None, False
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
        """Write the last results into a zip (CIF + extxyz) and return its path."""
        if not self.results:
            raise ValueError("nothing to save yet: press Generate first")
        if path is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            name = "".join(c if c.isalnum() else "_" for c in self.prompt.value.strip()) or "any"
            path = self.save_dir / f"generated_{name}_{stamp}.zip"
        try:
            from crystal_lab.workspace import save_results
        except ImportError:  # pragma: no cover - workspace ships with the package
            save_results = None
        if save_results is not None:
            return Path(save_results(path, self.results))
        import zipfile

        from crystal_lab.visualize import save_cif

        path = Path(path)
        with zipfile.ZipFile(path, "w") as zf:
            for i, atoms in enumerate(self.results):
                cif = path.with_name(f"{i:03d}.cif")
                save_cif(atoms, cif)
                zf.write(cif, f"structures/{i:03d}_{_formula(atoms)}.cif")
                cif.unlink()
        return path

    def _on_generate(self, button=None) -> None:
        self.generate()

    def _on_stop(self, button=None) -> None:
        self.stop()

    def _on_save(self, button=None) -> None:
        try:
            path = self.save()
        except Exception as err:  # noqa: BLE001 - shown, not raised: a button has nowhere to raise to
            self.status.value = f'<span style="color:#b00020">Save failed: {err}</span>'
            return
        self.status.value = f"Saved <code>{path}</code> (download it from the file browser)."

    def _on_pick(self, change) -> None:
        i = change["new"]
        if i is not None and 0 <= i < len(self.results) and not self.running:
            self._show(self.results[i])

    # ------------------------------------------------------------------ the sampling thread
    def _run(self) -> None:
        try:
            self._sample()
        except Exception as err:  # noqa: BLE001 - reported in the widget; the thread must not die silently
            self.error = err
            self.progress.bar_style = "danger"
            self.status.value = (f'<span style="color:#b00020">{type(err).__name__}: '
                                 f'{err}</span>')
        finally:
            self._set_running(False)

    def _sample(self) -> None:
        if self._model is None:
            self.status.value = "loading the model..."
        model = self.model
        prompt = self.prompt.value
        n_atoms = self.n_atoms.value or None
        n_samples = int(self.n_samples.value)
        steps = int(self.steps.value) or int(model.config.default_steps)
        every = self.stream_every or max(1, steps // 10)
        t0 = time.perf_counter()
        last = {"shown": -1.0}

        def callback(info: dict) -> bool:
            # let the kernel's main thread run (it handles the Stop click): without this the
            # sampling thread keeps the GIL most of the time and a click waits for seconds
            time.sleep(0.001)
            streaming = info["step"] % every == 0
            now = time.perf_counter()
            if not streaming and now - last["shown"] < 0.2:   # at most ~5 label updates a second
                return self._stop.is_set()
            last["shown"] = now
            n_batches = -(-info["n_total"] // 64)
            total = info["n_steps"] * n_batches
            batch = info["n_done"] // 64
            done = batch * info["n_steps"] + info["step"]
            elapsed = now - t0
            left = elapsed / max(done, 1) * (total - done)
            self.progress.value = done / total
            self.status.value = (f"t = {info['t']:.2f} &middot; step {info['step']}/"
                                 f"{info['n_steps']} &middot; about {format_seconds(left)} left")
            if streaming:
                atoms = info["atoms"][0]
                self._show(atoms, title=f"forming: t = {info['t']:.2f}")
            return self._stop.is_set()

        results = model.sample(prompt, n_atoms=n_atoms, n_samples=n_samples, steps=steps,
                               seed=int(self.seed.value), progress=False, callback=callback)
        elapsed = time.perf_counter() - t0
        self.results = results
        self.stopped = bool(results) and not all(a.info.get("complete", True) for a in results)
        formulas = [_formula(a) for a in results]
        note = " (stopped early: partial results)" if self.stopped else ""
        self.label.value = (f"<b>{len(results)} structure{'s' if len(results) != 1 else ''}"
                            f"{note}:</b> " + ", ".join(formulas))
        self.picker.unobserve(self._on_pick, names="value")
        self.picker.options = [(f"{i}: {f}", i) for i, f in enumerate(formulas)]
        self.picker.value = 0 if results else None
        self.picker.observe(self._on_pick, names="value")
        self.picker.layout.display = "" if len(results) > 1 else "none"
        if results:
            self._show(results[0], title=f"0: {formulas[0]}")
        self.progress.value = self.progress.value if self.stopped else 1.0
        self.progress.bar_style = "warning" if self.stopped else "success"
        self.status.value = (f"{'stopped' if self.stopped else 'done'} in "
                             f"{format_seconds(elapsed)} ({steps} steps)")

    def __repr__(self) -> str:  # a short, stable text form (nbval compares text/plain)
        return (f"GenerateWidget(prompt={self.prompt.value!r}, n_atoms={self.n_atoms.value}, "
                f"n_samples={self.n_samples.value}, steps={self.steps.value}, "
                f"seed={self.seed.value})")
