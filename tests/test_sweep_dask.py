"""Sweeps on a Dask cluster (issue 15): the same figures as in-process, bit for bit, whatever
the cluster does.

Clusters here are local (loopback only): a ``LocalCluster`` of two one-thread worker
processes, and a scheduler and a worker started with the ``dask scheduler`` / ``dask worker``
commands as a cluster user would, whose worker has two threads and Numba's ``workqueue``
threading layer (which aborts the process if two threads enter a parallel kernel at once).
Every process a test starts is stopped when it ends, passed or failed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.scenario import load_scenario, parse_scenario
from gdviz.sweep.dask import DaskSweep, connect, default_task_cells, plan_sweep, plan_tasks
from gdviz.sweep.result import REACHED, Cell, CellResult, summarize_cells
from gdviz.sweep.runner import SweepRunner
from hostile import gdviz, only_json
from test_sweep import SMALL

#: What measures the machine's work rather than the cells: left out of the comparisons.
TIMINGS = ("seconds", "updates")


def _small():
    scenario = parse_scenario(SMALL, "sweep.toml", Path("."))
    return scenario, build_dataset(scenario)


def _figures(doc: dict) -> dict:
    """A sweep's JSON document without its timings."""
    doc = {k: v for k, v in doc.items() if k not in TIMINGS}
    doc["cells"] = [{k: v for k, v in c.items() if k != "seconds"} for c in doc["cells"]]
    return doc


def _assert_same_sweep(got, want) -> None:
    """Every figure equal, and the parameters where each cell reached the target bit for bit."""
    assert _figures(got.as_dict()) == _figures(want.as_dict())
    theirs = {r.cell.index: r for r in want.cells}
    for r in got.cells:
        w = theirs[r.cell.index]
        assert (r.params_at_target is None) == (w.params_at_target is None)
        if r.params_at_target is not None:
            np.testing.assert_array_equal(r.params_at_target, w.params_at_target)


@pytest.fixture(scope="module")
def small_local():
    scenario, dataset = _small()
    return scenario, dataset, SweepRunner(scenario, dataset).run_to_end()


@pytest.fixture(scope="module")
def local_cluster():
    """``--workers 2``: a LocalCluster of two worker processes, one thread each."""
    client, cluster = connect(workers=2)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# --- tasks ---------------------------------------------------------------------------------------
def test_tasks_hold_every_seed_of_a_pair_together_and_every_cell_once():
    scenario = load_scenario("sweep_synthetic")
    cells = plan_sweep(scenario, build_dataset(scenario)).cells
    for size in (10, 35, 100, 600, 5000):
        tasks = plan_tasks(cells, size)
        flat = sorted(i for t in tasks for i in t)
        assert flat == sorted(c.index for c in cells)
        where = {i: k for k, t in enumerate(tasks) for i in t}
        for c in cells:  # all seeds of a (batch size, learning rate) in one task
            assert where[c.index] == where[_first_seed(cells, c).index]
        assert len(tasks) == max(1, min(120, round(1200 / size)))
        sizes = [len(t) for t in tasks]
        assert max(sizes) - min(sizes) <= 10  # whole pairs of 10 seeds, as even as they go


def _first_seed(cells: list[Cell], c: Cell) -> Cell:
    return next(x for x in cells if (x.b_index, x.lr_index, x.seed_index) == (c.b_index, c.lr_index, 0))


def test_tasks_spread_the_slow_learning_rates():
    """Pairs are shuffled before they are cut: no task holds only one learning rate."""
    scenario = load_scenario("sweep_synthetic")
    cells = {c.index: c for c in plan_sweep(scenario, build_dataset(scenario)).cells}
    for task in plan_tasks(list(cells.values()), 100):
        assert len({cells[i].lr_index for i in task}) > 3


def test_a_tasks_runner_has_the_sweeps_cells_in_the_sweeps_order():
    """A task builds only its own cells (not the whole grid's, which for a million-cell sweep
    would cost seconds per task): the same cells, in the same order, as the whole sweep's."""
    scenario, dataset = _small()
    whole = plan_sweep(scenario, dataset).cells
    subset = [47, 3, 20, 21, 0, 999, -1]  # in any order; indices off the grid are not cells
    part = SweepRunner(scenario, dataset, slots=1, only=subset).cells
    assert part == [c for c in whole if c.index in set(subset)]


def test_default_task_size_aims_at_four_tasks_per_thread_within_bounds():
    assert default_task_cells(1_000_000, 64) == 2000
    assert default_task_cells(100_000, 64) == 391
    assert default_task_cells(1200, 2) == 200
    assert default_task_cells(48, 0) == 200


