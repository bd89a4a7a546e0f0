"""Sweeps (issue 11): the cells are the runs, the fit is the fit, B_simple is the noise scale.

The bundled ``sweep_synthetic`` sweep (1,200 cells) is run once per test module; the research
claims it should show are checked on it: the critical batch size of the McCandlish fit and
the gradient noise scale at the target agree within 2x, and below B_crit/2 the best learning
rate grows in proportion to the batch size.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.errors import ScenarioError
from gdviz.kernels import layout as L
from gdviz.scenario import load_scenario, parse_scenario
from gdviz.sweep import runner as sweep_runner
from gdviz.sweep.cells import cell_scenario, cell_trace
from gdviz.sweep.result import DIVERGED, NOT_REACHED, REACHED, fit_mccandlish
from gdviz.sweep.runner import SweepRunner
from hostile import gdviz, only_json

SMALL = """
seed = 3
[data]
source = "linear"
n = 200
d = 3
noise = 0.5
[train]
learning_rate = 0.1
target_loss = 0.3
[sweep]
batch_sizes = [1, 8, 50, "full"]
learning_rates = [0.003, 0.03, 0.3, 3.0]
seeds = 3
max_epochs = 20
[[runs]]
batch_size = 8
"""


def _small(text: str = SMALL) -> tuple[object, object]:
    scenario = parse_scenario(text, "sweep.toml", Path("."))
    return scenario, build_dataset(scenario)


@pytest.fixture(scope="module")
def bundled():
    scenario = load_scenario("sweep_synthetic")
    dataset = build_dataset(scenario)
    runner = SweepRunner(scenario, dataset)
    return scenario, dataset, runner.run_to_end()


@pytest.fixture(scope="module")
def small():
    scenario, dataset = _small()
    runner = SweepRunner(scenario, dataset, slots=5)  # fewer slots than cells: slots are reused
    return scenario, dataset, runner.run_to_end()


# --- every cell is the run it stands for ------------------------------------------------------------
def test_every_cell_equals_the_same_run_trained_alone_bit_for_bit(small):
    scenario, dataset, result = small
    assert len(result.cells) == 4 * 4 * 3
    seen = set()
    for r in result.cells:
        c = r.cell
        one = cell_scenario(scenario, c.b_index, c.lr_index, [c.seed])
        engine = Engine(one, dataset)
        run = engine.runs[0]
        if r.status == REACHED:
            chunk = engine.advance_run(run, r.steps_to_target)
            assert int(chunk.step[-1]) == r.steps_to_target
            np.testing.assert_array_equal(run.params.astype(np.float64), r.params_at_target)
            assert engine.full_loss(run.params[None, :])[0] == r.final_loss <= 0.3
            # and no recorded point before it was at the target
            assert np.all(engine.runs[0].history.full_loss[:-1] > 0.3) if len(engine.runs[0].history) > 1 else True
        elif r.status == DIVERGED:
            engine.run_to_end()
            assert run.diverged_step == r.steps
        else:
            engine.run_to_end()
            assert r.status == NOT_REACHED and r.steps == run.total_updates == 20 * c.updates_per_epoch
            assert engine.full_loss(run.params[None, :])[0] == r.final_loss
        seen.add(r.status)
    assert seen == {REACHED, DIVERGED, NOT_REACHED}  # the grid covers all three outcomes


def test_full_batch_seeds_are_one_run_and_say_so(small):
    _, _, result = small
    full = [r for r in result.cells if r.cell.batch_size is None]
    assert len(full) == 4 * 3
    for r in full:
        assert (r.same_as_seed is None) == (r.cell.seed_index == 0)
        if r.same_as_seed is not None:
            twin = next(t for t in full if t.cell.lr_index == r.cell.lr_index and t.cell.seed_index == 0)
            assert (r.steps_to_target, r.final_loss, r.status) == (twin.steps_to_target, twin.final_loss, twin.status)
    shuffled = [r for r in result.cells if r.cell.batch == 8 and r.status == REACHED]
    assert len({r.steps_to_target for r in shuffled}) > 1  # shuffled cells differ between seeds


def test_steps_to_target_is_within_the_stated_resolution(small):
    """The first recorded point at the target is at most 1/32 of the steps past the true first
    step at the target (checked against the run recorded at every update)."""
    scenario, dataset, result = small
    for r in result.cells:
        if r.status != REACHED or r.cell.seed_index:
            continue
        c = r.cell
        one = cell_scenario(scenario, c.b_index, c.lr_index, [c.seed])
        engine = Engine(one, dataset, max_points=10**6)
        engine.runs[0].state.hpi[0, L.I_STRIDE] = 1  # record every update
        chunk = engine.advance_run(engine.runs[0], r.steps_to_target)
        assert len(chunk.step) == r.steps_to_target
        at = np.flatnonzero(engine.full_loss(chunk.params) <= 0.3)
        true_first = int(chunk.step[at[0]])
        assert true_first <= r.steps_to_target <= true_first * (1 + 1 / 32) + 1


# --- the fit -------------------------------------------------------------------------------------
def test_fit_recovers_the_mccandlish_curve_from_exact_points():
    B = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 1024])
    S = 40.0 + 8000.0 / B
    fit = fit_mccandlish(B, S)
    assert fit is not None and fit.b_crit == pytest.approx(200.0, rel=1e-9)
    assert fit.s_min == pytest.approx(40.0, rel=1e-9) and fit.e_min == pytest.approx(8000.0, rel=1e-9)
    # E/E_min - 1 = B/B_crit and S/S_min - 1 = B_crit/B: their product is 1 at every B
    E = S * B
    np.testing.assert_allclose((S / fit.s_min - 1) * (E / fit.e_min - 1), 1.0, rtol=1e-9)


def test_fit_with_no_scaling_or_perfect_scaling_leaves_b_crit_undefined_and_says_why():
    B = np.array([1, 2, 4, 8])
    flat = fit_mccandlish(B, np.array([10.0, 10.0, 10.0, 10.0]))
    assert flat is not None and flat.b_crit is None and "below the smallest batch" in flat.note
    perfect = fit_mccandlish(B, 800.0 / B)
    assert perfect is not None and perfect.b_crit is None and "above the largest batch" in perfect.note
    assert fit_mccandlish(np.array([4, 4]), np.array([3.0, 5.0])) is None


# --- the bundled sweep tells the research's story -----------------------------------------------------
def test_bundled_sweep_b_crit_and_b_simple_agree_within_2x(bundled):
    _, _, result = bundled
    assert result.fit is not None and result.fit.b_crit is not None
    ratio = result.b_simple_at_target / result.fit.b_crit
    assert 0.5 <= ratio <= 2.0, (result.b_simple_at_target, result.fit.b_crit)


def test_bundled_sweep_best_lr_grows_with_the_batch_below_b_crit(bundled):
    _, _, result = bundled
    below = [b for b in result.best if b.batch <= result.fit.b_crit / 2]
    assert len(below) >= 4
    slope = np.polyfit(np.log([b.batch for b in below]), np.log([b.learning_rate for b in below]), 1)[0]
    assert 0.7 <= slope <= 1.3, slope


def test_bundled_sweep_story_is_the_measured_one(bundled):
    scenario, _, result = bundled
    text = scenario.description
    assert len(result.cells) == 1200
    b_crit, b_simple = round(result.fit.b_crit), round(result.b_simple_at_target)
    best = {b.batch: b for b in result.best}
    for quoted in (f"B_crit ≈ {b_crit}", f"B_simple ≈ {b_simple}", f"{best[1].steps_to_target:.0f} steps",
                   f"{best[1000].steps_to_target:.0f} steps"):
        assert quoted in text, (quoted, text)


def test_bundled_logistic_sweep_story_is_the_measured_one():
    scenario = load_scenario("sweep_cats")
    result = SweepRunner(scenario, build_dataset(scenario)).run_to_end()
    best = {b.batch: b for b in result.best}
    text = scenario.description
    assert len(result.cells) == 600 and best[1].steps_to_target == 80 and best[1000].steps_to_target == 5
    b_crit, b_simple = round(result.fit.b_crit), round(result.b_simple_at_target)
    assert b_simple > 10 * b_crit  # the noise scale does not predict B_crit here, as the description says
    for quoted in (f"B_crit ≈ {b_crit}", f"B_simple ≈ {b_simple}", "from 80 at batch 1 to 5 for the full batch"):
        assert quoted in text, (quoted, text)


def test_b_simple_agrees_with_a_monte_carlo_estimate(bundled):
    """tr(Sigma)/|G|^2 from 10,000 sampled batches of 16 (with replacement) within 5%."""
    scenario, dataset, result = bundled
    engine = Engine(scenario, dataset)
    best = next(b for b in result.best if b.batch == 16)
    cell = next(r for r in result.cells if r.cell.batch == 16 and r.cell.learning_rate == best.learning_rate
                and r.params_at_target is not None)
    theta = cell.params_at_target
    X, y = engine.data(np.float64)
    rng = np.random.default_rng(0)
    G, _ = engine.model.example_gradient_stats(X, y, theta[None, :])
    Xa = np.hstack([X, np.ones((len(X), 1))])
    per_example = 2.0 * (Xa @ theta - y)[:, None] * Xa  # d/dtheta of (x.theta - y)^2
    B, draws = 16, 10_000
    idx = rng.integers(0, len(X), (draws, B))
    g_batches = per_example[idx].mean(axis=1)
    noise = np.mean(np.sum((g_batches - G[0]) ** 2, axis=1))  # E|g_B - G|^2 = tr(Sigma) / B
    mc = B * noise / float(G[0] @ G[0])
    assert engine.b_simple(theta)[0] == pytest.approx(mc, rel=0.05)


def test_cell_trace_gives_b_simple_along_training(bundled):
    scenario, dataset, result = bundled
    best1 = next(b for b in result.best if b.batch == 1)
    j = list(scenario.sweep.learning_rates).index(best1.learning_rate)
    trace = cell_trace(scenario, dataset, 0, j, steps=2 * int(best1.steps_to_target))
    assert trace.full_loss[0] > trace.target_loss and trace.full_loss.min() <= trace.target_loss
    assert trace.b_simple_at_target is not None and np.all(np.isfinite(trace.b_simple))
    # the noise scale grows as the loss falls (|G| shrinks faster than the spread)
    assert trace.b_simple[-1] > 3 * trace.b_simple[0]


def test_b_simple_is_in_every_runs_history_the_table_and_the_json():
    """B_simple at the engine's noise points, full batch included (it does not depend on the
    run's batch); the JSON's last value is the summary's."""
    r = gdviz("run", "houses", "--json")
    assert r.code == 0, r.err
    doc = only_json(r.out)
    scenario = load_scenario("houses")
    engine = Engine(scenario, build_dataset(scenario))
    engine.run_to_end()
    for run, rd in zip(engine.runs, doc["runs"], strict=True):
        h = run.history
        at = np.flatnonzero(~np.isnan(h.b_simple))
        assert len(at) >= 16 and at[0] == 0 and at[-1] == len(h) - 1
        np.testing.assert_allclose(h.b_simple[at], engine.b_simple(h.params[at]), rtol=1e-12)
        assert rd["b_simple"] == pytest.approx(h.b_simple[at[-1]], rel=1e-12)
        assert len(rd["history"]["b_simple"]) == len(rd["history"]["step"])
    r2 = gdviz("run", "houses", "--headless")
    assert "B_simple" in r2.out


