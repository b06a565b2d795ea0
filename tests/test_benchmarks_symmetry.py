"""The symmetry benchmarks' bookkeeping (no model runs here): resumable chunks, the rows they
aggregate into, the prompts they draw, the CHGNet pick, and the quality box that shows their
summary (copied from benchmarks/results by benchmarks/collect_symmetry_results.py)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import _symbench


def test_distribution_and_total_variation():
    dist = _symbench.distribution(["cubic", "cubic", None, "monoclinic"])
    assert dist["cubic"] == 0.5 and dist["triclinic"] == 0.25 and dist["monoclinic"] == 0.25
    assert sum(dist.values()) == pytest.approx(1.0)
    assert _symbench.total_variation(dist, dist) == 0.0
    assert _symbench.total_variation(dist, {"cubic": 1.0}) == pytest.approx(0.5)


def test_round_robin_resumes_alternates_and_stops(tmp_path):
    calls = []

    def maker(name):
        def make(k):
            calls.append((name, k))
            return [{"k": k}], None
        return make

    a, b = _symbench.ChunkStore("a", 50, tmp_path), _symbench.ChunkStore("b", 50, tmp_path)
    a.save(0, [{"k": 0}], 1.0)            # a run stopped after a's first chunk
    parts = {"a": (a, 3, maker("a")), "b": (b, 2, maker("b"))}
    _symbench.run_round_robin(parts, None, lambda: None)
    assert calls == [("a", 1), ("b", 0), ("a", 2), ("b", 1)]
    assert [c["chunk"] for c in a.chunks()] == [0, 1, 2] and len(b.chunks()) == 2
    c = _symbench.ChunkStore("c", 50, tmp_path)
    _symbench.run_round_robin({"c": (c, 2, maker("c"))}, time.time() - 1, lambda: None)
    assert c.chunks() == [] and ("c", 0) not in calls
    # a hole ends the prefix: chunk 2 without chunk 1 is not counted
    d = _symbench.ChunkStore("d", 50, tmp_path)
    d.save(0, [], 0.0)
    d.save(2, [], 0.0)
    assert len(d.chunks()) == 1
    # other steps, another store: a 100-step run never reads the 50-step chunks
    assert _symbench.ChunkStore("a", 100, tmp_path).chunks() == []


def test_csp_row_counts_refused_and_unmatched_as_misses():
    from bench_symmetry_large import csp_row

    recs = [{"i": 0, "matched": True, "rms": 0.1, "compared": True, "group": 225,
             "target_group": 225, "template_group": 225, "template_hit": True,
             "right_group": True, "right_template": True},
            {"i": 1, "matched": True, "rms": 0.3, "compared": True, "group": 1,
             "target_group": 12, "template_group": 12, "template_hit": False,
             "right_group": True, "right_template": False},
            {"i": 2, "matched": False, "rms": None, "compared": False, "group": None,
             "target_group": 62},
            {"i": 3, "refused": True}]
    row = csp_row([{"seconds": 4.0, "command": "x", "records": recs}])
    assert row["n"] == 4 and row["n_refused"] == 1 and row["match_rate"] == 0.5
    assert row["rms_dist"] == pytest.approx(0.2) and row["n_not_compared"] == 1
    assert row["same_space_group"] == pytest.approx(1 / 3) and row["n_with_template"] == 2
    assert row["right_template"] == 0.5 and row["template_group_at_0.1"] == 0.5


def test_group_prompts_are_distinct_groups_and_reproducible():
    from bench_symmetry_prompts import group_prompts, row

    df = pd.DataFrame({"pretty_formula": ["NaCl", "KBr", "CsCl", "ZnO", "TiO2", "MgO"],
                       "num_atoms": [2, 2, 2, 4, 6, 2],
                       "spacegroup.number": [225, 225, 221, 186, 136, 225]})
    pairs = group_prompts(df, 3, seed=1)
    assert len(pairs) == 3 and len({g for _, _, g in pairs}) == 3
    assert pairs == group_prompts(df, 3, seed=1)
    assert all(df[(df.pretty_formula == f) & (df["spacegroup.number"] == g)].shape[0] == 1
               for f, _, g in pairs)
    recs = [{"asked": 225, "refused": False, "hit": True, "structural": True, "smact": True},
            {"asked": 221, "refused": True, "hit": False}]
    r = row([{"seconds": 1.0, "command": "x", "records": recs}])
    assert r["hit_rate"] == 0.5 and r["hit_rate_served"] == 1.0 and r["refused"] == 0.5


def test_best_of_k_picks_the_lowest_energy_else_the_top_template():
    from bench_csp_best_of_k import pick

    assert pick([{"energy": -3.0}, {"energy": -4.5}, {"energy": None}]) == 1
    assert pick([{"energy": None}, {"energy": None}]) == 0


def _facts(tmp_path, symmetry):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"csp": {"match_rate": 0.25, "n": 1000, "steps": 50},
                                "symmetry": symmetry}))
    return path


def test_quality_box_shows_the_symmetric_rows_beside_their_floors(tmp_path):
    from crystal_lab.view.quality import quality_box, quality_line

    sym = {"csp": {"free": {"n": 400, "match_rate": 0.26},
                   "retrieved": {"n": 400, "match_rate": 0.3125},
                   "best_of_k": {"n": 60, "k": 5,
                                 "rows": {"top-1 (one sample)": {"match_rate": 0.3},
                                          "best of 5 by CHGNet energy": {"match_rate": 0.35}}}},
           "unconditional": {"free": {"n": 500, "triclinic": 0.7, "structural": 0.99,
                                      "smact": 0.81},
                             "symmetric": {"n": 500, "triclinic": 0.09, "structural": 0.95,
                                           "smact": 0.73},
                             "val": {"triclinic": 0.04}},
           "prompts": {"crystal_system": {"symmetric": {"n": 210, "hit_rate": 0.93},
                                          "free": {"n": 210, "hit_rate": 0.2}},
                       "space_group": {"symmetric": {"n": 50, "hit_rate": 0.88},
                                       "free": {"n": 50, "hit_rate": 0.04}}}}
    text = str(quality_box(_facts(tmp_path, sym), symmetry=True))
    for figure in ("31.2%", "26.0%", "35.0%", "30.0%", "9.0%", "70.0%", "4.0%", "93.0%", "73.0%",
                   "20.0%", "88.0%", "70.6%", "80.3%", "400 MP-20", "210 prompts"):
        assert figure in text, figure
    for plain in (str(quality_box(_facts(tmp_path, {}), symmetry=True)),
                  str(quality_box(_facts(tmp_path, sym)))):     # off unless asked
        assert "70.6%" not in plain and "template" not in plain and "25.0%" in plain
    line = quality_line(_facts(tmp_path, sym), symmetry=True)
    assert "31.2% on 400" in line and "26.0%" in line and "70.6%" in line
    assert len(line.splitlines()) == 1 and "31.2%" not in quality_line(_facts(tmp_path, sym))


def test_a_symmetric_default_heads_the_box_with_its_own_figures(tmp_path):
    """When the sampler draws a template by default, what a student reads first is that mode's
    rate, with the free model's two figures, the floor, DiffCSP++ and the training data beside."""
    from crystal_lab.view.quality import quality_box, quality_facts, quality_line

    sym = {"default": "symmetric", "steps": 50, "sampled_on": "CPU, 1 thread",
           "csp": {"free": {"n": 400, "match_rate": 0.26},
                   "retrieved": {"n": 400, "match_rate": 0.3125}},
           "unconditional": {"free": {"n": 500, "triclinic": 0.7},
                             "symmetric": {"n": 500, "triclinic": 0.09}}}
    box = quality_box(_facts(tmp_path, sym))               # no symmetry=True needed
    first, free, own = box.rows()[:3]
    assert first[1] == "31.2%" and "template" in first[0] and "400 MP-20" in first[2]
    assert "CPU" in first[2] and free[1] == "26.0%" and "space_group=1" in free[0]
    assert own[1] == "25.0%" and "free model" in own[0]
    text = str(box)
    for figure in ("8.7%", "70.6%", "80.3%", "51.5%", "9.0%", "70.0%", "MP-20 val"):
        assert figure in text, figure
    assert text.index("31.2%") < text.index("26.0%") < text.index("25.0%")
    for line in (quality_line(_facts(tmp_path, sym)), quality_facts(_facts(tmp_path, sym))):
        assert line.index("31.2%") < line.index("26.0%") and "8.7%" in line
        assert "space group" in line.replace("_", " ") and "MP-20 val" in line
        assert len(line.splitlines()) == 1
    free_default = {**sym, "default": "free"}                # the free model's benchmark first
    assert quality_box(_facts(tmp_path, free_default)).rows()[0][1] == "25.0%"
    assert "31.2%" not in quality_facts(_facts(tmp_path, free_default))


