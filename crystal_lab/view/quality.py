""""How good is this model?": the shipped model's measured quality beside its floor and the
published anchors, read from the benchmark results so the notebooks never go stale.

The measured numbers come from ``crystal_lab/weights/mp20.quality.json``, package data that
travels beside the weights (written by ``benchmarks/bench_model.py`` together with
``benchmarks/results/model.json``, same schema: the shipped model's CSP match rate on MP-20 test
structures and its generation validity). So an installed copy of the package (a wheel, Binder's
``pip install .``, a ``crystal-lab start`` workspace) shows the same numbers as a source
checkout. Nothing about the model is written here: when the weights and their facts file are
replaced, the box follows. The anchors are published MP-20 CSP match rates
(one sample a target, ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``) from DiffCSP
(Jiao et al. 2023, Table 1) and FlowMM (Miller et al. 2024).

    >>> from crystal_lab.view.quality import quality_box
    >>> quality_box()          # in a notebook: an HTML box       # doctest: +SKIP
    >>> quality_box(symmetry=True)   # + the space-group template rows   # doctest: +SKIP

``benchmarks/collect_symmetry_results.py`` copies the symmetry benchmarks into the facts file's
``symmetry`` entry, with the sampler's default (``"default": "symmetric"`` when
``model.sample`` draws a space-group template unless asked ``space_group=1``). When the default is
symmetric, the box's headline is what a default sample measures (CSP with a retrieved template,
beside the free model on the same targets, the free model's own benchmark, random search,
DiffCSP++ and the other anchors; the triclinic share and prompt hit rates beside their floors).
With a free default the headline is the free model's benchmark and ``symmetry=True`` adds those
rows and sentences.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["ANCHORS", "ANCHORS_TRAINED_ON", "PACKAGE_FILE", "RANDOM_SEARCH", "RETRIEVED_ANCHOR",
           "SYMMETRY_ANCHORS", "ModelQuality", "QualityBox", "default_results_path", "load_quality",
           "quality_box", "quality_facts", "quality_line", "shipped_results"]

#: environment variable naming another facts file (e.g. the ``model.json`` of a new benchmark)
RESULTS_ENV = "CRYSTAL_LAB_BENCHMARK"
#: the shipped model's measured facts, package data next to its weights
PACKAGE_FILE = "weights/mp20.quality.json"
#: published MP-20 CSP match rates (fraction), name -> (rate, reference)
ANCHORS: dict[str, tuple[float, str]] = {
    "CDVAE": (0.339, "Xie et al. 2022, as reported by DiffCSP, arXiv:2309.04475"),
    "DiffCSP": (0.515, "Jiao et al. 2023, arXiv:2309.04475"),
    "FlowMM": (0.614, "Miller et al. 2024, arXiv:2406.04713"),
}
#: what the anchors were trained on (the shipped model's own data is read from its weights record)
ANCHORS_TRAINED_ON = "MP-20 train (27,136 structures)"
#: published MP-20 CSP match rates with space-group templates (DiffCSP++, Jiao et al. ICLR 2024,
#: Table 2), shown beside the shipped model's symmetric rows
SYMMETRY_ANCHORS: dict[str, tuple[float, str]] = {
    "DiffCSP++, retrieved templates": (0.706, "Jiao et al. 2024, arXiv:2402.03992"),
    "DiffCSP++, the true templates": (0.803, "Jiao et al. 2024, arXiv:2402.03992"),
}
#: the anchor beside the default (retrieved templates): DiffCSP++ with retrieved templates
RETRIEVED_ANCHOR = "DiffCSP++, retrieved templates"
#: the random-search floor on MP-20 CSP (DiffCSP's Table 1, "RS")
RANDOM_SEARCH: tuple[float, str] = (0.087, "random search, DiffCSP Table 1, arXiv:2309.04475")


def default_results_path() -> Path:
    """``$CRYSTAL_LAB_BENCHMARK`` if set, else the package's ``weights/mp20.quality.json``."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    return Path(str(resources.files("crystal_lab").joinpath(PACKAGE_FILE)))


