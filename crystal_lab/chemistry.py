"""What a prompt means in words, and whether its composition is charge balanced.

:func:`describe_prompt` is the student-facing paragraph about a prompt (the Generate widget's
helper line, notebook 00's answer line); :func:`charge_balanced` is SMACT's charge-neutrality
test with CDVAE's rule, used by it to warn (not refuse) about unlikely compounds.
"""
from __future__ import annotations

import itertools
import math
import warnings
from functools import lru_cache

from ase.data import atomic_numbers

from .arguments import is_number
from .formulas import valid_n_atoms
from .prompts import (
    MAX_ATOMS,
    TRAINING_FORMATION_ENERGY_RANGE,
    Condition,
    PromptError,
    as_condition,
)
from .structures import formula_text


def describe_prompt(prompt, n_atoms: int | None = None, max_atoms: int = MAX_ATOMS,
                    crystal_system: str | None = None,
                    formation_energy: float | None = None) -> str:
    """A student-facing explanation of what the model will do with ``prompt`` (one paragraph).

    Normalises the prompt, lists the valid ``n_atoms`` for a formula, warns (does not refuse)
    when SMACT finds no charge-balanced oxidation states for the composition, and says what a
    crystal-system or formation-energy condition asks (a request, not a guarantee). ``prompt``
    may be a :class:`Condition` already parsed (e.g. by ``model.check``): it is described as it is.
    """
    try:
        cond = as_condition(prompt, n_atoms, max_atoms, crystal_system, formation_energy)
    except PromptError as err:
        return ("Cannot use this prompt: "
                f"{str(err).rstrip('.?')}{'?' if str(err).endswith('?') else '.'}")
    if cond.kind == "unconditional":
        size = (f"{cond.n_atoms} atoms" if cond.n_atoms
                else "a number of atoms drawn from the training data")
        text = f"Unconditional generation: any elements, {size} per cell."
    elif cond.kind == "chemical_system":
        size = (f"{cond.n_atoms} atoms" if cond.n_atoms
                else f"{len(cond.elements)} to {max_atoms} atoms")
        text = (f"Chemical system {'-'.join(cond.elements)}: the model chooses a composition that "
                f"uses all of, and only, {', '.join(cond.elements)}, with {size} per cell.")
    else:
        text = (f"Formula {cond.text} (crystal-structure prediction): the composition "
                f"{formula_text(cond.counts)} is fixed and the model places {cond.n_atoms} atoms "
                "in a cell. Valid n_atoms: "
                f"{', '.join(map(str, valid_n_atoms(cond.formula_unit, max_atoms)))}.")
        if not charge_balanced(cond.formula_unit):
            text += (" Warning: SMACT finds no charge-neutral oxidation states for it; it is an "
                     "unlikely compound.")
    return text + _describe_targets(cond)


def _describe_targets(cond: Condition) -> str:
    text = ""
    if cond.crystal_system:
        how = ("the free model (space_group=1) is steered towards it, not forced: check the "
               "result's symmetry" if cond.space_group == 1 else
               "a space-group template of that system is drawn, so the result has it by "
               "construction")
        text += f" Crystal system asked: {cond.crystal_system} ({how})."
    if cond.formation_energy is not None:
        lo, hi = TRAINING_FORMATION_ENERGY_RANGE
        text += f" Formation-energy target: {cond.formation_energy:g} eV/atom."
        if not lo <= cond.formation_energy <= hi:
            text += (f" Warning: the training data span {lo} to {hi} eV/atom; outside that the "
                     f"model extrapolates.")
    return text


def charge_balanced(counts: dict[str, int], use_pauling_test: bool = True,
                    include_alloys: bool = True) -> bool:
    """Whether SMACT finds a charge-neutral, electronegativity-ordered set of oxidation states.

    CDVAE's compositional-validity rule (``smact_validity`` in its ``eval_utils.py``) with SMACT's
    ``oxidation_states_smact14`` lists: one element, or an all-metal alloy (``include_alloys``),
    counts as balanced; otherwise some combination of oxidation states must be neutral for the
    gcd-reduced counts and (``use_pauling_test``) pass the Pauling electronegativity test.
    ``counts``: element symbol -> whole count, e.g. ``{"Ba": 1, "Ti": 1, "O": 3}``.
    """
    if not counts or any(
        e not in atomic_numbers or e == "X" or not is_number(n, integer=True) or n < 1
        for e, n in counts.items()
    ):
        raise ValueError(f"counts must map element symbols to whole counts, got {counts!r}")
    elements = tuple(sorted(counts, key=atomic_numbers.__getitem__))
    g = math.gcd(*(int(counts[e]) for e in elements))
    return _balanced(elements, tuple(int(counts[e]) // g for e in elements), use_pauling_test,
                     include_alloys)


@lru_cache(maxsize=65536)
def _balanced(elements: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool,
              include_alloys: bool) -> bool:
    import smact
    from smact.screening import pauling_test

    if len(elements) == 1:
        return True
    if include_alloys and all(e in smact.metals for e in elements):
        return True
    with warnings.catch_warnings():  # pymatgen warns about noble gases without electronegativity
        warnings.simplefilter("ignore", UserWarning)
        try:
            space = smact.element_dictionary(elements)
        # an element SMACT has no data for (e.g. Og): no oxidation states to balance
        except KeyError:
            return False
    smact_elems = [space[e] for e in elements]
    electronegs = [e.pauling_eneg for e in smact_elems]
    ox_combos = [e.oxidation_states_smact14 or [] for e in smact_elems]
    stoichs = [(c,) for c in counts]
    for ox_states in itertools.product(*ox_combos):
        if not smact.neutral_ratios(ox_states, stoichs=stoichs, threshold=max(counts)):
            continue
        if not use_pauling_test:
            return True
        try:
            if pauling_test(ox_states, electronegs):
                return True
        except TypeError:  # an element without an electronegativity: CDVAE counts it as passing
            return True
    return False


__all__ = ["charge_balanced", "describe_prompt"]