# --- no cell at the target; memory; bad input -------------------------------------------------------
def test_no_cell_reaching_the_target_is_a_result_not_an_error():
    scenario, dataset = _small(SMALL.replace("target_loss = 0.3", "target_loss = 0.001"))
    result = SweepRunner(scenario, dataset).run_to_end()
    doc = result.as_dict()
    assert doc["best"] == [] and doc["fit"] is None and doc["b_crit"] is None
    assert doc["note"] == "B_crit undefined: no cell reached the target (the final losses are shown instead)"
    assert all(c["steps_to_target"] is None and (c["final_loss"] is None or c["final_loss"] > 0.001)
               for c in doc["cells"])
    json.dumps(doc, allow_nan=False)


def test_a_sweep_too_large_for_memory_is_refused_before_it_starts(monkeypatch):
    scenario, dataset = _small()
    monkeypatch.setattr(sweep_runner, "_available_bytes", lambda: 10_000)
    with pytest.raises(ScenarioError, match=r"48 cells on n = 200 rows need about .* available"):
        SweepRunner(scenario, dataset)


@pytest.mark.parametrize(("body", "key", "says"), [
    ('batch_sizes = []\nlearning_rates = [0.1]', "sweep.batch_sizes", "non-empty"),
    ('batch_sizes = [8, 4]\nlearning_rates = [0.1]', "sweep.batch_sizes", "not increasing (8 then 4)"),
    ('batch_sizes = ["full", 4]\nlearning_rates = [0.1]', "sweep.batch_sizes", "put it last"),
    ('batch_sizes = [4, 500]\nlearning_rates = [0.1]', "sweep.batch_sizes", "n = 200"),
    ('batch_sizes = [4]\nlearning_rates = [0.1, 0.0]', "sweep.learning_rates", "item 2"),
    ('batch_sizes = [4]\nlearning_rates = [0.3, 0.1]', "sweep.learning_rates", "not increasing"),
    ('batch_sizes = [4]\nlearning_rates = { from = 1.0, to = 0.1, points = 3 }', "sweep.learning_rates", "0 < from < to"),
    ('batch_sizes = [4]\nlearning_rates = { from = 0.1, to = 1.0 }', "sweep.learning_rates", "no points"),
    ('batch_sizes = [4]\nlearning_rates = [0.1]\nseeds = 0', "sweep.seeds", "from 1 to 1000"),
    ('batch_sizes = [4]', "sweep.learning_rates", "missing"),
    ('batch_sizes = [4]\nlearning_rates = [0.1]\nbatch = 3', "sweep.batch", "unknown key"),
    ('batch_sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nlearning_rates = { from = 0.001, to = 1.0, points = 1000 }\n'
     'seeds = 1000', "sweep", "10,000,000 cells"),
])
def test_bad_sweep_tables_exit_2_naming_the_key(tmp_path, body, key, says):
    text = SMALL[: SMALL.index("[sweep]")] + "[sweep]\n" + body + "\n[[runs]]\nbatch_size = 8\n"
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    r = gdviz("sweep", str(path), "--headless")
    assert r.code == 2 and r.out == ""
    assert f"{key}:" in r.err and says in r.err, r.err


