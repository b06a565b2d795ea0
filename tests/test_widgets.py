"""The generate widget: Generate fills results and label; Stop after k steps gives partial
results without an exception, and the widget generates again afterwards."""
from __future__ import annotations

import re
import threading
import zipfile

import pytest

from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig
from crystal_lab.view import GenerateWidget, suggest_prompt
from crystal_lab.view.messages import format_seconds, progress_of, run_status


@pytest.fixture(scope="module")
def tiny_model():
    return CrystalDiffusionModel(ModelConfig(hidden=32, layers=2))


def test_generate_fills_results_label_and_progress(tiny_model):
    g = GenerateWidget(tiny_model, prompt="BaTiO3", n_atoms=5, n_samples=2, steps=8, seed=1)
    assert "cl-prompt" in g.prompt._dom_classes
    assert "cl-generate" in g.generate_button._dom_classes
    assert "cl-results" in g.results_box._dom_classes
    assert "BaTiO3" in g.helper.value and "Valid n_atoms: 5" in g.helper.value
    g._on_generate(g.generate_button)
    g.wait(timeout=120)
    assert g.error is None
    assert len(g.results) == 2 and not g.stopped
    assert all(a.get_chemical_formula(mode="hill") == "BaO3Ti" for a in g.results)
    assert all(a.info["complete"] for a in g.results)
    assert "2 structures" in g.label.value and "BaTiO3" in g.label.value
    assert g.progress.value == 1.0 and g.status.value.startswith("done: 2 structures, 8 steps")
    # the picture of structure 0, in the widget's one nglview stage, with its quality badges
    assert len(g.viewer.ngl._ngl_component_ids) == 1 and g.viewer.widget.layout.display == ""
    from crystal_lab.evaluate.validation import smact_validity, structural_validity
    from crystal_lab.view.facts import spacegroup

    first = g.results[0]                                    # the badges say what is true of it
    verdict = structural_validity(first)
    assert g.quality[0]["valid"] == verdict.valid and len(g.quality) == 2
    if verdict.valid:
        assert "structurally valid" in g.badges.value and "invalid:" not in g.badges.value
    else:
        assert f"invalid: {verdict.reason}" in g.badges.value
    smact_ok = smact_validity(first).valid
    assert ("SMACT valid" if smact_ok else "SMACT invalid") in g.badges.value
    vpa = first.get_volume() / len(first)
    assert f"{vpa:.1f} Å³/atom" in g.badges.value
    assert f"space group {spacegroup(first)}" in g.badges.value
    assert not g.generate_button.disabled and g.stop_button.disabled
    assert not g.save_button.disabled


def test_stop_after_k_steps_gives_partial_results_then_generates_again(tiny_model):
    g = GenerateWidget(tiny_model, prompt="Ba Ti O", n_atoms=5, n_samples=3, steps=200, seed=0)
    k, seen, stopped_at = 5, [], threading.Event()
    real_show = g._show

    def stop_after_k(atoms, title=""):          # streamed every step (stream_every=1)
        real_show(atoms, title)
        seen.append(title)
        if len(seen) == k:
            g._on_stop(g.stop_button)           # what a click on Stop does
            stopped_at.set()

    g.stream_every = 1
    g._show = stop_after_k
    g.generate()
    g.wait(timeout=120)
    assert stopped_at.is_set() and g.error is None
    assert g.stopped and len(g.results) == 3
    assert all(a.info["complete"] is False for a in g.results)
    assert all(set(a.get_chemical_symbols()) == {"Ba", "Ti", "O"} for a in g.results)
    assert "partial" in g.label.value
    assert re.match(r"stopped at step \d+ of 200 \(t = 0\.\d\d\) after ", g.status.value), \
        g.status.value
    assert g.last_step["step"] < 20 and f"step {g.last_step['step']} of 200" in g.status.value
    assert g.progress.value < 0.2                  # about k of 200 steps
    assert not g.generate_button.disabled and not g.prompt.disabled

    g._show = real_show
    g.stream_every = None
    g.steps.value = 6
    g._on_generate(g.generate_button)
    g.wait(timeout=120)
    assert g.error is None and not g.stopped
    assert all(a.info["complete"] for a in g.results)