@dataclass(frozen=True)
class ModelQuality:
    """The measured numbers of one benchmark file (fractions; ``None`` when not measured)."""

    match_rate: float | None
    n_targets: int | None
    steps: int | None
    structural_validity: float | None = None
    compositional_validity: float | None = None
    source: str = ""
    trained_on: str | None = None
    extra: dict = field(default_factory=dict)
    #: the symmetry benchmarks' summary (``benchmarks/collect_symmetry_results.py``); {} if none
    symmetry: dict = field(default_factory=dict)


def load_quality(path: str | Path | None = None) -> ModelQuality:
    """Read a facts file written by ``benchmarks/bench_model.py`` (``model.json`` schema).

    FileNotFoundError (one line, with the path) when there is none; ValueError when the file has
    no CSP match rate."""
    path = Path(path) if path is not None else default_results_path()
    if not path.exists():
        raise FileNotFoundError(f"no model quality facts at {path}: run "
                                f"benchmarks/bench_model.py or set {RESULTS_ENV}")
    data = json.loads(path.read_text())
    csp = data.get("csp") or {}
    if "match_rate" not in csp:
        raise ValueError(f"{path} has no csp.match_rate: is it a bench_model.py result?")
    gen = data.get("generation") or {}
    return ModelQuality(match_rate=float(csp["match_rate"]), n_targets=csp.get("n"),
                        steps=csp.get("steps"),
                        structural_validity=gen.get("structural_validity"),
                        compositional_validity=gen.get("compositional_validity"),
                        source=str(path), trained_on=data.get("trained_on") or _trained_on(),
                        extra={"weights": data.get("weights"),
                               "sampled_on": csp.get("sampled_on")},
                        symmetry=data.get("symmetry") or {})


def _trained_on() -> str | None:
    """The training data named in the shipped weights' record (``weights/mp20.json``)."""
    record = resources.files("crystal_lab").joinpath("weights/mp20.json")
    try:
        return json.loads(record.read_text()).get("data")
    except (OSError, ValueError):
        return None


def shipped_results(name: str) -> dict:
    """A benchmark result of the shipped model kept as package data, ``weights/mp20.NAME.json``
    (``"quality"``: :func:`load_quality`'s file; ``"conditioning"``: what
    ``benchmarks/bench_conditioning.py`` measured). ValueError naming the available ones."""
    weights = resources.files("crystal_lab").joinpath("weights")
    available = sorted(p.name[len("mp20."):-len(".json")] for p in weights.iterdir()
                       if p.name.startswith("mp20.") and p.name.endswith(".json")
                       and p.name != "mp20.json")
    if name not in available:
        raise ValueError(f"no shipped results {name!r}; available: {', '.join(available)}")
    return json.loads(weights.joinpath(f"mp20.{name}.json").read_text())


def _verdict(rate: float, templated: bool = False) -> str:
    """Where ``rate`` stands between the floor and the anchors; a templated rate (one retrieved
    space-group template a target) beside the published template model, DiffCSP++."""
    floor = RANDOM_SEARCH[0]
    first = min(r for r, _ in ANCHORS.values())
    if rate < floor + 0.03:
        return ("about the level of random search: treat every structure in this notebook as a "
                "guess to be checked, not as a prediction")
    if templated:
        name, anchor = RETRIEVED_ANCHOR, SYMMETRY_ANCHORS[RETRIEVED_ANCHOR][0]
        if rate < anchor:
            return f"above random search but below {name} ({_pct(anchor)})"
        return "in the range of the published template models"
    if rate < first:
        return "above random search but below the first published diffusion models"
    return "in the range of the published models"


