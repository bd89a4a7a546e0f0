"""Runs that share one sample order: each row of a batch visited once for all of them.

Runs of a batch whose minibatches are the same rows at every update (same batch size,
``drop_last``, position in the epoch, and the same order: one seed with ``shuffle``, or data
order; any full batch) differ only in their parameters and what they do with a gradient
(learning rate, optimizer, schedule, stride). A learning-rate sweep's cells are such runs,
and so are the full batches of a scenario. :func:`advance_batch` (in :mod:`.descent`) hands
them here, :data:`LANES_MAX` at most per block: each block walks the shared order once, and
each row's ``z`` and gradient terms are computed for all the block's runs together (runs as
lanes: the inner loops run over runs, which the compiler turns into SIMD instructions).

Bit for bit what the runs give one by one (``tests/test_kernels_shared.py``): every run's
sums are its own and in the same order as :func:`.losses._loss_grad_rows` (rows in batch
order, ``z`` in feature order then the intercept) or, for a full batch of at least
``FULL_PARALLEL_MIN_ROWS`` rows, as :func:`.losses._full_pass` (chunks of
``FULL_CHUNK_ROWS`` rows, added in chunk order); the update, its bookkeeping and the history
points follow :func:`.descent._advance_one`. Each run still stops on its own (its
``n_updates``, its history capacity, its divergence); its ``perm`` row receives the shared
order whenever it would hold it alone. Linear and logistic models only.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

from .clock import now_ns
from .layout import (
    A_LOSS_SUM,
    F_BLOWUP,
    F_DAMPENING,
    F_MOMENTUM,
    F_WEIGHT_DECAY,
    I_ACCUMULATE,
    I_BATCH,
    I_DROP_LAST,
    I_FIT_INTERCEPT,
    I_MODEL,
    I_NESTEROV,
    I_OPTIMIZER,
    I_SEED,
    I_SHUFFLE,
    I_STRIDE,
    MODEL_LINEAR,
    MODEL_LOGISTIC,
    OPT_SGD,
    S_DIVERGED,
    S_EPOCH,
    S_PERM_EPOCH,
    S_POS,
    S_STEP,
    S_WINDOW,
)
from .losses import FULL_CHUNK_ROWS, FULL_PARALLEL_MIN_ROWS, _loss_dz
from .optim import _opt_step, lr_at
from .prefetch import prefetch
from .stepmath import sgd_elem

_sgd_elem = njit(nogil=True, inline="always")(sgd_elem)
from .shuffle import _permutation

#: Most runs one block takes as lanes (its scratch: ``(p + 3) * LANES_MAX`` float64, in L1).
LANES_MAX = 64
#: Fewest runs that make a shared group (below: the runs go one by one).
SHARED_MIN_RUNS = 2
#: Rows ahead in the order whose cache lines are asked for early: each row is some hundred
#: cycles of work for all the lanes, so a few rows cover a miss.
PREFETCH_AHEAD = 8


@njit(cache=True, nogil=True, inline="always")
def _rows_lanes(X, y, order, lo, hi, th, fit_intercept, model, acc, tot, z, dz):
    """Add rows ``order[lo:hi]``'s loss into ``tot[l]`` and gradient into ``acc[:, l]`` for every lane.

    ``th[:, l]`` is lane ``l``'s parameters (float64, feature-major); each lane's sums are
    in row order, each ``z`` in feature order then ``+ b``, as the one-run loops do.
    """
    d = X.shape[1]
    L = z.shape[0]
    n = order.shape[0]
    for k in range(lo, hi):
        if k + PREFETCH_AHEAD < n:  # a row ahead in the order (maybe the next batch's); no value changes
            i_ahead = order[k + PREFETCH_AHEAD]
            prefetch(X, i_ahead)
            prefetch(y, i_ahead)
        i = order[k]
        for l in range(L):
            z[l] = 0.0
        for j in range(d):
            xj = np.float64(X[i, j])
            for l in range(L):
                z[l] += xj * th[j, l]
        if fit_intercept:
            for l in range(L):
                z[l] += th[d, l]
        yi = np.float64(y[i])
        if model == MODEL_LINEAR:
            for l in range(L):  # loss_dz's MSE branch, written out so that it vectorises
                r = z[l] - yi
                tot[l] += r * r
                dz[l] = 2.0 * r
        else:
            for l in range(L):
                loss, g = _loss_dz(z[l], yi, model)
                tot[l] += loss
                dz[l] = g
        for j in range(d):
            xj = np.float64(X[i, j])
            for l in range(L):
                acc[j, l] += dz[l] * xj
        if fit_intercept:
            for l in range(L):
                acc[d, l] += dz[l]


@njit(cache=True, nogil=True)
def _shared_block(X, y, state, lanes, n_updates, rec_step, rec_params, rec_loss, out):
    """Advance runs ``lanes`` (one shared order; see the module doc) by their ``n_updates``.

    The lanes' state is copied into arrays of the block's own for the call and written back
    at its end: a view of a run inside the shared batch would count a reference on the
    batch's arrays, an atomic on one cache line that every thread fights over (it cost more
    than the update itself).
    """
    n, d = X.shape
    L = lanes.shape[0]
    p = state.params.shape[1]
    cap = rec_step.shape[1]
    r0 = lanes[0]
    B = state.hpi[r0, I_BATCH]
    shuffle = state.hpi[r0, I_SHUFFLE] != 0
    drop_last = state.hpi[r0, I_DROP_LAST] != 0
    seed = state.hpi[r0, I_SEED]
    model = state.hpi[r0, I_MODEL]
    fit_intercept = state.hpi[r0, I_FIT_INTERCEPT]
    chunked = B >= n and n >= FULL_PARALLEL_MIN_ROWS  # summed as _full_pass sums it
    t0 = now_ns()

    Pl = np.empty((L, p), state.params.dtype)
    Ol = np.empty((L, 3, p), state.params.dtype)
    Hf = np.empty((L, state.hpf.shape[1]), np.float64)
    Hi = np.empty((L, state.hpi.shape[1]), np.int64)
    Is = np.empty((L, state.istate.shape[1]), np.int64)
    Fs = np.empty((L, state.fstate.shape[1]), np.float64)
    th = np.empty((p, L), np.float64)
    acc = np.empty((p, L), np.float64)
    part = np.empty((p, L), np.float64)
    tot = np.empty(L, np.float64)
    ptot = np.empty(L, np.float64)
    z = np.empty(L, np.float64)
    dz = np.empty(L, np.float64)
    lr = np.empty(L, np.float64)
    grad = np.empty(p, state.params.dtype)
    done = np.zeros(L, np.int64)
    points = np.zeros(L, np.int64)
    active = np.zeros(L, np.bool_)
    stale = np.zeros(L, np.bool_)  # the lane's perm row does not hold `order` yet
    n_active = 0
    for l in range(L):
        r = lanes[l]
        Pl[l] = state.params[r]
        Ol[l] = state.opt_state[r]
        Hf[l] = state.hpf[r]
        Hi[l] = state.hpi[r]
        Is[l] = state.istate[r]
        Fs[l] = state.fstate[r]
        for j in range(p):
            th[j, l] = np.float64(Pl[l, j])
        if n_updates[r] > 0 and Is[l, S_DIVERGED] < 0:
            active[l] = True
            n_active += 1
    order = state.perm[r0].copy()
    order_epoch = state.istate[r0, S_PERM_EPOCH]
    pos = state.istate[r0, S_POS]
    epoch = state.istate[r0, S_EPOCH]
    lr_epoch = -1

    while n_active > 0:
        end = min(pos + B, n)
        if pos == 0 and order_epoch != epoch:
            for l in range(L):  # lanes that stopped holding the old order get it first
                if stale[l]:
                    state.perm[lanes[l]] = order
                    stale[l] = False
            changed = True
            if B >= n:
                if order_epoch < 0:  # a full batch: data order, written once
                    for i in range(n):
                        order[i] = i
                else:
                    changed = False
            elif shuffle:
                _permutation(seed, epoch, n, order)
            else:
                for i in range(n):
                    order[i] = i
            order_epoch = epoch
            for l in range(L):
                if active[l]:
                    Is[l, S_PERM_EPOCH] = epoch
                    stale[l] = changed
        if lr_epoch != epoch:  # the schedule's rate depends on the epoch alone
            for l in range(L):
                lr[l] = lr_at(Hf[l], Hi[l], epoch)
            lr_epoch = epoch

        acc[:, :] = 0.0
        tot[:] = 0.0
        if chunked:
            for c0 in range(0, n, FULL_CHUNK_ROWS):
                part[:, :] = 0.0
                ptot[:] = 0.0
                _rows_lanes(X, y, order, c0, min(n, c0 + FULL_CHUNK_ROWS), th, fit_intercept, model, part, ptot, z, dz)
                for l in range(L):
                    tot[l] += ptot[l]
                for j in range(p):
                    for l in range(L):
                        acc[j, l] += part[j, l]
        else:
            _rows_lanes(X, y, order, pos, end, th, fit_intercept, model, acc, tot, z, dz)
        inv_B = 1.0 / (end - pos)  # a chunked full batch: pos = 0, end = n

        pos = end
        ended_epoch = pos >= n or (drop_last and pos + B > n)
        if ended_epoch:
            pos = 0
        for l in range(L):
            if not active[l]:
                continue
            loss = tot[l] * inv_B
            step = Is[l, S_STEP] + 1
            Is[l, S_STEP] = step
            code = Hi[l, I_OPTIMIZER]
            if code == OPT_SGD:  # sgd_update's loop, on the lane's row
                momentum = Hf[l, F_MOMENTUM]
                dampening = Hf[l, F_DAMPENING]
                weight_decay = Hf[l, F_WEIGHT_DECAY]
                nesterov = Hi[l, I_NESTEROV] != 0
                for j in range(p):
                    grad[j] = acc[j, l] * inv_B
                    theta, buf = _sgd_elem(float(Pl[l, j]), float(grad[j]), float(Ol[l, 0, j]), step, lr[l],
                                           momentum, dampening, weight_decay, nesterov)
                    if momentum != 0.0:
                        Ol[l, 0, j] = buf
                    Pl[l, j] = theta
            else:
                for j in range(p):
                    grad[j] = acc[j, l] * inv_B
                _opt_step(code, Pl[l], grad, Ol[l], Hf[l], Hi[l], lr[l], step)
            if ended_epoch:
                Is[l, S_EPOCH] = epoch + 1
            Is[l, S_POS] = pos
            Fs[l, A_LOSS_SUM] += loss
            Is[l, S_WINDOW] += 1
            done[l] += 1
            diverged = not math.isfinite(loss) or loss > Hf[l, F_BLOWUP]
            for j in range(p):
                th[j, l] = np.float64(Pl[l, j])
                if not math.isfinite(th[j, l]):
                    diverged = True
            if diverged:
                Is[l, S_DIVERGED] = step
            if diverged or ended_epoch or step % Hi[l, I_STRIDE] == 0:
                r = lanes[l]
                k = points[l]
                rec_step[r, k] = step
                for j in range(p):
                    rec_params[r, k, j] = Pl[l, j]
                rec_loss[r, k] = Fs[l, A_LOSS_SUM] / Is[l, S_WINDOW]
                points[l] = k + 1
                Fs[l, A_LOSS_SUM] = 0.0
                Is[l, S_WINDOW] = 0
            if diverged or done[l] >= n_updates[lanes[l]] or points[l] >= cap:
                active[l] = False
                n_active -= 1
        if ended_epoch:
            epoch += 1

    worked = 0
    for l in range(L):
        r = lanes[l]
        if stale[l]:
            state.perm[r] = order
        state.params[r] = Pl[l]
        state.opt_state[r] = Ol[l]
        state.istate[r] = Is[l]
        state.fstate[r] = Fs[l]
        if done[l] > 0:
            worked += 1
    dt = now_ns() - t0
    for l in range(L):
        r = lanes[l]
        out[r, 0] = done[l]
        out[r, 1] = points[l]
        out[r, 2] = dt // worked if done[l] > 0 else 0


def _shared_body(X, y, state, lanes, starts, n_updates, rec_step, rec_params, rec_loss, out):  # type: ignore[no-untyped-def]
    """Every block ``b`` (runs ``lanes[starts[b]:starts[b + 1]]``) by :func:`_shared_block`."""
    for b in numba.prange(starts.shape[0] - 1):
        _shared_block(X, y, state, lanes[starts[b] : starts[b + 1]], n_updates, rec_step, rec_params, rec_loss, out)


def _named(fn, name: str):  # type: ignore[no-untyped-def]
    import types

    clone = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = name
    return clone


_shared_serial = njit(cache=True, nogil=True)(_named(_shared_body, "_shared_serial"))
_shared_parallel = njit(cache=True, nogil=True, parallel=True)(_named(_shared_body, "_shared_parallel"))


def shared_blocks(state, todo: np.ndarray, n: int, threads: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Blocks of runs that share one sample order: ``(lanes, starts)``, block ``b`` being runs
    ``lanes[starts[b]:starts[b + 1]]``; runs in no block of at least :data:`SHARED_MIN_RUNS`
    are left out. A group is split into blocks of at most :data:`LANES_MAX` runs, about
    ``threads`` blocks when it is large enough (the blocks change no value, only the work
    per thread).

    The key below is every setting that decides which rows an update sums and how; a new
    setting that changes it must join the key or keep its runs out, or :func:`_shared_block`
    must learn it. Gradient accumulation (``I_ACCUMULATE > 1``) keeps its runs out.
    """
    hpi, ist = state.hpi, state.istate
    groups: dict[tuple, list[int]] = {}
    for r in np.flatnonzero(todo > 0):
        model = int(hpi[r, I_MODEL])
        if model not in (MODEL_LINEAR, MODEL_LOGISTIC) or ist[r, S_DIVERGED] >= 0:
            continue
        if hpi[r, I_ACCUMULATE] != 1:  # an update of several micro-batches: the epoch loop's own
            continue
        B = int(hpi[r, I_BATCH])
        full = B >= n
        shuffled = not full and bool(hpi[r, I_SHUFFLE])
        key = (model, int(hpi[r, I_FIT_INTERCEPT]), min(B, n), bool(hpi[r, I_DROP_LAST]) and not full, shuffled,
               int(hpi[r, I_SEED]) if shuffled else 0, int(ist[r, S_POS]), int(ist[r, S_EPOCH]),
               int(ist[r, S_PERM_EPOCH]))
        groups.setdefault(key, []).append(int(r))
    lanes: list[int] = []
    starts = [0]
    for runs in groups.values():
        if len(runs) < SHARED_MIN_RUNS:
            continue
        per = min(LANES_MAX, max(8, -(-len(runs) // max(1, threads))))
        for s in range(0, len(runs), per):
            lanes += runs[s : s + per]
            starts.append(len(lanes))
    return np.asarray(lanes, np.int64), np.asarray(starts, np.int64)
