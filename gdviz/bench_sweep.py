"""``gdviz bench --sweep``: a sweep in-process against the same sweep as Dask tasks (issue 15).

The bundled ``sweep_synthetic`` (1,200 cells) runs in this process (the batched kernels on
Numba's threads, all cores), then on a ``LocalCluster`` of ``--workers`` one-thread worker
processes for each task size of ``--task-cells``. Every distributed sweep is checked to give
the in-process figures (``identical``). The workers load the kernels before any timing.

What a task costs beyond its cells is measured two ways:

- **per row**: the worker time not spent in the cells' rounds, ``workers x wall - sum of
  the tasks' round seconds``, per task: scheduling, sending, a runner's set-up (also shown
  alone: the engine and the slots, timed on the worker), results back, and the idle tail
  while the last tasks finish;
- **fitted**: the wall time against the number of tasks, ``wall = c0 + c1 x tasks``, by least
  squares over the rows; each task costs ``a = c1 x workers`` seconds of a worker. With ``b``
  the round seconds per cell, a task of ``s`` cells spends ``a / (a + b s)`` of its time in
  overhead, under 10 % from ``s = 9 a / b`` cells.

Timings are of this machine at this moment (other processes share the cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

#: Cells per task timed by default (1,200 cells on 2 workers: from 100 tasks to 2).
TASK_CELLS = (12, 25, 50, 100, 200, 600)


def _warm_worker(dtype: str) -> None:
    """On a worker: load the kernels (the first task would otherwise pay for it)."""
    from gdviz.engine import warm_up

    warm_up({dtype}, parallel=True)


def _figures(doc: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in doc.items() if k not in ("seconds", "updates")}
    doc["cells"] = [{k: v for k, v in c.items() if k != "seconds"} for c in doc["cells"]]
    return doc


def fit_overhead(rows: list[dict[str, Any]], workers: int, cells: int) -> dict[str, Any] | None:
    """``a`` (seconds of a worker per task), ``b`` (round seconds per cell) and the task size
    over which ``a`` is under 10 % of a task; None with fewer than two task counts."""
    tasks = np.array([r["tasks"] for r in rows], dtype=np.float64)
    if len(np.unique(tasks)) < 2:
        return None
    wall = np.array([r["wall_seconds"] for r in rows])
    c1, c0 = np.polyfit(tasks, wall, 1)
    a = float(c1) * workers
    b = float(np.median([r["round_seconds"] for r in rows])) / cells
    return {"per_task_seconds": a, "per_cell_seconds": b, "wall_at_zero_tasks": float(c0),
            "task_cells_for_10_percent": 9 * a / b if a > 0 else 0.0}


def run_sweep_bench(scenario_name: str, workers: int, task_cells: list[int],
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The in-process sweep (best of two) and the Dask sweep per task size, on ``workers``."""
    from gdviz.bench import machine
    from gdviz.data import build_dataset
    from gdviz.engine import warm_up
    from gdviz.scenario import load_scenario
    from gdviz.sweep.dask import DaskSweep, _cores, connect, plan_sweep
    from gdviz.sweep.runner import SweepRunner

    say = progress or (lambda msg: None)
    scenario = load_scenario(scenario_name)
    dataset = build_dataset(scenario)
    plan = plan_sweep(scenario, dataset)
    dtype = plan.spec.base.dtype
    warm_up({dtype}, parallel=True)
    say("in-process")
    local_runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        local = SweepRunner(scenario, dataset).run_to_end()
        local_runs.append(time.perf_counter() - t0)
    want = _figures(local.as_dict())
    say(f"starting {workers} Dask workers")
    t0 = time.perf_counter()
    client, cluster = connect(workers=workers)
    start = time.perf_counter() - t0
    numba_threads = max(1, _cores() // workers)
    rows = []
    try:
        client.run(_warm_worker, dtype)
        for size in task_cells:
            say(f"tasks of {size} cells")
            t0 = time.perf_counter()
            with DaskSweep(plan_sweep(scenario, dataset), client, task_cells=size, numba_threads=numba_threads,
                           own=False) as sweep:
                res = sweep.run_to_end(0.01)
            wall = time.perf_counter() - t0
            rounds = sum(o.compute_seconds for o in sweep.outcomes)
            n_tasks = len(sweep.tasks)
            rows.append({
                "task_cells": size, "tasks": n_tasks, "wall_seconds": wall, "round_seconds": rounds,
                "task_seconds": sum(o.seconds for o in sweep.outcomes),
                "vs_in_process": wall / min(local_runs),
                "busy": rounds / (workers * wall),
                "overhead_per_task_seconds": (workers * wall - rounds) / n_tasks,
                "setup_per_task_seconds": sum(o.seconds - o.compute_seconds for o in sweep.outcomes) / n_tasks,
                "identical": _figures(res.as_dict()) == want,
            })  # fmt: skip
    finally:
        client.close()
        cluster.close()
    return {
        "machine": machine(), "scenario": scenario_name, "cells": len(plan.cells), "workers": workers,
        "cores": _cores(), "in_process_seconds": min(local_runs), "cluster_start_seconds": start, "rows": rows,
        "fit": fit_overhead(rows, workers, len(plan.cells)),
    }  # fmt: skip


def table(doc: dict[str, Any]):  # type: ignore[no-untyped-def]
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{doc['scenario']}: {doc['cells']:,} cells, in-process {doc['in_process_seconds']:.2f} s "
              f"on {doc['cores']} cores; Dask: {doc['workers']} one-thread workers "
              f"(started in {doc['cluster_start_seconds']:.1f} s)", title_justify="left")
    for name in ("cells per task", "tasks", "wall s", "× in-process", "workers busy", "overhead per task",
                 "of it, set-up", "same figures"):
        t.add_column(name, justify="right")
    for r in doc["rows"]:
        t.add_row(f"{r['task_cells']:,}", f"{r['tasks']:,}", f"{r['wall_seconds']:.2f}", f"{r['vs_in_process']:.2f}",
                  f"{100 * r['busy']:.0f} %", f"{1000 * r['overhead_per_task_seconds']:.0f} ms",
                  f"{1000 * r['setup_per_task_seconds']:.0f} ms",
                  "yes" if r["identical"] else "NO")
    lines = [t]
    f = doc["fit"]
    if f is not None:
        lines.append(Text(f"fit wall = c0 + c1·tasks: a task costs a = {1000 * f['per_task_seconds']:.0f} ms of a "
                          f"worker, a cell b = {1000 * f['per_cell_seconds']:.1f} ms of rounds; the overhead is "
                          f"under 10 % from {f['task_cells_for_10_percent']:.0f} cells per task (9a/b)"))
    return Group(*lines)


def cli_main(args, out, err) -> int:  # type: ignore[no-untyped-def]
    """``gdviz bench --sweep [--workers N] [--task-cells N ...]``."""
    import json
    import sys

    from gdviz.sweep.dask import import_distributed

    import_distributed("bench --sweep")
    sizes = list(dict.fromkeys(args.task_cells or TASK_CELLS))
    with err.status("Benchmarking the sweep…") as status:
        doc = run_sweep_bench(args.sweep_scenario, args.workers, sizes,
                              progress=lambda msg: status.update(f"Benchmarking the sweep: {msg}…"))
    if args.json:
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    else:
        out.print(table(doc))
    if not all(r["identical"] for r in doc["rows"]):  # a bug, not bad input
        err.print("gdviz bench --sweep: a distributed sweep gave other figures than the in-process one",
                  markup=False, highlight=False)
        return 1
    return 0
