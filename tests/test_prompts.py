import pytest

from crystal_lab.chemistry import describe_prompt
from crystal_lab.formulas import formula_unit, valid_n_atoms
from crystal_lab.prompts import PromptError, parse_prompt


@pytest.mark.parametrize("prompt", ["Ba Ti O", "Ba-Ti-O", ["Ba", "Ti", "O"], "ba ti o",
                                    " Ba,Ti,O "])
def test_chemical_system_forms(prompt):
    cond = parse_prompt(prompt, n_atoms=5)
    assert cond.kind == "chemical_system"
    assert cond.elements == ("Ba", "Ti", "O")
    assert cond.counts is None and cond.n_atoms == 5
    assert cond.atomic_numbers == [56, 22, 8]


@pytest.mark.parametrize("prompt", ["BaTiO3", "Ba1 O3 Ti1", "Ba1Ti1O3"])
def test_formula_forms(prompt):
    cond = parse_prompt(prompt)
    assert cond.kind == "formula"
    assert cond.counts == {"Ba": 1, "Ti": 1, "O": 3} or cond.counts == {"Ba": 1, "O": 3, "Ti": 1}
    assert cond.n_atoms == 5


def test_formula_scaled_to_n_atoms():
    cond = parse_prompt("BaTiO3", n_atoms=10)
    assert cond.counts == {"Ba": 2, "Ti": 2, "O": 6}
    assert parse_prompt("Ba2Ti2O6").n_atoms == 10
    assert parse_prompt("NaCl").counts == {"Na": 1, "Cl": 1}
    assert valid_n_atoms({"Ba": 1, "Ti": 1, "O": 3}) == [5, 10, 15, 20]


def test_valid_n_atoms_takes_a_formula_in_any_form():
    from pymatgen.core import Composition

    from crystal_lab import explore

    assert explore.n_atoms_options is valid_n_atoms   # one function, the name notebook 05 uses
    assert valid_n_atoms("Li6P2S8") == valid_n_atoms(Composition("Li3PS4")) == [8, 16]
    assert valid_n_atoms({"Ba": 2, "Ti": 2, "O": 6}, max_atoms=10) == [5, 10]
    assert parse_prompt("Li3PS4").text == "Li3PS4"
    with pytest.raises(PromptError, match="whole, positive counts"):
        valid_n_atoms(Composition("Li0.5Cl"))
    with pytest.raises(PromptError, match="Xx is not an element"):
        valid_n_atoms("Xx2")


@pytest.mark.parametrize("prompt", [None, "", "   ", []])
def test_unconditional(prompt):
    cond = parse_prompt(prompt, n_atoms=8)
    assert cond.kind == "unconditional" and cond.elements == () and cond.n_atoms == 8


@pytest.mark.parametrize("prompt, n_atoms, message", [
    ("Ba Xx O", 5, "Xx is not an element"), ("BaXx3", None, "Xx is not an element"),
    ("Ba Ti Ba", 5, "Ba is listed twice"), ("BaTiBa", None, "Ba appears twice"),
    ("Ba Ti O", 2, "3 elements cannot fit in n_atoms=2"),
    ("Ba Ti O", 0, "n_atoms must be a whole number >= 1"),
    ("Ba Ti O", 21, "above the model's maximum of 20"),
    ("BaTiO3", 7, "5 atoms per formula unit, which does not divide n_atoms=7 (try 5, 10, 15, 20)"),
    ("Ba5Ti5O15", None, "25 atoms, above the model's maximum of 20"),
    (42, None, "a prompt must be a string"), (["Ba", 3], None, "elements must be strings"),
    ("Ba Ti O", 5.0, "n_atoms must be a whole number"),
])
def test_bad_input_one_line_errors(prompt, n_atoms, message):
    with pytest.raises(PromptError) as err:
        parse_prompt(prompt, n_atoms=n_atoms)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_max_atoms_is_a_parameter():
    assert parse_prompt("Si", n_atoms=24, max_atoms=24).n_atoms == 24


def test_describe_prompt_normalises_and_warns():
    text = describe_prompt("ba ti o", n_atoms=5)
    assert "Ba-Ti-O" in text and "only" in text
    text = describe_prompt("Ba1 O3 Ti1")
    assert "BaO3Ti" in text or "BaTiO3" in text
    assert "Valid n_atoms: 5, 10, 15, 20" in text and "Warning" not in text
    assert "Warning" in describe_prompt("NaCl2")
    assert describe_prompt("Xx").startswith("Cannot use this prompt: Xx is not an element")


def test_charge_balanced_agrees_with_smact_validity_on_real_and_made_up_compositions():
    from collections import Counter

    from crystal_lab.chemistry import charge_balanced
    from crystal_lab.datasets import load_dataset
    from crystal_lab.evaluate import smact_validity

    made_up = ["NaCl2", "BaTiO3", "Li3PS4", "FeO", "Fe2O3", "CuAu", "NaK", "He", "XeF2", "KrF",
               "Li3PS4Cl", "CsPbI3", "MgSi", "OF2", "NaClO4", "PmCl3", "SiC", "GaAsN"]
    cases = [(formula_unit(f), f) for f in made_up]
    cases += [(dict(Counter(a.get_chemical_symbols())),
               a) for a in load_dataset("mp_20", "test", limit=150)]
    verdicts = []
    for counts, thing in cases:
        verdicts.append(charge_balanced(counts))
        assert verdicts[-1] == bool(smact_validity(thing)), counts
    assert 0 < sum(verdicts) < len(verdicts)     # both answers occur
    assert charge_balanced({"Ba": 2, "Ti": 2,
                            "O": 6}) is True and charge_balanced({"Na": 1, "Cl": 2}) is False


