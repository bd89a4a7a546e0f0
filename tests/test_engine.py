"""The engine: runs advance by chunks, record bounded histories, and measure honestly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gdviz.engine import Engine

THREE_RUNS = """
title = "three"
seed = 3
[data]
source = "linear"
n = 150
d = 3
noise = 0.3
[model]
kind = "{model}"
[train]
epochs = 4
learning_rate = 0.05
optimizer = "{optimizer}"
target_loss = {target}
dtype = "{dtype}"
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
[[runs]]
batch_size = 32
"""

CLASSES = THREE_RUNS.replace('source = "linear"', 'source = "classes"')


def scenario_text(model="linear", optimizer="sgd", target=0.2, dtype="float64"):
    base = THREE_RUNS if model == "linear" else CLASSES
    return base.format(model=model, optimizer=optimizer, target=target, dtype=dtype)


def histories_equal(a: Engine, b: Engine) -> None:
    for ra, rb in zip(a.runs, b.runs, strict=True):
        ha, hb = ra.history, rb.history
        np.testing.assert_array_equal(ha.step, hb.step)
        np.testing.assert_array_equal(ha.params, hb.params)
        np.testing.assert_array_equal(ha.loss, hb.loss)
        np.testing.assert_array_equal(ha.full_loss, hb.full_loss)
        np.testing.assert_array_equal(ra.opt_state, rb.opt_state)


@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunk_sizes_never_change_a_result(engine_factory, model, optimizer, dtype):
    """Advancing by odd, tiny chunks gives the same histories, bit for bit, as the default."""
    text = scenario_text(model, optimizer, dtype=dtype)
    whole = engine_factory(text)
    whole.run_to_end()
    chunked = engine_factory(text)
    sizes = itertools.cycle([1, 7, 3, 50])
    while not chunked.done:
        for run in chunked.runs:
            run.history.append(chunked.advance_run(run, next(sizes)))
    histories_equal(whole, chunked)


def test_every_run_finishes_its_epochs(engine_factory):
    engine = engine_factory(scenario_text())
    engine.run_to_end()
    for run in engine.runs:
        assert run.step == run.total_updates == run.updates_per_epoch * 4
        assert run.history.epoch[-1] == pytest.approx(4.0)
    assert [r.updates_per_epoch for r in engine.runs] == [1, 150, 5]
    assert [r.method for r in engine.runs] == ["full-batch", "stochastic", "mini-batch"]


def test_history_starts_at_the_initial_point(engine_factory):
    engine = engine_factory(scenario_text())
    for run in engine.runs:
        h = run.history
        assert h.step[0] == 0 and h.epoch[0] == 0 and np.isnan(h.loss[0])
        np.testing.assert_array_equal(h.params[0], np.zeros(4))
        assert h.full_loss[0] == pytest.approx(np.mean(engine.dataset.y**2))


def test_history_length_is_bounded(engine_factory):
    """With a small max_points, a long run keeps at most max_points + epochs + 1 points."""
    engine = engine_factory(scenario_text(), max_points=50)
    engine.run_to_end()
    for run in engine.runs:
        assert len(run.history) <= 50 + 4 + 1 + 1
        assert run.history.step[-1] == run.total_updates
    sgd = engine.runs[1]
    assert sgd.stride == 12  # ceil(600 / 50)


def test_full_loss_from_sufficient_statistics_matches_a_direct_pass(engine_factory):
    engine = engine_factory(scenario_text())
    engine.run_to_end()
    X, y = engine.dataset.X, engine.dataset.y
    for run in engine.runs:
        P = run.history.params
        direct = np.mean((X @ P[:, :-1].T + P[:, -1] - y[:, None]) ** 2, axis=0)
        np.testing.assert_allclose(run.history.full_loss, direct, rtol=1e-10)


def test_logistic_full_loss_is_binary_cross_entropy(engine_factory):
    engine = engine_factory(scenario_text("logistic"))
    engine.run_to_end()
    X, y = engine.dataset.X, engine.dataset.y
    P = engine.runs[2].history.params
    z = X @ P[:, :-1].T + P[:, -1]
    bce = np.mean(np.logaddexp(0, z) - y[:, None] * z, axis=0)
    np.testing.assert_allclose(engine.runs[2].history.full_loss, bce, rtol=1e-10)


def test_gradient_noise_is_the_exact_expectation_over_batches(engine_factory):
    """On a tiny dataset, enumerate every batch of size B: the mean squared deviation matches."""
    text = """