def test_the_summary_does_not_depend_on_the_order_the_cells_arrive_in():
    """Tasks finish in any order. Two seeds with the median's steps but different parameters:
    B_simple is taken at the same one (the lower cell index) whatever the order."""
    cells = [Cell(index=k, b_index=0, lr_index=0, seed_index=k, batch_size=4, batch=4, learning_rate=0.1,
                  seed=k, updates_per_epoch=5) for k in range(3)]
    steps = [10, 10, 12]
    results = [CellResult(c, REACHED, s, 0.1, s, 0.0, np.array([float(c.index + 1), 0.0]))
               for c, s in zip(cells, steps, strict=True)]

    def summary(rs):
        return summarize_cells(scenario="s", sweep={}, n=20, shape=(1, 1, 3), batches=[4], batch_sizes=[4],
                               learning_rates=[0.1], results=rs, b_simple=lambda t: t[:, 0] * 100, seconds=1.0,
                               total_cells=3)

    assert summary(results).b_simple_at_target == 100.0
    assert summary(results[::-1]).b_simple_at_target == 100.0


# --- a LocalCluster -----------------------------------------------------------------------------
def test_a_local_cluster_sweep_equals_the_in_process_sweep_bit_for_bit(local_cluster, small_local):
    scenario, dataset, local = small_local
    with DaskSweep(plan_sweep(scenario, dataset), local_cluster, task_cells=6, numba_threads=1, own=False) as sweep:
        assert len(sweep.tasks) == 8 and sweep.total_cells == 48
        seen = []
        while not sweep.done:
            sweep.advance(0.2)
            seen.append(sweep.cells_done)
        result = sweep.result()
    _assert_same_sweep(result, local)
    assert seen == sorted(seen) and seen[-1] == 48
    assert sum(len(o.cells) for o in sweep.outcomes) == 48
    assert all(o.parallel for o in sweep.outcomes)  # one thread per worker: Numba's threads are free
    assert len({o.pid for o in sweep.outcomes} - {os.getpid()}) >= 1  # trained in the workers


def test_csv_data_goes_to_every_worker_once_and_gives_the_same_sweep(local_cluster, tmp_path):
    """The workers never read the CSV (it is gone before the tasks start): the client
    scatters the dataset to each of them once, and every task uses that copy."""
    _, small = _small()
    rows = ["x1,x2,x3,y"] + [",".join(repr(float(v)) for v in (*x, t)) for x, t in zip(small.X, small.y, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = SMALL.replace('source = "linear"\nn = 200\nd = 3\nnoise = 0.5',
                         'source = "csv"\npath = "d.csv"\nfeatures = ["x1", "x2", "x3"]\ntarget = "y"')
    scenario = parse_scenario(text, "csv_sweep.toml", tmp_path)
    dataset = build_dataset(scenario)
    local = SweepRunner(scenario, dataset).run_to_end()
    plan = plan_sweep(scenario, dataset)
    (tmp_path / "d.csv").unlink()
    with DaskSweep(plan, local_cluster, task_cells=6, own=False) as sweep:
        holders = local_cluster.who_has([sweep._data])[sweep._data.key]
        assert len(holders) == 2  # a copy on each worker
        result = sweep.run_to_end(0.2)
    _assert_same_sweep(result, local)
    assert len(sweep.outcomes) == 8


def test_a_worker_killed_mid_sweep_has_its_tasks_rerun_and_the_result_is_the_same(local_cluster, small_local):
    scenario, dataset, local = small_local
    pids = local_cluster.run(os.getpid)
    with DaskSweep(plan_sweep(scenario, dataset), local_cluster, task_cells=4, own=False) as sweep:
        deadline = time.monotonic() + 60
        busy: list[str] = []
        while not busy and time.monotonic() < deadline:  # a worker with tasks on it
            busy = [w for w, keys in local_cluster.processing().items() if keys and w in pids]
        assert busy, "no task was ever processing"
        victim = pids[busy[0]]
        os.kill(victim, signal.SIGKILL)
        result = sweep.run_to_end(0.2)
    _assert_same_sweep(result, local)
    assert victim not in {o.pid for o in sweep.outcomes}
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)


# --- the command ----------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_exits_2_within_the_timeout(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    t0 = time.monotonic()
    r = gdviz("sweep", str(path), "--json", "--dask", f"tcp://127.0.0.1:{_closed_port()}", "--dask-timeout", "2")
    took = time.monotonic() - t0
    assert r.code == 2 and r.out == ""
    assert "no Dask scheduler answered within 2 s" in r.err and "tcp://HOST:8786" in r.err, r.err
    assert took < 2 + 30  # the timeout, and starting Python and NumPy on a busy machine


@pytest.mark.parametrize(("args", "says"), [
    (("--dask", "scheduler"), "is not a scheduler address"),
    (("--dask-timeout", "0", "--dask", "tcp://127.0.0.1:8786"), "--dask-timeout must be a positive number"),
    (("--task-cells", "10"), "--task-cells goes with --dask"),
    (("--workers", "0"), "expected an integer from 1 to 1024"),
])
def test_bad_dask_arguments_exit_2(tmp_path, args, says):
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    r = gdviz("sweep", str(path), "--json", *args)
    assert r.code == 2 and r.out == "" and says in r.err, r.err


@pytest.mark.parametrize("flag", [("--workers", "2"), ("--dask", "tcp://127.0.0.1:8786")])
def test_without_dask_the_flags_say_how_to_install_it(tmp_path, flag):
    """``distributed`` made unimportable (as when the extra is not installed)."""
    fake = tmp_path / "fake" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'distributed'\")\n")
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    r = gdviz("sweep", str(path), "--json", *flag, env=env)
    assert r.code == 2 and r.out == ""
    assert "pip install -e '.[dask]'" in r.err, r.err
    assert gdviz("sweep", str(path), "--json", env=env).code == 0  # without the flags, no Dask needed