def _default_row(q: ModelQuality | None) -> dict:
    """The retrieved-template CSP row when the facts file says the sampler's default is symmetric
    (what a default sample measures), with the benchmark's steps and machine; {} otherwise."""
    sym = q.symmetry if q is not None else {}
    row = (sym.get("csp") or {}).get("retrieved")
    if sym.get("default") != "symmetric" or not row:
        return {}
    return {**row, "steps": sym.get("steps"), "sampled_on": sym.get("sampled_on")}


def _where(row: dict) -> str:
    """ "1000 MP-20 test structures, 50 steps, CPU, 1 thread" from a CSP row."""
    on = f", {row['sampled_on']}" if row.get("sampled_on") else ""
    return f"{row.get('n')} MP-20 test structures, {row.get('steps')} steps{on}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _symmetry_rows(sym: dict, headline: bool = False) -> list[tuple[str, str, str]]:
    """The box's rows for CSP with space-group templates, beside the free model on the same
    targets (from the facts file's ``symmetry`` entry; none when it has none). ``headline``: the
    retrieved row is the box's first row already."""
    csp = sym.get("csp") or {}
    out = []
    retrieved, free = csp.get("retrieved"), csp.get("free") or {}
    if retrieved and not headline:
        note = (f"{retrieved.get('n')} MP-20 test structures, one sample each; the free model "
                f"on the same targets {_pct(free.get('match_rate'))}")
        out.append(("with a retrieved space-group template: its constrained fine-tune (measured)",
                    _pct(retrieved.get("match_rate")), note))
    best = csp.get("best_of_k") or {}
    rows = best.get("rows") or {}
    picked = next((r for name, r in rows.items() if name.startswith("best of")), None)
    if picked:
        top1 = rows.get("top-1 (one sample)") or {}
        note = (f"{best.get('n')} MP-20 test structures; one sample on the top template, same "
                f"targets: {_pct(top1.get('match_rate'))}")
        out.append((f"best of {best.get('k')} templates, screened by CHGNet energy (measured)",
                    _pct(picked.get("match_rate")), note))
    return out


def _symmetry_summary(sym: dict) -> str:
    """One or two sentences on the symmetric mode: triclinic share and prompt hit rates, each
    beside its floor."""
    text = ""
    uncond = sym.get("unconditional") or {}
    free, symm = uncond.get("free") or {}, uncond.get("symmetric") or {}
    if symm:
        val = (uncond.get("val") or {}).get("triclinic")
        raw = (uncond.get("unbalanced") or {}).get("smact")
        raw = "" if raw is None else f"; {_pct(raw)} before the sampler balances the charges"
        text += (f" With space-group templates (the fine-tuned network), "
                 f"{_pct(symm.get('triclinic'))} of {symm.get('n')} unconditional samples are "
                 f"triclinic (free {_pct(free.get('triclinic'))}, MP-20 val {_pct(val)}), "
                 f"{_pct(symm.get('structural'))} structurally and {_pct(symm.get('smact'))} "
                 f"compositionally valid (free {_pct(free.get('structural'))} and "
                 f"{_pct(free.get('smact'))}{raw}).")
    prompts = sym.get("prompts") or {}
    parts = []
    for kind, what in (("crystal_system", "crystal-system"), ("space_group", "space-group")):
        rows = prompts.get(kind) or {}
        if rows.get("symmetric"):
            parts.append(f"{what} prompts give the asked "
                         f"{'system' if kind == 'crystal_system' else 'group'} "
                         f"{_pct(rows['symmetric'].get('hit_rate'))} of the time "
                         f"({rows['symmetric'].get('n')} prompts; the free model unasked "
                         f"{_pct((rows.get('free') or {}).get('hit_rate'))})")
    if parts:
        joined = "; ".join(parts)
        text += f" {joined[0].upper()}{joined[1:]}."
    return text


#: the headline row of a box whose sampler draws a template by default
DEFAULT_LABEL = "the default: a space-group template retrieved from MP-20 val (measured)"