def test_a_refused_prompt_keeps_the_last_good_results_and_says_so_plainly(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=3)
    ngl = g.viewer.ngl
    g.generate(wait=True)
    assert g.results and g.error is None
    good, label, badges = list(g.results), g.label.value, g.badges.value
    for bad, message in [("Qx", "Qx is not an element."), ("Og1", "Og")]:
        g.prompt.value = bad
        assert f"Cannot generate: {message}" in g.helper.value
        g.generate(wait=True)
        assert g.error is not None
        assert _text(g.status.value).count(f"Cannot generate: {message}") == 1
        assert "the last results, of 'NaCl'" in _text(g.status.value)
        assert "Error" not in g.status.value                  # no Python class name
        # the last good results, their label, badges and view stay
        assert g.results == good and g.label.value == label and g.badges.value == badges
        assert g.viewer.widget.layout.display == "" and g.viewer.ngl is ngl
        assert not g.generate_button.disabled and not g.save_button.disabled
    g.prompt.value = "nacl"                               # accepted (case-insensitive)
    g.prompt.value = "srtio3"
    assert g.helper.value.lower().count("did you mean srtio3?") == 1   # said once, by prompts
    g.prompt.value = "NaCl"
    g.generate(wait=True)                                 # Generate still works, same stage
    assert g.error is None and len(g.results) == 1 and g.viewer.ngl is ngl


def _text(html_value: str) -> str:
    import html as html_

    return html_.unescape(re.sub(r"<[^>]+>", "", html_value))


@pytest.mark.parametrize("fields", [
    {"prompt": "Og1"},                                   # beyond the model's elements
    {"prompt": "Og"},
    {"prompt": "NaCl", "n_atoms": 3},                    # not a multiple of the formula unit
    {"prompt": "Ba Ti O", "n_atoms": 2},                # 3 elements cannot fit in 2 atoms
    {"prompt": "NaCl", "n_atoms": 2, "steps": 1999},     # above the model's steps cap
    {"prompt": "NaCl", "n_atoms": 2, "formation_energy": "-40"},   # outside any energy
    {"prompt": "NaCl", "n_atoms": 2, "crystal_system": "cubic", "formation_energy": "low"},
])
def test_helper_line_and_generate_say_the_same_thing(tiny_model, fields):
    """The helper runs the model's own checks: whatever Generate refuses, the helper line has
    already said, word for word, and no 'generating...' is left on screen."""
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=3)
    for name, value in fields.items():
        getattr(g, name).value = value
    helper = _text(g.helper.value)
    assert helper.startswith("Cannot generate: "), helper
    assert "Valid n_atoms" not in helper
    g.generate(wait=True)
    assert g.error is not None and g.results == []
    assert _text(g.status.value) == helper
    assert "generating" not in g.label.value
    if fields["prompt"].startswith("Og"):
        assert "Og" in helper and "element" in helper


def test_a_failing_run_leaves_no_generating_line(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=3)

    def boom(*args, **kwargs):
        raise RuntimeError("the sampler ran out of memory")

    tiny_model.sample = boom
    try:
        g.generate(wait=True)
    finally:
        del tiny_model.sample
    assert g.label.value == "" and "Sampling failed: The sampler ran out of memory." in \
        _text(g.status.value)
    assert not g.generate_button.disabled


def test_default_steps_is_the_models_own(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1)
    assert g.steps.value == 0
    seen, real = [], tiny_model.sample

    def spy(*args, **kwargs):
        seen.append(kwargs["steps"])
        kwargs["steps"] = 3                                   # keep the test short
        return real(*args, **kwargs)

    tiny_model.sample = spy
    try:
        g.generate(wait=True)
    finally:
        del tiny_model.sample
    assert seen == [None] and g.error is None


def test_saving_twice_never_overwrites(tiny_model, tmp_path):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=3,
                       save_dir=tmp_path)
    g.generate(wait=True)
    first, second = g.save(tmp_path / "run.zip"), g.save(tmp_path / "run.zip")
    assert first.name == "run.zip" and second.name == "run-2.zip"
    assert zipfile.ZipFile(first).namelist() == zipfile.ZipFile(second).namelist()
    viewer = g.viewer                                        # the viewer's Save CIF button
    viewer.save_button.click()
    viewer.save_button.click()
    cifs = {p.name for p in tmp_path.glob("*.cif")}
    assert cifs == {"NaCl_0.cif", "NaCl_0-2.cif"}, cifs


def test_text_form_is_one_sentence(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2)
    assert g._repr_mimebundle_()["text/plain"] == (
        "GenerateWidget: run this cell to open the prompt box and the Generate button.")


def test_suggest_prompt_fixes_letter_case_only():
    assert suggest_prompt("srtio3") == "SrTiO3"
    assert suggest_prompt("batio3") == "BaTiO3"
    assert suggest_prompt("SrTiO3") is None and suggest_prompt("Qx") is None


