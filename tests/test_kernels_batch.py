"""The run-batch contract of ``advance_batch``: one call advances R runs, each exactly as it
would go alone; chunking never shows; bad input is refused before anything is touched."""

import math

import numpy as np
import pytest

from gdviz.kernels import RunBatch, advance_batch, check_batch, new_state, set_run
from gdviz.kernels import layout as L
from kernel_setup import OPT_BY_NAME, OPTS, OPTS_ONE_EACH, hyper, make_data

N, D = 23, 2
F_NAME = {i: k for k, i in L.FLOAT_KEYS.items()}
I_NAME = {i: k for k, i in L.INT_KEYS.items()}


def settings(opt, lr, **kw):
    """``set_run`` keywords for ``opt`` at ``lr`` (schedule etc. in ``kw``, by name)."""
    out = {F_NAME[k]: v for k, v in opt.f.items()} | {I_NAME[k]: v for k, v in opt.i.items()}
    out.update(optimizer=opt.code, learning_rate=lr, initial_accumulator_value=opt.initial_accumulator_value)
    return out | kw


# Runs that differ in batch size (1, 7, n, drop_last), optimizer, lr, schedule, seed and stride.
RUNS = [
    (OPTS_ONE_EACH[0], 0.03, dict(batch=1, seed=1, stride=3)),
    (OPTS_ONE_EACH[1], 0.05, dict(batch=7, seed=2, schedule="step", gamma=0.5, step_size=2)),
    (OPTS_ONE_EACH[2], 0.1, dict(batch=N, seed=3, schedule="exponential", gamma=0.9, stride=2)),
    (OPTS_ONE_EACH[3], 0.01, dict(batch=5, drop_last=1, seed=4, schedule="cosine", t_max=4.0)),
    (OPTS_ONE_EACH[4], 0.2, dict(batch=7, drop_last=1, shuffle=0, seed=5, stride=4)),
    (OPT_BY_NAME["sgd"], 0.02, dict(batch=N - 1, seed=6, schedule="cosine", eta_min=0.001, t_max=3.0)),
]
TODO = np.array([40, 33, 12, 27, 50, 9])


def make_batch(model, dtype, runs=RUNS, seed=0):
    X, y = make_data(seed, N, D, model, dtype)
    state = new_state(len(runs), N, D + 1, dtype)
    rng = np.random.default_rng(seed)
    for r, (opt, lr, kw) in enumerate(runs):
        set_run(state, r, model=model, fit_intercept=1, params=0.3 * rng.standard_normal(D + 1),
                **settings(opt, lr, **({"shuffle": 1} | kw)))
    return X, y, state


def copy(state):
    return RunBatch(*(a.copy() for a in state))


def alone(state, r):
    """Run ``r`` as its own batch of one (a copy)."""
    return RunBatch.stack([state.row(r)])


def points(chunk, r):
    k = int(chunk.n_points[r])
    return chunk.step[r, :k], chunk.params[r, :k], chunk.loss[r, :k]


def assert_same_run(a, ra, b, rb):
    """Run ``ra`` of batch ``a`` and run ``rb`` of batch ``b`` hold the same state, bit for bit."""
    for name in RunBatch._fields:
        np.testing.assert_array_equal(getattr(a, name)[ra], getattr(b, name)[rb], err_msg=name)


def assert_same_points(ca, ra, cb, rb):
    assert ca.n_done[ra] == cb.n_done[rb]
    for u, v in zip(points(ca, ra), points(cb, rb)):
        np.testing.assert_array_equal(u, v)


# --- (a) a batch is its runs, each alone -----------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_batch_gives_each_run_bit_for_bit_as_alone(dtype, model, parallel):
    X, y, state = make_batch(model, dtype)
    singles = [alone(state, r) for r in range(state.R)]
    got = advance_batch(X, y, state, TODO, parallel=parallel)
    assert got.n_done.tolist() == TODO.tolist()
    for r, single in enumerate(singles):
        one = advance_batch(X, y, single, int(TODO[r]))
        assert_same_run(state, r, single, 0)
        assert_same_points(got, r, one, 0)
        assert state.istate[r, L.S_STEP] == TODO[r] and state.istate[r, L.S_DIVERGED] == -1
    # the runs really differ: no two end at the same point
    assert len({state.params[r].tobytes() for r in range(state.R)}) == state.R


