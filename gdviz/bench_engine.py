"""``gdviz bench engine``: wall time of the real engine on many runs, and of two commands.

The engine row builds a scenario in memory: ``per_method`` runs of each method (full batch,
batch 1, batch 32; seeds differing) of plain SGD on the built-in ``linear`` source, and
times ``Engine(scenario, dataset).run_to_end()`` (headless, no TUI; the dataset is built
once, outside the timing) against the same scenario with one run of each method. Each is run
once untimed first (Numba compiles or loads its cache, NumPy warms up), then the best of
``repeats`` is kept. The difference is what the extra runs cost.

It also times ``gdviz run houses --headless`` and ``gdviz check houses`` as fresh processes,
warm (one untimed run first), best of ``repeats``: the start-up a user waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

#: The scenario the engine row times (the issue's figures).
PER_METHOD = 64
EPOCHS = 50
N, D = 1000, 10
LR = 0.01  # stable for batch 1 on 10 standardized features (scenarios/synthetic.toml takes 0.02)
#: ``batch_size`` of each method, and its name.
METHODS = (("full", "full batch"), (1, "batch 1"), (32, "batch 32"))
#: Targets, in seconds: the many-runs scenario, and the two commands (warm).
ENGINE_TARGET = 0.4
COMMANDS = (("run", "houses", "--headless"), 0.4), (("check", "houses"), 0.15)


def scenario_text(per_method: int = PER_METHOD, epochs: int = EPOCHS, n: int = N, d: int = D, lr: float = LR) -> str:
    """TOML of ``per_method`` runs of each of :data:`METHODS`; run ``k`` of a method has seed ``k``."""
    lines = [
        f'title = "bench engine: {per_method * len(METHODS)} runs"',
        "seed = 0",
        "[data]",
        'source = "linear"',
        f"n = {n}",
        f"d = {d}",
        "noise = 0.5",
        "[model]",
        'kind = "linear"',
        "[train]",
        f"epochs = {epochs}",
        f"learning_rate = {lr!r}",
        'optimizer = "sgd"',
        'dtype = "float64"',
    ]
    for k in range(per_method):
        for batch, label in METHODS:
            value = '"full"' if batch == "full" else str(batch)
            lines += ["[[runs]]", f'name = "{label} #{k}"', f"batch_size = {value}", f"seed = {k}"]
    return "\n".join(lines) + "\n"


def _build(per_method: int, epochs: int, n: int, d: int):  # type: ignore[no-untyped-def]
    from gdviz.data import build_dataset
    from gdviz.scenario import parse_scenario

    scenario = parse_scenario(scenario_text(per_method, epochs, n, d), "bench-engine.toml", Path.cwd())
    return scenario, build_dataset(scenario)


def time_engine(scenario, dataset, repeats: int, target: str = "cpu") -> dict:  # type: ignore[no-untyped-def]
    """Warm, then the best of ``repeats`` wall times of ``Engine(...)`` plus ``run_to_end()``."""
    from gdviz.engine import Engine

    Engine(scenario, dataset, target=target).run_to_end()  # compile or load the cache; warm NumPy
    times, setup = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        engine = Engine(scenario, dataset, target=target)
        t1 = time.perf_counter()
        engine.run_to_end()
        times.append(time.perf_counter() - t0)
        setup.append(t1 - t0)
    if not engine.done:  # pragma: no cover - run_to_end returns only when done
        raise RuntimeError("the engine stopped before every run was done")
    return {
        "runs": len(engine.runs),
        "updates": int(sum(run.step for run in engine.runs)),
        "diverged": int(sum(run.diverged_step is not None for run in engine.runs)),
        "target": engine.target,
        "seconds": min(times),
        "seconds_all": times,
        "setup_seconds": setup[times.index(min(times))],
    }


def gdviz_command() -> list[str]:
    """The installed ``gdviz`` script next to this Python, else ``python -m gdviz``."""
    script = Path(sys.executable).with_name("gdviz")
    return [str(script)] if script.is_file() and os.access(script, os.X_OK) else [sys.executable, "-m", "gdviz"]


def time_command(args: tuple[str, ...], repeats: int, target_seconds: float) -> dict:
    """Wall time of ``gdviz ARGS`` as a fresh process: one untimed run, then the best of ``repeats``."""
    from gdviz.errors import GdvizError

    cmd = gdviz_command() + list(args)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        if i:
            times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise GdvizError(f"`gdviz {' '.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}",
                             "bench engine failed")
    best = min(times)
    return {"command": "gdviz " + " ".join(args), "seconds": best, "seconds_all": times,
            "target_seconds": target_seconds, "target_met": best <= target_seconds}


def run_engine_bench(per_method: int = PER_METHOD, epochs: int = EPOCHS, n: int = N, d: int = D, repeats: int = 5,
                     target: str = "cpu", commands: bool = True, progress=None) -> dict:  # type: ignore[no-untyped-def]
    """The ``--json`` document of ``gdviz bench engine``."""
    from gdviz.bench import machine

    say = progress or (lambda msg: None)
    say(f"building {per_method * len(METHODS)} runs on linear n={n:,} d={d}")
    many_sc, dataset = _build(per_method, epochs, n, d)
    few_sc, _ = _build(1, epochs, n, d)  # the same data (same source, seed and sizes)
    say(f"timing the engine on {len(many_sc.runs)} runs")
    many = time_engine(many_sc, dataset, repeats, target)
    say(f"timing the engine on {len(few_sc.runs)} runs")
    few = time_engine(few_sc, dataset, repeats, target)
    engine = {
        "scenario": {"source": "linear", "n": n, "d": d, "epochs": epochs, "optimizer": "sgd", "learning_rate": LR,
                     "dtype": "float64", "methods": [label for _, label in METHODS], "runs_per_method": per_method},
        "repeats": repeats,
        "many": many,
        "few": few,
        "extra_runs": many["runs"] - few["runs"],
        "extra_seconds": many["seconds"] - few["seconds"],
        "target_seconds": ENGINE_TARGET,
        "target_met": many["seconds"] <= ENGINE_TARGET,
    }
    cmds = []
    if commands:
        for args, limit in COMMANDS:
            say(f"timing `gdviz {' '.join(args)}` (fresh processes)")
            cmds.append(time_command(args, repeats, limit))
    return {"machine": machine(), "engine": engine, "commands": cmds}


def _s(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def _met(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]not met[/]"


def report_lines(doc: dict) -> list[str]:
    """The text output: one line per figure (Rich markup)."""
    e, m = doc["engine"], doc["machine"]
    sc, many, few = e["scenario"], e["many"], e["few"]
    each = " + ".join(f"{sc['runs_per_method']} × {label}" for label in sc["methods"])
    where = f"linear n={sc['n']:,} d={sc['d']}, {sc['epochs']} epochs of SGD (lr {sc['learning_rate']:g})"
    best = f"best of {e['repeats']}"
    lines = [
        (f"gdviz bench engine — {m['cpu']}, {m['threads']} threads; Engine(...).run_to_end(), warm, {best}, "
         f"target {many['target']}"),
        (f"  {many['runs']} runs ({each}), {where}: {_s(many['seconds'])} "
         f"({many['updates']:,} updates; set-up {_s(many['setup_seconds'])})"),
        f"  {few['runs']} runs (one of each): {_s(few['seconds'])} ({few['updates']:,} updates)",
        f"  the {e['extra_runs']} extra runs cost {_s(e['extra_seconds'])}",
        f"  target: {many['runs']} runs in ≤ {e['target_seconds']:g} s: {_met(e['target_met'])}",
    ]
    for what in (many, few):
        if what["diverged"]:
            lines.append(f"  [yellow]{what['diverged']} of {what['runs']} runs diverged[/]")
    for c in doc["commands"]:
        lines.append(f"  `{c['command']}` (fresh process, warm, {best}): {_s(c['seconds'])}; "
                     f"target ≤ {c['target_seconds']:g} s: {_met(c['target_met'])}")
    return lines


def cli_main(args, out, err) -> int:  # type: ignore[no-untyped-def]
    """``gdviz bench engine``: the lines above, or the document alone with ``--json``."""
    import json

    sizes = (getattr(args, "engine_runs", PER_METHOD), getattr(args, "engine_epochs", EPOCHS),
             getattr(args, "engine_n", N))
    with err.status("Benchmarking the engine…") as status:
        doc = run_engine_bench(*sizes, repeats=args.repeats, target=args.target,
                               commands=not getattr(args, "no_commands", False),
                               progress=lambda msg: status.update(f"Benchmarking: {msg}…"))
    if args.json:
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    else:
        for line in report_lines(doc):
            out.print(line, highlight=False)
    return 0
