"""A sweep's cells as Dask tasks: ``gdviz sweep S --dask ADDRESS`` or ``--workers N`` (issue 15).

The cells are cut into tasks of many cells each; a task is one
:class:`~gdviz.sweep.runner.SweepRunner` over its cells on a worker (one batch of kernel
slots, as in-process), and returns the cells' results. The local process folds the results
in as tasks finish and derives the best cells, the fit and B_simple from them with
:func:`~gdviz.sweep.result.summarize_cells`, exactly as the in-process sweep does: every
cell is the same run wherever it is trained, so the figures are the same bit for bit. Only
what measures this machine's work differs: ``seconds``, and ``updates`` (rounds may take a
cell past its target, and how far depends on the rounds' sizes, which follow measured
speeds: two in-process sweeps differ in it too).

- **Tasks**: all seeds of one (batch size, learning rate) go to the same task, so a cell
  that cannot depend on its seed (full batch, ``shuffle = false``) is trained once and copied,
  as in-process. The (batch size, learning rate) pairs are shuffled with a fixed seed before
  being cut into tasks, so that slow pairs (small learning rates, small batches) spread over
  the tasks. The task size is :func:`default_task_cells` unless given.
- **Data**: sent once. Generated data is rebuilt on each worker from the scenario (the
  generators are deterministic from the seed) and checked against a digest of the local
  data; CSV data is scattered once to every worker (``broadcast=True``).
- **Numba on workers**: a worker process with one thread runs its tasks with Numba's parallel
  kernels (threads over the slots); a worker with several threads runs several tasks at
  once, so there each task keeps to its own thread (``parallel=False``): Numba's default
  ``workqueue`` threading layer aborts the whole process when two threads enter its parallel
  kernels at once. ``--workers N`` starts N one-thread worker processes whose tasks use
  cores / N of Numba's threads each.
- **Faults**: a worker that dies has its tasks rerun on the others by the scheduler (up to
  ``distributed.scheduler.allowed-failures`` deaths per task); an exception in a task is
  retried ``RETRIES`` times. A scheduler that does not answer within the timeout is a
  :class:`ClusterError` (exit 2); :meth:`DaskSweep.close` (Ctrl+C included) cancels the
  futures that have not finished, which leaves the cluster usable by others.

Nothing here imports Dask until a sweep asks for it: ``gdviz`` itself does not need it.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdviz.data import Dataset
from gdviz.errors import GdvizError
from gdviz.scenario import Scenario
from gdviz.sweep.result import Cell, CellResult, SweepResult, result_of
from gdviz.sweep.runner import ROUND_SECONDS, SweepRunner

#: What installs Dask's distributed scheduler with gdviz.
INSTALL_HINT = "pip install -e '.[dask]'"
#: Seconds to wait for a scheduler given by address (``--dask-timeout``).
CONNECT_TIMEOUT = 10.0
#: Times a task that raised is tried again (a worker's death is the scheduler's business).
RETRIES = 2
#: Tasks per worker thread a sweep aims for: the last tasks then keep every thread busy.
TASKS_PER_THREAD = 4
#: The smallest and largest default task, in cells. Below MIN_TASK_CELLS a task's fixed cost
#: is more than 10 % of it on the bundled sweeps (README, "Sweeps on a cluster").
MIN_TASK_CELLS = 200
MAX_TASK_CELLS = 2000


class ClusterError(GdvizError):
    """A Dask cluster that cannot be reached or cannot run the sweep's tasks."""

    title = "Dask cluster"


def import_distributed(flag: str) -> Any:
    """``distributed``, or a :class:`GdvizError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise GdvizError(f"{flag} runs the sweep on Dask, which is not installed here; install it with "
                         f"{INSTALL_HINT} (or pip install 'dask[distributed]')", "Dask not installed") from None
    return distributed


# --- tasks --------------------------------------------------------------------------------------
def default_task_cells(total: int, threads: int) -> int:
    """Cells per task: about ``TASKS_PER_THREAD`` tasks per worker thread, within
    ``[MIN_TASK_CELLS, MAX_TASK_CELLS]``."""
    want = math.ceil(total / (TASKS_PER_THREAD * max(1, threads)))
    return max(MIN_TASK_CELLS, min(MAX_TASK_CELLS, want))


def plan_tasks(cells: list[Cell], task_cells: int) -> list[list[int]]:
    """The cells' indices cut into tasks of about ``task_cells`` cells; every seed of a
    (batch size, learning rate) pair in the same task; pairs shuffled with a fixed seed."""
    groups: dict[tuple[int, int], list[int]] = {}
    for c in sorted(cells, key=lambda c: c.index):
        groups.setdefault((c.b_index, c.lr_index), []).append(c.index)
    keys = sorted(groups)
    if not keys:
        return []
    order = np.random.default_rng(0).permutation(len(keys))
    n_tasks = max(1, min(len(keys), round(len(cells) / max(1, task_cells))))
    return [sorted(i for k in part for i in groups[keys[k]]) for part in np.array_split(order, n_tasks)]


def data_digest(dataset: Dataset) -> str:
    """A digest of the samples the kernels train on (shape, dtype and bytes of X and y)."""
    h = hashlib.sha256()
    for a in (dataset.X, dataset.y):
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass
class TaskOutcome:
    """What a task sends back: its cells' results and how its time was spent."""

    cells: list[CellResult]
    updates: int
    #: Seconds of the runner's rounds (training and loss passes) and of the whole task.
    compute_seconds: float
    seconds: float
    worker: str
    pid: int
    parallel: bool
    #: A problem the task found (not retried: it would find it again), e.g. other data.
    error: str = ""


