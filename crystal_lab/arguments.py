"""The one home of the rule "what counts as a number here", for every argument that is not a
prompt (prompts, ``n_atoms`` and conditions get :class:`~crystal_lab.prompts.PromptError`).

:func:`check_number` checks one argument and returns it as an ``int`` or ``float``; its message
is one line, ``"<name> must be <what is allowed>, got <value>"``. A value of the wrong type
(a string, a bool, None where None is not allowed, ``2.5`` where a whole number is needed) raises
:class:`WrongType`, which is a ``TypeError`` and a ``ValueError`` at once (like numpy's
``AxisError``), so code that catches bad input with ``except ValueError`` sees it too; a number
out of range, NaN or infinite raises ``ValueError``. :func:`is_number` is the type test alone.

Python and numpy numbers count (``np.int64(4)`` is a whole number); bools never do, and a float
is never a whole number, even ``4.0``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

#: the largest seed: seeds go to numpy (any whole number >= 0) and to torch's generators
#: (``manual_seed`` takes 64 bits); the signed 64-bit range keeps them portable
MAX_SEED = 2**63 - 1


class WrongType(TypeError, ValueError):
    """An argument of the wrong type; the message says what is allowed, in one line."""


def is_number(value, *, integer: bool = False) -> bool:
    """Whether ``value`` is a real number (``integer``: a whole number), bools excluded.

    NaN and infinities are numbers here; :func:`check_number` refuses them.
    """
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, numbers.Integral if integer else numbers.Real)


def _text(bound) -> str:
    return str(int(bound)) if is_number(bound, integer=True) else f"{bound:g}"


def _allowed(integer: bool, minimum, maximum, above, below) -> str:
    """What is allowed, in words: "a whole number >= 1", "a number in [0, 1)", "a number > 0"."""
    kind = "a whole number" if integer else "a number"
    low = (f"[{_text(minimum)}" if minimum is not None else f"({_text(above)}" if above is not None
           else None)
    high = (f"{_text(maximum)}]" if maximum is not None else f"{_text(below)})" if below is not None
            else None)
    if low and high:
        return f"{kind} in {low}, {high}"
    if low:
        return f"{kind} {'>=' if minimum is not None else '>'} {low[1:]}"
    if high:
        return f"{kind} {'<=' if maximum is not None else '<'} {high[:-1]}"
    return kind if integer else "a finite number"


def check_number(name: str, value, *, integer: bool = False, minimum=None, maximum=None,
                 above=None, below=None, allow_none: bool = False, note: str = ""):
    """``value`` as an ``int`` (``integer``) or ``float``, if it is a finite number within the
    bounds, else one line naming ``name``: :class:`WrongType` for the wrong type, ``ValueError``
    for a number out of range (or NaN, or infinite).

    ``minimum`` / ``maximum``: inclusive bounds; ``above`` / ``below``: exclusive ones.
    ``allow_none``: None passes (and is returned). ``note``: said after what is allowed, e.g.
    ``" or 'full'"`` or ``" (1 = no guidance)"``; it defaults to ``" (or None)"`` when None is
    allowed.
    """
    if value is None and allow_none:
        return None
    what = _allowed(integer, minimum, maximum, above, below)
    what += note or (" (or None)" if allow_none else "")
    message = f"{name} must be {what}, got {value!r}"
    if not is_number(value, integer=integer):
        raise WrongType(message)
    if (
        not math.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (above is not None and value <= above)
        or (below is not None and value >= below)
    ):
        raise ValueError(message)
    return int(value) if integer else float(value)


__all__ = ["MAX_SEED", "WrongType", "check_number", "is_number"]
