"""Training a sweep's cells: many runs at once in one batch of kernel slots, each to its target.

A sweep is a grid of runs (batch size x learning rate x seed) that each stop when their
full-dataset loss first reaches the target. The runner keeps ``slots`` runs in one
:class:`~gdviz.kernels.layout.RunBatch` and advances all of them with one
:func:`~gdviz.kernels.advance_batch` call per round (threads over runs), as the engine does
for a scenario's runs; when a cell ends (target reached, diverged, or ``max_epochs`` done)
its slot takes the next cell. A cell is exactly the run :class:`~gdviz.engine.Engine` would
train alone with the same settings, bit for bit: the slots share nothing but the data.

Where a cell reached the target is read off its recorded points. The recording stride of a
cell grows with its step count: 1 up to step 2·RESOLUTION, then ``2^k / RESOLUTION`` for
steps in ``[2^k, 2^(k+1))``, so a cell's points are at most 1/RESOLUTION of its steps
apart at every scale, on the log-log axes the sweep is read on; a cell records at its epoch
ends too. A round never takes a cell across a power of two, so the stride is constant within
a call and the recorded steps are a function of the step alone, whatever the rounds' sizes
(which follow measured speeds): a sweep's figures are the same on every run of it.
Recording never changes a run's arithmetic, so the bit-for-bit contract holds.

Cells that cannot differ are trained once: a full batch (``B >= n``) is never shuffled, so
its seeds are one run (and with ``shuffle = false``, so are every batch size's seeds).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from gdviz import kernels as K
from gdviz.data import Dataset
from gdviz.engine import PARALLEL_MIN_RUNS, Engine, _threads
from gdviz.errors import ScenarioError
from gdviz.kernels import layout as L
from gdviz.runfacts import run_facts
from gdviz.scenario import Scenario
from gdviz.sweep.result import DIVERGED, NOT_REACHED, REACHED, Cell, CellResult, SweepResult, result_of

#: A cell's recorded points are at most 1/RESOLUTION of its steps apart (3 %). Each point
#: costs a full-dataset loss (a pass over the data, but for linear regression's closed form),
#: so a finer resolution costs more than the training itself on long cells.
RESOLUTION = 32
#: Kernel slots: runs advanced together per call (bounds memory: each holds an order of n rows).
SLOTS = 256
#: History points a slot may record per round (the kernel stops a run early when they run out).
ROUND_POINTS = 64
#: Seconds of kernel time a round aims for, all slots together.
ROUND_SECONDS = 0.05


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _positions(nb: int, nl: int, ns: int, only: list[int] | None) -> list[tuple[int, int, int]]:
    """``(b_index, lr_index, seed_index)`` of the cells, seed-major; with ``only``, of just
    those cell indices (a task of a large sweep builds its own cells, not the sweep's)."""
    if only is None:
        return [(i, j, k) for k in range(ns) for j in range(nl) for i in range(nb)]
    cells = {x for x in only if 0 <= x < nb * nl * ns}
    return sorted(((x // ns // nl, x // ns % nl, x % ns) for x in cells), key=lambda p: (p[2], p[1], p[0]))


class SweepRunner:
    """The cells of ``scenario``'s ``[sweep]`` on ``dataset``, trained round by round.

    Call :meth:`advance` until :attr:`done` (each call is one round of about
    ``ROUND_SECONDS``), or :meth:`run_to_end`; :meth:`result` gives the figures so far at any
    time. Raises :class:`ScenarioError` (exit 2) when the scenario has no ``[sweep]`` or the
    sweep would not fit in memory.

    ``only`` (cell indices, :attr:`Cell.index`) trains just those cells, e.g. one task of a
    sweep spread over a cluster; each cell's result is the same whichever cells share its
    runner (a seed-independent cell listed without its seed-0 twin is trained itself).
    ``parallel=False`` keeps the kernels off Numba's threads (results are the same), for a
    process where other threads may enter them at the same time (a Dask worker with
    several threads: Numba's workqueue threading layer aborts the process then).
    """

    def __init__(self, scenario: Scenario, dataset: Dataset, *, slots: int = SLOTS,
                 only: list[int] | None = None, parallel: bool = True) -> None:
        spec = scenario.sweep
        if spec is None:
            raise ScenarioError(f"{scenario.label}: no [sweep] table; add one, e.g.\n  [sweep]\n"
                                '  batch_sizes = [1, 8, 64, "full"]\n'
                                "  learning_rates = { from = 0.001, to = 1.0, points = 10 }", title="nothing to sweep")
        self.spec = spec
        self.scenario = scenario
        self.engine = Engine(scenario, dataset)
        e = self.engine
        self.n, self.p = e.n, e.p
        base = spec.base
        self.cells: list[Cell] = []
        nb, nl, ns = len(spec.batch_sizes), len(spec.learning_rates), len(spec.seeds)
        self.shape = (nb, nl, ns)
        self._facts = [run_facts(n=e.n, d=e.d, p=e.p, batch_size=b, drop_last=bool(base.drop_last),
                                 optimizer=base.optimizer) for b in spec.batch_sizes]  # fmt: skip
        self.batches = [f.batch for f in self._facts]
        # Seed-major order: every (batch size, learning rate) has a first answer early.
        for i, j, k in _positions(nb, nl, ns, only):
            f = self._facts[i]
            self.cells.append(Cell(index=(i * nl + j) * ns + k, b_index=i, lr_index=j, seed_index=k,
                                   batch_size=spec.batch_sizes[i], batch=f.batch,
                                   learning_rate=spec.learning_rates[j], seed=spec.seeds[k],
                                   updates_per_epoch=f.updates_per_epoch))  # fmt: skip
        # A cell whose order cannot depend on its seed is trained once, for seed index 0.
        self._copies: dict[tuple[int, int], list[Cell]] = {}
        trained = {self._key(c) for c in self.cells if c.seed_index == 0}
        todo = []
        for c in self.cells:
            same = c.batch >= e.n or not base.shuffle
            if same and c.seed_index > 0 and self._key(c) in trained:
                self._copies.setdefault(self._key(c), []).append(c)
            else:
                todo.append(c)
        self._pending = todo[::-1]  # popped from the end
        self.slots = max(1, min(slots, len(todo)))
        self._check_memory()
        self.dtype = np.float32 if base.dtype == "float32" else np.float64
        self.state = L.new_state(self.slots, e.n, e.p, self.dtype)
        self._cell: list[Cell | None] = [None] * self.slots
        self._total = np.zeros(self.slots, np.int64)
        self._rate = np.zeros(self.slots)
        self._seconds = np.zeros(self.slots)
        self.results: list[CellResult] = []
        self.seconds = 0.0  # wall time of the rounds
        self.updates = 0  # updates the kernels did
        self.parallel = parallel
        self._threads = _threads() if parallel else 1
        self._pool = None
        self._pair_steps: dict[tuple[int, int], int] = {}  # steps an ended seed took, by (batch, lr)
        for r in range(self.slots):
            self._fill(r)

    # --- set-up ------------------------------------------------------------------------------
    @staticmethod
    def _key(c: Cell) -> tuple[int, int]:
        return (c.b_index, c.lr_index)

    def _check_memory(self) -> None:
        """The slots' state and a round's records must fit in half the memory available."""
        e = self.engine
        item = 4 if self.scenario.runs and self.spec.base.dtype == "float32" else 8
        per_slot = 8 * e.n + item * 4 * e.p + 8 * 64 + (ROUND_POINTS + 3) * (8 + 8 + item * e.p)
        per_cell = 400 + 8 * e.p  # a result and the parameters where the target was reached
        need = self.slots * per_slot + len(self.cells) * per_cell + e.n * (e.d + 1) * 16
        avail = _available_bytes()
        if avail is not None and need > avail // 2:
            raise ScenarioError(
                f"{self.scenario.label}: sweep: {len(self.cells):,} cells on n = {e.n:,} rows need about "
                f"{need / 1e9:.1f} GB, but {avail / 1e9:.1f} GB is available; use fewer cells or rows",
                title="sweep too large")

    def _fill(self, r: int) -> None:
        """Put the next pending cell in slot ``r`` (or leave it idle)."""
        if not self._pending:
            self._cell[r] = None
            return
        c = self._pending.pop()
        t = dataclasses.replace(self.spec.base, learning_rate=c.learning_rate)
        one = self.engine.new_run_state(t, c.batch, c.seed, stride=1)
        for big, small in zip(self.state, one, strict=True):
            big[r] = small[0]
        self._cell[r] = c
        self._total[r] = c.updates_per_epoch * self.spec.max_epochs
        self._rate[r] = 0.0
        self._seconds[r] = 0.0

    # --- progress ----------------------------------------------------------------------------
    @property
    def total_cells(self) -> int:
        return len(self.cells)

    @property
    def done(self) -> bool:
        return all(c is None for c in self._cell)

    @property
    def cells_done(self) -> int:
        return len(self.results)

    def eta(self) -> float | None:
        """Seconds left, from the share of the sweep's work done so far (None at the start).

        A cell's work is its steps times ``B + 8`` (rows visited, plus a per-update cost).
        A cell still to train is expected to take the steps its (batch size, learning rate)
        took with an earlier seed (cells run seed-major, so after the first pass every pair
        has one), else the median its batch size took so far, else its whole budget of
        ``max_epochs``. The wall time so far, scaled by the work left over the work done,
        is the estimate: slow cells (small learning rates that never reach the target) end
        last, so a count of cells done would promise far too little time.
        """
        by_batch: dict[int, list[int]] = {}
        for (i, _), steps in self._pair_steps.items():
            by_batch.setdefault(i, []).append(steps)

        def expected(c: Cell) -> float:
            seen = by_batch.get(c.b_index)
            guess = float(np.median(seen)) if seen else c.updates_per_epoch * self.spec.max_epochs
            return self._pair_steps.get(self._key(c), guess) * (c.batch + 8)

        st = self.state
        done = sum(r.steps * (r.cell.batch + 8) for r in self.results if r.same_as_seed is None)
        left = 0.0
        for r, c in enumerate(self._cell):
            if c is not None:
                step = int(st.istate[r, L.S_STEP])
                done += step * (c.batch + 8)
                left += max(expected(c) - step * (c.batch + 8), 0.0)
        left += sum(expected(c) for c in self._pending)
        if done <= 0 or self.seconds <= 0:
            return None
        return self.seconds * left / done

    # --- rounds ------------------------------------------------------------------------------
    def advance(self, seconds: float = ROUND_SECONDS) -> list[CellResult]:
        """One round: every busy slot advances by its share of ``seconds``; returns the cells
        that ended in it (copies of seed-independent cells included)."""
        busy = np.array([c is not None for c in self._cell])
        if not busy.any():
            return []
        t0 = time.perf_counter()
        st = self.state
        step = st.istate[:, L.S_STEP]
        # The recording stride of the round's first step a: 1 below 2·RESOLUTION, else
        # 2^k / RESOLUTION for a in [2^k, 2^(k+1)); the round ends at 2^(k+1) at the latest.
        a = step + 1
        k = np.floor(np.log2(a)).astype(np.int64)
        small = a < 2 * RESOLUTION
        st.hpi[:, L.I_STRIDE] = np.where(small, 1, 2 ** np.maximum(k - int(math.log2(RESOLUTION)), 0))
        limit = np.where(small, 2 * RESOLUTION, 2 ** (k + 1))
        threads = self._threads if busy.sum() >= PARALLEL_MIN_RUNS else 1
        share = seconds * threads / busy.sum()
        upe = np.array([c.updates_per_epoch if c is not None else 1 for c in self._cell])
        want = np.where(self._rate > 0, np.maximum(1, self._rate * share), np.minimum(upe, 256)).astype(np.int64)
        n_up = np.where(busy, np.minimum(want, np.minimum(self._total, limit) - step), 0)
        X, y = self.engine.data(self.dtype)
        parallel = bool(self.parallel and busy.sum() >= PARALLEL_MIN_RUNS)
        chunk = K.advance_batch(X, y, st, n_up, ROUND_POINTS + 3, parallel=parallel)
        ok = (chunk.n_done > 0) & (chunk.seconds > 0)
        self._rate[ok] = chunk.n_done[ok] / chunk.seconds[ok]
        self._seconds += chunk.seconds
        self.updates += int(chunk.n_done.sum())
        ended = self._read_points(chunk)
        self.seconds += time.perf_counter() - t0
        return ended

    def _read_points(self, chunk: K.Chunk) -> list[CellResult]:
        """Full losses of every recorded point in one pass; end the cells that are done."""
        k = chunk.n_points
        cap = chunk.step.shape[1]
        mask = np.arange(cap)[None, :] < k[:, None]
        losses = np.full(mask.shape, np.inf)
        if mask.any():
            losses[mask] = self._full_loss(chunk.params[mask].astype(np.float64))
        target = self.spec.target_loss
        with np.errstate(invalid="ignore"):
            hit = mask & (losses <= target)
        ended = []
        st = self.state
        for r, c in enumerate(self._cell):
            if c is None:
                continue
            step = int(st.istate[r, L.S_STEP])
            last = float(losses[r, k[r] - 1]) if k[r] > 0 else math.nan
            status = None
            steps_to = params_at = None
            if hit[r].any():
                i = int(np.argmax(hit[r]))
                status, steps_to = REACHED, int(chunk.step[r, i])
                params_at = chunk.params[r, i].astype(np.float64)
                last = float(losses[r, i])
            elif st.istate[r, L.S_DIVERGED] >= 0:
                status = DIVERGED
            elif step >= self._total[r]:
                status = NOT_REACHED
            if status is None:
                continue
            if not math.isfinite(last) and status != DIVERGED:
                status = DIVERGED
            # Where it ended (a round may have gone past the target: that is not the cell's).
            ended_at = {REACHED: steps_to, DIVERGED: int(st.istate[r, L.S_DIVERGED])}.get(status, step)
            result = CellResult(c, status, steps_to, last, ended_at, float(self._seconds[r]), params_at)
            self._pair_steps.setdefault(self._key(c), ended_at)
            ended.append(result)
            for twin in self._copies.pop(self._key(c), []):  # seeds that cannot differ
                ended.append(dataclasses.replace(result, cell=twin, same_as_seed=c.seed))
            self._fill(r)
        self.results.extend(ended)
        return ended

    def _full_loss(self, thetas: np.ndarray) -> np.ndarray:
        """The engine's full loss at many points, split over the cores in Python threads: the
        loss kernel is serial and releases the GIL (Numba's own threads must not be entered
        from two threads at once, and the sweep screen's worker may be computing a trace)."""
        parts = min(self._threads, max(1, len(thetas) // 64))
        if parts == 1 or self.engine.model.kind == "linear":  # linear: a closed form, cheap
            return self.engine.full_loss(thetas)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(parts, thread_name_prefix="gdviz-sweep-loss")
        pieces = np.array_split(thetas, parts)
        return np.concatenate(list(self._pool.map(self.engine.full_loss, pieces)))

    def run_to_end(self, seconds: float = ROUND_SECONDS) -> SweepResult:
        while not self.done:
            self.advance(seconds)
        return self.result()

    # --- results -----------------------------------------------------------------------------
    def result(self) -> SweepResult:
        return result_of(self)
