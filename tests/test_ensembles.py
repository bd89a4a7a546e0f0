"""Seed ensembles (issue 11): ``seeds = k`` trains k copies of a run, reported as one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.ensembles import ensembles, spread
from gdviz.scenario import parse_scenario
from hostile import gdviz, only_json

TEXT = """
seed = 7
[data]
source = "houses"
standardize_target = true
[train]
epochs = 6
learning_rate = 0.1
target_loss = 0.14
seeds = 5
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
[[runs]]
batch_size = 32
seeds = 1
[[runs]]
batch_size = 16
shuffle = false
"""


def _scenario(text: str = TEXT):
    return parse_scenario(text, "ens.toml", Path("."))


def test_seeds_expand_into_runs_with_consecutive_seeds_and_one_run_where_seeds_cannot_differ():
    s = _scenario()
    names = [r.name for r in s.runs]
    assert names == ["full-batch", *[f"stochastic · seed {7 + j}" for j in range(5)], "mini-batch 32", "mini-batch 16"]
    assert [r.seed for r in s.runs[1:6]] == [7, 8, 9, 10, 11]
    assert {r.ensemble for r in s.runs[1:6]} == {"stochastic"}
    assert s.runs[0].ensemble == "full-batch" and "full batch is never shuffled" in s.runs[0].ensemble_note
    assert s.runs[7].ensemble == "mini-batch 16" and "shuffle = false" in s.runs[7].ensemble_note
    assert s.runs[6].ensemble is None  # seeds = 1: a lone run


def test_each_member_is_the_run_with_its_seed_trained_alone():
    s = _scenario()
    ds = build_dataset(s)
    engine = Engine(s, ds)
    engine.run_to_end()
    alone = _scenario(TEXT.replace("seeds = 5\n", "").replace("seed = 7", "seed = 9"))
    e2 = Engine(alone, ds)
    e2.run_to_end()
    np.testing.assert_array_equal(engine.runs[3].params, e2.runs[1].params)  # stochastic, seed 9


def test_spread_is_median_and_10_90_percentiles_with_unreached_seeds_as_infinitely_late():
    sp = spread([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (sp.median, sp.reached, sp.total) == (3.0, 5, 5)
    assert sp.p10 == pytest.approx(np.percentile([1, 2, 3, 4, 5], 10))
    assert sp.p90 == pytest.approx(np.percentile([1, 2, 3, 4, 5], 90))
    assert sp.text() == "3 [1.4–4.6]"
    late = spread([1.0, 2.0, None, None, 3.0])
    assert late.median == 3.0 and math.isinf(late.p90) and late.reached == 3
    assert late.text() == "3 [1.4–not reached], 3/5 reached"
    never = spread([None, None])
    assert never.text() == "not reached" and math.isinf(never.median)
    assert spread([None, None, None, 1.0]).text().startswith("not reached [")


def test_headless_shows_one_row_per_ensemble_and_json_lists_members_and_spreads(tmp_path):
    path = tmp_path / "ens.toml"
    path.write_text(TEXT, encoding="utf-8")
    r = gdviz("run", str(path), "--headless")
    assert r.code == 0, r.err
    assert "stochastic (5 seeds)" in r.out and "· seed 8" not in r.out
    assert "full-batch (1 run)" in r.out
    j = gdviz("run", str(path), "--json")
    doc = only_json(j.out)
    assert [run["seed"] for run in doc["runs"] if run["ensemble"] == "stochastic"] == [7, 8, 9, 10, 11]
    ens = {e["name"]: e for e in doc["ensembles"]}
    sgd = ens["stochastic"]
    assert len(sgd["runs"]) == 5 and sgd["epochs_to_target"]["seeds"] == 5
    member = [run["epochs_to_target"] for run in doc["runs"] if run["ensemble"] == "stochastic"]
    reached = [m for m in member if m is not None]
    assert sgd["epochs_to_target"]["reached"] == len(reached)
    if len(reached) == 5:
        assert sgd["epochs_to_target"]["median"] == pytest.approx(float(np.median(reached)))
    assert ens["full-batch"]["note"].startswith("5 seeds are one run")


def test_ensembles_of_a_scenario_without_seeds_is_empty():
    s = _scenario(TEXT.replace("seeds = 5\n", ""))
    engine = Engine(s, build_dataset(s))
    assert ensembles([run.spec for run in engine.runs], engine.summaries()) == []


def test_seeds_out_of_range_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TEXT.replace("seeds = 5", "seeds = 0"), encoding="utf-8")
    r = gdviz("run", str(path), "--headless")
    assert r.code == 2 and "train.seeds: got 0, expected an integer from 1 to 100" in r.err