def test_results_clear_when_a_run_starts_and_options_pass_through(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=2, steps=3,
                       batch_size=1)
    g.generate(wait=True)
    assert len(g.results) == 2
    seen, real = [], tiny_model.sample

    def spy(*args, **kwargs):
        seen.append((g.label.value, list(g.results), dict(kwargs)))
        kwargs.pop("crystal_system", None)                 # the model need not know them yet
        kwargs.pop("formation_energy", None)
        return real(*args, **kwargs)

    tiny_model.sample = spy
    try:
        g.generate(wait=True)                              # nothing optional set
        g.crystal_system.value = "cubic"
        g.formation_energy.value = "-1.5"
        g.generate(wait=True)
    finally:
        del tiny_model.sample
    label, results, kwargs = seen[0]
    assert results == [] and "generating" in label         # cleared before sampling
    assert kwargs["batch_size"] == 1                        # passed through, not assumed 64
    assert "crystal_system" not in kwargs and "formation_energy" not in kwargs
    kwargs = seen[1][2]
    assert kwargs["crystal_system"] == "cubic" and kwargs["formation_energy"] == -1.5
    g.formation_energy.value = "low"                        # a bad target: a plain sentence
    g.generate(wait=True)
    assert "formation-energy target must be a number" in g.status.value
    assert len(g.results) == 2                              # refused: the last results stay


def test_save_writes_a_zip_with_cifs(tiny_model, tmp_path):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=2, steps=4,
                       save_dir=tmp_path)
    with pytest.raises(ValueError, match="Generate first"):
        g.save()
    g.generate(wait=True)
    g._on_save(g.save_button)
    zips = list(tmp_path.glob("*.zip"))
    assert len(zips) == 1 and "Saved" in g.status.value
    names = zipfile.ZipFile(zips[0]).namelist()
    assert sum(n.endswith(".cif") for n in names) == 2


def test_format_seconds():
    assert format_seconds(3.21) == "3.2 s"
    assert format_seconds(42) == "42 s"
    assert format_seconds(185) == "3 min 05 s"


def test_progress_counts_steps_over_batches():
    info = {"step": 3, "n_steps": 10, "t": 0.7, "n_done": 0, "n_total": 5}
    assert progress_of(info, batch_size=64) == (3, 10)
    assert progress_of(info, batch_size=2) == (3, 30)          # 3 batches of 10 steps
    assert progress_of(dict(info, n_done=4), batch_size=2) == (23, 30)
    assert run_status(dict(info, n_done=4), 2, True, 1.5, 5) == \
        "stopped at step 3 of 10 of batch 3 of 3 (t = 0.70) after 1.5 s"
    assert run_status(info, 64, False, 42, 5) == "done: 5 structures, 10 steps, in 42 s"


def test_one_generate_click_checks_the_prompt_once(tiny_model):
    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=3)
    checks, samples = [], []
    real_check, real_sample = tiny_model.check, tiny_model.sample

    def check(*args, **kwargs):
        checks.append(args[0])
        return real_check(*args, **kwargs)

    def sample(*args, **kwargs):
        samples.append(args[0])
        return real_sample(*args, **kwargs)

    tiny_model.check, tiny_model.sample = check, sample
    try:
        g.generate(wait=True)
    finally:
        del tiny_model.check, tiny_model.sample
    assert len(checks) == 1 and len(samples) == 1
    assert checks[0] is g._parsed[1]                         # the text's one parse, checked
    assert type(samples[0]).__name__ == "Condition"          # sampled as parsed, not re-parsed
    assert g.error is None and len(g.results) == 1


