"""The prompt grammar beyond composition: crystal-system words, formation-energy targets,
keyword overrides, one-line errors for unknown words, and "did you mean" for letter case."""
from __future__ import annotations

import numpy as np
import pytest

from crystal_lab.chemistry import describe_prompt
from crystal_lab.prompts import (
    CRYSTAL_SYSTEMS,
    Condition,
    PromptError,
    parse_prompt,
    split_prompt,
    suggest_prompt,
)
from crystal_lab.spelling import suggest_formula


@pytest.mark.parametrize("prompt, kind, elements, system, target", [
    ("cubic BaTiO3", "formula", ("Ba", "Ti", "O"), "cubic", None),
    ("BaTiO3 cubic", "formula", ("Ba", "Ti", "O"), "cubic", None),
    ("hexagonal Li P S Cl", "chemical_system", ("Li", "P", "S", "Cl"), "hexagonal", None),
    ("Li P S Cl with formation energy -1.5", "chemical_system", ("Li", "P", "S", "Cl"), None, -1.5),
    ("Li P S Cl Ef=-1.5", "chemical_system", ("Li", "P", "S", "Cl"), None, -1.5),
    ("Li P S Cl Ef -1.5", "chemical_system", ("Li", "P", "S", "Cl"), None, -1.5),
    ("Li-P-S-Cl, E_form = -1.5 eV/atom", "chemical_system", ("Li", "P", "S", "Cl"), None, -1.5),
    ("a Cubic BaTiO3 with formation energy of -3 eV/atom", "formula", ("Ba", "Ti", "O"), "cubic",
     -3.0),
    ("ba ti o TETRAGONAL ef=+0.25", "chemical_system", ("Ba", "Ti", "O"), "tetragonal", 0.25),
    ("Si Ef=\u22122", "chemical_system", ("Si",), None, -2.0),     # a typographic minus
    ("cubic", "unconditional", (), "cubic", None),
    ("Ef=-2", "unconditional", (), None, -2.0),
    ("trigonal Ef=-.5", "unconditional", (), "trigonal", -0.5),
])
def test_grammar_forms(prompt, kind, elements, system, target):
    cond = parse_prompt(prompt)
    assert (cond.kind, cond.elements, cond.crystal_system, cond.formation_energy) == \
        (kind, elements, system, target)


def test_every_crystal_system_is_a_word():
    for system in CRYSTAL_SYSTEMS:
        assert parse_prompt(f"{system} NaCl").crystal_system == system
        assert parse_prompt(f"Na Cl {system.upper()}").crystal_system == system


def test_formula_counts_survive_the_extra_words():
    cond = parse_prompt("cubic BaTiO3 Ef=-3", n_atoms=10)
    assert cond.counts == {"Ba": 2, "Ti": 2, "O": 6} and cond.n_atoms == 10


@pytest.mark.parametrize("prompt", ["Ba Ti O", "BaTiO3", ["Ba", "Ti", "O"], None, ""])
def test_composition_only_prompts_leave_the_new_conditions_open(prompt):
    cond = parse_prompt(prompt)
    assert cond.crystal_system is None and cond.formation_energy is None


def test_keywords_override_the_text_and_work_with_lists():
    cond = parse_prompt("cubic BaTiO3 Ef=-3", crystal_system="Hexagonal", formation_energy=-1)
    assert (cond.crystal_system, cond.formation_energy) == ("hexagonal", -1.0)
    cond = parse_prompt(["Li", "P", "S", "Cl"], crystal_system="cubic",
                        formation_energy=np.float32(-1.5))
    assert cond.kind == "chemical_system" and cond.crystal_system == "cubic"
    assert cond.formation_energy == -1.5 and type(cond.formation_energy) is float
    assert parse_prompt("cubic Si").formation_energy is None   # no keyword: the text holds


@pytest.mark.parametrize("prompt", ["cubic BaTiO3 Ef=-1.5", "hexagonal Li P S Cl", "Ef=-0.25",
                                    "Li P S Cl", "NaCl", ""])
def test_normal_form_round_trips(prompt):
    cond = parse_prompt(prompt)
    again = parse_prompt(cond.prompt)
    assert again == cond and again.prompt == cond.prompt
    assert isinstance(cond, Condition)


def test_split_prompt():
    assert split_prompt("cubic BaTiO3 Ef=-1.5") == (("BaTiO3",), "cubic", -1.5)
    assert split_prompt("Li P S Cl") == (("Li", "P", "S", "Cl"), None, None)


