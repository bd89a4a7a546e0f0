"""The engine: turns a scenario and its dataset into a batch of runs, and advances them.

It is the only place that decides the compute target, how runs are grouped into kernel
calls, whether a call spreads its runs over threads, the chunk sizes and the recording
stride. Kernels know nothing of scenarios; the UI never computes gradients.

Runs that share a dtype share one :class:`~gdviz.kernels.layout.RunBatch` (a *group*), and
one kernel call advances every unfinished run of a group (on the GPU, one launch). Each
:class:`Run` holds views into its group's arrays. How updates are cut into chunks, and which
runs share a call, never changes a result, bit for bit. After each call, the full-dataset
loss, the validation loss (held-out rows) and the gradient noise of every new point of every
run are evaluated in one batched pass (:class:`gdviz.models.Model`), outside the timed kernels.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gdviz import kernels as K
from gdviz.data import Dataset
from gdviz.engine_cuda import CudaTarget
from gdviz.engine_measures import Measures
from gdviz.heldout import RowsLoss
from gdviz.forks import ForkOrigin, fork_spec, prefix, shifted
from gdviz.history import History, HistoryChunk
from gdviz.kernels import layout as L
from gdviz.models import Model, model_of
from gdviz.numba_cache import guard_against_damage
from gdviz.runfacts import method_name, plan_of
from gdviz.runs import Group, Run, RunSummary, summarize
from gdviz.scenario import RunSpec, Scenario, TrainSpec

__all__ = ["Engine", "Run", "RunSummary", "method_name", "warm_up"]

guard_against_damage()  # before the first kernel call loads anything from Numba's cache

#: Recorded points per run, not counting epoch ends (bounds a run's history memory).
MAX_POINTS = 4000
#: Recorded points of all runs together: with many runs each records fewer (never fewer than
#: MIN_POINTS), so that the history's memory and the full-loss evaluation of every point stay
#: bounded (192 runs at 4000 points would hold 67 MB of parameters at d = 10).
POINTS_BUDGET = 3 * MAX_POINTS
MIN_POINTS = 500
#: Points per run at which gradient noise is evaluated (shared out of NOISE_BUDGET when there
#: are many runs, at least MIN_NOISE_POINTS: each point is a pass over the data).
NOISE_POINTS = 64
NOISE_BUDGET = 4 * NOISE_POINTS
MIN_NOISE_POINTS = 16
#: A minibatch loss this many times the initial full loss marks a run as diverged.
BLOWUP_FACTOR = 1e6
#: Seconds of kernel time the engine aims for in one advance() call, all runs together.
CHUNK_SECONDS = 0.02
#: Rows a run's first call visits at most (its chunk before its speed is measured).
FIRST_CHUNK_ROWS = 1 << 16
#: A group advances its runs on several threads when it has at least this many unfinished
#: runs (below, the thread pool's start costs more than it saves).
PARALLEL_MIN_RUNS = 4


def _dtype(name: str) -> type:
    return np.float32 if name == "float32" else np.float64


class Engine(Measures, CudaTarget):
    """Runs of one scenario over one dataset, advanced by chunks, a group per kernel call.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    dataset : Dataset
        Its dataset (float64; converted here to each run's dtype).
    max_points : int, optional
        Recorded points per run, not counting epoch ends; by default ``MAX_POINTS`` shared
        out of ``POINTS_BUDGET`` when there are more than three runs (at least ``MIN_POINTS``).
    target : str
        ``"cpu"`` (the default), ``"cuda"`` or ``"auto"``, resolved by
        :func:`gdviz.target.resolve_target`: ``self.target`` is where the runs compute and
        ``self.target_note`` says why when that is not what was asked for (also after a CUDA
        failure at run time, which continues on the CPU).
    """

    def __init__(
        self, scenario: Scenario, dataset: Dataset, *, max_points: int | None = None, target: str = "cpu"
    ) -> None:
        self.scenario = scenario
        self.dataset = dataset
        self.target = "cpu"
        #: Why the target is not the one asked for ("" when it is); for stderr and the status line.
        self.target_note = ""
        if max_points is None:
            max_points = max(MIN_POINTS, min(MAX_POINTS, POINTS_BUDGET // max(1, len(scenario.runs))))
        self.max_points = max_points
        self.noise_points = max(MIN_NOISE_POINTS, min(NOISE_POINTS, NOISE_BUDGET // max(1, len(scenario.runs))))
        n, d = dataset.X.shape
        self.n, self.d = n, d
        self.fit_intercept = bool(scenario.model.fit_intercept)
        #: The model's host-side description: parameter count and names, fitted line, units.
        self.model: Model = model_of(scenario, d)
        self.p = self.model.n_params
        self._data: dict[type, tuple[np.ndarray, np.ndarray]] = {}
        X64 = np.ascontiguousarray(dataset.X, dtype=np.float64)
        y64 = np.ascontiguousarray(dataset.y, dtype=np.float64)
        self._data[np.float64] = (X64, y64)
        if self.model.kind == "linear":
            # L(theta) = loss_star + (theta - theta_star)^T A (theta - theta_star), A = Xa^T Xa / n
            self._A, _, self.theta_star, self.loss_star = K.linear_stats(X64, y64, self.fit_intercept)
        else:
            self.theta_star, self.loss_star = None, None
        #: The loss over the held-out rows (``[data] validation``), None when none are held out.
        self.validation = RowsLoss(self.model, dataset.X_val, dataset.y_val) if dataset.X_val is not None else None
        self.init = self.model.initial_params(scenario.model.init)
        self.initial_loss = float(self.full_loss(self.init[None, :])[0])
        self.runs = [self._make_run(i, spec) for i, spec in enumerate(scenario.runs)]
        self._groups: list[Group] = []
        self._gpu_data: dict[type, tuple] = {}  # dtype -> X, y on the device, shared by the groups
        self._regroup()
        if target != "cpu":
            from gdviz.target import resolve_target

            self.target, self.target_note = resolve_target(target, need_bytes=self._device_bytes())
        self._add_initial_points(self.runs)

    # --- set-up ------------------------------------------------------------------------------
    def data(self, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``y`` in ``dtype``, converted once and shared by the runs."""
        if dtype not in self._data:
            X64, y64 = self._data[np.float64]
            self._data[dtype] = (np.ascontiguousarray(X64, dtype=dtype), np.ascontiguousarray(y64, dtype=dtype))
        return self._data[dtype]

    def _make_run(self, index: int, spec: RunSpec, total_updates: int | None = None) -> Run:
        t = spec.train
        plan = plan_of(spec, n=self.n, d=self.d, p=self.p)
        facts = plan.segments[0].facts
        total = plan.total_updates if total_updates is None else total_updates
        stride = max(1, math.ceil(total / self.max_points))
        expected_points = total // stride + math.ceil(plan.epoch_of(total)) + 1  # + 1 point per epoch end
        state = self.new_run_state(t, facts.batch, spec.seed, stride)
        return Run(index=index, spec=spec, plan=plan, total_updates=total, stride=stride,
                   noise_every=max(1, math.ceil(expected_points / self.noise_points)), state=state,
                   history=History(self.p))  # fmt: skip

    def new_run_state(self, t: TrainSpec, batch: int, seed: int, stride: int) -> L.RunBatch:
        """A fresh run (a batch of one) of the ``[train]`` settings ``t`` at the initial
        parameters: what a run of the scenario, a sweep's cell or a fork starts from."""
        state = L.new_state(1, self.n, self.p, _dtype(t.dtype))
        hyper = {k: getattr(t, k) for k in (*L.FLOAT_KEYS, *L.INT_KEYS, "betas") if hasattr(t, k)}
        L.set_run(state, 0, params=self.init, initial_accumulator_value=t.initial_accumulator_value,
                  **hyper, **self.model.kernel_settings(), batch=batch, seed=seed, stride=stride,
                  blowup=BLOWUP_FACTOR * max(self.initial_loss, 1e-3))  # fmt: skip
        return state

    def _regroup(self) -> None:
        """Stack the runs' states into one RunBatch per dtype and point each run at its row."""
        by_dtype: dict[type, list[Run]] = {}
        for run in self.runs:
            by_dtype.setdefault(run.params.dtype.type, []).append(run)
        self._groups = []
        for dtype, runs in by_dtype.items():
            state = L.RunBatch.stack([run.state for run in runs])
            for r, run in enumerate(runs):
                run.state = state.row(r)
            self._groups.append(Group(dtype, state, runs))

    def _add_initial_points(self, runs: list[Run]) -> None:
        thetas = np.stack([run.params.astype(np.float64) for run in runs])
        full = self.full_loss(thetas)
        noise, scale = self._noise_stats(thetas, [run.facts.update_batch for run in runs])
        val = self.validation_loss(thetas)
        for r, (run, theta, f, z, bs) in enumerate(zip(runs, thetas, full, noise, scale)):
            run.points_seen = 1
            run.history.append(HistoryChunk(
                run=run.index, step=np.zeros(1, np.int64), epoch=np.zeros(1), seconds=np.zeros(1),
                loss=np.full(1, np.nan), full_loss=np.array([f]), noise=np.array([z]), params=theta[None, :],
                done=run.done, diverged_step=None, b_simple=np.array([bs]),
                val_loss=None if val is None else val[r : r + 1],
            ))  # fmt: skip

    # --- advancing ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(run.done for run in self.runs)

    def _first_chunk(self, run: Run) -> int:
        """Updates in a run's first call, before its speed is known: up to 256, about
        ``FIRST_CHUNK_ROWS`` rows in all. A call's fixed cost (entering the kernel, its
        buffers, a cold cache) is shared by the updates it does, so a first call of one
        update would give a full batch's first point several times its real cost (issue 13);
        on a large dataset one update is already that many rows."""
        return max(1, min(256, FIRST_CHUNK_ROWS // max(run.batch, 1)))

    def advance(self, seconds: float = CHUNK_SECONDS) -> list[HistoryChunk]:
        """Advance every unfinished run, one kernel call per group, for about ``seconds`` in all.

        Each run's share of the time is sized from its own measured rate. Returns the chunks
        recorded (also appended to each run's history).
        """
        active = sum(not run.done for run in self.runs)
        if active == 0:
            return []
        threads = _threads() if active >= PARALLEL_MIN_RUNS else 1
        share = seconds * threads / active
        todo = {}
        for run in self.runs:
            if not run.done:
                todo[run.index] = max(1, int(run.rate * share)) if run.rate > 0 else self._first_chunk(run)
        return self._advance(todo)

    def advance_run(self, run: Run, n_updates: int) -> HistoryChunk:
        """Advance one run by up to ``n_updates`` updates and return what it recorded."""
        chunks = self._advance({run.index: n_updates}, append=False)
        return chunks[0] if chunks else self._empty_chunk(run)

    def _advance(self, todo: dict[int, int], append: bool = True) -> list[HistoryChunk]:
        """Advance run ``i`` by ``todo[i]`` updates (capped at its end), group by group."""
        recorded: list[tuple[Run, np.ndarray, np.ndarray, np.ndarray, int, float]] = []
        for group in self._groups:
            n_up = np.zeros(len(group.runs), np.int64)
            for r, run in enumerate(group.runs):
                if run.index in todo and not run.done:
                    self._enter_segment(group, run)
                    # A call never crosses a change of batch size: the batch changes between calls.
                    end = min(run.total_updates, run.plan.end_step(run.segment))
                    n_up[r] = max(0, min(int(todo[run.index]), end - run.step))
            if not n_up.any():
                continue
            cap = max(K.history_capacity(int(k), run.stride, run.updates_per_epoch)
                      for k, run in zip(n_up, group.runs))  # fmt: skip
            chunk = self._gpu_advance(group, n_up, cap) if self.target == "cuda" else None
            if chunk is None:
                X, y = self.data(group.dtype)
                chunk = K.advance_batch(X, y, group.state, n_up, cap,
                                        parallel=int(np.count_nonzero(n_up)) >= PARALLEL_MIN_RUNS)
            for r, run in enumerate(group.runs):
                if n_up[r] == 0:
                    continue
                k, n_done, dt = int(chunk.n_points[r]), int(chunk.n_done[r]), float(chunk.seconds[r])
                if n_done > 0 and dt > 0:
                    run.rate = n_done / dt
                recorded.append((run, chunk.step[r, :k].copy(), chunk.params[r, :k].astype(np.float64),
                                 chunk.loss[r, :k].copy(), n_done, dt))  # fmt: skip
        # A fork's chunks are counted from the start of training (gdviz.forks).
        chunks = [shifted(c, self.runs[c.run].origin) for c in self._finish(recorded, append=False)]
        if append:
            for c in chunks:
                self.runs[c.run].history.append(c)
        return chunks

    def _enter_segment(self, group: Group, run: Run) -> None:
        """Give ``run`` the batch size of the plan's segment its next update falls in (a batch
        schedule), at the epoch boundary where the previous segment ended."""
        i = run.plan.index_at_step(run.step)
        if i == run.segment:
            return
        run.segment = i
        run.hpi[L.I_BATCH] = run.facts.batch
        # The next epoch's order is made afresh (a full batch's: data order), whatever it was.
        run.istate[L.S_PERM_EPOCH] = -1
        self._release(group)  # a device copy holds the old batch size: made again at the next call

    def _finish(self, recorded: list, append: bool) -> list[HistoryChunk]:
        """Full loss, validation loss and noise of every new point in one batched pass; the runs'
        history chunks."""
        if not recorded:
            return []
        all_params = np.concatenate([rec[2] for rec in recorded]) if recorded else np.empty((0, self.p))
        full = self.full_loss(all_params) if len(all_params) else np.empty(0)
        val = self.validation_loss(all_params)
        # Points where noise is due: every noise_every-th point of a run, and its last.
        due_thetas, due_batches, due_where = [], [], []
        offset = 0
        for run, steps, params, _loss, _n_done, _dt in recorded:
            k = len(steps)
            due = ((run.points_seen + np.arange(k)) % run.noise_every == 0) | (steps >= run.total_updates)
            where = np.flatnonzero(due)
            due_thetas.append(params[where])
            due_batches.extend([run.facts.update_batch] * len(where))
            due_where.append(offset + where)
            offset += k
        noise = np.full(len(all_params), np.nan)
        scale = np.full(len(all_params), np.nan)
        if due_batches:
            where = np.concatenate(due_where)
            noise[where], scale[where] = self._noise_stats(np.concatenate(due_thetas), due_batches)
        chunks = []
        offset = 0
        for run, steps, params, loss, n_done, dt in recorded:
            k = len(steps)
            z = noise[offset : offset + k]
            start_step = run.step - n_done
            start_seconds = run.seconds
            run.seconds += dt
            run.points_seen += k
            # Each point's time: the run's own chunk time shared out in proportion to its updates.
            frac = (steps - start_step) / max(n_done, 1)
            chunk = HistoryChunk(
                run=run.index, step=steps, epoch=run.epochs_at(steps), seconds=start_seconds + frac * dt,
                loss=loss, full_loss=full[offset : offset + k], noise=z.copy(), params=params, done=run.done,
                diverged_step=run.diverged_step, b_simple=scale[offset : offset + k].copy(),
                val_loss=None if val is None else val[offset : offset + k],
            )  # fmt: skip
            offset += k
            if append:
                run.history.append(chunk)
            chunks.append(chunk)
        chunks.sort(key=lambda c: c.run)
        return chunks

    def run_to_end(self, seconds: float = CHUNK_SECONDS) -> None:
        """Advance every run to its last epoch (or until it diverges)."""
        while not self.done:
            self.advance(seconds)

    # --- forks -------------------------------------------------------------------------------
    def fork_run(
        self,
        parent: int,
        at: int | None = None,
        *,
        epochs: float | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        **train_changes: object,
    ) -> Run:
        """Add a run beside run ``parent`` that starts at one of its points with new settings.

        The parent is left as it is (it goes on, or stays finished); the fork is appended to
        :attr:`runs` and regrouped with the runs of its dtype, which changes no other run's
        result. Its history starts with the parent's points up to the fork point, and what it
        records is counted from the start of training (:mod:`gdviz.forks`).

        Parameters
        ----------
        parent : int
            The run to fork.
        at : int, optional
            Fork at the parent's ``at``-th recorded point (``1 <= at <= len(history)``; the
            point's index is ``at - 1``); by default its last.
        epochs : float, optional
            Epochs the fork trains for (rounded up to whole updates, at least one); by default
            what the parent had left at the fork point. A run forked at its end needs it.
        batch_size : int, optional
            The new batch size; ``n`` or more means the full batch; by default the one in
            force. A fork trains at one batch size: a batch schedule does not carry over.
        name : str, optional
            By default ``"<parent> ⑂ <what changed> @ep <epoch>"``.
        **train_changes
            ``[train]`` settings to change (``learning_rate``, ``optimizer``, ...). The fork
            starts with fresh optimizer state, as a new ``torch.optim`` optimizer would.
        """
        old = self.runs[parent]
        h = old.history
        k = len(h) if at is None else int(at)
        if not 1 <= k <= len(h):
            raise ValueError(f"fork point must be 1 .. {len(h)} (the parent's recorded points), got {at}")
        start = h.params[k - 1]
        if not np.all(np.isfinite(start)):
            raise ValueError(f"{old.name} is not finite at that point (it diverged): fork from an earlier point")
        origin = ForkOrigin(parent, k - 1, int(h.step[k - 1]), float(h.epoch[k - 1]), float(h.seconds[k - 1]))
        if batch_size is None:  # a fork trains at one batch size: the one in force (a schedule ends here)
            batch_size = old.batch
        spec = fork_spec(old.spec, self.n, batch_size=batch_size, name=name, epoch=origin.epoch, **train_changes)
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, batch_schedule=None))
        t = spec.train
        upe = plan_of(spec, n=self.n, d=self.d, p=self.p).segments[0].facts.updates_per_epoch
        if epochs is None:
            epochs = old.end_epoch - origin.epoch
        if not epochs > 0:
            raise ValueError(f"{old.name} has no epochs left at epoch {origin.epoch:g}: say how many the fork trains")
        total = max(1, math.ceil(epochs * upe - 1e-9))
        spec = dataclasses.replace(spec, train=dataclasses.replace(t, epochs=origin.epoch + total / upe))
        run = self._make_run(len(self.runs), spec, total_updates=total)
        run.params[:] = np.asarray(start, dtype=run.params.dtype)
        run.origin = origin
        run.history.append(prefix(h, k))
        run.points_seen = 1
        self._release_device()  # the groups are restacked: device states are remade from the host's
        self.runs.append(run)
        self._regroup()
        return run

    def _empty_chunk(self, run: Run) -> HistoryChunk:
        e = np.empty(0)
        return shifted(HistoryChunk(
            run.index, np.empty(0, np.int64), e, e, e, e, e, np.empty((0, self.p)), run.done, run.diverged_step
        ), run.origin)

    # --- results -----------------------------------------------------------------------------
    def summary(self, run: Run) -> RunSummary:
        """The run's measured figures (one source for the table, the JSON and the TUI)."""
        parent = self.runs[run.origin.parent].name if run.origin is not None else None
        return summarize(run, self.model, self.dataset, parent)

    def summaries(self) -> list[RunSummary]:
        return [self.summary(run) for run in self.runs]


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def warm_up(dtypes: set[str], parallel: bool = False) -> None:
    """Compile (or load from Numba's cache) the kernels for ``dtypes`` on a tiny problem."""
    for name in sorted(dtypes):
        dt = _dtype(name)
        X = np.ones((2, 1), dt)
        y = np.ones(2, dt)
        for model in L.MODELS.values():
            net = {"hidden1": 1} if model == L.MODEL_MLP else {}
            state = L.new_state(1, 2, 4 if net else 2, dt)
            L.set_run(state, 0, model=model, fit_intercept=1, learning_rate=0.01, batch=1, **net)
            K.advance_batch(X, y, state, 1, parallel=False)
            if parallel:  # two runs of different orders: threads over runs (one order would take kernels.shared)
                pair = L.RunBatch.stack([state, state])
                pair.hpi[1, L.I_BATCH] = 2
                K.advance_batch(X, y, pair, 1, parallel=True)
    K.full_loss(np.ones((2, 1)), np.ones(2), np.zeros((1, 2)), L.MODEL_LOGISTIC, True)
