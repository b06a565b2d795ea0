""""How good is this model?": the shipped model's measured quality beside its floor and the
published anchors, read from the benchmark results so the notebooks never go stale.

The measured numbers come from ``benchmarks/results/model.json`` (written by
``benchmarks/bench_model.py``; the shipped model's CSP match rate on MP-20 test structures and
its generation validity). Nothing about the model is written here: when the weights and the
benchmark file are replaced, the box follows. The anchors are published MP-20 CSP match rates
(one sample a target, ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``) from DiffCSP
(Jiao et al. 2023, Table 1) and FlowMM (Miller et al. 2024).

    >>> from crystal_lab.quality import quality_box
    >>> quality_box()          # in a notebook: an HTML box       # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ANCHORS", "RANDOM_SEARCH", "ModelQuality", "default_results_path", "load_quality",
           "quality_box"]

#: environment variable naming another ``model.json`` (e.g. outside a source checkout)
RESULTS_ENV = "CRYSTAL_LAB_BENCHMARK"
#: published MP-20 CSP match rates (fraction), name -> (rate, reference)
ANCHORS: dict[str, tuple[float, str]] = {
    "CDVAE": (0.339, "Xie et al. 2022, as reported by DiffCSP, arXiv:2309.04475"),
    "DiffCSP": (0.515, "Jiao et al. 2023, arXiv:2309.04475"),
    "FlowMM": (0.614, "Miller et al. 2024, arXiv:2406.04713"),
}
#: the random-search floor on MP-20 CSP (DiffCSP's Table 1, "RS")
RANDOM_SEARCH: tuple[float, str] = (0.087, "random search, DiffCSP Table 1, arXiv:2309.04475")


def default_results_path() -> Path:
    """``$CRYSTAL_LAB_BENCHMARK`` if set, else ``benchmarks/results/model.json`` of the checkout."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "model.json"


@dataclass(frozen=True)
class ModelQuality:
    """The measured numbers of one benchmark file (fractions; ``None`` when not measured)."""

    match_rate: float | None
    n_targets: int | None
    steps: int | None
    structural_validity: float | None = None
    compositional_validity: float | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def load_quality(path: str | Path | None = None) -> ModelQuality:
    """Read a ``model.json`` written by ``benchmarks/bench_model.py``.

    FileNotFoundError (one line, with the path) when there is none; ValueError when the file has
    no CSP match rate."""
    path = Path(path) if path is not None else default_results_path()
    if not path.exists():
        raise FileNotFoundError(f"no benchmark results at {path}: run benchmarks/bench_model.py "
                                f"or set {RESULTS_ENV}")
    data = json.loads(path.read_text())
    csp = data.get("csp") or {}
    if "match_rate" not in csp:
        raise ValueError(f"{path} has no csp.match_rate: is it a bench_model.py result?")
    gen = data.get("generation") or {}
    return ModelQuality(match_rate=float(csp["match_rate"]), n_targets=csp.get("n"),
                        steps=csp.get("steps"),
                        structural_validity=gen.get("structural_validity"),
                        compositional_validity=gen.get("compositional_validity"),
                        source=str(path), extra={"weights": data.get("weights")})


def _verdict(rate: float) -> str:
    floor = RANDOM_SEARCH[0]
    first = min(r for r, _ in ANCHORS.values())
    if rate < floor + 0.03:
        return ("about the level of random search: treat every structure in this notebook as a "
                "guess to be checked, not as a prediction")
    if rate < first:
        return "above random search but below the first published diffusion models"
    return "in the range of the published models"


class QualityBox:
    """The box as HTML (Jupyter) and Markdown/plain text (``str``)."""

    def __init__(self, quality: ModelQuality | None, error: str = ""):
        self.quality, self.error = quality, error

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, CSP match rate, note) rows: this model, the floor, the anchors."""
        q = self.quality
        out = []
        if q is not None:
            out.append(("this package's model (measured)", f"{100 * q.match_rate:.1f}%",
                        f"{q.n_targets} MP-20 test structures, {q.steps} steps"))
        out.append(("random search (floor)", f"{100 * RANDOM_SEARCH[0]:.1f}%", RANDOM_SEARCH[1]))
        for name, (rate, ref) in ANCHORS.items():
            out.append((name, f"{100 * rate:.1f}%", ref))
        return out

    def summary(self) -> str:
        q = self.quality
        if q is None:
            return f"The shipped model's benchmark is not available here ({self.error})."
        text = (f"CSP match rate {100 * q.match_rate:.1f}%: {_verdict(q.match_rate)}.")
        if q.structural_validity is not None and q.compositional_validity is not None:
            text += (f" Of its unconditional samples {100 * q.structural_validity:.1f}% are "
                     f"structurally and {100 * q.compositional_validity:.1f}% compositionally "
                     f"valid (cheap checks that random structures pass often too).")
        return text

    def _repr_markdown_(self) -> str:
        lines = ["**How good is this model?** " + self.summary(), "",
                 "| | CSP match rate (MP-20) | source |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td>{escape(a)}</td><td style='text-align:right'>{escape(b)}</td>"
                       f"<td>{escape(c)}</td></tr>" for a, b, c in self.rows())
        return ("<div style='border:2px solid #d9822b;border-radius:6px;padding:8px 12px;"
                "background:#fff8ef;max-width:760px'>"
                f"<b>How good is this model?</b> {escape(self.summary())}"
                "<table style='margin-top:6px'><tr><th></th><th>CSP match rate (MP-20)</th>"
                f"<th>source</th></tr>{rows}</table></div>")

    def __str__(self) -> str:
        return self._repr_markdown_()

    __repr__ = __str__


def quality_box(path: str | Path | None = None) -> QualityBox:
    """The "How good is this model?" box, from ``path`` (default :func:`default_results_path`).

    Missing results give a box that says so (the published anchors are still shown)."""
    try:
        return QualityBox(load_quality(path))
    except (FileNotFoundError, ValueError) as err:
        return QualityBox(None, str(err))
