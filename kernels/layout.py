"""The state layout shared by every kernel (CPU and CUDA) and the engine: a batch of runs.

``R`` runs on one dataset (``n`` rows) with ``p`` parameters each are a :class:`RunBatch`,
a ``NamedTuple`` of arrays stacked on a leading runs axis, which ``@njit`` and the CUDA
kernels take as they are. One kernel call advances every run of a batch; runs of one batch
may differ in batch size, optimizer, learning rate, schedule and seed (not in model or
dtype). Build a batch with :func:`new_state` and fill each run with :func:`set_run`.

``hpf`` : float64[R, HPF_SIZE]
    Floating hyperparameters, indexed by the ``F_*`` constants.
``hpi`` : int64[R, HPI_SIZE]
    Integer hyperparameters and codes, indexed by the ``I_*`` constants.
``params`` : dtype[R, p]
    Model parameters, in the model's flat order (linear and logistic: ``[w_1, ..., w_d, b]``,
    intercept last when ``fit_intercept``; see :mod:`gdviz.models`; the MLP: PyTorch's
    ``model.parameters()`` order, see :mod:`.mlp`).
``opt_state`` : dtype[R, 3, p]
    Optimizer buffers, meaning per optimizer (all start at zero unless said):

    ========  ======================  =====================  ==========================
    opt       row 0                   row 1                  row 2
    ========  ======================  =====================  ==========================
    sgd       momentum_buffer         unused                 unused
    adam(w)   exp_avg                 exp_avg_sq             max_exp_avg_sq (amsgrad)
    rmsprop   square_avg              grad_avg (centered)    momentum_buffer
    adagrad   sum (starts at          unused                 unused
              initial_accumulator)
    ========  ======================  =====================  ==========================

    :func:`gdviz.runfacts.optimizer_buffers` says how many rows an optimizer really uses.
``perm`` : int64[R, n]
    The current epoch's sample order (row indices of ``X``). A full batch (``B >= n``) has
    no sample order and is never shuffled, whatever ``I_SHUFFLE`` says: ``perm`` holds
    ``0 .. n-1``, written once, and ``S_PERM_EPOCH`` still follows the epochs.
``istate`` : int64[R, ISTATE_SIZE]
    Counters, indexed by the ``S_*`` constants.
``fstate`` : float64[R, FSTATE_SIZE]
    Running sums, indexed by the ``A_*`` constants.

Everything that makes a run continue bit-identically lives in these arrays: a run can be
advanced by any number of updates, stopped and advanced again with the same result.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

# --- codes (named in gdviz.codes, which the scenario schema reads without loading Numba) ---
from gdviz.codes import (  # noqa: E402, F401  (re-exported for the kernels)
    ACT_RELU,
    ACT_SIGMOID,
    ACT_TANH,
    ACTIVATIONS,
    LOSS_BCE,
    LOSS_MSE,
    LOSSES,
    MAX_HIDDEN_LAYERS,
    MODEL_MLP,
    MODEL_LINEAR,
    MODEL_LOGISTIC,
    MODELS,
    OPT_ADAGRAD,
    OPT_ADAM,
    OPT_ADAMW,
    OPT_RMSPROP,
    OPT_SGD,
    OPTIMIZERS,
    SCHED_CONSTANT,
    SCHED_COSINE,
    SCHED_EXPONENTIAL,
    SCHED_STEP,
    SCHEDULES,
)

# --- hpf: float hyperparameters ------------------------------------------------------------
F_LR = 0  # base learning rate
F_MOMENTUM = 1  # sgd, rmsprop
F_DAMPENING = 2  # sgd
F_WEIGHT_DECAY = 3  # all (adamw: decoupled)
F_BETA1 = 4  # adam(w)
F_BETA2 = 5  # adam(w)
F_EPS = 6  # adam(w), rmsprop, adagrad
F_ALPHA = 7  # rmsprop smoothing constant
F_LR_DECAY = 8  # adagrad
F_GAMMA = 9  # step / exponential schedule
F_ETA_MIN = 10  # cosine schedule
F_T_MAX = 11  # cosine schedule, in epochs
F_BLOWUP = 12  # a minibatch loss above this marks the run diverged (inf: never)
HPF_SIZE = 13

# --- hpi: integer hyperparameters ----------------------------------------------------------
I_MODEL = 0
I_OPTIMIZER = 1
I_SCHEDULE = 2
I_BATCH = 3  # batch size B, 1 <= B <= n
I_SHUFFLE = 4  # 1: fresh permutation each epoch (minibatches only; a full batch: data order); 0: data order
I_DROP_LAST = 5  # 1: skip the last partial batch
I_SEED = 6  # the run's seed; epoch e's permutation is a pure function of (seed, e)
I_NESTEROV = 7  # sgd
I_AMSGRAD = 8  # adam(w)
I_CENTERED = 9  # rmsprop
I_STEP_SIZE = 10  # step schedule, in epochs
I_FIT_INTERCEPT = 11  # 1: params[-1] is the intercept b
I_STRIDE = 12  # record a history point every I_STRIDE updates (and at each epoch end)
I_HIDDEN1 = 13  # mlp: width of the first hidden layer (>= 1)
I_HIDDEN2 = 14  # mlp: width of the second hidden layer (0: one hidden layer)
I_ACTIVATION = 15  # mlp: ACT_* code of the hidden layers
I_LOSS = 16  # mlp: LOSS_* code (mse or bce on the output logit)
I_ACCUMULATE = 17  # micro-batches (of I_BATCH rows) whose gradients one optimizer step sums (>= 1)
HPI_SIZE = 18

# --- istate: counters ----------------------------------------------------------------------
S_STEP = 0  # updates done so far (torch's optimizer step count)
S_EPOCH = 1  # epochs completed
S_POS = 2  # index into perm of the next batch's first sample (0: an epoch starts next)
S_WINDOW = 3  # minibatch losses summed in A_LOSS_SUM since the last recorded point
S_DIVERGED = 4  # -1, or the step at which the run diverged (it then does no more updates)
S_PERM_EPOCH = 5  # the epoch whose permutation ``perm`` holds (-1: none yet)
ISTATE_SIZE = 6

# --- fstate: running sums ------------------------------------------------------------------
A_LOSS_SUM = 0  # sum of minibatch losses since the last recorded point
FSTATE_SIZE = 1



# --- the batch of runs ---------------------------------------------------------------------


class RunBatch(NamedTuple):
    """The state of ``R`` runs, stacked on a leading runs axis (see the module doc)."""

    hpf: np.ndarray  # float64[R, HPF_SIZE]
    hpi: np.ndarray  # int64[R, HPI_SIZE]
    params: np.ndarray  # dtype[R, p]
    opt_state: np.ndarray  # dtype[R, 3, p]
    perm: np.ndarray  # int64[R, n]
    istate: np.ndarray  # int64[R, ISTATE_SIZE]
    fstate: np.ndarray  # float64[R, FSTATE_SIZE]

    @property
    def R(self) -> int:
        return int(self.params.shape[0])

    @property
    def n(self) -> int:
        return int(self.perm.shape[1])

    @property
    def p(self) -> int:
        return int(self.params.shape[1])

    def row(self, r: int) -> RunBatch:
        """Run ``r`` alone, as a batch of one whose arrays are views into this batch."""
        return RunBatch(*(a[r : r + 1] for a in self))

    @classmethod
    def stack(cls, batches: list[RunBatch]) -> RunBatch:
        """One batch holding copies of the runs of ``batches``, in order."""
        return cls(*(np.ascontiguousarray(np.concatenate(arrs)) for arrs in zip(*batches)))


def new_state(R: int, n: int, p: int, dtype: Any = np.float64) -> RunBatch:
    """A batch of ``R`` fresh runs on ``n`` rows with ``p`` parameters each.

    Parameters and optimizer buffers are zero, counters say "nothing done yet"
    (``S_DIVERGED = S_PERM_EPOCH = -1``), ``perm`` is ``0 .. n-1``. Hyperparameters are
    zero but for ``F_BLOWUP = inf`` (never diverge by size), ``I_BATCH = n`` (full batch),
    ``I_STRIDE = 1`` and ``I_ACCUMULATE = 1``; set them with :func:`set_run`.
    """
    if R < 0 or n < 1 or p < 1:
        raise ValueError(f"need R >= 0, n >= 1 and p >= 1, got R={R}, n={n}, p={p}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    hpf = np.zeros((R, HPF_SIZE), np.float64)
    hpf[:, F_BLOWUP] = np.inf
    hpi = np.zeros((R, HPI_SIZE), np.int64)
    hpi[:, I_BATCH] = n
    hpi[:, I_STRIDE] = 1
    hpi[:, I_ACCUMULATE] = 1
    istate = np.zeros((R, ISTATE_SIZE), np.int64)
    istate[:, S_DIVERGED] = -1
    istate[:, S_PERM_EPOCH] = -1
    perm = np.empty((R, n), np.int64)
    perm[:] = np.arange(n, dtype=np.int64)
    return RunBatch(
        hpf=hpf,
        hpi=hpi,
        params=np.zeros((R, p), dtype),
        opt_state=np.zeros((R, 3, p), dtype),
        perm=perm,
        istate=istate,
        fstate=np.zeros((R, FSTATE_SIZE), np.float64),
    )


def check_state(state: RunBatch, n: int, d: int, dtype: Any) -> tuple[int, int]:
    """Check ``state`` as runs on ``n`` rows of ``d`` features in ``dtype``; return ``(R, p)``.

    The one check of a batch's runs, for the CPU kernel (:func:`.descent.check_batch`) and
    the CUDA twin (:func:`.gpu_runs.check_runs`): every array a C-contiguous, writable NumPy
    array of its dtype and shape (``R`` and ``p`` read off ``params``; ``R = 0`` passes);
    every run's codes known, its ``p`` its model's, batch, stride and step size in range and
    counters consistent. Raises TypeError for a ``state`` that is no RunBatch, else ValueError.
    """
    if not isinstance(state, RunBatch):
        raise TypeError(f"state must be a RunBatch (from layout.new_state), got {type(state).__name__}")
    params = state.params
    R = params.shape[0] if isinstance(params, np.ndarray) and params.ndim == 2 else -1
    p = params.shape[1] if R >= 0 else -1
    for name, want, shape in (("hpf", np.float64, (R, HPF_SIZE)), ("hpi", np.int64, (R, HPI_SIZE)),
                              ("params", dtype, (R, p)), ("opt_state", dtype, (R, 3, p)), ("perm", np.int64, (R, n)),
                              ("istate", np.int64, (R, ISTATE_SIZE)), ("fstate", np.float64, (R, FSTATE_SIZE))):  # fmt: skip
        arr = getattr(state, name)
        if not (isinstance(arr, np.ndarray) and arr.dtype == want and arr.shape == shape and arr.flags.c_contiguous
                and arr.flags.writeable):
            got = f"{arr.dtype}{list(arr.shape)}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise ValueError(f"state.{name} must be a C-contiguous writable {np.dtype(want).name} array of shape "
                             f"{shape}, got {got}")
    hpi, ist = state.hpi, state.istate
    for r in range(R):
        model, code, schedule = int(hpi[r, I_MODEL]), int(hpi[r, I_OPTIMIZER]), int(hpi[r, I_SCHEDULE])
        B, fit_intercept = int(hpi[r, I_BATCH]), int(hpi[r, I_FIT_INTERCEPT])
        if model not in MODELS.values():
            raise ValueError(f"run {r}: hpi[I_MODEL] must be a MODEL_* code {sorted(MODELS.values())}, got {model}")
        if fit_intercept not in (0, 1):
            raise ValueError(f"run {r}: hpi[I_FIT_INTERCEPT] must be 0 or 1, got {fit_intercept}")
        if model == MODEL_MLP:
            h1, h2 = int(hpi[r, I_HIDDEN1]), int(hpi[r, I_HIDDEN2])
            if h1 < 1 or h2 < 0:
                raise ValueError(f"run {r}: an mlp needs hpi[I_HIDDEN1] >= 1 and hpi[I_HIDDEN2] >= 0, got {h1}, {h2}")
            if int(hpi[r, I_ACTIVATION]) not in ACTIVATIONS.values() or int(hpi[r, I_LOSS]) not in LOSSES.values():
                raise ValueError(f"run {r}: hpi[I_ACTIVATION] must be an ACT_* code {sorted(ACTIVATIONS.values())} and "
                                 f"hpi[I_LOSS] a LOSS_* code {sorted(LOSSES.values())}, got "
                                 f"{hpi[r, I_ACTIVATION]}, {hpi[r, I_LOSS]}")
        from .models import n_params  # a register_jitable: plain Python here

        if p != n_params(hpi[r], d):
            raise ValueError(f"run {r}: the model has {n_params(hpi[r], d)} parameters, state.params has {p}")
        if not OPT_SGD <= code <= OPT_ADAGRAD:
            raise ValueError(f"run {r}: hpi[I_OPTIMIZER] must be an OPT_* code ({OPT_SGD}..{OPT_ADAGRAD}), got {code}")
        if not SCHED_CONSTANT <= schedule <= SCHED_COSINE:
            raise ValueError(
                f"run {r}: hpi[I_SCHEDULE] must be a SCHED_* code ({SCHED_CONSTANT}..{SCHED_COSINE}), got {schedule}"
            )
        if schedule == SCHED_STEP and hpi[r, I_STEP_SIZE] < 1:
            raise ValueError(f"run {r}: hpi[I_STEP_SIZE] must be >= 1 for the step schedule, got {hpi[r, I_STEP_SIZE]}")
        if not 1 <= B <= n:
            raise ValueError(f"run {r}: hpi[I_BATCH] must be in 1..n={n}, got {B}")
        if hpi[r, I_STRIDE] < 1:
            raise ValueError(f"run {r}: hpi[I_STRIDE] must be >= 1, got {hpi[r, I_STRIDE]}")
        if hpi[r, I_ACCUMULATE] < 1:
            raise ValueError(f"run {r}: hpi[I_ACCUMULATE] must be >= 1 (1: no accumulation), got {hpi[r, I_ACCUMULATE]}")
        if not 0 <= ist[r, S_POS] < n or ist[r, S_STEP] < 0 or ist[r, S_EPOCH] < 0:
            raise ValueError(f"run {r}: istate is inconsistent: {ist[r].tolist()} (a fresh run is [0, 0, 0, 0, -1, -1])")
        if ist[r, S_POS] != 0 and ist[r, S_PERM_EPOCH] != ist[r, S_EPOCH]:
            raise ValueError(f"run {r}: istate is mid-epoch but perm holds epoch {ist[r, S_PERM_EPOCH]}, not {ist[r, S_EPOCH]}")
    return R, p


#: ``set_run`` keyword -> index in ``hpf``: the one table of float hyperparameters.
FLOAT_KEYS = {
    "learning_rate": F_LR,
    "momentum": F_MOMENTUM,
    "dampening": F_DAMPENING,
    "weight_decay": F_WEIGHT_DECAY,
    "beta1": F_BETA1,
    "beta2": F_BETA2,
    "eps": F_EPS,
    "alpha": F_ALPHA,
    "lr_decay": F_LR_DECAY,
    "gamma": F_GAMMA,
    "eta_min": F_ETA_MIN,
    "t_max": F_T_MAX,
    "blowup": F_BLOWUP,
}
#: ``set_run`` keyword -> index in ``hpi``. ``model``, ``optimizer`` and ``schedule`` also
#: take their scenario names ("adam"), mapped through ``MODELS``, ``OPTIMIZERS``, ``SCHEDULES``.
INT_KEYS = {
    "model": I_MODEL,
    "optimizer": I_OPTIMIZER,
    "schedule": I_SCHEDULE,
    "batch": I_BATCH,
    "shuffle": I_SHUFFLE,
    "drop_last": I_DROP_LAST,
    "seed": I_SEED,
    "nesterov": I_NESTEROV,
    "amsgrad": I_AMSGRAD,
    "centered": I_CENTERED,
    "step_size": I_STEP_SIZE,
    "fit_intercept": I_FIT_INTERCEPT,
    "stride": I_STRIDE,
    "hidden1": I_HIDDEN1,
    "hidden2": I_HIDDEN2,
    "activation": I_ACTIVATION,
    "loss": I_LOSS,
    "accumulate": I_ACCUMULATE,
}
NAMED = {"model": MODELS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "activation": ACTIVATIONS, "loss": LOSSES}


def set_run(state: RunBatch, r: int, *, params: Any = None, initial_accumulator_value: float = 0.0,
            **hyper: Any) -> None:
    """Make run ``r`` of ``state`` a fresh run with the given settings.

    ``hyper`` keywords are the keys of :data:`FLOAT_KEYS` and :data:`INT_KEYS` (``betas``
    also sets ``beta1`` and ``beta2``); unset ones keep their value. The run's counters,
    running sums and optimizer buffers are reset (Adagrad's ``sum`` to
    ``initial_accumulator_value``, as torch), its order to ``0 .. n-1``, and its parameters
    set to ``params`` when given.
    """
    if "betas" in hyper:
        hyper["beta1"], hyper["beta2"] = hyper.pop("betas")
    for key, value in hyper.items():
        if key in FLOAT_KEYS:
            state.hpf[r, FLOAT_KEYS[key]] = float(value)
        elif key in INT_KEYS:
            if isinstance(value, str):
                value = NAMED[key][value]
            state.hpi[r, INT_KEYS[key]] = int(value)
        else:
            raise TypeError(f"set_run() got an unknown setting {key!r}; known: {sorted(FLOAT_KEYS) + sorted(INT_KEYS)}")
    state.istate[r] = 0
    state.istate[r, S_DIVERGED] = -1
    state.istate[r, S_PERM_EPOCH] = -1
    state.fstate[r] = 0.0
    state.perm[r] = np.arange(state.perm.shape[1], dtype=np.int64)
    state.opt_state[r] = 0.0
    if state.hpi[r, I_OPTIMIZER] == OPT_ADAGRAD:
        state.opt_state[r, 0] = initial_accumulator_value
    if params is not None:
        state.params[r] = np.asarray(params, dtype=state.params.dtype)