# --------------------------------------------------------------------------- issue 30.5
@pytest.fixture
def parses(monkeypatch):
    """Count how often a prompt text is split into words (the start of every parse)."""
    from crystal_lab import prompts

    calls, real = [], prompts.split_prompt

    def counted(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(prompts, "split_prompt", counted)
    return calls


def test_the_prompt_is_parsed_once_per_text_change(tiny_model, parses):
    g = GenerateWidget(tiny_model, prompt="Ba Ti O", n_atoms=5, n_samples=1, steps=2)
    assert parses == ["Ba Ti O"]
    g.n_atoms.value, g.n_samples.value, g.steps.value, g.seed.value = 10, 2, 3, 4
    g.crystal_system.value = "tetragonal"
    g.formation_energy.value = "-1.2"
    assert parses == ["Ba Ti O"]                           # other fields: no new parse
    assert "10 atoms" in _text(g.helper.value)
    g.prompt.value = "BaTiO3"
    assert parses == ["Ba Ti O", "BaTiO3"]
    g.generate(wait=True)                                  # Generate and sampling: none either
    assert parses == ["Ba Ti O", "BaTiO3"] and g.error is None and len(g.results) == 2


def test_the_prompt_words_show_in_the_controls(tiny_model):
    g = GenerateWidget(tiny_model, prompt="cubic SrTiO3", n_atoms=5, n_samples=1, steps=2)
    assert g.crystal_system.value == "cubic"               # the prompt's word, in the menu
    g.prompt.value = "SrTiO3 Ef=-1.5"
    assert g.crystal_system.value == "any" and g.formation_energy.value == "-1.5"
    g.prompt.value = "hexagonal SrTiO3 Ef=-2"
    assert (g.crystal_system.value, g.formation_energy.value) == ("hexagonal", "-2")
    assert "Note" not in _text(g.helper.value)
    g.crystal_system.value = "cubic"                       # set by hand: it wins, and says so
    g.formation_energy.value = "-1"
    helper = _text(g.helper.value)
    assert "the crystal-system menu (cubic) wins over 'hexagonal' in the prompt" in helper
    assert "the E_form field (-1) wins over Ef=-2 in the prompt" in helper
    assert g._sample_kwargs()["crystal_system"] == "cubic"
    assert g._checked.crystal_system == "cubic" and g._checked.formation_energy == -1.0
    g.prompt.value = "tetragonal SrTiO3"                   # a hand-set menu keeps its value
    assert g.crystal_system.value == "cubic" and "wins over 'tetragonal'" in _text(g.helper.value)
    g.crystal_system.value = "any"                         # given back to the prompt
    g.prompt.value = "trigonal SrTiO3"
    assert g.crystal_system.value == "trigonal"


def test_the_measured_quality_sits_beside_the_output(tiny_model):
    from crystal_lab.model.sampler import SYMMETRIC_BY_DEFAULT
    from crystal_lab.view.quality import RANDOM_SEARCH, load_quality

    g = GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, n_samples=1, steps=2)
    q = load_quality()
    facts = _text(g.facts.value)
    csp = q.symmetry["csp"]
    # the rate of what Generate samples by default first, the free model's beside it
    rates = ([csp["retrieved"]["match_rate"], csp["free"]["match_rate"]] if SYMMETRIC_BY_DEFAULT
             else [q.match_rate])
    at = [facts.index(f"{100 * r:.1f}%") for r in rates]
    assert at == sorted(at) and f"{100 * RANDOM_SEARCH[0]:.1f}%" in facts
    assert "cl-quality-facts" in g.facts._dom_classes
    beside = [c for c in g.results_box.children if isinstance(c, type(g.results_box.children[-1]))
              and g.facts in getattr(c, "children", ())]
    assert beside and g.viewer.widget in beside[0].children   # next to the structure's view
    assert GenerateWidget(tiny_model, prompt="NaCl", n_atoms=2, quality="").facts.value == ""


def test_a_run_stopped_on_purpose_ends_its_bar_complete(tiny_model, monkeypatch):
    """03's x0_hat cell stops each run early with a callback: the bar must end complete (tqdm's
    notebook bar turns red when it closes short of its total) and be closed."""
    import tqdm.auto

    closed = []

    class Recording(tqdm.auto.tqdm):
        def close(self):
            closed.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    out = tiny_model.sample("NaCl", n_atoms=2, steps=6, seed=0, progress=True,
                            callback=lambda info: info["step"] >= 2)
    assert out and not out[0].info["complete"]
    assert closed and all(n == total for n, total in closed), closed
    tiny_model.sample("NaCl", n_atoms=2, steps=4, seed=0, progress=True)
    assert closed[-1] == (4, 4)


def test_the_space_group_field_follows_the_prompt_and_reaches_the_sampler(tiny_model):
    g = GenerateWidget(tiny_model, prompt="Fm-3m NaCl", n_atoms=2, n_samples=1, steps=2)
    assert g.space_group.value == "225 · Fm-3m"            # the prompt's word, in the field
    g.prompt.value = "NaCl sg=221"
    assert g.space_group.value == "221 · Pm-3m"
    g.prompt.value = "NaCl"
    assert g.space_group.value == ""                       # gone with the word
    g.space_group.value = "225 · Fm-3m"                    # picked by hand
    assert g._sample_kwargs()["space_group"] == 225
    g.generate(wait=True)
    assert g.error is None and g.results
    assert all(a.info["template"]["space_group"] == 225 for a in g.results)
    g.prompt.value = "NaCl sg=221"                         # the hand-picked field wins, and says so
    assert g.space_group.value == "225 · Fm-3m"
    assert "the space-group field (225 · Fm-3m) wins over '221 · Pm-3m'" in _text(g.helper.value)
    g.space_group.value = "P1"                              # a symbol typed by hand: the free model
    assert g._sample_kwargs()["space_group"] == "P1"
    # a bad one: the model's one-line refusal
    g.space_group.value = "Fm3q"
    assert "Cannot generate" in _text(g.helper.value)