def test_the_shipped_facts_name_the_sampler_default():
    from crystal_lab.model import sampler

    shipped = json.loads((REPO / "crystal_lab" / "weights" / "mp20.quality.json").read_text())
    assert shipped["symmetry"]["default"] == ("symmetric" if sampler.SYMMETRIC_BY_DEFAULT
                                              else "free")


def test_shipped_symmetry_facts_are_the_benchmark_results():
    """The quality box's symmetric numbers are copied from benchmarks/results, not typed in."""
    import collect_symmetry_results

    shipped = json.loads((REPO / "crystal_lab" / "weights" / "mp20.quality.json").read_text())
    assert shipped.get("symmetry") == collect_symmetry_results.summary()


def test_readme_and_model_card_tables_are_the_benchmark_results():
    """The symmetry tables of README.md and the model card are collect_symmetry_results.py's
    output from benchmarks/results (rewritten by --docs), and the model table's rows too."""
    import collect_symmetry_results as c

    sym = c.summary()
    tables = c.markdown(sym)
    for path in c.DOCS:
        text = path.read_text()
        block = text.split(c.START, 1)[1].split(c.END, 1)[0]
        assert block.strip() == tables.strip(), path.name
    readme = c.DOCS[0].read_text()
    assert all(row in readme for row in c.model_table_rows(sym))