[data]
source = "linear"
n = 7
d = 2
[train]
epochs = 1
learning_rate = 0.1
[[runs]]
batch_size = 3
"""
    engine = engine_factory(text)
    X, y = engine.dataset.X, engine.dataset.y
    theta = np.array([0.3, -0.2, 0.1])
    Xa = np.hstack([X, np.ones((7, 1))])
    per_sample = 2 * (Xa @ theta - y)[:, None] * Xa
    g = per_sample.mean(axis=0)
    devs = [np.sum((per_sample[list(c)].mean(axis=0) - g) ** 2) for c in itertools.combinations(range(7), 3)]
    got = engine.gradient_noise(theta[None, :], 3)[0]
    assert got == pytest.approx(np.mean(devs), rel=1e-12)
    assert engine.gradient_noise(theta[None, :], 7)[0] == 0.0


def test_noise_shrinks_as_batches_grow(engine_factory):
    engine = engine_factory(scenario_text())
    engine.run_to_end()
    full, sgd, mini = (s.gradient_noise for s in engine.summaries())
    assert full == 0.0
    assert sgd > mini > 0


def test_epochs_to_target_is_the_first_point_under_target(engine_factory):
    engine = engine_factory(scenario_text(target=0.5))
    engine.run_to_end()
    for s, run in zip(engine.summaries(), engine.runs, strict=True):
        h = run.history
        if s.epochs_to_target is None:
            assert np.all(h.full_loss > 0.5)
        else:
            i = int(np.argmax(h.step == s.updates_to_target))
            assert h.full_loss[i] <= 0.5 and np.all(h.full_loss[:i] > 0.5)
            assert s.epochs_to_target == pytest.approx(s.updates_to_target / run.updates_per_epoch)


def test_a_diverging_run_stops_and_the_others_go_on(engine_factory):
    text = scenario_text() + '\n[[runs]]\nname = "too fast"\nbatch_size = 1\nlearning_rate = 3.0\n'
    engine = engine_factory(text)
    engine.run_to_end()
    fast = engine.runs[3]
    assert fast.diverged_step is not None and 0 < fast.diverged_step < fast.total_updates
    assert fast.history.step[-1] == fast.diverged_step
    assert fast.done
    for run in engine.runs[:3]:
        assert run.diverged_step is None and run.step == run.total_updates
    s = engine.summary(fast)
    assert s.diverged and s.diverged_step == fast.diverged_step


def test_memory_per_step_grows_with_the_batch(engine_factory):
    engine = engine_factory(scenario_text())
    full, sgd, mini = (r.facts.memory_per_step for r in engine.runs)
    assert sgd < mini < full
    # full batch: every row of X (3 features) and y in float64, plus parameters and
    # gradient (plain SGD keeps no momentum buffer)
    assert full == 150 * 4 * 8 + 2 * 4 * 8


def test_memory_per_step_counts_the_optimizers_buffers(engine_factory):
    """Adam keeps two buffers per parameter, SGD without momentum none: their figures differ."""
    sgd = engine_factory(scenario_text()).runs[1].facts.memory_per_step
    adam = engine_factory(scenario_text(optimizer="adam")).runs[1]
    assert adam.spec.train.optimizer == "adam"
    assert adam.facts.memory_per_step - sgd == 2 * 4 * 8


def test_seconds_are_measured_and_monotone(engine_factory):
    engine = engine_factory(scenario_text())
    engine.run_to_end()
    for run in engine.runs:
        assert run.seconds > 0
        assert np.all(np.diff(run.history.seconds) >= 0)
        assert run.history.seconds[-1] == pytest.approx(run.seconds)


def test_full_batch_gd_reaches_the_least_squares_solution(engine_factory):
    text = """
