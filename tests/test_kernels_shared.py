"""Runs of one sample order share each row's visit (kernels/shared.py) and still go, bit for bit,
as each would alone: every array of the state, every history point, whatever the chunking,
threads, stops and divergences."""

import numpy as np
import pytest

from gdviz.kernels import RunBatch, advance_batch, new_state, set_run
from gdviz.kernels import layout as L
from gdviz.kernels import shared as S
from kernel_setup import OPTS_ONE_EACH, make_data
from test_kernels_batch import settings

N, D = 41, 3


def sweep(model, dtype, B, n=N, runs=6, seed=0, **common):
    """``runs`` runs of batch ``B`` and one seed: optimizers, lr, schedule and stride differ."""
    X, y = make_data(seed, n, D, model, dtype)
    state = new_state(runs, n, D + 1, dtype)
    rng = np.random.default_rng(seed)
    for r in range(runs):
        opt = OPTS_ONE_EACH[r % len(OPTS_ONE_EACH)]
        kw = dict(batch=B, seed=11, shuffle=1, stride=1 + r % 3) | common
        if r % 2:
            kw |= dict(schedule="step", gamma=0.7, step_size=1)
        set_run(state, r, model=model, fit_intercept=1, params=0.2 * rng.standard_normal(D + 1),
                **settings(opt, 0.01 * (1 + r), **kw))
    return X, y, state


def copies(state):
    return [RunBatch.stack([state.row(r)]) for r in range(state.R)]


def assert_same(state, r, single, got, one):
    for name in RunBatch._fields:
        np.testing.assert_array_equal(getattr(state, name)[r], getattr(single, name)[0], err_msg=name)
    k = int(got.n_points[r])
    assert got.n_done[r] == one.n_done[0] and k == one.n_points[0]
    np.testing.assert_array_equal(got.step[r, :k], one.step[0, :k])
    np.testing.assert_array_equal(got.params[r, :k], one.params[0, :k])
    np.testing.assert_array_equal(got.loss[r, :k], one.loss[0, :k])


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B", [1, 6, N])
def test_a_shared_order_group_gives_each_run_as_alone(B, dtype, model, parallel):
    X, y, state = sweep(model, dtype, B)
    lanes, _ = S.shared_blocks(state, np.ones(state.R, np.int64), N, 2)
    assert sorted(lanes.tolist()) == list(range(state.R))  # the fast path does take them
    singles = copies(state)
    todo = np.array([90, 90, 55, 90, 3, 120])  # runs stop at different places
    for chunk in (todo // 2, todo - todo // 2):  # and continue from there
        got = advance_batch(X, y, state, chunk, parallel=parallel)
        for r, single in enumerate(singles):
            one = advance_batch(X, y, single, int(chunk[r]))
            assert_same(state, r, single, got, one)
    assert len({state.params[r].tobytes() for r in range(state.R)}) == state.R


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_large_full_batch_group_sums_in_chunks_as_one_run_does(dtype):
    """At n >= FULL_PARALLEL_MIN_ROWS one run's full batch is summed in fixed chunks; the
    group's lanes follow the same chunks."""
    n = S.FULL_PARALLEL_MIN_ROWS + 1234
    X, y, state = sweep("linear", dtype, n, n=n, runs=3)
    singles = copies(state)
    got = advance_batch(X, y, state, 3, parallel=True)
    for r, single in enumerate(singles):
        assert_same(state, r, single, got, advance_batch(X, y, single, 3))


def test_a_diverging_lane_stops_alone_and_the_others_go_on():
    X, y, state = sweep("linear", np.float64, 4, runs=4)
    set_run(state, 2, model="linear", optimizer="sgd", fit_intercept=1, learning_rate=50.0, blowup=1e3, batch=4, seed=11,
            shuffle=1, stride=5, params=np.zeros(D + 1))
    singles = copies(state)
    got = advance_batch(X, y, state, 60)
    assert state.istate[2, L.S_DIVERGED] > 0 and got.n_done[2] < 60
    assert (np.delete(got.n_done, 2) == 60).all()
    for r, single in enumerate(singles):
        assert_same(state, r, single, got, advance_batch(X, y, single, 60))


def test_a_small_history_capacity_stops_each_lane_when_its_points_run_out():
    X, y, state = sweep("logistic", np.float32, 5)
    singles = copies(state)
    got = advance_batch(X, y, state, 40, cap=4)
    assert (got.n_points <= 4).all() and got.n_done.min() < 40
    for r, single in enumerate(singles):
        assert_same(state, r, single, got, advance_batch(X, y, single, 40, cap=4))


def test_only_runs_of_one_order_are_grouped():
    X, y, state = sweep("linear", np.float64, 6, runs=8)
    state.hpi[1, L.I_SEED] = 12  # another shuffle
    state.hpi[2, L.I_BATCH] = 5  # another batch size
    state.istate[3, L.S_DIVERGED] = 7  # stopped
    state.hpi[4, L.I_DROP_LAST] = 1
    state.hpi[7, L.I_ACCUMULATE] = 2  # an update of two micro-batches: left to the epoch loop
    todo = np.ones(8, np.int64)
    todo[5] = 0  # nothing to do
    state.hpi[0, L.I_ACCUMULATE] = 1
    lanes, starts = S.shared_blocks(state, todo, N, 1)
    assert lanes.tolist() == [0, 6] and starts.tolist() == [0, 2]
    state.hpi[7, L.I_ACCUMULATE] = 1
    assert S.shared_blocks(state, todo, N, 1)[0].tolist() == [0, 6, 7]
    state.hpi[:, L.I_SHUFFLE] = 0  # data order: the seed no longer matters
    state.istate[3, L.S_DIVERGED] = -1
    assert sorted(S.shared_blocks(state, todo, N, 1)[0].tolist()) == [0, 1, 3, 6, 7]
    full = sweep("linear", np.float64, N, runs=3)[2]
    full.hpi[1, L.I_SEED] = 99  # a full batch has no order: any seed, shuffled or not
    full.hpi[2, L.I_SHUFFLE] = 0
    assert sorted(S.shared_blocks(full, np.ones(3, np.int64), N, 1)[0].tolist()) == [0, 1, 2]


def test_accumulating_runs_of_one_order_give_each_run_as_alone():
    """Gradient accumulation keeps runs out of the shared path: the batch still gives each
    run as alone."""
    X, y, state = sweep("linear", np.float64, 4, runs=4, accumulate=3)
    assert S.shared_blocks(state, np.ones(4, np.int64), N, 1)[0].size == 0
    singles = copies(state)
    got = advance_batch(X, y, state, 20, parallel=True)
    for r, single in enumerate(singles):
        assert_same(state, r, single, got, advance_batch(X, y, single, 20))


def test_a_large_group_is_split_into_blocks_of_at_most_lanes_max():
    X, y, state = sweep("linear", np.float64, 6, runs=S.LANES_MAX + 10)
    lanes, starts = S.shared_blocks(state, np.ones(state.R, np.int64), N, 2)
    sizes = np.diff(starts)
    assert sizes.sum() == state.R and sizes.max() <= S.LANES_MAX and len(sizes) >= 2