def _default_summary(q: ModelQuality, default: dict) -> str:
    """The headline of a symmetric default: its CSP rate and verdict, the free model's two
    figures, then the unconditional and prompt figures beside their floors."""
    rate, free = default.get("match_rate"), (q.symmetry.get("csp") or {}).get("free") or {}
    on = f", on {q.extra['sampled_on']}" if q.extra.get("sampled_on") else ""
    return (f"By default the model samples with a space-group template retrieved from MP-20 val "
            f"(space group, Wyckoff orbits and their elements): CSP match rate {_pct(rate)} "
            f"({_where(default)}), {_verdict(rate, templated=True)}. The free model "
            f"(space_group=1) matches {_pct(free.get('match_rate'))} of the same targets and "
            f"{_pct(q.match_rate)} in its own benchmark ({q.n_targets} structures, {q.steps} "
            f"steps{on}).{_symmetry_summary(q.symmetry)}")


def _trained_on_sentence(q: ModelQuality) -> str:
    if not q.trained_on:
        return ""
    return f" Trained on {q.trained_on} only; the published models on {ANCHORS_TRAINED_ON}."


class QualityBox:
    """The box as HTML (Jupyter) and Markdown/plain text (``str``)."""

    def __init__(self, quality: ModelQuality | None, error: str = "", symmetry: bool = False):
        self.quality, self.error = quality, error
        #: show the symmetric mode's rows and sentence (from the facts file's ``symmetry`` entry)
        self.symmetry = symmetry

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, CSP match rate, note) rows: the default's rate (with a symmetric default: the
        retrieved template, then the free model on the same targets), the free model's own
        benchmark, the floor, the anchors."""
        q = self.quality
        default = _default_row(q)
        out = []
        if default:
            free = (q.symmetry.get("csp") or {}).get("free") or {}
            out += [(DEFAULT_LABEL, _pct(default.get("match_rate")),
                     f"{_where(default)}, one sample each"),
                    ("the free model (space_group=1) on the same targets (measured)",
                     _pct(free.get("match_rate")), _where({**default, **free}))]
        if q is not None:
            on = q.extra.get("sampled_on")
            out.append(("the free model, its own benchmark (measured)" if default else
                        "this package's model (measured)", _pct(q.match_rate),
                        f"{q.n_targets} MP-20 test structures, {q.steps} steps"
                        + (f", on {on}" if default and on else "")))
        sym = q.symmetry if q is not None and (self.symmetry or default) else {}
        out += _symmetry_rows(sym, headline=bool(default))
        out.append(("random search (floor)", f"{100 * RANDOM_SEARCH[0]:.1f}%", RANDOM_SEARCH[1]))
        anchors = ANCHORS | (SYMMETRY_ANCHORS if sym.get("csp") else {})
        for name, (rate, ref) in anchors.items():
            out.append((name, f"{100 * rate:.1f}%", ref))
        return out

    def summary(self) -> str:
        q = self.quality
        if q is None:
            return f"The shipped model's benchmark is not available here ({self.error})."
        default = _default_row(q)
        if default:
            return _default_summary(q, default) + _trained_on_sentence(q)
        text = (f"CSP match rate {100 * q.match_rate:.1f}%: {_verdict(q.match_rate)}.")
        if q.structural_validity is not None and q.compositional_validity is not None:
            text += (f" Of its unconditional samples {100 * q.structural_validity:.1f}% are "
                     f"structurally and {100 * q.compositional_validity:.1f}% compositionally "
                     f"valid (cheap checks that random structures pass often too).")
        text += _symmetry_summary(q.symmetry) if self.symmetry else ""
        return text + _trained_on_sentence(q)

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


def quality_line(path: str | Path | None = None, symmetry: bool = False) -> str:
    """The box in one sentence, to print beside a model's output: the default's measured CSP
    match rate (with a symmetric default: a retrieved template's, then the free model's on the
    same targets and in its own benchmark), the random-search floor, the first and best published
    anchors (and DiffCSP++) and its training data. With a free default, ``symmetry`` adds the rate
    with a retrieved space-group template beside the free model's on the same targets and
    DiffCSP++'s."""
    try:
        q = load_quality(path)
    except (FileNotFoundError, ValueError) as err:
        return f"The shipped model's benchmark is not available here ({err})."
    low, high = min(ANCHORS.items(), key=lambda kv: kv[1][0]), max(ANCHORS.items(),
                                                                  key=lambda kv: kv[1][0])
    floors = (f"random search {100 * RANDOM_SEARCH[0]:.1f}%, {low[0]} {100 * low[1][0]:.1f}%, "
              f"{high[0]} {100 * high[1][0]:.1f}%")
    csp, default = q.symmetry.get("csp") or {}, _default_row(q)
    if default:
        name, anchor = RETRIEVED_ANCHOR, SYMMETRY_ANCHORS[RETRIEVED_ANCHOR][0]
        text = (f"Measured quality of this model: by default (a space-group template retrieved "
                f"from MP-20 val) CSP match rate {_pct(default.get('match_rate'))} on "
                f"{default.get('n')} MP-20 test crystals at {default.get('steps')} steps (the "
                f"free model, space_group=1, {_pct((csp.get('free') or {}).get('match_rate'))} "
                f"on the same targets and {_pct(q.match_rate)} in its own benchmark; {floors}, "
                f"{name} {_pct(anchor)})")
    else:
        text = (f"Measured quality of this model: CSP match rate {100 * q.match_rate:.1f}% on "
                f"{q.n_targets} MP-20 test crystals ({floors})")
    if symmetry and csp.get("retrieved") and not default:
        r, free = csp["retrieved"], csp.get("free") or {}
        diffcsppp = SYMMETRY_ANCHORS[RETRIEVED_ANCHOR][0]
        text += (f"; with a retrieved space-group template {_pct(r.get('match_rate'))} on "
                 f"{r.get('n')} (free on the same targets {_pct(free.get('match_rate'))}; "
                 f"DiffCSP++ {_pct(diffcsppp)})")
    if q.trained_on:
        text += f"; trained on {q.trained_on} only"
    return text + "."


