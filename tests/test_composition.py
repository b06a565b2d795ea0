"""The sampler's composition constraints (crystal_lab.model.composition): charge balance at a
templated crystal's last reveal, and the required elements of a chemical-system prompt."""
from types import SimpleNamespace

import torch

from crystal_lab.chemistry import charge_balanced
from crystal_lab.model.composition import balance_charges, ensure_elements
from crystal_lab.model.noise import MASK
from crystal_lab.symmetry.projection import projector
from crystal_lab.symmetry.templates import Orbit, Template

E = 20                                   # elements 1..20 are enough here
NA, MG, S, CL, CA = 11, 12, 16, 17, 20
#: fluorite's template, elements open: one atom on 4a, two on 8c (primitive cell)
FLUORITE = Template.make(225, [Orbit("a", 1), Orbit("c", 2)])
CHOICES = [(NA, MG, CA), (S, CL), (S, CL)]   # each atom's allowed elements, likeliest first


def _batch(tokens, templates, required=None):
    """Inputs for rows of three atoms allowed :data:`CHOICES`, with logits 3, 2, -1 in order."""
    B = len(tokens)
    allowed = torch.zeros(B, 3, E, dtype=torch.bool)
    logits = torch.full((B, 3, E), -5.0)
    for i, zs in enumerate(CHOICES):
        for z, value in zip(zs, (3.0, 2.0, -1.0), strict=False):
            allowed[:, i, z - 1] = True
            logits[:, i, z - 1] = value
    inputs = SimpleNamespace(mask=torch.ones(B, 3, dtype=torch.bool), allowed=allowed,
                             required=required or [()] * B, symmetry=projector(templates))
    return torch.tensor(tokens), logits, inputs


def test_the_orbits_of_a_templated_crystal():
    assert projector([None, FLUORITE]).orbits_of(1) == [[0], [1, 2]]
    assert projector([None, FLUORITE]).orbits_of(0) is None


def test_an_unbalanced_last_reveal_is_redrawn_to_a_balanced_one():
    assert not charge_balanced({"Na": 1, "S": 2}) and not charge_balanced({"Na": 1, "Cl": 2})
    assert charge_balanced({"Mg": 1, "S": 2}) and charge_balanced({"Ca": 1, "S": 2})
    tokens, logits, inputs = _batch([[NA, S, S]], [FLUORITE])
    out = balance_charges(torch.full_like(tokens, MASK), tokens, logits, inputs,
                          torch.Generator().manual_seed(0))
    assert out[0, 1:].tolist() == [S, S]              # the 8c orbit has no balancing element
    assert int(out[0, 0]) in (MG, CA)
    assert charge_balanced({"Mg" if out[0, 0] == MG else "Ca": 1, "S": 2})


def test_only_templated_crystals_finished_in_this_step_change():
    tokens, logits, inputs = _batch([[NA, S, S]] * 3, [None, FLUORITE, FLUORITE])
    before = torch.tensor([[MASK] * 3, [MASK] * 3, [NA, S, S]])   # row 2: nothing revealed
    out = balance_charges(before, tokens, logits, inputs)
    assert out[0].tolist() == [NA, S, S]      # a free (P1) crystal: the free model is left alone
    assert int(out[1, 0]) in (MG, CA)
    assert out[2].tolist() == [NA, S, S]      # composition fixed from the start (CSP)
    half = tokens.clone()
    half[1, 1:] = MASK                         # still masked: not the last reveal yet
    assert torch.equal(balance_charges(before, half, logits, inputs), half)


def test_a_redraw_never_removes_a_required_element():
    tokens, logits, inputs = _batch([[NA, S, S]], [FLUORITE], required=[(NA, S)])
    out = balance_charges(torch.full_like(tokens, MASK), tokens, logits, inputs)
    assert out.tolist() == [[NA, S, S]]       # Na -> Mg would balance it but drop Na


def test_the_redraw_follows_the_networks_probabilities():
    tokens, logits, inputs = _batch([[NA, S, S]], [FLUORITE])
    before = torch.full_like(tokens, MASK)
    drawn = [int(balance_charges(before, tokens, logits, inputs,
                                 torch.Generator().manual_seed(k))[0, 0]) for k in range(200)]
    assert set(drawn) == {MG, CA}
    assert drawn.count(MG) / len(drawn) > 0.85   # p(Mg) / (p(Mg) + p(Ca)) = 1 / (1 + e^-3) = 0.95


def test_missing_required_elements_take_the_place_of_repeated_ones():
    tokens = torch.tensor([[CL, CL, MASK]])
    logits = torch.zeros(1, 3, E)
    logits[0, 1, S - 1] = 2.0                  # atom 1 is the likeliest S
    out = ensure_elements(tokens, logits, torch.ones(1, 3, dtype=torch.bool), [(CL, S, MG)])
    assert out.tolist() == [[CL, S, MASK]]     # two missing, one masked left: one placed now