@pytest.mark.parametrize("counts", [{}, {"Xx": 1}, {"X": 2}, {"Na": 0}, {"Na": 1.5}])
def test_charge_balanced_refuses_what_is_not_a_composition(counts):
    from crystal_lab.chemistry import charge_balanced

    with pytest.raises(ValueError, match="counts must map element symbols to whole counts"):
        charge_balanced(counts)


@pytest.mark.parametrize("text, n_atoms", [("ba ti o", 5), ("BaTiO3", 10),
                                           ("cubic Li P S Cl Ef=-1", None),
                                           ("", 4), ("NaCl2", None)])
def test_describe_prompt_takes_a_parsed_condition(text, n_atoms):
    cond = parse_prompt(text, n_atoms=n_atoms)
    assert describe_prompt(cond) == describe_prompt(text, n_atoms=n_atoms)
    assert describe_prompt(cond, crystal_system="hexagonal") == describe_prompt(
        text, n_atoms=n_atoms, crystal_system="hexagonal")


@pytest.mark.parametrize("formula", ["OgO3", "TsNa", "LvO2", "Og2"])
def test_elements_smact_does_not_know_are_not_balanced_and_described(formula):
    from crystal_lab.chemistry import charge_balanced

    counts = formula_unit(formula)
    assert charge_balanced(counts) is (len(counts) == 1)      # one element is always "balanced"
    assert describe_prompt(formula, max_atoms=10**3).startswith("Formula")


@pytest.fixture
def splits(monkeypatch):
    """Count how often a prompt text is split into words (the start of every parse)."""
    from crystal_lab import prompts

    calls = []
    real = prompts.split_prompt

    def counted(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(prompts, "split_prompt", counted)
    return calls


@pytest.mark.parametrize("text, n_atoms, overrides, expected", [
    ("BaTiO3", 10, {}, {"counts": {"Ba": 2, "Ti": 2, "O": 6}, "n_atoms": 10}),
    ("Ba2Ti2O6", 5, {}, {"counts": {"Ba": 1, "Ti": 1, "O": 3}, "n_atoms": 5}),
    ("ba ti o", 7, {"crystal_system": "cubic"}, {"n_atoms": 7, "crystal_system": "cubic"}),
    ("cubic Li P S Cl Ef=-1", None, {"formation_energy": -2.0},
     {"formation_energy": -2.0, "crystal_system": "cubic"}),
    ("", 4, {"crystal_system": "hexagonal"}, {"kind": "unconditional", "n_atoms": 4}),
])
def test_a_condition_is_never_parsed_again(splits, text, n_atoms, overrides, expected):
    """as_condition applies n_atoms and the overrides to a Condition without re-reading its
    text, and gives what parsing the text with them gives."""
    from crystal_lab.prompts import as_condition

    cond = parse_prompt(text)
    assert len(splits) == 1
    again = as_condition(cond, n_atoms=n_atoms, **overrides)
    described = describe_prompt(cond, n_atoms=n_atoms, **overrides)
    assert len(splits) == 1                       # neither parsed the text again
    assert again == parse_prompt(text, n_atoms=n_atoms, **overrides)
    assert described == describe_prompt(text, n_atoms=n_atoms, **overrides)
    for name, value in expected.items():
        assert getattr(again, name) == value


@pytest.mark.parametrize("text, n_atoms, max_atoms, message", [
    ("BaTiO3", 4, 20, "does not divide n_atoms=4"),
    ("Li P S Cl", 3, 20, "4 elements cannot fit in n_atoms=3"),
    ("Ba Ti O", 30, 20, "above the model's maximum of 20"),
    ("Ba8Ti8O24", None, 20, "above the model's maximum of 20"),
])
def test_a_condition_is_checked_like_its_text(text, n_atoms, max_atoms, message):
    """A Condition parsed for a larger model, or resized, gets the message its text would."""
    from crystal_lab.prompts import as_condition

    cond = parse_prompt(text, max_atoms=10**3)
    with pytest.raises(PromptError, match=message):
        as_condition(cond, n_atoms=n_atoms, max_atoms=max_atoms)
    with pytest.raises(PromptError, match=message):
        parse_prompt(text, n_atoms=n_atoms, max_atoms=max_atoms)


def test_sample_and_check_split_a_text_once_and_a_condition_never(splits):
    import torch

    from crystal_lab.model.diffusion import CrystalDiffusionModel, ModelConfig

    torch.manual_seed(0)
    model = CrystalDiffusionModel(ModelConfig(hidden=16, layers=1)).eval()
    model.sample("cubic Ba Ti O", n_atoms=5, steps=2, seed=0, progress=False)
    assert splits == ["cubic Ba Ti O"]
    cond = model.check("BaTiO3")
    assert len(splits) == 2
    out = model.sample(cond, n_atoms=10, crystal_system="tetragonal", steps=2, seed=0,
                       progress=False)
    assert len(splits) == 2
    assert (
        out[0].get_chemical_formula() == "Ba2O6Ti2"
        and out[0].info["crystal_system"] == "tetragonal"
    )