@pytest.mark.parametrize("prompt, kwargs, message", [
    ("hexgonal Li P", {}, "unknown word 'hexgonal' (did you mean hexagonal?)"),
    ("stable BaTiO3", {}, "unknown word 'stable': a prompt understands"),
    ("a cubic crystal", {}, "unknown word 'crystal'"),
    ("nacl", {}, "unknown word 'nacl' (did you mean NaCl?)"),
    ("Li P S Cl -1.5", {}, "the number -1.5 has no name: write Ef=-1.5"),
    ("Li P S Cl Ef", {}, "a formation-energy target needs a number in eV/atom"),
    ("Li with formation energy", {}, "a formation-energy target needs a number"),
    ("Si Ef=-1 Ef=-2", {}, "two formation-energy targets"),
    ("cubic hexagonal Si", {}, "two crystal systems (cubic and hexagonal)"),
    ("Si Ef=-100", {}, "outside -10 to 10 eV/atom"),
    ("Si", {"crystal_system": "hexgonal"}, "crystal_system must be one of triclinic"),
    ("Si", {"crystal_system": 6}, "crystal_system must be one of"),
    ("Si", {"formation_energy": "-1.5"}, "formation_energy must be a finite number in eV/atom"),
    ("Si", {"formation_energy": float("nan")}, "formation_energy must be a finite number"),
    ("Si", {"formation_energy": True}, "formation_energy must be a finite number"),
])
def test_one_line_errors(prompt, kwargs, message):
    with pytest.raises(PromptError) as err:
        parse_prompt(prompt, **kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_word_lists_what_is_understood():
    with pytest.raises(PromptError) as err:
        parse_prompt("Li P S Cl please")
    text = str(err.value)
    assert all(system in text for system in CRYSTAL_SYSTEMS)
    assert "Ef=-1.5" in text and "BaTiO3" in text


@pytest.mark.parametrize("prompt, guess", [
    ("srtio3", "SrTiO3"), ("SRTIO3", "SrTiO3"), ("Batio3", "BaTiO3"), ("cubic srtio3", "SrTiO3"),
    ("licoo2", "LiCoO2"),
])
def test_did_you_mean_for_letter_case(prompt, guess):
    with pytest.raises(PromptError, match=f"did you mean {guess}\\?"):
        parse_prompt(prompt)


def test_suggestions():
    assert suggest_formula("srtio3") == "SrTiO3"
    assert suggest_formula("co") == "Co"              # fewest symbols win
    assert suggest_formula("SrTiO3") is None          # already right
    assert suggest_formula("qqq") is None
    assert suggest_prompt("cubic srtio3 Ef=-1") == "cubic SrTiO3 Ef=-1"
    assert suggest_prompt("ba ti o") is None          # parses as it is
    assert suggest_prompt("Ba Xx O") is None          # not a letter-case slip


def test_describe_prompt_mentions_the_conditions():
    text = describe_prompt("cubic BaTiO3 Ef=-3")
    assert "Valid n_atoms: 5, 10, 15, 20" in text
    assert "Crystal system asked: cubic" in text and "Formation-energy target: -3 eV/atom" in text
    assert "Warning" not in text
    text = describe_prompt("Li P S Cl", crystal_system="hexagonal", formation_energy=0.5)
    assert "hexagonal" in text and "extrapolates" in text
    assert describe_prompt("srtio3") == \
        "Cannot use this prompt: 'srtio3' is not an element; did you mean SrTiO3?"
    assert "Crystal system" not in describe_prompt("Ba Ti O", n_atoms=5)


def test_describe_prompt_says_whether_the_crystal_system_is_built_in_or_steered():
    assert "by construction" in describe_prompt("cubic BaTiO3")
    free = describe_prompt("cubic BaTiO3 sg=1")
    assert "steered towards it, not forced" in free and "by construction" not in free


@pytest.mark.parametrize("text, value", [
    ("Ef=-1e-1", -0.1), ("Ef=-1E-1", -0.1), ("Ef=2.5e-1", 0.25), ("Ef=-.5e0", -0.5),
    ("formation energy of -1e0 eV/atom", -1.0), ("Ef=-15e-1eV/atom", -1.5),
                                         ("Ef=\u22121e\u22121", -0.1),
])
def test_targets_in_scientific_notation_are_numbers(text, value):
    assert parse_prompt(f"Si {text}").formation_energy == pytest.approx(value)


@pytest.mark.parametrize("text", ["Ef=1e3", "Ef=-2E2", "Ef=1e999"])
def test_targets_in_scientific_notation_out_of_range_say_so(text):
    with pytest.raises(PromptError) as err:
        parse_prompt(f"Si {text}")
    message = str(err.value)
    assert "not a number" not in message and "\n" not in message
    assert "outside -10 to 10 eV/atom" in message or "must be a finite number" in message


@pytest.mark.parametrize("n", [21, 25, 40])
def test_more_elements_than_the_largest_cell_is_one_line(n):
    from ase.data import chemical_symbols

    symbols = chemical_symbols[1:n + 1]
    for prompt in (symbols, " ".join(symbols)):
        with pytest.raises(PromptError,
                           match=f"{n} elements cannot fit in a cell of at most 20 atoms"):
            parse_prompt(prompt)
    assert parse_prompt(symbols[:20]).elements == tuple(symbols[:20])
