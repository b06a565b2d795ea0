"""The prompt side of the Generate widget: the prompt is parsed once per change of its text, its
words show in the controls, and the helper line says what ``model.check`` finds (the refusal
Generate would give) or describes the checked prompt.

:class:`PromptControls` is a mixin of :class:`crystal_lab.view.generate.GenerateWidget`: it uses
the widget's fields (``prompt``, ``crystal_system``, ``formation_energy``, ``helper``, ...),
``model`` and ``_sample_kwargs``.
"""
from __future__ import annotations

import html

import ipywidgets as w

from crystal_lab import prompts
from crystal_lab.prompts import suggest_prompt

from .messages import ERROR as _ERROR
from .messages import plain_error


def _group_text(group) -> str:
    """A space group as the widget's field writes it (``"225 · Fm-3m"``); as typed if unknown."""
    from crystal_lab.symmetry.templates import space_group_number, space_group_symbol

    try:
        number = space_group_number(group)
    except (ValueError, TypeError):   # PromptError is a ValueError: the helper line says why
        return str(group)
    return f"{number} · {space_group_symbol(number)}"


class PromptControls:
    """Prompt parsing, prompt-to-control sync and the helper line (a mixin)."""

    def _init_prompt_state(self) -> None:
        self._checked = None   # the Condition of the last check that passed
        self._parsed: tuple = (None, None, None)   # (text, Condition or None, PromptError or None)
        self._from_prompt = {"crystal_system": False, "formation_energy": False,
                             "space_group": False}
        self._syncing = False

    def _build_fields(self, prompt: str, n_atoms, n_samples: int, steps, seed: int) -> None:
        """The prompt box, its helper line and the four number fields."""
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

    def _on_prompt(self, _change=None) -> None:
        """A new prompt text: parse it (once), show its words in the controls, update the helper."""
        text = self.prompt.value
        try:
            # parsed for any size: the model's own limit is checked with the other fields
            self._parsed = (text, prompts.parse_prompt(text, max_atoms=10**6), None)
        except prompts.PromptError as err:
            self._parsed = (text, None, err)
        self._follow_prompt()
        self._update_helper()

    def _targets(self) -> dict:
        """name -> (control, its "not set" value, how a prompt's value is shown in it, label)."""
        return {"crystal_system": (self.crystal_system, "any", str, "the crystal-system menu"),
                "formation_energy": (self.formation_energy, "", lambda v: f"{v:g}",
                                     "the E_form field"),
                "space_group": (self.space_group, "", _group_text, "the space-group field")}

    def _follow_prompt(self) -> None:
        """The crystal-system menu, the energy field and the space-group field show what the
        prompt says, unless they were set by hand (then they win, and the helper says so); a
        value that came from the prompt goes when the prompt no longer says it."""
        cond = self._parsed[1]
        self._syncing = True
        try:
            for name, (field, unset, shown, _) in self._targets().items():
                said = getattr(cond, name, None)
                if said is not None and (field.value == unset or self._from_prompt[name]):
                    field.value, self._from_prompt[name] = shown(said), True
                elif said is None and self._from_prompt[name]:
                    field.value, self._from_prompt[name] = unset, False
        finally:
            self._syncing = False

    def _on_target(self, change) -> None:
        """A target control changed: by hand, it is the user's now."""
        if self._syncing:
            return
        for name, (field, *_) in self._targets().items():
            if change["owner"] is field:
                self._from_prompt[name] = False
        self._update_helper()

    def _overridden(self) -> str:
        """A sentence naming each control that wins over a different word in the prompt."""
        cond, notes = self._parsed[1], []
        for name, (field, unset, shown, label) in self._targets().items():
            said = getattr(cond, name, None)
            value = field.value.strip() if isinstance(field.value, str) else field.value
            if said is not None and value != unset and value != shown(said):
                word = f"Ef={said:g}" if name == "formation_energy" else repr(shown(said))
                notes.append(f"{label} ({value}) wins over {word} in the prompt")
        return (" Note: " + "; ".join(notes) + ".") if notes else ""

    def _update_helper(self, _change=None) -> None:
        """The helper line: what ``model.check`` says of the current fields (the error Generate
        would show), else the description of the checked prompt."""
        if self._syncing:
            return
        from crystal_lab.chemistry import describe_prompt

        problem = self._check_inputs(record=False)
        if problem is not None:
            text, colour = problem, _ERROR
        else:
            text = describe_prompt(self._checked, max_atoms=self._max_atoms())
            colour = "#9a6700" if "Warning" in text else "#555"
            text += self._overridden()
        self.helper.value = (f'<span style="color:{colour};font-size:90%">{html.escape(text)}'
                             f'</span>')

    def _check_inputs(self, record: bool = True) -> str | None:
        """A plain sentence saying what ``model.check`` (every check ``model.sample`` runs)
        finds wrong with the fields, or None. ``record``: keep the error in ``.error``. The
        prompt's text is not parsed again: its Condition is resized and overridden."""
        if self._parsed[0] != self.prompt.value:   # set without the observer (e.g. in a hold)
            self._on_prompt()
        text, cond, parse_error = self._parsed
        try:
            if parse_error is not None:
                raise parse_error
            self._checked = self.model.check(cond, **self._sample_kwargs())
        except (ValueError, TypeError, OSError, RuntimeError) as err:  # PromptError: a ValueError
            sentence = f"Cannot generate: {plain_error(err)}"
            guess = suggest_prompt(text) if parse_error is not None else None
            if guess and "did you mean" not in sentence.lower():  # prompts' message may have it
                sentence += f" Did you mean {guess}?"
            if record:
                self.error = err
            return sentence
        return None