def test_heldout_tuning_targets_avoid_the_headline_targets():
    """bench_heldout.py's tuning targets: MP-20 test crystals none of which is among the 1,000 that
    measure the headline rows, the same ones every time, and no more than are held out."""
    import bench_heldout
    import numpy as np

    from crystal_lab.datasets import load_dataset

    tuning = bench_heldout.tuning_targets(200)
    key = lambda a: (a.get_chemical_formula(), *np.round(a.cell.cellpar(), 4))
    headline = {key(a) for a in load_dataset("mp_20", "test", limit=1000, seed=0)}
    assert len(tuning) == 200 and not any(key(a) in headline for a in tuning)
    assert [key(a) for a in bench_heldout.tuning_targets(200)] == [key(a) for a in tuning]
    with pytest.raises(ValueError, match="held out"):
        bench_heldout.tuning_targets(10**6)


def test_bench_heldout_fits_the_curve_to_an_oracle_run(tmp_path, monkeypatch):
    """``bench_heldout.py --fit``: the curve from an oracle run's matches and its targets' free
    coordinates; a run of retrieved templates is refused."""
    import bench_heldout

    from crystal_lab.symmetry.reliability import fit, free_coordinates
    from crystal_lab.symmetry.templates import template_of

    targets = bench_heldout.tuning_targets(30)
    free = [free_coordinates(template_of(t).canonical()) for t in targets]
    matched = [f <= 2 for f in free]
    monkeypatch.setattr(bench_heldout, "RESULTS", tmp_path)
    for mode in ("oracle", "retrieved"):
        (tmp_path / f"{mode}.json").write_text(json.dumps({"mode": mode, "n": 30,
                                                           "matched": matched}))
    out = tmp_path / "curve.json"
    curve = bench_heldout.fit_reliability("oracle", out)
    assert json.loads(out.read_text()) == curve
    assert curve == {**curve, **fit(free, matched)} and curve["slope"] > 0
    with pytest.raises(SystemExit, match="oracle"):
        bench_heldout.fit_reliability("retrieved", tmp_path / "no.json")