def test_a_run_repeated_in_a_batch_gives_the_same_path_in_every_slot():
    X, y, state = make_batch("linear", np.float64, runs=[RUNS[1]] * 3 + [RUNS[0]], seed=3)
    for r in (1, 2):  # same settings, same start: make_batch drew different params, so copy run 0's
        state.params[r] = state.params[0]
    got = advance_batch(X, y, state, 20, parallel=True)
    for r in (1, 2):
        assert_same_run(state, 0, state, r)
        assert_same_points(got, 0, got, r)


# --- (b) chunking never shows -----------------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunked_batch_is_bit_identical_to_one_call_and_zero_leaves_runs_untouched(dtype, parallel):
    X, y, whole = make_batch("logistic", dtype, seed=1)
    parts = copy(whole)
    before = copy(whole)
    first = np.array([0, 13, 0, 5, 1, 0])
    second = np.array([0, 9, 17, 0, 30, 0])  # runs 0 and 5: nothing at all
    one = advance_batch(X, y, whole, first + second, parallel=parallel)
    a = advance_batch(X, y, parts, first, parallel=parallel)
    b = advance_batch(X, y, parts, second, parallel=parallel)
    assert (a.n_done == first).all() and (b.n_done == second).all() and (one.n_done == first + second).all()
    for r in range(whole.R):
        assert_same_run(whole, r, parts, r)
        for u, v, w in zip(points(a, r), points(b, r), points(one, r)):
            np.testing.assert_array_equal(np.concatenate([u, v]), w)
    for r in np.flatnonzero(first + second == 0):
        assert_same_run(whole, r, before, r)
        assert one.n_points[r] == 0


def test_chunked_in_many_uneven_pieces_per_run():
    X, y, whole = make_batch("linear", np.float32, seed=2)
    parts = copy(whole)
    rng = np.random.default_rng(0)
    pieces = rng.integers(0, 9, size=(7, whole.R))
    one = advance_batch(X, y, whole, pieces.sum(axis=0))
    got = [advance_batch(X, y, parts, k) for k in pieces]
    for r in range(whole.R):
        assert_same_run(whole, r, parts, r)
        for f in range(3):
            np.testing.assert_array_equal(np.concatenate([points(c, r)[f] for c in got]), points(one, r)[f])


# --- (c) a diverging run stops alone ----------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_a_diverging_run_stops_while_the_others_continue_identically(parallel):
    runs = [RUNS[0], (OPT_BY_NAME["sgd"], 1e6, dict(batch=4, seed=8)), RUNS[1],
            (OPT_BY_NAME["adam"], 0.05, dict(batch=3, seed=9, blowup=1e-3))]
    X, y, state = make_batch("linear", np.float64, runs=runs, seed=4)
    singles = [alone(state, r) for r in range(state.R)]
    got = advance_batch(X, y, state, 60, parallel=parallel)
    for r in (1, 3):
        k = state.istate[r, L.S_DIVERGED]
        assert 1 <= k < 60 and got.n_done[r] == k == state.istate[r, L.S_STEP]
        assert points(got, r)[0][-1] == k
    assert not np.all(np.isfinite(points(got, 1)[1][-1])) or not math.isfinite(points(got, 1)[2][-1])
    assert points(got, 3)[2][-1] > 1e-3 and np.all(np.isfinite(state.params[3]))
    for r in (0, 2):
        assert got.n_done[r] == 60 and state.istate[r, L.S_DIVERGED] == -1
    for r, single in enumerate(singles):
        one = advance_batch(X, y, single, 60)
        assert_same_run(state, r, single, 0)
        assert_same_points(got, r, one, 0)
    # advanced again: the diverged runs do nothing, the others go on as alone
    stopped = copy(state)
    again = advance_batch(X, y, state, 10, parallel=parallel)
    assert again.n_done.tolist() == [10, 0, 10, 0] and again.n_points[[1, 3]].tolist() == [0, 0]
    for r in (1, 3):
        assert_same_run(state, r, stopped, r)
    for r in (0, 2):
        one = advance_batch(X, y, singles[r], 10)
        assert_same_run(state, r, singles[r], 0)
        assert_same_points(again, r, one, 0)


# --- (d) bad input -----------------------------------------------------------------------------


def _set(name, index, value):
    return lambda a: getattr(a["state"], name).__setitem__(index, value)


def _replace(name, make):
    return lambda a: a.update(state=a["state"]._replace(**{name: make(getattr(a["state"], name))}))


def _readonly(arr):
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


