"""``gdviz sweep S``: the sweep screen, or ``--headless`` / ``--json`` / ``--json-file``.

Kept apart from :mod:`gdviz.cli` (which only declares the command's arguments) so that the
sweep's imports load only when a sweep runs.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def _check_json_file(path: Path | None) -> None:
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir() or path.is_dir():
        what = "is a folder" if path.is_dir() else f"is in {str(folder)!r}, which is not a folder"
        raise GdvizError(f"--json-file {str(path)!r} {what}; expected a file path in an existing folder",
                         "bad arguments")


def cmd_sweep(args: argparse.Namespace, out: Console, err: Console) -> int:
    from gdviz.cli import EXIT_OK, _load, _warm_up
    from gdviz.safeio import write_text_atomic
    from gdviz.streams import EXIT_WRITE_ERROR, stdout_fd_to_stderr
    from gdviz.text import printable

    _check_json_file(args.json_file)
    if args.json_file is not None:
        args.json = True
    scenario, dataset = _load(args.scenario)
    from gdviz.sweep.runner import SweepRunner

    runner = SweepRunner(scenario, dataset)  # a scenario without [sweep]: exit 2, before the screen
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
    if args.json_file is not None:
        try:
            write_text_atomic(args.json_file, document)
        except OSError as exc:
            err.print(f"gdviz: cannot write {printable(str(args.json_file))}: {exc.strerror or exc}",
                      markup=False, highlight=False, soft_wrap=True)
            return EXIT_WRITE_ERROR
    elif args.json:
        sys.stdout.write(document)
    else:
        from gdviz.sweep.report import summary

        out.print(summary(result))
    return EXIT_OK
