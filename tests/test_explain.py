"""Explaining one update (the inspector's figures): the per-row terms computed on the host with
NumPy are the kernel's, and the replayed update is the run's own, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gdviz import kernels as K
from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.explain import Replay, buffer_names, row_terms
from gdviz.scenario import load_scenario


def _trained(name: str) -> Engine:
    scenario = load_scenario(name)
    engine = Engine(scenario, build_dataset(scenario))
    engine.run_to_end()
    return engine


@pytest.fixture(scope="module")
def houses() -> Engine:
    return _trained("houses")


@pytest.mark.parametrize(("name", "run", "steps"), [
    ("houses", 0, (1, 2, 17)),  # full batch
    ("houses", 1, (1, 2, 201, 5000)),  # SGD: rows one by one, across epochs
    ("houses", 2, (1, 7, 8, 30)),  # batch 32: the short last batch of an epoch is update 7
    ("cats_vs_dogs", 2, (1, 25)),  # logistic regression
    ("optimizers", 2, (1, 40)),  # Adam
    ("mlp_moons", 2, (1, 3)),  # a 2→16→16→1 tanh network
    ("four_houses", 0, (1, 2, 5, 6)),  # SGD, one house an update
])
def test_the_mean_of_the_per_row_gradients_is_the_kernels_gradient(name, run, steps):
    """float64: the displayed mean of the rows' gradients equals the kernel's to 1e-12."""
    scenario = load_scenario(name)
    dataset = build_dataset(scenario)
    replay = Replay(scenario, dataset, scenario.runs[run])
    for step in steps:
        ex = replay.explain(step)
        assert ex is not None and ex.step == step and replay.step == step
        assert ex.X.dtype == np.float64 and len(ex.rows) == ex.terms.grads.shape[0] >= 1
        np.testing.assert_allclose(ex.grad, ex.kernel_grad, rtol=0, atol=1e-12)
        assert ex.mean_loss == pytest.approx(ex.kernel_loss, rel=1e-12, abs=1e-12)


def test_each_rows_gradient_is_the_kernels_gradient_of_that_row_alone():
    """Independent of the mean: the kernel on a batch of one row gives each row's gradient."""
    for name in ("houses", "cats_vs_dogs", "mlp_moons"):
        scenario = load_scenario(name)
        engine = Engine(scenario, build_dataset(scenario))
        rng = np.random.default_rng(5)
        X, y = engine.data(np.float64)
        theta = engine.init + rng.normal(0, 0.3, engine.p)
        rows = rng.choice(engine.n, 6, replace=False)
        terms = row_terms(engine.model, X[rows], y[rows], theta)
        hpi = engine.runs[0].hpi.copy()
        for i, r in enumerate(rows):
            perm = np.arange(engine.n, dtype=np.int64)
            perm[[0, r]] = perm[[r, 0]]
            loss, g = K.batch_loss_grad(X, y, theta, hpi, 0, perm, 0, 1)
            np.testing.assert_allclose(terms.grads[i], g, rtol=1e-12, atol=1e-13)
            assert terms.loss[i] == pytest.approx(loss, rel=1e-12)


def test_the_replayed_update_is_the_runs_own(houses):
    """The replay's parameters after update s are the engine's recorded point at step s."""
    scenario, dataset = houses.scenario, houses.dataset
    for i in (0, 2):  # every update recorded (stride 1)
        h = houses.runs[i].history
        replay = Replay(scenario, dataset, scenario.runs[i])
        for step in (1, 2, 9, int(h.step[-1])):
            ex = replay.explain(step)
            k = int(np.searchsorted(h.step, step))
            assert h.step[k] == step
            np.testing.assert_array_equal(ex.after, h.params[k])
            np.testing.assert_array_equal(ex.before, h.params[k - 1])
    assert Replay(scenario, dataset, scenario.runs[0]).explain(31) is None  # past its 30 updates


def test_plain_sgd_moves_by_the_learning_rate_times_the_mean_gradient(houses):
    scenario, dataset = houses.scenario, houses.dataset
    replay = Replay(scenario, dataset, scenario.runs[1])
    ex = replay.explain(1)
    assert ex.batch == 1 and ex.lr == 0.1 and ex.optimizer == "sgd" and ex.buffers == ()
    np.testing.assert_array_equal(ex.after, ex.before - ex.lr * ex.kernel_grad)
    np.testing.assert_allclose(ex.after, ex.before - ex.lr * ex.grad, rtol=0, atol=1e-12)
    # the row is the first of epoch 0's order, as the kernel draws it
    assert ex.rows[0] == K.permutation(scenario.runs[1].seed, 0, dataset.n)[0] and ex.position == 0
    nxt = replay.explain_next()
    assert nxt.step == 2 and nxt.position == 1 and np.array_equal(nxt.before, ex.after)


def test_adam_shows_its_moments_before_and_after():
    scenario = load_scenario("optimizers")
    dataset = build_dataset(scenario)
    adam = scenario.runs[2]
    assert adam.train.optimizer == "adam"
    ex = Replay(scenario, dataset, adam).explain(1)
    assert [b[0] for b in ex.buffers] == ["exp_avg", "exp_avg_sq"]
    (_, m0, m1), (_, v0, v1) = ex.buffers
    assert not m0.any() and not v0.any()
    b1, b2 = adam.train.betas
    np.testing.assert_allclose(m1, (1 - b1) * ex.kernel_grad, rtol=1e-12)
    np.testing.assert_allclose(v1, (1 - b2) * ex.kernel_grad**2, rtol=1e-12)
    momentum = scenario.runs[1]
    assert buffer_names(momentum.train.optimizer, momentum.train) == ("momentum_buffer",)


def test_a_fork_is_replayed_from_its_fork_point(houses):
    engine = _trained("houses")
    parent = engine.runs[1]
    fork = engine.fork_run(1, at=300, learning_rate=0.01, epochs=1)
    engine.run_to_end()
    o = fork.origin
    replay = Replay(engine.scenario, engine.dataset, fork.spec, start=parent.history.params[o.point],
                    total_updates=fork.total_updates, step_offset=o.step)  # fmt: skip
    h = fork.history
    for k in (o.point + 1, o.point + 2, len(h) - 1):
        ex = replay.explain(int(h.step[k]))
        assert ex.lr == 0.01
        np.testing.assert_array_equal(ex.after, h.params[k])
    assert dataclasses.replace(fork.spec).name == fork.name
