"""Prompts: what a student types, turned into what the model is asked to do.

A prompt is a composition, optionally with plain words for a crystal system and a target
formation energy (the spirit of Chemeleon's text prompts, but a small grammar, not free text)::

    prompt       = [composition] [crystal system] [target]     (any order, words separated by
                                                                spaces or commas)
    composition  = nothing                                      unconditional generation
                 | "Ba Ti O", "Ba-Ti-O", "ba ti o", ["Ba", "Ti", "O"]
                                     a chemical system: only, and all of, these elements
                 | "BaTiO3", "Ba1 O3 Ti1"
                                     a formula: crystal-structure prediction, exact composition
    crystal system = triclinic | monoclinic | orthorhombic | tetragonal | trigonal
                   | hexagonal | cubic                          (any letter case)
    target       = "Ef=-1.5", "Ef -1.5", "E_form=-1.5", "formation energy -1.5",
                   "formation energy of -1.5 eV/atom"
                                     formation energy per atom in eV/atom ("eV/atom" optional;
                                     "Ef=-1e-1" and "Ef=2.5E-1" are numbers too)
    space group  = "sg=225", "sg=Fm-3m", or a bare Hermann-Mauguin symbol that is not also a
                   formula ("Fm-3m", "P6_3/mmc", "Pnma"; "P1" and "Cm" are formulas: write sg=1)
    filler words = a, an, with, and                             (ignored)

Examples: ``"cubic BaTiO3"``, ``"hexagonal Li P S Cl"``, ``"Li P S Cl Ef=-1.5"``,
``"Li P S Cl with formation energy -1.5"``, ``"a cubic crystal"`` is *not* understood
("crystal" is not a word of the grammar), ``"cubic"`` alone is (any composition, cubic).
The keyword arguments ``crystal_system=`` and ``formation_energy=`` of :func:`parse_prompt` (and
of ``model.sample``) override what the text says.

Every message about a bad prompt, ``n_atoms`` or condition lives in this module, one line each
(:class:`PromptError`, naming the problem); :func:`as_condition` is the one entry that turns a
prompt (text, list, None or a :class:`Condition` already parsed) into a :class:`Condition`.
``sample``'s other arguments are numbers checked by :func:`crystal_lab.arguments.check_number`
(``ValueError`` / ``TypeError``). The messages about what one model can do (elements beyond its
embedding table, the size caps) are raised by :mod:`crystal_lab.model.diffusion`; those about
weights files by :mod:`crystal_lab.model.checkpoint`. A word the grammar does not know gets a
message listing what it understands; a formula typed in the wrong letter case gets a suggestion
("srtio3": did you mean SrTiO3?). The prose that explains a prompt to a student is
:func:`crystal_lab.chemistry.describe_prompt`.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field

from ase.data import atomic_numbers, chemical_symbols

from .arguments import is_number
from .formulas import (
    MAX_ATOMS,
    TOKEN,
    PromptError,
    element_symbol,
    formula_unit,
    parse_formula,
    valid_n_atoms,
)
from .spelling import suggest_formula
from .structures import formula_text

ELEMENTS = tuple(chemical_symbols[1:])
#: The seven crystal systems, in the order of their space-group numbers (index + 1 is the
#: model's condition token; 0 means "not asked").
CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal",
                   "cubic")
_SYSTEM_FIRST_SG = (1, 3, 16, 75, 143, 168, 195)
#: Words the grammar ignores (none of them is an element symbol in any letter case).
FILLER_WORDS = ("a", "an", "with", "and")
#: Formation energy per atom (eV/atom) in MP-20 ``val``, the shipped model's training split:
#: (min, max) of its ``formation_energy_per_atom`` column. Targets outside are extrapolation.
TRAINING_FORMATION_ENERGY_RANGE = (-4.47, 0.08)
_MAX_ABS_TARGET = 10.0   # eV/atom: larger is a typo, not a target
_NUMBER = r"[-+\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+\u2212]?\d+)?"
_TARGET_NAME = r"(?<![A-Za-z])(?:e_?f(?:orm)?|formation[\s_]+energy)"
_TARGET = re.compile(rf"{_TARGET_NAME}(?:\s*(?:=|:|of\b|is\b)\s*|\s+)(?P<value>{_NUMBER})"
                     rf"(?:\s*ev(?:\s*/\s*atom)?)?(?![\w.])", re.IGNORECASE)
_TARGET_WITHOUT_VALUE = re.compile(rf"{_TARGET_NAME}(?![A-Za-z])", re.IGNORECASE)
#: a space-group word: "sg=225" / "sg:Fm-3m", or a bare symbol such as "Fm-3m", "P6_3/mmc"
_SG_WORD = re.compile(r"(?:(?i:sg)[=:](?P<value>\S+))|[PABCFIR](?:[-0-9_/]|[mncabde])+")
_BARE_NUMBER = re.compile(rf"{_NUMBER}(?:ev(?:/atom)?)?", re.IGNORECASE)
_UNDERSTOOD = (f"a prompt understands element symbols (Ba Ti O) or a formula (BaTiO3), "
               f"a crystal system ({', '.join(CRYSTAL_SYSTEMS)}) and a formation-energy target "
               f"(Ef=-1.5, in eV/atom)")


def crystal_system_of(space_group_number: int) -> str:
    """The crystal system of an international space-group number (1-230; ``225.0`` from a table
    is 225)."""
    n = space_group_number
    if not is_number(n) or not math.isfinite(n) or n != int(n) or not 1 <= n <= 230:
        raise PromptError("space-group number must be a whole number 1-230, got "
                          f"{space_group_number!r}")
    n = int(n)
    return CRYSTAL_SYSTEMS[sum(n >= first for first in _SYSTEM_FIRST_SG) - 1]


@dataclass(frozen=True)
class Condition:
    """What a prompt asks for.

    ``elements``: the allowed elements (empty: any). ``counts``: the exact composition for a
    formula prompt, scaled to ``n_atoms``. ``kind``: ``"unconditional"``, ``"chemical_system"``
    or ``"formula"`` (the composition part only). ``crystal_system`` and ``formation_energy``:
    the other conditions, None where the prompt leaves them open.
    """

    kind: str
    elements: tuple[str, ...] = ()
    counts: dict[str, int] | None = None
    n_atoms: int | None = None
    formula_unit: dict[str, int] | None = field(default=None, compare=False)
    crystal_system: str | None = None       # one of CRYSTAL_SYSTEMS, or None: any
    formation_energy: float | None = None   # target formation energy per atom (eV/atom), or None
    # 1-230 or a symbol as typed (the model reads it), or None
    space_group: int | str | None = None

    @property
    def atomic_numbers(self) -> list[int]:
        return [atomic_numbers[e] for e in self.elements]

    @property
    def text(self) -> str:
        """The prompt in its normal form: ``"Ba Ti O"`` or ``"BaTiO3"`` or ``""``."""
        if self.kind == "formula":
            return formula_text(self.formula_unit)
        return " ".join(self.elements)

    @property
    def prompt(self) -> str:
        """The whole prompt in its normal form, e.g. ``"cubic BaTiO3 Ef=-1.5"``: parsing it
        again gives the same condition (for the same ``n_atoms``)."""
        target = None if self.formation_energy is None else f"Ef={self.formation_energy:g}"
        group = None if self.space_group is None else f"sg={self.space_group}"
        return " ".join(p for p in (self.crystal_system, self.text, target, group) if p)


def check_n_atoms(n_atoms, max_atoms: int) -> int:
    """``n_atoms`` as an ``int`` if it is a whole number from 1 to ``max_atoms``, else
    :class:`PromptError` (numpy integers pass; bools, floats, even ``4.0``, and strings do not)."""
    if not is_number(n_atoms, integer=True) or n_atoms < 1:
        raise PromptError(f"n_atoms must be a whole number >= 1, got {n_atoms!r}")
    n_atoms = int(n_atoms)
    if n_atoms > max_atoms:
        raise PromptError(f"n_atoms={n_atoms} is above the model's maximum of {max_atoms}")
    return n_atoms


def _split_system(items) -> tuple[str, ...]:
    elements = []
    for token in items:
        if not isinstance(token, str):
            raise PromptError(f"elements must be strings, got {token!r}")
        symbol = element_symbol(token.strip())
        if symbol in elements:
            raise PromptError(f"{symbol} is listed twice")
        elements.append(symbol)
    return tuple(elements)


def parse_prompt(prompt, n_atoms: int | None = None, max_atoms: int = MAX_ATOMS,
                 crystal_system: str | None = None,
                 formation_energy: float | None = None) -> Condition:
    """Turn a prompt into a :class:`Condition`; raise :class:`PromptError` on bad input.

    The grammar is in this module's docstring. ``crystal_system`` and ``formation_energy``
    (eV/atom), when given, override what the prompt text says.
    """
    return _parse(prompt, n_atoms, max_atoms, crystal_system, formation_energy, suggest=True)


def as_condition(prompt, n_atoms: int | None = None, max_atoms: int = MAX_ATOMS,
                 crystal_system: str | None = None,
                 formation_energy: float | None = None) -> Condition:
    """The one entry of a prompt: a text, a list of symbols or None is parsed (once, by
    :func:`parse_prompt`); a :class:`Condition` is taken as it is, never parsed again.

    ``n_atoms``, ``crystal_system`` and ``formation_energy`` override the prompt's: a formula
    condition is rescaled to ``n_atoms`` from its formula unit. A condition is checked against
    ``max_atoms`` (it may have been parsed for a larger model).
    """
    if not isinstance(prompt, Condition):
        return parse_prompt(prompt, n_atoms, max_atoms, crystal_system, formation_energy)
    cond, size = prompt, prompt.n_atoms if n_atoms is None else n_atoms
    size = None if size is None else check_n_atoms(size, max_atoms)
    if cond.kind == "formula" and size != cond.n_atoms:
        cond = _formula_of_size(cond.formula_unit, size, max_atoms)
    _check_fit(cond.elements, size, max_atoms)
    system = prompt.crystal_system if crystal_system is None else _crystal_system(crystal_system)
    target = (
        prompt.formation_energy if formation_energy is None else _formation_energy(formation_energy)
    )
    return dataclasses.replace(cond, n_atoms=size, crystal_system=system, formation_energy=target,
                               space_group=prompt.space_group)


def _parse(prompt, n_atoms, max_atoms, crystal_system, formation_energy,
           suggest: bool) -> Condition:
    if n_atoms is not None:
        n_atoms = check_n_atoms(n_atoms, max_atoms)
    group = None
    if isinstance(prompt, str):
        prompt, group = take_space_group(prompt)
    words, system, target = split_prompt(prompt) if isinstance(prompt, str) else (None, None, None)
    system = system if crystal_system is None else _crystal_system(crystal_system)
    target = target if formation_energy is None else _formation_energy(formation_energy)
    cond = _composition_condition(prompt, words, n_atoms, max_atoms, suggest)
    return dataclasses.replace(cond, crystal_system=system, formation_energy=target,
                               space_group=group)


def take_space_group(text: str) -> tuple[str, int | str | None]:
    """The prompt text without its space-group word, and that word (``"sg=225"``: 225,
    ``"Fm-3m"``: ``"Fm-3m"``, as typed; None if there is none). The model reads the symbol."""
    found, kept = [], []
    for token in re.split(r"(\s+)", text):
        m = _SG_WORD.fullmatch(token)
        if m and (m["value"] or not _is_formula(token)):
            value = m["value"] or token
            found.append(int(value) if value.isdigit() else value)
        else:
            kept.append(token)
    if len(found) > 1:
        raise PromptError(f"two space groups ({found[0]} and {found[1]}): give one")
    return "".join(kept), (found[0] if found else None)


def _is_formula(token: str) -> bool:
    try:
        parse_formula(token)
    except PromptError:
        return False
    return True


def split_prompt(text: str) -> tuple[tuple[str, ...], str | None, float | None]:
    """Split a prompt text into ``(composition words, crystal system, formation-energy target)``:
    the one place a text is split. ``"cubic BaTiO3 Ef=-1.5"`` -> ``(("BaTiO3",), "cubic", -1.5)``.
    Raises :class:`PromptError` for a word the grammar does not know, a number without a name, or
    a condition given twice.
    """
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be a string, a list of element symbols or None, "
                          f"got {type(text).__name__}")
    targets = [_formation_energy(float(m["value"].replace("\u2212", "-")),
                                 name="the formation-energy target")
               for m in _TARGET.finditer(text)]
    if len(targets) > 1:
        raise PromptError(f"two formation-energy targets ({targets[0]:g} and {targets[1]:g} "
                          "eV/atom): give one")
    rest = _TARGET.sub(" ", text)
    if _TARGET_WITHOUT_VALUE.search(rest):
        raise PromptError(f"a formation-energy target needs a number in eV/atom, e.g. Ef=-1.5 "
                          f"(in {text.strip()!r})")
    system, words = None, []
    for token in (t for t in re.split(r"[\s,]+", rest) if t):
        low = token.lower()
        if low in CRYSTAL_SYSTEMS:
            if system not in (None, low):
                raise PromptError(f"two crystal systems ({system} and {low}): give one")
            system = low
        elif low in FILLER_WORDS:
            continue
        elif _BARE_NUMBER.fullmatch(token):
            raise PromptError(f"the number {token} has no name: write Ef={token} for a "
                              f"formation-energy target in eV/atom")
        else:
            for piece in (p for p in token.split("-") if p):
                _check_word(piece)
            words.append(token)
    return tuple(words), system, (targets[0] if targets else None)


def _check_word(piece: str) -> None:
    """Refuse a piece that is a word, not element symbols or a formula, with what is understood."""
    if not (piece.isalpha() and len(piece) >= 3):
        return
    if "".join(e + n for e, n in TOKEN.findall(piece)) == piece:
        return   # formula-shaped ("BaTi"): checked symbol by symbol later
    close = difflib.get_close_matches(piece.lower(), CRYSTAL_SYSTEMS, n=1, cutoff=0.75)
    guess = close[0] if close else suggest_formula(piece)
    mean = f" (did you mean {guess}?)" if guess else ""
    raise PromptError(f"unknown word {piece!r}{mean}: {_UNDERSTOOD}")


def _crystal_system(value) -> str:
    if isinstance(value, str) and value.strip().lower() in CRYSTAL_SYSTEMS:
        return value.strip().lower()
    close = difflib.get_close_matches(str(value).lower(), CRYSTAL_SYSTEMS, n=1, cutoff=0.75)
    mean = f" (did you mean {close[0]}?)" if close else ""
    raise PromptError(f"crystal_system must be one of {', '.join(CRYSTAL_SYSTEMS)}, "
                      f"got {value!r}{mean}")


def _formation_energy(value, name: str = "formation_energy") -> float:
    if not is_number(value) or not math.isfinite(value):
        raise PromptError(f"{name} must be a finite number in eV/atom, got {value!r}")
    if abs(value) > _MAX_ABS_TARGET:
        lo, hi = TRAINING_FORMATION_ENERGY_RANGE
        raise PromptError(f"a formation energy of {value:g} eV/atom is outside "
                          f"-{_MAX_ABS_TARGET:g} to "
                          f"{_MAX_ABS_TARGET:g} eV/atom (the training data span {lo} to {hi})")
    return float(value)


def outside_training_range(formation_energy: float | None) -> bool:
    """Whether a formation-energy target lies outside the training data's range (extrapolation)."""
    lo, hi = TRAINING_FORMATION_ENERGY_RANGE
    return formation_energy is not None and not lo <= formation_energy <= hi


