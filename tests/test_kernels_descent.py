"""The epoch loop: order of samples, epochs, history, resumability and divergence."""

import math

import numpy as np
import pytest

import naive
from gdviz.kernels import advance_batch, permutation
from gdviz.kernels import layout as L
from gdviz.runfacts import updates_per_epoch
from kernel_setup import OPT_BY_NAME, OPTS_ONE_EACH, Run, hyper, make_data

SGD = OPT_BY_NAME["sgd"]


def run_and_reference(opt, model, dtype, n, d, B, n_updates, lr=0.05, **kw):
    X, y = make_data(n * 13 + B, n, d, model, dtype)
    hpf, hpi = hyper(opt, lr, model=model, B=B, seed=n + B, **kw)
    run = Run(X, y, hpf, hpi, opt)
    got = run.advance(n_updates)
    shuffle, seed = kw.get("shuffle", 1), n + B
    ref = naive.descend(
        X, y, np.zeros(d + 1), opt.naive(lr), model, True, B, n_updates,
        order=(lambda e: permutation(seed, e, n)) if shuffle else (lambda e: np.arange(n)),
        drop_last=bool(kw.get("drop_last", 0)), stride=kw.get("stride", 1), blowup=kw.get("blowup", math.inf),
    )
    return run, got, ref