# --- a cluster started as a user would ---------------------------------------------------------------
def _start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})


def _stop(proc: subprocess.Popen) -> None:
    """The process and everything it started (its own session's process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def user_cluster(tmp_path_factory):
    """``dask scheduler`` and ``dask worker --nthreads 2`` (with Numba's workqueue threading
    layer, which aborts on concurrent entry), as separate processes; yields the address."""
    import distributed

    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    procs = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], folder / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(_start([dask, "worker", address, "--nworkers", "1", "--nthreads", "2", "--no-dashboard",
                             "--local-directory", str(folder)], folder / "worker.log",
                            env={"NUMBA_THREADING_LAYER": "workqueue"}))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            yield address, client
    finally:
        for p in reversed(procs):
            _stop(p)


def _json(path: Path, *args: str, timeout: float = 300):
    r = gdviz("sweep", str(path), "--json", *args, timeout=timeout)
    assert r.code == 0, r.err
    return only_json(r.out), r.err


def test_a_cluster_of_dask_commands_gives_the_in_process_sweep(user_cluster, tmp_path):
    """The bundled 1,200-cell sweep in 12 tasks on a worker of two threads: two tasks at a
    time in one process, so each keeps off Numba's threads (the worker would abort otherwise:
    its process id would change as its nanny restarts it)."""
    address, client = user_cluster
    before = client.run(os.getpid)
    got, err = _json(Path("sweep_synthetic"), "--dask", address, "--task-cells", "100")
    assert "12 tasks of up to 100 cells on Dask (2 worker threads now)" in err
    scenario = load_scenario("sweep_synthetic")
    want = SweepRunner(scenario, build_dataset(scenario)).run_to_end().as_dict()
    assert _figures(got) == _figures(want)
    assert client.run(os.getpid) == before  # no worker died


def test_ctrl_c_cancels_the_tasks_and_leaves_the_cluster_usable(user_cluster, tmp_path, small_local):
    address, client = user_cluster
    slow = tmp_path / "slow.toml"
    slow.write_text(SMALL.replace("n = 200", "n = 5000").replace("max_epochs = 20", "max_epochs = 1000")
                    .replace("target_loss = 0.3", "target_loss = 0.0001"))  # seconds: interrupted mid-run
    err_log = tmp_path / "err.txt"
    with open(err_log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gdviz", "sweep", str(slow), "--json", "--dask", address,
                                 "--task-cells", "3"], stdout=subprocess.PIPE, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(client.processing().values()):
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err_log.read_text()
    assert (proc.returncode, out) == (130, b""), err
    assert "interrupted" in err and "Traceback" not in err, err

    def _sweep_keys(dask_scheduler) -> int:  # noqa: ANN001 - runs on the scheduler (pickled by value)
        return sum(1 for k in dask_scheduler.tasks if str(k).startswith("gdviz-sweep-"))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and client.run_on_scheduler(_sweep_keys):
        time.sleep(0.1)
    assert client.run_on_scheduler(_sweep_keys) == 0  # nothing of it left on the scheduler
    # the cluster still runs sweeps, with the same figures
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    got, _ = _json(path, "--dask", address, "--task-cells", "12")
    assert _figures(got) == _figures(small_local[2].as_dict() | {"scenario": "s"})


# --- gdviz bench --sweep ------------------------------------------------------------------------------
def test_bench_sweep_times_task_sizes_and_checks_the_figures(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    r = gdviz("bench", "--sweep", "--workers", "2", "--task-cells", "6", "24", "--sweep-scenario", str(path), "--json")
    assert r.code == 0, r.err
    doc = only_json(r.out)
    assert doc["cells"] == 48 and doc["workers"] == 2 and doc["in_process_seconds"] > 0
    assert [(row["task_cells"], row["tasks"]) for row in doc["rows"]] == [(6, 8), (24, 2)]
    for row in doc["rows"]:
        assert row["identical"] is True
        assert 0 < row["round_seconds"] <= row["task_seconds"] and 0 < row["busy"] <= 1
        assert row["wall_seconds"] * doc["workers"] >= row["round_seconds"]
    fit = doc["fit"]
    assert fit is not None and fit["per_cell_seconds"] > 0
    a, b = fit["per_task_seconds"], fit["per_cell_seconds"]
    assert fit["task_cells_for_10_percent"] == pytest.approx(max(0.0, 9 * a / b))