def suggest_prompt(prompt) -> str | None:
    """A corrected prompt when ``prompt`` fails only because of letter case, else None.

    ``"cubic srtio3"`` -> ``"cubic SrTiO3"``; ``"ba ti o"`` parses as it is, so None.
    """
    if not isinstance(prompt, str):
        return None
    try:
        _parse(prompt, None, 10**6, None, None, suggest=False)
        return None
    except PromptError:
        pass
    pieces = re.split(r"([\s,\-=]+)", prompt.strip())
    fixed = [p if (not p or re.fullmatch(r"[\s,\-=]+", p) or p.lower() in CRYSTAL_SYSTEMS
                   or p.lower() in FILLER_WORDS or _BARE_NUMBER.fullmatch(p)
                   or _TARGET_WITHOUT_VALUE.fullmatch(p))
             else (suggest_formula(p) or p) for p in pieces]
    guess = "".join(fixed)
    if guess == prompt.strip():
        return None
    try:
        _parse(guess, None, 10**6, None, None, suggest=False)
    except PromptError:
        return None
    return guess


def _composition_condition(prompt, words: tuple[str, ...] | None, n_atoms: int | None,
                           max_atoms: int, suggest: bool) -> Condition:
    """The composition part: unconditional, a chemical system or a formula. ``words``: a text
    prompt's composition words (from :func:`split_prompt`); None when ``prompt`` is a list or
    None."""
    if words is not None:
        text = " ".join(words)
        tokens = [p for w in words for p in w.split("-") if p]
        try:
            if any(ch.isdigit() for ch in text) or (
                len(tokens) == 1 and len(TOKEN.findall(text)) > 1
            ):
                return _formula_condition(text, n_atoms, max_atoms)
            elements = _split_system(tokens)
        except PromptError as err:
            guess = suggest_prompt(text) if suggest else None
            if guess and "did you mean" not in str(err):
                raise PromptError(f"{err}; did you mean {guess}?") from None
            raise
    elif prompt is None or isinstance(prompt, (list, tuple)):
        elements = _split_system(prompt or ())
    else:
        raise PromptError(f"a prompt must be a string, a list of element symbols or None, "
                          f"got {type(prompt).__name__}")
    if not elements:
        return Condition("unconditional", n_atoms=n_atoms)
    _check_fit(elements, n_atoms, max_atoms)
    return Condition("chemical_system", elements=elements, n_atoms=n_atoms)


