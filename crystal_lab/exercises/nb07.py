"""Exercises of notebook 07 (inverse design) and its quiz (``nb07.q1`` ..). Solutions are hidden
with :func:`hide` (not security).

:func:`training_table` is the notebook's window on the model's training data (MP-20 val): one
row per crystal with its elements, crystal system and DFT formation energy.
"""
from __future__ import annotations

import ast
from functools import lru_cache

from crystal_lab.exercises import Exercise, hide
from crystal_lab.exercises.checks import question

#: how far (eV/atom) outside the training data's range a target must lie to count as "outside"
MARGIN = 0.2

#: the choices of exercise nb07.why
WHY_OPTIONS = {
    "a": "the network is too small to learn a formation-energy condition",
    "b": "no training crystal of this chemical system has a formation energy near the target, so "
         "the model never saw these elements paired with such a value",
    "c": "CHGNet cannot compute formation energies of generated crystals",
    "d": "the sampler took too few steps",
}


@lru_cache(maxsize=1)
def training_table():
    """MP-20 val (the shipped model's training split) as a pandas DataFrame: ``formula``,
    ``elements`` (a sorted tuple), ``crystal_system`` and ``formation_energy`` (DFT, eV/atom,
    the Materials Project value the model was conditioned on). No CIF is parsed: a second."""
    import pandas as pd

    from crystal_lab.datasets import dataset_path
    from crystal_lab.prompts import crystal_system_of

    df = pd.read_csv(dataset_path("mp_20", "val"),
                     usecols=["pretty_formula", "elements", "spacegroup.number",
                              "formation_energy_per_atom"])
    return pd.DataFrame({
        "formula": df["pretty_formula"],
        "elements": df["elements"].map(lambda s: tuple(sorted(ast.literal_eval(s)))),
        "crystal_system": df["spacegroup.number"].map(crystal_system_of),
        "formation_energy": df["formation_energy_per_atom"],
    })


def system_formation_energies(system):
    """DFT formation energies (eV/atom) of the training crystals whose elements are exactly those
    of ``system`` (a chemical-system prompt such as ``"Ti O"``), as a numpy array."""
    from crystal_lab.prompts import parse_prompt

    elements = tuple(sorted(parse_prompt(system).elements))
    df = training_table()
    return df.loc[df["elements"] == elements, "formation_energy"].to_numpy(float)


def _outside(answer) -> bool:
    if not isinstance(answer, dict) or set(answer) != {"system", "target"}:
        raise TypeError('answer a dict {"system": <a chemical system>, "target": <eV/atom>}')
    target = float(answer["target"])
    energies = system_formation_energies(answer["system"])
    if not len(energies):
        return True    # the model never saw this chemical system: every target is outside
    return target < energies.min() - MARGIN or target > energies.max() + MARGIN


def _why(answer) -> bool:
    if not isinstance(answer, str) or answer.strip().lower() not in WHY_OPTIONS:
        raise ValueError(f"answer one letter of {', '.join(WHY_OPTIONS)}")
    return answer.strip().lower() == "b"


EXERCISES: dict[str, Exercise] = {
    "nb07.stops_working": Exercise(
        title="Find a target where conditioning stops working",
        check=_outside,
        hint=("Sample at a few targets (try -4 and +0.5 eV/atom too) and compare the CHGNet "
              "outcome with the target. Then look at `system_formation_energies(system)`: the "
              "formation energies the model saw for these elements. Where do your failing targets "
              "lie relative to them?"),
        solution=hide(
            "energies = system_formation_energies(system)\nprint(f'training data: "
            "{energies.min():.2f} to {energies.max():.2f} eV/atom')\ntarget = "
            "float(energies.min()) - 1.0     # well below anything the model saw here\noutcome = "
            "stability(model.sample(system, n_samples=n_per_target, steps=steps, seed=seed,\n      "
            "                           formation_energy=target, progress=False),\n                "
            "    relax=relax_steps > 0, steps=max(relax_steps, 1), progress=False)\nprint('mean "
            "outcome', np.nanmean([r.formation_energy_per_atom for r in outcome]))\nanswer = "
            "{'system': system, 'target': target}\ncheck('nb07.stops_working', answer)"),
    ),
    "nb07.why": Exercise(
        title="Why does it stop working there?",
        check=_why,
        hint=("The condition is a number the network learned to *associate* with crystals during "
              "training. Which crystals of this chemical system did it see, and with which "
              "formation energies? Compare with `system_formation_energies(system)`."),
        solution=hide(
            "answer = 'b'   # no training crystal of these elements lies near the target: the\n"
            "# network never learned what such a crystal looks like, so it falls back on what the\n"
            "# composition alone suggests (and the elements decide most of a formation energy)\n"
            "check('nb07.why', answer)"),
    ),
    "nb07.q1": question(
        "A sample asked for `formation_energy=-2.5` comes back. Before measuring it, what do you "
        "know about its formation energy?",
        (
            "it is -2.5 eV/atom, within the accuracy of DFT",
            ("nothing for certain: the condition shifts what the model proposes, the outcome has "
             "to be measured (here with CHGNet) and compared with the unconditioned samples"),
            "it is at most -2.5 eV/atom: the target is a bound",
        ),
        hide("b"),
        hint="Look at the width of the clouds in sections 2 and 3.",
        why=hide("**b)** The target is one more input the network learned to associate with "
                 "crystals; nothing in the sampler enforces it. Sections 2 and 3 show clouds, "
                 "not points on the dashed line."),
    ),
    "nb07.q2": question(
        "Why does every measurement here sit beside the same prompt sampled with no target?",
        (
            ("the elements alone decide most of a formation energy: only the difference between "
             "conditioned and unconditioned samples shows what the condition did"),
            "the unconditioned samples are more accurate",
            "CHGNet needs a reference structure to compute an energy",
        ),
        hide("a"),
        hint="Compare the grey band (no target) with the clouds at each target.",
        why=hide("**a)** A Ti-O crystal has a very negative formation energy whatever the target; "
                 "a mean near the target can come from the composition alone. The unconditioned "
                 "samples are the control."),
    ),
    "nb07.q3": question(
        "spglib at `symprec=0.1` finds \"cubic\" for a sample of the free model "
        "(`space_group=1`) asked to be cubic. At `symprec=0.01` the same structure most likely "
        "shows ...",
        (
            "a higher symmetry",
            "the same crystal system, always: the tolerance does not matter",
            ("the same or a lower symmetry (often triclinic): a generated crystal is only "
             "approximately symmetric"),
        ),
        hide("c"),
        hint="Run `found_system(free_asked[0], symprec=0.01)` in section 4.",
        why=hide("**c)** Atoms of a free-model crystal sit a few hundredths of an Å off their "
                 "symmetric positions; a tight tolerance sees those offsets and finds less "
                 "symmetry. That is why the notebook uses MP-20's loose 0.1 Å. (A default "
                 "sample sits exactly on its template: it keeps its group at 0.01 Å.)"),
    ),
}
