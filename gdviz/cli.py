"""The ``gdviz`` command line.

Exit codes: 0 done; 1 the output could not be written (full disk, closed stdout); 2 bad input
(scenario, CSV, arguments), with a message naming the file, line or key and what would be
valid; 128 + N ended by signal N (141: the reader of stdout went away; 130: interrupted).
Tracebacks are for bugs only. User strings (names, titles, paths) are printed literally:
escaped for Rich markup, control characters written as escapes (:mod:`gdviz.text`).

Imports that cost time (the engine and kernels, Numba, NumPy, the TUI, Rich's tables) are
made inside the commands that need them: ``gdviz check`` and ``gdviz list`` load neither
Numba nor Textual (tests/test_imports.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

import gdviz
from gdviz.errors import GdvizError
from gdviz.streams import EXIT_WRITE_ERROR, OutputError, guarded_stdout, stdout_fd_to_stderr
from gdviz.text import literal, printable

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

err_console = Console(stderr=True)


def _out() -> Console:
    """A console on stdout, created per call so that tests capturing stdout see the output.

    Piped or redirected, Rich would wrap tables at 80 columns; a file gets the full width.
    """
    return Console() if sys.stdout.isatty() else Console(width=200)


class _Parser(argparse.ArgumentParser):
    """argparse with our error style: message, a hint, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        err_console.print(f"[bold red]gdviz: bad arguments:[/] {escape(printable(message))}", soft_wrap=True)
        err_console.print(f"[dim]see `{self.prog} --help`[/]")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdviz",
        description="See how batch size shapes gradient descent: full-batch, stochastic and "
        "mini-batch descent trained side by side.",
    )
    parser.add_argument("--version", action="version", version=f"gdviz {gdviz.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="train every run of a scenario (TUI, or --headless)")
    run.add_argument("scenario", help="a scenario file (.toml) or the name of a bundled scenario")
    run.add_argument("--headless", action="store_true", help="no TUI: train to the end and print a summary table")
    run.add_argument("--json", action="store_true", help="print one JSON document (implies --headless)")
    run.add_argument("--json-file", metavar="FILE", type=Path, default=None,
                     help="write the JSON document to FILE, whole or not at all (implies --json)")
    run.add_argument("--fps", type=int, default=30, help="TUI frame-rate cap (default 30)")
    run.add_argument("--out", metavar="DIR", default=None,
                     help="where the TUI writes exports (e) and screenshots (s); default: the current directory")
    run.add_argument(
        "--target",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="where to compute: auto (a GPU when usable, else the CPU), cpu or cuda; "
        "default: the scenario's [train] target, which defaults to auto",
    )

    from gdviz.sweep.cli import add_parser as add_sweep

    add_sweep(sub)

    check = sub.add_parser("check", help="validate a scenario and print it with every default resolved")
    check.add_argument("scenario", help="a scenario file (.toml) or the name of a bundled scenario")

    sub.add_parser("list", help="list the bundled scenarios")
    sub.add_parser("info", help="versions, CPU threads, CUDA device or why there is none")

    bench = sub.add_parser("bench", help="seconds per epoch: gdviz kernels vs the NumPy loop, the peers and the memory floor")
    bench.add_argument("what", nargs="?", choices=("kernels", "ui", "engine"), default="kernels",
                       help="kernels (default); ui: frames per second of the terminal app, headless; engine: "
                       "Engine.run_to_end() on 192 runs vs 3, and the warm start of `gdviz run`/`gdviz check`")
    bench.add_argument("--engine", action="store_true", help="same as `gdviz bench engine`")
    bench.add_argument("--n", type=_rows, nargs="+", default=[100_000, 1_000_000], help="rows (default 100000 1000000)")
    bench.add_argument("--d", type=_int_up_to(10_000), default=16, help="features (default 16)")
    bench.add_argument("--batch", type=_batch_size, nargs="+", default=[1, 32, 256, None],
                       help="batch sizes, integers or `full` (default 1 32 256 full)")
    bench.add_argument("--runs", type=_positive_int, nargs="+", default=[1, 64], help="runs trained at once (default 1 64)")
    bench.add_argument("--dtype", choices=("float32", "float64"), nargs="+", default=["float32"])
    bench.add_argument("--target", choices=("cpu", "cuda"), default="cpu")
    bench.add_argument("--model", choices=("linear", "mlp"), default="linear",
                       help="mlp: the first article's 10→50→1 network, n = 1000 (--n to change), against PyTorch")
    bench.add_argument("--peers", action="store_true", help="also time PyTorch, scikit-learn and NumPy over runs")
    bench.add_argument("--json", action="store_true", help="print one JSON document and nothing else on stdout")
    bench.add_argument("--compile", action="store_true",
                       help="instead: cold (empty cache, fresh process) and warm start of `gdviz run houses --headless`")
    bench.add_argument("--repeats", type=_positive_int, default=5, help="timed epochs per row (default 5)")
    bench.add_argument("--budget", type=float, default=60.0,
                       help="seconds a row may take; slower implementations are skipped with an estimate (default 60)")
    bench.add_argument("--seconds", type=float, default=5.0, help="bench ui: seconds to run the app (default 5)")
    bench.add_argument("--sweep", action="store_true", help="instead: the bundled sweep in-process against the same "
                       "sweep as Dask tasks on --workers local processes, per --task-cells (needs '.[dask]')")
    bench.add_argument("--workers", type=_int_up_to(1024), default=2, help="bench --sweep: worker processes (default 2)")
    bench.add_argument("--task-cells", type=_positive_int, nargs="+", default=None,
                       help="bench --sweep: cells per task (default 12 25 50 100 200 600)")
    bench.add_argument("--sweep-scenario", default="sweep_synthetic", help=argparse.SUPPRESS)
    # bench engine, shrunk for tests: runs per method, epochs, rows; skip the command timings
    bench.add_argument("--engine-runs", type=_positive_int, default=64, help=argparse.SUPPRESS)
    bench.add_argument("--engine-epochs", type=_positive_int, default=50, help=argparse.SUPPRESS)
    bench.add_argument("--engine-n", type=_rows, default=1000, help=argparse.SUPPRESS)
    bench.add_argument("--no-commands", action="store_true", help=argparse.SUPPRESS)
    return parser


def _int_up_to(hi: int):  # type: ignore[no-untyped-def]
    """An argparse type: a positive integer up to ``hi`` (every integer option has a range)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
        if not 1 <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer from 1 to {hi}, got {text!r}")
        return value

    return parse


_positive_int = _int_up_to(1_000_000)
_rows = _int_up_to(100_000_000)


def _batch_size(text: str) -> int | None:
    return None if text == "full" else _rows(text)


def _load(name: str):  # type: ignore[no-untyped-def]
    from gdviz.data import build_dataset
    from gdviz.scenario import load_scenario

    scenario = load_scenario(name)
    dataset = build_dataset(scenario)
    return scenario, dataset


def _warm_up(dtypes: set[str]) -> None:
    """Compile or load the kernels, saying so on stderr (never stdout) while it takes."""
    from gdviz.engine import warm_up

    t0 = time.perf_counter()
    with err_console.status("Preparing the Numba kernels (compiled on first use, then cached)…"):
        warm_up(dtypes)
    dt = time.perf_counter() - t0
    from gdviz import numba_cache

    for note in numba_cache.notes:
        err_console.print(f"gdviz: {note}", markup=False, highlight=False, soft_wrap=True)
    numba_cache.notes.clear()
    if dt > 2.0:
        err_console.print(f"[dim]kernels compiled in {dt:.1f} s; later runs load them from the cache[/]")


def cmd_run(args: argparse.Namespace) -> int:
    scenario, dataset = _load(args.scenario)
    if not 1 <= args.fps <= 1000:
        raise GdvizError(f"--fps must be from 1 to 1000, got {args.fps}", "bad arguments")
    check_json_file(args)
    if not (args.headless or args.json):
        from gdviz.target import resolve_target, scenario_target

        requested = args.target or scenario_target({run.train.target for run in scenario.runs})
        if requested == "cuda":
            # No usable GPU: a TargetError (exit 2, the reason on stderr) before the app takes
            # the terminal. `auto` never fails, so it is probed in the app's worker, behind the
            # progress state, and the engine there checks the device memory too.
            resolve_target(requested)
        from gdviz.tui.app import run_app

        return run_app(scenario, dataset, fps=args.fps, target=requested, export_dir=args.out)
    import warnings

    from gdviz.report import held_out_table, json_document, summary_table

    # Training writes nothing to stdout: not NumPy's RuntimeWarnings (a diverging run is
    # reported as such), not what native code prints on fd 1. Only the result goes there.
    with stdout_fd_to_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        engine = _train(scenario, dataset, args.target)
        document = json.dumps(json_document(engine), allow_nan=False) + "\n" if args.json else ""
    if args.json:
        return emit_document(args, document, err_console)
    _out().print(summary_table(engine))
    held = held_out_table(engine)
    if held is not None:
        _out().print(held)
    for s in engine.summaries():
        if s.diverged:
            err_console.print(f"[red]{escape(printable(s.name))} diverged at step {s.diverged_step}[/]: "
                              "its learning rate is too large for this batch size.")
    return EXIT_OK


def check_json_file(args: argparse.Namespace) -> None:
    """``--json-file FILE`` implies ``--json``; FILE must be a path in an existing folder (exit 2)."""
    path = args.json_file
    if path is None:
        return
    args.json = True
    folder = path.parent
    if not folder.is_dir() or path.is_dir():
        what = "is a folder" if path.is_dir() else f"is in {str(folder)!r}, which is not a folder"
        raise GdvizError(f"--json-file {str(path)!r} {what}; expected a file path in an existing folder",
                         "bad arguments")


def emit_document(args: argparse.Namespace, document: str, err: Console) -> int:
    """The ``--json`` document to ``--json-file`` (whole or not at all) or to stdout."""
    if args.json_file is None:
        sys.stdout.write(document)
        return EXIT_OK
    from gdviz.safeio import write_text_atomic

    try:
        write_text_atomic(args.json_file, document)
    except OSError as exc:
        err.print(f"gdviz: cannot write {printable(str(args.json_file))}: {exc.strerror or exc}",
                  markup=False, highlight=False, soft_wrap=True)
        return EXIT_WRITE_ERROR
    return EXIT_OK


def _train(scenario, dataset, target: str | None):  # type: ignore[no-untyped-def]
    from gdviz.engine import Engine
    from gdviz.target import scenario_target

    _warm_up({run.train.dtype for run in scenario.runs})
    requested = target or scenario_target({run.train.target for run in scenario.runs})
    engine = Engine(scenario, dataset, target=requested)
    if engine.target_note:
        err_console.print(f"[dim]{escape(engine.target_note)}[/]")
    with err_console.status(f"Training {len(engine.runs)} runs of {escape(printable(scenario.title))}…"):
        engine.run_to_end()
    return engine


def cmd_check(args: argparse.Namespace) -> int:
    from gdviz.scenario import scenario_to_dict

    scenario, dataset = _load(args.scenario)
    out = _out()
    where = escape(printable(str(scenario.source_path or scenario.name)))
    held = (f" ({dataset.n_val} more held out for validation, {dataset.validation_rows} rows)"
            if dataset.n_val else "")
    out.print(f"[green]✓[/] {where} is valid: {len(scenario.runs)} runs on "
              f"n={dataset.X.shape[0]} samples{held}, d={dataset.X.shape[1]} features ({dataset.task}).")
    from gdviz.scenario.batching import batching_note

    for i, run in enumerate(scenario.runs):
        note = batching_note(i, run, int(dataset.X.shape[0]))
        if note is not None:
            out.print(printable(note), markup=False, highlight=False)
    out.print_json(json.dumps(scenario_to_dict(scenario), default=str))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from gdviz.scenario import bundled_scenarios

    table = Table(title="Bundled scenarios (gdviz run NAME)", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("title")
    table.add_column("description")
    for name, title, description in bundled_scenarios():
        table.add_row(literal(name), literal(title), literal(description))
    _out().print(table)
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    import llvmlite
    import numba
    import numpy
    import rich
    from rich.table import Table

    from gdviz.target import cuda_status

    table = Table(show_header=False, title="gdviz info", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("gdviz", gdviz.__version__)
    table.add_row("python", platform.python_version())
    table.add_row("numpy", numpy.__version__)
    table.add_row("numba", numba.__version__)
    table.add_row("llvmlite", llvmlite.__version__)
    table.add_row("rich", rich.__version__ if hasattr(rich, "__version__") else _dist_version("rich"))
    table.add_row("textual", _dist_version("textual"))
    table.add_row("numba-cuda", _dist_version("numba-cuda"))
    table.add_row("platform", f"{platform.system()} {platform.machine()}, {platform.processor() or 'cpu'}")
    table.add_row("CPU threads", f"{os.cpu_count()} logical, numba uses {numba.config.NUMBA_NUM_THREADS}")
    status = cuda_status()
    table.add_row("CUDA runtime", status.implementation)
    if status.simulator:
        table.add_row("CUDA", f"{escape(status.name)}: CUDA kernels run on the CPU for testing; `auto` uses the CPU")
    elif status.available:
        table.add_row("GPU", escape(status.name))
        table.add_row("compute capability", status.compute_capability)
        table.add_row("GPU memory", f"{status.memory_bytes / 2**30:.1f} GiB ({status.free_bytes / 2**30:.1f} GiB free)")
        table.add_row("CUDA driver", status.driver)
    else:
        table.add_row("CUDA", escape(f"none: {status.reason}"))
    _out().print(table)
    return EXIT_OK


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def cmd_bench(args: argparse.Namespace) -> int:
    from gdviz.bench import cli_main

    return cli_main(args, _out(), err_console)


def cmd_sweep(args: argparse.Namespace) -> int:
    from gdviz.sweep.cli import cmd_sweep as sweep

    return sweep(args, _out(), err_console)


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "check": cmd_check, "list": cmd_list, "info": cmd_info, "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gdviz`` console script; returns the exit code.

    Standard output is guarded (:mod:`gdviz.streams`): a reader that went away ends the
    command quietly with 141 (as SIGPIPE would), a failed write (full disk, closed stdout)
    is one line on stderr and exit 1.
    """
    with guarded_stdout() as guard, _signals_exit():
        try:
            args = build_parser().parse_args(argv)
            code = COMMANDS[args.command](args)
            guard.flush()
            return code
        except GdvizError as exc:
            _print_error(exc)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            return EXIT_INTERRUPTED
        except OutputError as exc:
            return exc.report(err_console)


@contextmanager
def _signals_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP end a command as an exception would (the progress line on stderr
    gives the cursor back), with exit code 128 + signal; the app installs its own."""
    import signal

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    saved = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                saved[signum] = signal.signal(signum, leave)
            except ValueError:  # not the main thread
                pass
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _print_error(exc: GdvizError) -> None:
    message = escape(printable(exc.message, allow="\n"))
    title = escape(printable(exc.title))
    if err_console.is_terminal:
        from rich.panel import Panel

        err_console.print(Panel(message, title=f"[bold]{title}[/]", border_style="red", title_align="left"))
    else:  # a log or a pipe: no box, no wrapping, so paths and keys stay whole and greppable
        err_console.print(f"gdviz: {title}: {message}", soft_wrap=True, highlight=False)


if __name__ == "__main__":
    sys.exit(main())