#: Per worker process: the data rebuilt from a scenario, by digest.
_DATA: dict[str, Dataset] = {}


def _worker() -> tuple[str, int]:
    """This worker's address and thread count (``("", 1)`` outside a worker)."""
    try:
        from distributed import get_worker

        w = get_worker()
    except (ImportError, ValueError):
        return "", 1
    return str(w.address), int(w.state.nthreads)


def _dataset(scenario: Scenario, digest: str) -> Dataset:
    got = _DATA.get(digest)
    if got is None:
        from gdviz.data import build_dataset

        got = build_dataset(scenario)
        if data_digest(got) != digest:
            raise GdvizError("the data this worker generated from the scenario differs from the client's; run the "
                             "workers with the same gdviz and NumPy versions as the client")
        if len(_DATA) >= 2:
            _DATA.pop(next(iter(_DATA)))
        _DATA[digest] = got
    return got


def run_task(scenario: Scenario, data: Dataset | None, digest: str, version: str, cells: list[int],
             numba_threads: int | None = None) -> TaskOutcome:
    """One task, on a worker: train ``cells`` of the sweep in one runner. ``data`` is the
    scattered dataset (CSV), or None to rebuild it from the scenario (checked by ``digest``).
    With one thread in the worker, the kernels use ``numba_threads`` of Numba's threads (all
    by default); with several, none (several tasks run at once there)."""
    import gdviz

    t0 = time.perf_counter()
    address, threads = _worker()
    parallel = threads == 1
    if parallel and numba_threads is not None:
        import numba

        numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))  # this thread's
    out = TaskOutcome([], 0, 0.0, 0.0, address, os.getpid(), parallel)
    try:
        if gdviz.__version__ != version:
            raise GdvizError(f"this worker has gdviz {gdviz.__version__}, the client {version}")
        dataset = data if data is not None else _dataset(scenario, digest)
        runner = SweepRunner(scenario, dataset, only=cells, parallel=parallel)
        while not runner.done:
            runner.advance()
    except GdvizError as exc:
        out.error = f"{address or 'a worker'}: {exc.message}"
        return out
    out.cells, out.updates, out.compute_seconds = runner.results, runner.updates, runner.seconds
    out.seconds = time.perf_counter() - t0
    return out


# --- the client side -----------------------------------------------------------------------------
def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def connect(address: str | None = None, workers: int | None = None,
            timeout: float = CONNECT_TIMEOUT) -> tuple[Any, Any]:
    """A Dask client of the scheduler at ``address``, or of a new local cluster of ``workers``
    one-thread processes; returns ``(client, cluster)`` (``cluster`` None for an address)."""
    distributed = import_distributed("--dask" if address is not None else "--workers")
    if address is not None:
        example = "expected the address of a running `dask scheduler`, e.g. tcp://HOST:8786"
        try:
            return distributed.Client(address, timeout=timeout), None
        except (ValueError, TypeError) as exc:
            raise ClusterError(f"--dask {address!r} is not a scheduler address ({exc}); {example}",
                               title="bad arguments") from None
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"--dask {address}: no Dask scheduler answered within {timeout:g} s ({exc}); "
                               f"{example} (--dask-timeout to wait longer)",
                               title="Dask scheduler unreachable") from None
    import logging

    assert workers is not None and workers >= 1
    # Worker logs off: a task's failure comes back through its future; what the workers would
    # log as the cluster stops (heartbeats to a closed scheduler) is noise.
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    try:
        return distributed.Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