@pytest.mark.parametrize(
    "n,B", [(1, 1), (20, 1), (20, 7), (20, 20), (1000, 7), (1000, 64), (3000, 3000), (3000, 1)]
)
def test_updates_per_epoch(n, B):
    assert updates_per_epoch(n, B, False) == math.ceil(n / B)
    assert updates_per_epoch(n, B, True) == n // B


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("opt", OPTS_ONE_EACH, ids=str)
@pytest.mark.parametrize("n,B", [(1, 1), (50, 1), (50, 7), (50, 50), (2000, 64)])
def test_one_epoch_with_its_permutation_matches_reference(n, B, opt, model, dtype):
    run, got, ref = run_and_reference(opt, model, dtype, n, 3, B, updates_per_epoch(n, B, False), stride=10**9)
    assert run.istate[L.S_EPOCH] == 1 and run.istate[L.S_POS] == 0
    # a full batch has no sample order: never shuffled
    np.testing.assert_array_equal(run.perm, np.arange(n) if B >= n else permutation(n + B, 0, n))
    np.testing.assert_allclose(run.params, ref.params[-1], **naive.tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("opt", OPTS_ONE_EACH, ids=str)
def test_chunked_advance_is_bit_identical_to_one_call(opt, model, dtype):
    """Chunks of 0, 1 and odd sizes, crossing epoch ends, with a stride and a schedule."""
    X, y = make_data(5, 23, 2, model, dtype)
    hpf, hpi = hyper(opt, 0.05, model=model, B=5, seed=9, stride=3, schedule=L.SCHED_COSINE, t_max=4.0)
    whole, parts = Run(X, y, hpf, hpi, opt), Run(X, y, hpf, hpi, opt)
    one = whole.advance(61)
    chunks = [0, 1, 1, 4, 0, 9, 5, 2, 13, 1, 25]
    pieces = [parts.advance(k) for k in chunks]
    assert sum(c["n_done"] for c in pieces) == one["n_done"] == 61
    for key in ("step", "params", "loss"):
        np.testing.assert_array_equal(np.concatenate([c[key] for c in pieces]), one[key])
    for a, b in zip(whole.state(), parts.state()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_without_shuffle_samples_come_in_data_order(dtype):
    run, got, ref = run_and_reference(OPT_BY_NAME["sgd-momentum"], "linear", dtype, 30, 2, 4, 20, shuffle=0)
    np.testing.assert_array_equal(run.perm, np.arange(30))
    np.testing.assert_allclose(got["params"], np.array(ref.params), **naive.tol(dtype))


@pytest.mark.parametrize("n,B", [(10, 3), (50, 7), (7, 7)])
def test_drop_last_skips_the_short_batch(n, B):
    upe = updates_per_epoch(n, B, True)
    run, got, ref = run_and_reference(SGD, "linear", np.float64, n, 2, B, 3 * upe, drop_last=1)
    assert run.istate[L.S_EPOCH] == 3 and run.istate[L.S_POS] == 0
    np.testing.assert_allclose(run.params, ref.params[-1], **naive.tol(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("stride", [1, 4, 1000])
def test_history_points_match_reference(stride, model, dtype):
    """Points every `stride` updates and at epoch ends: step, params, mean loss; the losses
    since the last point wait in the running window."""
    run, got, ref = run_and_reference(OPT_BY_NAME["adam"], model, dtype, 17, 3, 5, 41, stride=stride)
    np.testing.assert_array_equal(got["step"], ref.rec_step)
    np.testing.assert_allclose(got["params"], np.array(ref.rec_params), **naive.tol(dtype))
    np.testing.assert_allclose(got["loss"], ref.rec_loss, **naive.tol(dtype))
    pending = ref.loss[ref.rec_step[-1]:]
    assert run.istate[L.S_WINDOW] == len(pending)
    np.testing.assert_allclose(run.fstate[L.A_LOSS_SUM], sum(pending), **naive.tol(dtype))


def test_a_full_record_buffer_stops_early_and_loses_nothing():
    X, y = make_data(1, 40, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.05, B=6, stride=2)
    whole, parts = Run(X, y, hpf, hpi, SGD), Run(X, y, hpf, hpi, SGD)
    one = whole.advance(30)
    first = parts.advance(30, cap=4)
    assert len(first["step"]) == 4 and first["n_done"] < 30
    rest = parts.advance(30 - first["n_done"])
    np.testing.assert_array_equal(np.concatenate([first["step"], rest["step"]]), one["step"])
    np.testing.assert_array_equal(parts.params, whole.params)


def test_huge_learning_rate_marks_the_run_diverged():
    X, y = make_data(2, 40, 3, "linear", np.float64)
    hpf, hpi = hyper(SGD, 1e6, B=8)
    run = Run(X, y, hpf, hpi, SGD)
    got = run.advance(500)
    k = run.istate[L.S_DIVERGED]
    assert 1 <= k < 500
    assert got["n_done"] == k == run.istate[L.S_STEP] == got["step"][-1]
    assert run.istate[L.S_EPOCH] == k // 5 and run.istate[L.S_POS] == 8 * (k % 5)
    assert not (np.isfinite(got["loss"][-1]) and np.all(np.isfinite(got["params"][-1])))


def test_a_diverged_run_does_nothing_more():
    X, y = make_data(2, 40, 3, "linear", np.float64)
    hpf, hpi = hyper(SGD, 1e6, B=8)
    run = Run(X, y, hpf, hpi, SGD)
    run.advance(500)
    before = run.state()
    again = run.advance(10)
    assert again["n_done"] == 0 and len(again["step"]) == 0
    for a, b in zip(before, run.state()):
        np.testing.assert_array_equal(a, b)


def test_loss_above_blowup_marks_the_run_diverged_at_that_step():
    run, got, ref = run_and_reference(SGD, "linear", np.float64, 40, 3, 4, 100, lr=0.7, blowup=50.0)
    assert ref.diverged > 0 and run.istate[L.S_DIVERGED] == ref.diverged
    assert got["step"][-1] == ref.diverged and np.all(np.isfinite(got["params"][-1]))
    assert got["loss"][-1] == pytest.approx(ref.rec_loss[-1])


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda a: a.update(X=a["X"].astype(np.float32)), "y must be"),
        (lambda a: a.update(X=a["X"].astype(np.float32), y=a["y"].astype(np.float32)), "state.params must be"),
        (lambda a: a.update(X=np.asfortranarray(a["X"])), "X must be"),
        (lambda a: a["state"].hpi.__setitem__((0, L.I_BATCH), 0), "I_BATCH"),
        (lambda a: a["state"].hpi.__setitem__((0, L.I_OPTIMIZER), 9), "I_OPTIMIZER"),
        (lambda a: a.update(cap=0), "cap must be"),
    ],
)
def test_advance_rejects_mismatched_inputs(change, match):
    X, y = make_data(0, 10, 2, "linear", np.float64)
    hpf, hpi = hyper(SGD, 0.1, B=2)
    run = Run(X, y, hpf, hpi, SGD)
    args = {"X": X, "y": y, "state": run.batch, "n_updates": 5, "cap": 8}
    change(args)
    with pytest.raises(ValueError, match=match):
        advance_batch(**args)