def _check_fit(elements: tuple[str, ...], n_atoms: int | None, max_atoms: int) -> None:
    """Refuse more elements than a cell of ``n_atoms`` (or of the model's maximum) can hold."""
    if n_atoms is not None and len(elements) > n_atoms:
        raise PromptError(f"{len(elements)} elements cannot fit in n_atoms={n_atoms}")
    if len(elements) > max_atoms:
        raise PromptError(f"{len(elements)} elements cannot fit in a cell of at most {max_atoms} "
                          f"atoms (the model's maximum): give at most {max_atoms} elements")


def _formula_condition(text: str, n_atoms: int | None, max_atoms: int) -> Condition:
    counts = parse_formula(text)
    if n_atoms is None:
        n_atoms = sum(counts.values())
        if n_atoms > max_atoms:
            raise PromptError(f"{text} has {n_atoms} atoms, above the model's maximum of "
                              f"{max_atoms}")
    return _formula_of_size(formula_unit(counts), n_atoms, max_atoms)


def _formula_of_size(unit: dict[str, int], n_atoms: int, max_atoms: int) -> Condition:
    """The formula condition of ``n_atoms`` atoms with formula unit ``unit``."""
    unit_size = sum(unit.values())
    if n_atoms % unit_size:
        options = valid_n_atoms(unit, max_atoms)
        raise PromptError(f"{formula_text(unit)} has {unit_size} atoms per formula unit, which "
                          f"does not divide n_atoms={n_atoms} (try "
                          f"{', '.join(map(str, options)) or 'fewer'})")
    scale = n_atoms // unit_size
    return Condition("formula", elements=tuple(unit),
                     counts={e: n * scale for e, n in unit.items()},
                     n_atoms=n_atoms, formula_unit=unit)