@dataclass
class DaskSweep:
    """A sweep whose cells run as Dask tasks, with the interface of :class:`SweepRunner`
    (``advance``, ``done``, ``cells_done``, ``total_cells``, ``eta``, ``result``, ...), so the
    command and the sweep screen run either. Build it with :func:`open_sweep`; :meth:`close`
    it (it is a context manager): that cancels what has not finished."""

    plan: SweepRunner
    client: Any
    cluster: Any = None
    task_cells: int | None = None
    retries: int = RETRIES
    #: Numba threads per task on a one-thread worker (None: all the worker's).
    numba_threads: int | None = None
    #: Whether :meth:`close` closes the client (and the cluster, if any) too.
    own: bool = True
    results: list[CellResult] = field(default_factory=list)
    outcomes: list[TaskOutcome] = field(default_factory=list)
    updates: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        p = self.plan
        self.scenario, self.spec, self.engine = p.scenario, p.spec, p.engine
        self.cells, self.shape, self.batches, self.n, self.p = p.cells, p.shape, p.batches, p.n, p.p
        self.threads = sum(self.client.nthreads().values())
        if self.task_cells is None:
            self.task_cells = default_task_cells(len(self.cells), self.threads)
        self.tasks = plan_tasks(self.cells, self.task_cells)
        import gdviz

        dataset = p.engine.dataset
        data = None
        if self.scenario.data.source == "csv":  # the workers may not have the file: the data goes once
            data = self.client.scatter(dataset, broadcast=True, hash=False)
        digest = data_digest(dataset)
        token = uuid.uuid4().hex[:8]
        self._t0 = time.perf_counter()
        self._data = data
        # Finished futures arrive here from Dask's callback thread: a round costs what
        # finished in it, not a look at every task (a million cells are hundreds of tasks).
        self._finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: set[Any] = set()
        for k, cells in enumerate(self.tasks):
            f = self.client.submit(run_task, self.scenario, data, digest, gdviz.__version__, cells,
                                   self.numba_threads, key=f"gdviz-sweep-{token}-{k}", retries=self.retries,
                                   pure=False)
            self._pending.add(f)
            f.add_done_callback(self._finished.put)

    # --- the runner's interface ------------------------------------------------------------------
    @property
    def total_cells(self) -> int:
        return len(self.cells)

    @property
    def cells_done(self) -> int:
        return len(self.results)

    @property
    def done(self) -> bool:
        return not self._pending

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's address as the scheduler gives it (it serves pages only
        where bokeh is installed), or None."""
        try:
            return str(self.client.dashboard_link)
        except Exception:  # noqa: BLE001 - a link is a courtesy
            return None

    def eta(self) -> float | None:
        """Seconds left, from the cells done so far (None before any)."""
        finished = len(self.results)
        if finished == 0:
            return None
        return self.seconds * (len(self.cells) - finished) / finished

    def advance(self, seconds: float = ROUND_SECONDS) -> list[CellResult]:
        """Wait up to ``seconds`` for tasks to finish; fold in and return their cells."""
        if not self._pending:
            return []
        finished = []
        try:
            finished.append(self._finished.get(timeout=seconds))
            while True:
                finished.append(self._finished.get_nowait())
        except queue.Empty:
            pass
        ended: list[CellResult] = []
        for f in finished:
            if f not in self._pending:  # cancelled by close()
                continue
            try:
                out: TaskOutcome = f.result()
            except Exception as exc:  # noqa: BLE001 - what the cluster says, for the user
                raise ClusterError(
                    f"a sweep task failed on the cluster ({type(exc).__name__}: {exc}); every worker needs gdviz "
                    f"installed, the same version as here, and memory for a task of {self.task_cells} cells "
                    "(--task-cells to make them smaller)") from None
            if out.error:
                raise ClusterError(f"a sweep task could not run: {out.error}")
            self._pending.discard(f)
            f.release()
            self.outcomes.append(out)
            self.updates += out.updates
            ended.extend(out.cells)
        self.results.extend(ended)
        self.seconds = time.perf_counter() - self._t0
        return ended

    def run_to_end(self, seconds: float = 1.0) -> SweepResult:
        while not self.done:
            self.advance(seconds)
        return self.result()

    def result(self) -> SweepResult:
        return result_of(self)

    # --- the end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel the tasks that have not finished, then leave the cluster (a local one stops)."""
        pending, self._pending = self._pending, set()
        try:
            if pending:
                self.client.cancel(list(pending))
            if self._data is not None:
                self.client.cancel([self._data])
                self._data = None
        finally:
            if self.own:
                self.client.close()
                if self.cluster is not None:
                    self.cluster.close()

    def __enter__(self) -> DaskSweep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plan_sweep(scenario: Scenario, dataset: Dataset) -> SweepRunner:
    """The sweep's cells, and the engine that computes B_simple from them, without training
    (a scenario without ``[sweep]`` is a :class:`ScenarioError`, exit 2)."""
    return SweepRunner(scenario, dataset, slots=1)


def open_sweep(plan: SweepRunner, *, address: str | None = None, workers: int | None = None,
               timeout: float = CONNECT_TIMEOUT, task_cells: int | None = None) -> DaskSweep:
    """The sweep of :func:`plan_sweep` submitted to the cluster at ``address`` or to
    ``workers`` local worker processes."""
    client, cluster = connect(address, workers, timeout)
    # N local one-thread workers: Numba's threads of all of them together about the cores.
    numba_threads = max(1, _cores() // workers) if workers else None
    try:
        return DaskSweep(plan, client, cluster, task_cells, numba_threads=numba_threads)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