BAD = [
    ("X float32, y float64", lambda a: a.update(X=a["X"].astype(np.float32)), ValueError, "y must be"),
    ("data float32, state float64", lambda a: a.update(X=a["X"].astype(np.float32), y=a["y"].astype(np.float32)),
     ValueError, r"state\.params must be .*float32"),
    ("X int", lambda a: a.update(X=a["X"].astype(np.int64)), ValueError, "X must be a 2-d float32 or float64"),
    ("X 1-d", lambda a: a.update(X=a["X"][:, 0].copy()), ValueError, "X must be"),
    ("X Fortran", lambda a: a.update(X=np.asfortranarray(a["X"])), ValueError, "C-contiguous"),
    ("y short", lambda a: a.update(y=a["y"][:-1].copy()), ValueError, "y must be"),
    ("state a tuple", lambda a: a.update(state=tuple(a["state"])), TypeError, "RunBatch"),
    ("hpf float32", _replace("hpf", lambda h: h.astype(np.float32)), ValueError, r"state\.hpf must be"),
    ("hpi int32", _replace("hpi", lambda h: h.astype(np.int32)), ValueError, r"state\.hpi must be"),
    ("hpi short", _replace("hpi", lambda h: h[:, :-1].copy()), ValueError, r"state\.hpi must be"),
    ("opt_state 2-d", _replace("opt_state", lambda s: s[:, 0].copy()), ValueError, r"state\.opt_state must be"),
    ("perm of n-1", _replace("perm", lambda p: p[:, :-1].copy()), ValueError, r"state\.perm must be"),
    ("istate one run short", _replace("istate", lambda s: s[:1].copy()), ValueError, r"state\.istate must be"),
    ("fstate read-only", _replace("fstate", _readonly), ValueError, r"state\.fstate must be .*writable"),
    ("params not contiguous", _replace("params", lambda p: np.repeat(p, 2, axis=1)[:, ::2]), ValueError,
     r"state\.params must be"),
    ("params for no intercept", _set("hpi", (1, L.I_FIT_INTERCEPT), 0), ValueError, "run 1: the model has 2 param"),
    ("fit_intercept 2", _set("hpi", (1, L.I_FIT_INTERCEPT), 2), ValueError, r"run 1: hpi\[I_FIT_INTERCEPT\]"),
    ("model 7", _set("hpi", (1, L.I_MODEL), 7), ValueError, r"run 1: hpi\[I_MODEL\] must be a MODEL_\* code"),
    ("optimizer 5", _set("hpi", (1, L.I_OPTIMIZER), 5), ValueError, r"run 1: hpi\[I_OPTIMIZER\] must be an OPT_"),
    ("optimizer -1", _set("hpi", (0, L.I_OPTIMIZER), -1), ValueError, r"run 0: hpi\[I_OPTIMIZER\]"),
    ("schedule 4", _set("hpi", (1, L.I_SCHEDULE), 4), ValueError, r"run 1: hpi\[I_SCHEDULE\] must be a SCHED_"),
    ("step size 0", lambda a: (_set("hpi", (1, L.I_SCHEDULE), L.SCHED_STEP)(a), _set("hpi", (1, L.I_STEP_SIZE), 0)(a)),
     ValueError, r"run 1: hpi\[I_STEP_SIZE\] must be >= 1"),
    ("batch 0", _set("hpi", (1, L.I_BATCH), 0), ValueError, r"run 1: hpi\[I_BATCH\] must be in 1\.\.n=10"),
    ("batch n+1", _set("hpi", (1, L.I_BATCH), 11), ValueError, r"run 1: hpi\[I_BATCH\]"),
    ("stride 0", _set("hpi", (1, L.I_STRIDE), 0), ValueError, r"run 1: hpi\[I_STRIDE\] must be >= 1"),
    ("pos n", _set("istate", (1, L.S_POS), 10), ValueError, "run 1: istate is inconsistent"),
    ("pos -1", _set("istate", (1, L.S_POS), -1), ValueError, "run 1: istate is inconsistent"),
    ("step -1", _set("istate", (1, L.S_STEP), -1), ValueError, "run 1: istate is inconsistent"),
    ("epoch -1", _set("istate", (1, L.S_EPOCH), -1), ValueError, "run 1: istate is inconsistent"),
    ("mid-epoch, no perm", _set("istate", (1, L.S_POS), 4), ValueError, "run 1: istate is mid-epoch but perm holds"),
    ("n_updates -1", lambda a: a.update(n_updates=-1), ValueError, "n_updates must be >= 0"),
    ("one n_updates -1", lambda a: a.update(n_updates=np.array([3, -1])), ValueError, "n_updates must be >= 0"),
    ("cap 0", lambda a: a.update(cap=0), ValueError, "cap must be >= 1"),
]