[data]
source = "linear"
n = 200
d = 1
[train]
epochs = 400
learning_rate = 0.3
[[runs]]
batch_size = "full"
"""
    engine = engine_factory(text)
    engine.run_to_end()
    X, y = engine.dataset.X, engine.dataset.y
    sol, *_ = np.linalg.lstsq(np.hstack([X, np.ones((200, 1))]), y, rcond=None)
    np.testing.assert_allclose(engine.runs[0].history.params[-1], sol, rtol=1e-8, atol=1e-10)


def test_houses_teaching_example_in_original_units(engine_factory, tmp_path):
    """Sizes 1000..2500 sq ft priced 200k..500k: the fit is price = 200 * size."""
    csv = tmp_path / "houses.csv"
    csv.write_text("size,price\n1000,200000\n1500,300000\n2000,400000\n2500,500000\n")
    engine = engine_factory(
        """
[data]
source = "csv"
path = "houses.csv"
features = ["size"]
target = "price"
standardize = true
standardize_target = true
[train]
epochs = 300
learning_rate = 0.1
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
"""
    )
    engine.run_to_end()
    for s in engine.summaries():
        w, b = s.final_params_original_units
        assert w == pytest.approx(200.0, rel=1e-6)
        assert b == pytest.approx(0.0, abs=1e-2)


def test_all_runs_of_a_dtype_share_one_state_batch(engine_factory):
    """The runs are rows of one RunBatch, so one kernel call advances them all."""
    engine = engine_factory(scenario_text())
    states = {id(run.state.params.base) for run in engine.runs}
    assert len(states) == 1
    engine.advance()
    assert all(run.step > 0 for run in engine.runs)


def test_advancing_together_equals_advancing_alone(engine_factory):
    """Bit for bit: a run's path does not depend on which runs share its kernel call."""
    together = engine_factory(scenario_text())
    together.run_to_end()
    for i in range(len(together.runs)):
        alone = engine_factory(scenario_text())
        run = alone.runs[i]
        while not run.done:
            run.history.append(alone.advance_run(run, 13))
        np.testing.assert_array_equal(run.history.params, together.runs[i].history.params)
        np.testing.assert_array_equal(run.history.step, together.runs[i].history.step)


def test_many_runs_share_a_budget_of_recorded_points(engine_factory):
    """Twelve runs record at most POINTS_BUDGET / 12 points each (plus epoch ends), never fewer
    than MIN_POINTS; three runs keep MAX_POINTS each."""
    from gdviz import engine as E

    three = engine_factory(scenario_text())
    assert three.max_points == E.MAX_POINTS
    runs = "\n".join(f"[[runs]]\nbatch_size = {b}\nseed = {s}" for s in range(4) for b in (1, 8, '"full"'))
    text = scenario_text().split("[[runs]]")[0] + runs
    many = engine_factory(text)
    assert len(many.runs) == 12
    assert many.max_points == max(E.MIN_POINTS, E.POINTS_BUDGET // 12)
    assert many.noise_points == max(E.MIN_NOISE_POINTS, E.NOISE_BUDGET // 12)


def test_a_full_batchs_first_call_shares_its_fixed_cost_over_many_updates(engine_factory):
    """Issue 13: a run's first call (its speed not yet known) did one epoch, so a full batch's
    first point carried the call's whole fixed cost. It now does up to 256 updates, about
    FIRST_CHUNK_ROWS rows, so a small full batch's first call does many updates."""
    engine = engine_factory('[data]\nsource = "houses"\n[train]\nepochs = 30\nlearning_rate = 0.1\n'
                         '[[runs]]\nbatch_size = "full"\n[[runs]]\nbatch_size = 1\n')
    full, sgd = engine.runs
    assert engine._first_chunk(full) == 256 and engine._first_chunk(sgd) == 256
    engine.advance()
    assert full.step == 30  # all its 30 updates in one call, not one