def test_a_sweep_needs_a_target_loss(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.replace("target_loss = 0.3\n", ""), encoding="utf-8")
    r = gdviz("sweep", str(path), "--json")
    assert r.code == 2 and r.out == "" and "sweep.target_loss: missing" in r.err


def test_sweeping_a_scenario_without_a_sweep_table_exits_2():
    r = gdviz("sweep", "houses", "--headless")
    assert r.code == 2 and "no [sweep] table" in r.err


# --- the command -----------------------------------------------------------------------------------
def test_sweep_json_is_one_document_with_the_documented_keys(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    r = gdviz("sweep", str(path), "--json")
    assert r.code == 0, r.err
    doc = only_json(r.out)
    assert {"scenario", "sweep", "cells", "best", "fit", "b_simple_at_target", "seconds"} <= set(doc)
    assert doc["sweep"]["batch_sizes"] == [1, 8, 50, "full"] and doc["sweep"]["seeds"] == [3, 4, 5]
    cell = doc["cells"][0]
    assert {"batch_size", "learning_rate", "seed", "steps_to_target", "epochs_to_target", "examples_to_target",
            "final_loss", "diverged"} <= set(cell)
    assert {c["batch_size"] for c in doc["cells"]} == {1, 8, 50, 200}  # "full" is n
    for b in doc["best"]:
        assert b["examples_to_target"] == pytest.approx(b["steps_to_target"] * b["batch_size"])
    fit = doc["fit"]
    assert fit is None or fit["b_crit"] is None or math.isclose(fit["b_crit"], fit["e_min"] / fit["s_min"])
    out = tmp_path / "sweep.json"
    r2 = gdviz("sweep", str(path), "--json-file", str(out))
    assert r2.code == 0 and r2.out == ""
    again = json.loads(out.read_text())
    assert [c["steps_to_target"] for c in again["cells"]] == [c["steps_to_target"] for c in doc["cells"]]


def test_sweep_headless_prints_the_three_parts(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    r = gdviz("sweep", str(path), "--headless")
    assert r.code == 0, r.err
    assert "steps to target loss" in r.out and "best learning rate per batch size" in r.out
    assert "48 cells" in r.out and ("B_crit" in r.out)


def test_sweep_section_shows_in_check_resolved():
    scenario = load_scenario("sweep_synthetic")
    assert scenario.sweep is not None and scenario.sweep.n_cells == 1200
    lrs = scenario.sweep.learning_rates
    assert lrs[0] == 1e-3 and lrs[-1] == 3.0 and len(lrs) == 12
    assert all(b / a == pytest.approx(lrs[1] / lrs[0]) for a, b in zip(lrs, lrs[1:]))  # log-spaced
    r = gdviz("check", "sweep_synthetic")
    assert r.code == 0 and '"max_epochs": 200' in r.out
    assert dataclasses.replace(scenario.sweep.base).learning_rate == lrs[0]


def test_a_sweep_gives_the_same_figures_whatever_the_round_sizes(small, monkeypatch):
    """Rounds follow measured speeds; the figures must not: a sweep with rounds of other sizes
    (a much shorter time per round) gives every cell's figures again."""
    scenario, dataset, whole = small
    runner = SweepRunner(scenario, dataset, slots=3)
    while not runner.done:
        runner.advance(seconds=1e-5)
    again = {r.cell.index: r for r in runner.result().cells}
    for r in whole.cells:
        a = again[r.cell.index]
        assert (a.status, a.steps_to_target, a.steps, a.final_loss) == (r.status, r.steps_to_target, r.steps,
                                                                       r.final_loss)


def test_a_subset_of_cells_gives_the_same_cells_as_the_whole_sweep(small):
    """What a task of a distributed sweep runs: any subset, in any slots, gives its cells' figures."""
    scenario, dataset, whole = small
    by_index = {r.cell.index: r for r in whole.cells}
    subset = sorted(by_index)[5::7]
    part = SweepRunner(scenario, dataset, slots=2, only=subset).run_to_end()
    assert sorted(r.cell.index for r in part.cells) == subset
    for r in part.cells:
        w = by_index[r.cell.index]
        assert (r.status, r.steps_to_target, r.steps, r.final_loss) == (w.status, w.steps_to_target, w.steps, w.final_loss)


def test_a_sweep_refuses_train_settings_that_change_what_a_cell_is(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.replace("target_loss = 0.3\n", "target_loss = 0.3\naccumulate = 2\n"), encoding="utf-8")
    r = gdviz("sweep", str(path), "--json")
    assert r.code == 2 and r.out == "" and "train.accumulate: not with [sweep]" in r.err


def test_a_sweep_says_it_runs_on_the_cpu_when_the_scenario_asks_for_cuda(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.replace("target_loss = 0.3\n", 'target_loss = 0.3\ntarget = "cuda"\n'), encoding="utf-8")
    r = gdviz("sweep", str(path), "--json")
    assert r.code == 0 and "run on the CPU kernels" in r.err and only_json(r.out)["cells_total"] == 48


def test_a_cells_seeds_open_as_one_seed_ensemble(small):
    scenario, _, _ = small
    runs = cell_scenario(scenario, 1, 2).runs  # batch 8, lr 0.3, three seeds
    assert [r.seed for r in runs] == [3, 4, 5] and {r.ensemble for r in runs} == {"B 8, lr 0.3"}
    assert all(r.batch_size == 8 and r.train.learning_rate == 0.3 for r in runs)
    full = cell_scenario(scenario, 3, 2).runs  # the full batch: one run for every seed
    assert len(full) == 1 and full[0].ensemble is None