@pytest.mark.parametrize("change,exc,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_advance_batch_rejects_bad_input_and_touches_nothing(change, exc, match):
    X, y = make_data(0, 10, 2, "linear", np.float64)
    state = new_state(2, 10, 3)
    for r in range(2):
        set_run(state, r, optimizer="sgd", learning_rate=0.1, batch=3, shuffle=1, seed=r, fit_intercept=1)
    args = {"X": X, "y": y, "state": state, "n_updates": 5}
    change(args)
    kept = [a.copy() for a in args["state"]]
    with pytest.raises(exc, match=match):
        advance_batch(**args)
    for a, b in zip(kept, args["state"]):
        np.testing.assert_array_equal(a, b)
    if not match.startswith(("n_updates", "cap")):  # the rest is check_batch's to refuse
        with pytest.raises(exc, match=match):
            check_batch(args["X"], args["y"], args["state"])


def test_check_batch_returns_the_shape_of_a_good_batch():
    X, y, state = make_batch("linear", np.float64)
    assert check_batch(X, y, state) == (len(RUNS), N, D + 1)
    empty = new_state(0, N, D + 1)
    assert check_batch(X, y, empty) == (0, N, D + 1)
    assert advance_batch(X, y, empty, 5).n_done.shape == (0,)


# --- (e) new_state and set_run -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_new_state_is_a_batch_of_fresh_runs(dtype):
    s = new_state(3, 10, 4, dtype)
    assert (s.R, s.n, s.p) == (3, 10, 4)
    shapes = {"hpf": (3, L.HPF_SIZE), "hpi": (3, L.HPI_SIZE), "params": (3, 4), "opt_state": (3, 3, 4),
              "perm": (3, 10), "istate": (3, L.ISTATE_SIZE), "fstate": (3, L.FSTATE_SIZE)}
    dtypes = {"hpf": np.float64, "hpi": np.int64, "params": dtype, "opt_state": dtype, "perm": np.int64,
              "istate": np.int64, "fstate": np.float64}
    for name, arr in s._asdict().items():
        assert arr.shape == shapes[name] and arr.dtype == dtypes[name] and arr.flags.c_contiguous, name
    assert (s.istate == [0, 0, 0, 0, -1, -1]).all()
    assert (s.perm == np.arange(10)).all()
    assert not s.params.any() and not s.opt_state.any() and not s.fstate.any()
    assert np.isinf(s.hpf[:, L.F_BLOWUP]).all() and not np.delete(s.hpf, L.F_BLOWUP, axis=1).any()
    assert (s.hpi[:, L.I_BATCH] == 10).all() and (s.hpi[:, L.I_STRIDE] == 1).all()
    assert (s.hpi[:, L.I_ACCUMULATE] == 1).all()  # no gradient accumulation
    assert not np.delete(s.hpi, [L.I_BATCH, L.I_STRIDE, L.I_ACCUMULATE], axis=1).any()


@pytest.mark.parametrize("R,n,p,dtype,match", [(-1, 5, 2, np.float64, "R >= 0"), (1, 0, 2, np.float64, "n >= 1"),
                                                (1, 5, 0, np.float64, "p >= 1"), (1, 5, 2, np.int64, "dtype"),
                                                (1, 5, 2, np.float16, "float32 or float64")])
def test_new_state_rejects_bad_sizes_and_dtypes(R, n, p, dtype, match):
    with pytest.raises(ValueError, match=match):
        new_state(R, n, p, dtype)


def test_the_settings_tables_cover_every_slot_once():
    assert sorted(L.FLOAT_KEYS.values()) == list(range(L.HPF_SIZE))
    assert sorted(L.INT_KEYS.values()) == list(range(L.HPI_SIZE))


@pytest.mark.parametrize("opt", OPTS, ids=str)
def test_set_run_writes_what_the_test_helper_hyper_writes(opt):
    kw = dict(model="logistic", batch=5, shuffle=1, drop_last=1, seed=3, fit_intercept=1, stride=2,
              schedule="step", gamma=0.5, step_size=1, eta_min=0.0, t_max=10.0)
    s = new_state(2, 9, 3)
    set_run(s, 1, **settings(opt, 0.07, **kw))
    hpf, hpi = hyper(opt, 0.07, model="logistic", B=5, drop_last=1, seed=3, stride=2, schedule=L.SCHED_STEP)
    np.testing.assert_array_equal(s.hpf[1], hpf)
    np.testing.assert_array_equal(s.hpi[1], hpi)
    expected = np.zeros((3, 3))
    if opt.code == L.OPT_ADAGRAD:
        expected[0] = opt.initial_accumulator_value  # torch's initial_accumulator_value, in `sum`
    np.testing.assert_array_equal(s.opt_state[1], expected)


def test_set_run_maps_names_to_codes_and_splits_betas():
    s = new_state(1, 4, 2)
    set_run(s, 0, model="logistic", optimizer="adam", schedule="cosine", betas=(0.8, 0.95))
    assert s.hpi[0, L.I_MODEL] == L.MODEL_LOGISTIC and s.hpi[0, L.I_OPTIMIZER] == L.OPT_ADAM
    assert s.hpi[0, L.I_SCHEDULE] == L.SCHED_COSINE
    assert (s.hpf[0, L.F_BETA1], s.hpf[0, L.F_BETA2]) == (0.8, 0.95)
    for name, code in L.OPTIMIZERS.items():
        set_run(s, 0, optimizer=name)
        assert s.hpi[0, L.I_OPTIMIZER] == code
    set_run(s, 0, optimizer=L.OPT_RMSPROP, schedule=L.SCHED_STEP)  # codes pass as they are
    assert s.hpi[0, L.I_OPTIMIZER] == L.OPT_RMSPROP and s.hpi[0, L.I_SCHEDULE] == L.SCHED_STEP


def test_set_run_rejects_an_unknown_setting_by_name():
    s = new_state(1, 4, 2)
    with pytest.raises(TypeError, match="'momentun'"):
        set_run(s, 0, learning_rate=0.1, momentun=0.9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_set_run_on_a_used_run_makes_it_fresh_and_leaves_the_others(dtype):
    X, y, state = make_batch("linear", dtype, seed=5)
    start = copy(state)
    first = advance_batch(X, y, state, TODO)
    others = copy(state)
    opt, lr, kw = RUNS[4]  # adagrad, with an initial accumulator
    # the accumulator's start is no setting kept in hpf: set_run takes it again
    set_run(state, 4, params=start.params[4], initial_accumulator_value=opt.initial_accumulator_value)
    assert state.istate[4].tolist() == [0, 0, 0, 0, -1, -1] and not state.fstate[4].any()
    np.testing.assert_array_equal(state.perm[4], np.arange(N))
    np.testing.assert_array_equal(state.opt_state[4, 0], np.full(D + 1, opt.initial_accumulator_value, dtype))
    assert not state.opt_state[4, 1:].any()
    assert_same_run(state, 4, start, 4)
    for r in range(state.R):
        if r != 4:
            assert_same_run(state, r, others, r)
    again = advance_batch(X, y, state, np.where(np.arange(state.R) == 4, TODO, 0))
    assert_same_run(state, 4, others, 4)  # the same path again, bit for bit
    assert_same_points(again, 4, first, 4)


# --- (f) each run's own seconds ------------------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_seconds_are_each_runs_own_and_zero_without_work(parallel):
    X, y, state = make_batch("linear", np.float64, seed=6)
    todo = np.array([30, 0, 12, 0, 1, 5])
    got = advance_batch(X, y, state, todo, parallel=parallel)
    assert got.seconds.shape == (state.R,) and got.seconds.dtype == np.float64
    worked = todo > 0
    assert np.all(np.isfinite(got.seconds)) and np.all(got.seconds[worked] >= 0)
    assert np.all(got.seconds[~worked] == 0)
    assert advance_batch(X, y, state, 0).seconds.tolist() == [0.0] * state.R


def test_a_diverged_run_asked_for_more_does_none_in_zero_seconds():
    runs = [RUNS[0], (OPT_BY_NAME["sgd"], 1e6, dict(batch=4, seed=8))]
    X, y, state = make_batch("linear", np.float64, runs=runs, seed=4)
    advance_batch(X, y, state, 60)
    got = advance_batch(X, y, state, 10)
    assert got.n_done.tolist() == [10, 0]
    assert got.seconds[1] == 0


def test_the_serial_and_threaded_kernels_have_their_own_cache_entries():
    """Numba names a function's on-disk cache after its qualified name and does not key it on
    ``parallel=``: one function behind two dispatchers made the threaded one load the serial
    machine code from the cache (it ran on one thread)."""
    from gdviz.kernels import descent

    assert descent._batch_parallel.py_func.__qualname__ != descent._batch_serial.py_func.__qualname__
    assert descent._batch_parallel.targetoptions.get("parallel") and not descent._batch_serial.targetoptions.get("parallel")
