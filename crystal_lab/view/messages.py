"""The Generate widget's words: times, progress, how a run ended, errors as one sentence."""
from __future__ import annotations

import html

__all__ = ["ERROR", "coloured", "format_seconds", "plain_error", "progress_of", "run_status"]

ERROR = "#b00020"


def format_seconds(seconds: float) -> str:
    """``"42 s"`` or ``"3 min 05 s"`` (for progress labels)."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s"


def plain_error(err: BaseException) -> str:
    """One plain sentence for a person (no Python class name)."""
    text = str(err).strip() or "something went wrong"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def progress_of(info: dict, batch_size: int) -> tuple[int, int]:
    """(steps done, steps in all) of a run, from ``model.sample``'s callback ``info``: the
    samples run in batches of ``batch_size``, each batch ``info["n_steps"]`` steps."""
    n_batches = -(-info["n_total"] // batch_size)
    done = (info["n_done"] // batch_size) * info["n_steps"] + info["step"]
    return done, info["n_steps"] * n_batches


def coloured(text: str, colour: str) -> str:
    return f'<span style="color:{colour}">{html.escape(text)}</span>'


def run_status(info: dict | None, batch_size: int, stopped: bool, elapsed: float,
               n_samples: int) -> str:
    """How a run ended: "done: 3 structures, 50 steps, in 4.2 s" or "stopped at step 7 of 50
    (t = 0.86) after 1.1 s" (with the batch when there were several); ``info``: the last
    callback info (None when no step ran)."""
    info = info or {"step": 0, "n_steps": 0, "t": 1.0, "n_done": 0, "n_total": n_samples}
    _, total = progress_of(info, batch_size)
    n_batches = total // max(info["n_steps"], 1)
    batch = "" if n_batches <= 1 else (f" of batch {info['n_done'] // batch_size + 1} "
                                       f"of {n_batches}")
    if stopped:
        return (f"stopped at step {info['step']} of {info['n_steps']}{batch} "
                f"(t = {info['t']:.2f}) after {format_seconds(elapsed)}")
    return (f"done: {n_samples} structure{'s' if n_samples != 1 else ''}, "
            f"{info['n_steps']} steps, in {format_seconds(elapsed)}")