def quality_facts(path: str | Path | None = None) -> str:
    """The measured facts to show beside a model's output (the Generate widget), in a few short
    sentences: the default's CSP match rate (with a symmetric default, the free model's on the
    same targets beside it), the random-search floor and the training data."""
    try:
        q = load_quality(path)
    except (FileNotFoundError, ValueError) as err:
        return f"The shipped model's benchmark is not available here ({err})."
    default = _default_row(q)
    trained = f" Trained on {q.trained_on} only." if q.trained_on else ""
    if default:
        free = ((q.symmetry.get("csp") or {}).get("free") or {}).get("match_rate")
        head = (f"By default (a space-group template retrieved from MP-20 val) it matches "
                f"{_pct(default.get('match_rate'))} of {default.get('n')} MP-20 test crystals at "
                f"{default.get('steps')} steps; the free model (space group 1) {_pct(free)} of "
                "the same")
    else:
        head = (f"It matches {100 * q.match_rate:.1f}% of {q.n_targets} MP-20 test crystals at "
                f"{q.steps} steps")
    return (f"How good is the shipped model? {head}; random search matches "
            f"{100 * RANDOM_SEARCH[0]:.1f}%.{trained} Each structure is a proposal to check, not "
            "a prediction.")


def quality_box(path: str | Path | None = None, symmetry: bool = False) -> QualityBox:
    """The "How good is this model?" box, from ``path`` (default :func:`default_results_path`).

    Missing results give a box that says so (the published anchors are still shown)."""
    try:
        return QualityBox(load_quality(path), symmetry=symmetry)
    except (FileNotFoundError, ValueError) as err:
        return QualityBox(None, str(err), symmetry=symmetry)
