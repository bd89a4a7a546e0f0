"""``gdviz sweep S``: the sweep screen, or ``--headless`` / ``--json`` / ``--json-file``.

Kept apart from :mod:`gdviz.cli` (which only declares the command's arguments) so that the
sweep's imports load only when a sweep runs.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

from rich.console import Console

from gdviz.errors import GdvizError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sweep = sub.add_parser("sweep", help="train a scenario's [sweep] grid: steps to target per batch size and "
                           "learning rate, the critical batch size and the gradient noise scale")
    sweep.add_argument("scenario", help="a scenario file (.toml) with a [sweep] table, or a bundled scenario's name")
    sweep.add_argument("--headless", action="store_true", help="no TUI: run every cell and print the tables")
    sweep.add_argument("--json", action="store_true", help="print one JSON document (implies --headless)")
    sweep.add_argument("--json-file", metavar="FILE", type=Path, default=None,
                       help="write the JSON document to FILE, whole or not at all (implies --json)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="run the cells as tasks on the Dask cluster whose scheduler is at ADDRESS "
                       "(e.g. tcp://scheduler:8786); needs pip install -e '.[dask]'")
    where.add_argument("--workers", metavar="N", type=_count(1024), default=None,
                       help="run the cells as tasks on a local Dask cluster of N worker processes")
    sweep.add_argument("--task-cells", metavar="N", type=_count(1_000_000), default=None,
                       help="with --dask/--workers: cells per task (default: about 4 tasks per worker "
                       "thread, 200 to 2000 cells)")
    sweep.add_argument("--dask-timeout", metavar="SECONDS", type=float, default=10.0,
                       help="with --dask: seconds to wait for the scheduler to answer (default 10)")


def _count(hi: int):  # type: ignore[no-untyped-def]
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from 1 to {hi}, got {text!r}") from None
        if not 1 <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer from 1 to {hi}, got {text!r}")
        return value

    return parse


def cmd_sweep(args: argparse.Namespace, out: Console, err: Console) -> int:
    from gdviz.cli import EXIT_OK, _load, _warm_up, check_json_file, emit_document
    from gdviz.streams import stdout_fd_to_stderr

    check_json_file(args)
    scenario, dataset = _load(args.scenario)
    if scenario.sweep is not None and scenario.sweep.base.target == "cuda":
        err.print("gdviz: a sweep's cells run on the CPU kernels ([train] target = \"cuda\" applies to "
                  "gdviz run); the CUDA sweep is not built yet", markup=False, highlight=False, soft_wrap=True)
    on_dask = args.dask is not None or args.workers is not None
    if not on_dask and args.task_cells is not None:
        raise GdvizError("--task-cells goes with --dask ADDRESS or --workers N", "bad arguments")
    if not (math.isfinite(args.dask_timeout) and args.dask_timeout > 0):
        raise GdvizError(f"--dask-timeout must be a positive number of seconds, got {args.dask_timeout}",
                         "bad arguments")
    if on_dask:
        from gdviz.sweep.dask import open_sweep, plan_sweep

        plan = plan_sweep(scenario, dataset)  # a scenario without [sweep]: exit 2 before connecting
        if args.headless or args.json:
            _warm_up({plan.spec.base.dtype})  # here B_simple; before the local workers take the cores
        # An unreachable scheduler: exit 2 after --dask-timeout seconds.
        runner = open_sweep(plan, address=args.dask, workers=args.workers, timeout=args.dask_timeout,
                            task_cells=args.task_cells)
        link = runner.dashboard_link
        tasks = len(runner.tasks)
        err.print(f"gdviz: {tasks:,} task{'s' * (tasks != 1)} of up to {runner.task_cells:,} cells on Dask "
                  f"({runner.threads} worker threads now); dashboard: {link or 'none'}",
                  markup=False, highlight=False, soft_wrap=True)
    else:
        from gdviz.sweep.runner import SweepRunner

        runner = SweepRunner(scenario, dataset)  # a scenario without [sweep]: exit 2, before the screen
    try:
        if not (args.headless or args.json):
            from gdviz.tui.sweep_app import run_sweep_app

            return run_sweep_app(runner)
        _warm_up({runner.spec.base.dtype})
        with stdout_fd_to_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with err.status("") as status:
                while not runner.done:
                    runner.advance()
                    eta = runner.eta()
                    left = f", about {eta:.0f} s left" if eta is not None else ""
                    status.update(f"Sweep: {runner.cells_done:,} of {runner.total_cells:,} cells{left}")
            result = runner.result()
            document = json.dumps(result.as_dict(), allow_nan=False) + "\n" if args.json else ""
    finally:
        if on_dask:
            runner.close()  # Ctrl+C included: cancels the tasks not finished; a local cluster stops
    if args.json:
        return emit_document(args, document, err)
    from gdviz.sweep.report import summary

    out.print(summary(result))
    return EXIT_OK
