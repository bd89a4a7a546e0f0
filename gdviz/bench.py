"""``gdviz bench``: seconds per epoch of gdviz's kernels, the NumPy loop and the peers.

Each row trains linear regression (MSE, SGD from zero) on the same synthetic data: one
untimed warm-up epoch (compilation, caches), then ``repeats`` timed epochs, each one call
that includes its own fresh shuffle; the row reports the median, min and max, and the MSE
over all of ``X`` after the last epoch, so equal work is visible. Full-batch rows also report
GB/s (bytes of ``X`` per second) and the ratio to the memory floor: the time to read ``X``
once on all threads, measured in this process.

An implementation whose epoch would make the row take more than ``budget`` seconds (judged
from an epoch on a slice of the rows) is skipped with the estimate, as is a peer that is not
installed (``pip install -e '.[peers]'``).

``gdviz bench engine`` (:mod:`gdviz.bench_engine`) times the whole engine on many runs, and
``gdviz bench ui`` the terminal app.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from gdviz.errors import GdvizError, TargetError

IMPLS = ("gdviz", "gdviz-batch", "gdviz-sweep", "numpy", "numpy-runs", "torch-tutorial", "torch-manual",
         "torch-manual-gather", "sklearn", "jax-vmap", "torch-vmap")
#: Rows of gdviz's own kernels: the reference of the "× gdviz" column at their size (of many
#: runs, ``gdviz-sweep``: its runs share one sample order, as every many-runs peer's do).
GDVIZ_IMPLS = ("gdviz", "gdviz-batch", "gdviz-sweep")
#: SGD learning rate of every row (stable at batch 1 for standardized features, d <= 64).
LR = 0.01
SEED = 0


@dataclass
class Config:
    ns: list[int]
    d: int
    batches: list[int | None]  # None: full batch
    runs: list[int]
    dtypes: list[str]
    target: str = "cpu"
    peers: bool = False
    repeats: int = 5
    budget: float = 60.0


def make_data(n: int, d: int, dtype: str, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features and ``y = X w + 0.5 + noise`` (float32 or float64)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32 if dtype == "float32" else np.float64)
    w = rng.standard_normal(d)
    y = (X @ w.astype(X.dtype) + 0.5 + 0.1 * rng.standard_normal(n)).astype(X.dtype)
    return np.ascontiguousarray(X), y


def mse(X: np.ndarray, y: np.ndarray, params: np.ndarray) -> float:
    """Mean over runs of the full-data MSE at each run's ``[w, b]`` (float64)."""
    X64 = X.astype(np.float64)
    r = X64 @ params[:, :-1].T + params[:, -1] - y.astype(np.float64)[:, None]
    return float(np.mean(np.mean(r * r, axis=0)))


def lrs_for(runs: int) -> np.ndarray:
    """The runs' learning rates: ``LR`` for one run, a spread around it for many."""
    return np.full(1, LR) if runs == 1 else LR * np.linspace(0.5, 1.5, runs)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba

    import gdviz

    versions = {"gdviz": gdviz.__version__, "python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    return {"cpu": cpu, "threads": int(numba.config.NUMBA_NUM_THREADS), "versions": versions}


def measure_floor(X: np.ndarray, repeats: int) -> dict:
    from gdviz.kernels.floor import read_once

    read_once(X)
    times = []
    for _ in range(max(5, repeats)):
        t0 = time.perf_counter()
        read_once(X)
        times.append(time.perf_counter() - t0)
    s = min(times)  # a floor: the best read seen (rows report medians, so the ratio is conservative)
    return {"bytes": int(X.nbytes), "seconds": s, "gb_per_s": X.nbytes / s / 1e9}


def _row(impl: str, version: str, n: int, d: int, B: int, runs: int, dtype: str, target: str) -> dict:
    return {"impl": impl, "version": version, "n": n, "d": d, "batch": B, "runs": runs, "dtype": dtype,
            "target": target, "seconds_median": None, "seconds_min": None, "seconds_max": None,
            "samples_per_s": None, "updates_per_s": None, "final_mse": None, "gb_per_s": None,
            "floor_ratio": None, "compile_seconds": None, "skipped": None}


def _fill(row: dict, times: list[float], updates_per_epoch: int, X: np.ndarray, floor: dict, final_mse: float) -> None:
    s = statistics.median(times)
    row.update(seconds_median=s, seconds_min=min(times), seconds_max=max(times),
               samples_per_s=row["runs"] * row["n"] / s, updates_per_s=row["runs"] * updates_per_epoch / s,
               final_mse=final_mse if math.isfinite(final_mse) else None)
    if row["batch"] >= row["n"]:
        row["gb_per_s"] = row["runs"] * X.nbytes / s / 1e9
        row["floor_ratio"] = s / floor["seconds"]


def time_impl(cls: type, X: np.ndarray, y: np.ndarray, B: int, runs: int, cfg: Config, floor: dict,
              row: dict) -> dict:
    """Warm up, check the budget, time ``cfg.repeats`` epochs; fill ``row`` (or mark it skipped)."""
    n = X.shape[0]
    lrs = lrs_for(runs)
    # Probe on a slice: is the whole row within the budget?
    m = min(n, max(2 * B, 20_000)) if B < n else min(n, 200_000)
    probe = cls(X[:m], y[:m], min(B, m), lrs, SEED)
    probe.epoch()  # compiles (Numba's cache may be cold): the estimate is from the next epoch
    t0 = time.perf_counter()
    probe.epoch()
    estimate = (time.perf_counter() - t0) * n / m
    row["version"] = probe.version
    if estimate * (cfg.repeats + 1) > cfg.budget:
        row["skipped"] = (f"too slow: about {estimate:.3g} s per epoch (timed on {m:,} rows), "
                          f"{cfg.repeats + 1} epochs exceed --budget {cfg.budget:g} s")
        return row
    impl = cls(X, y, B, lrs, SEED)
    row["compile_seconds"] = getattr(impl, "compile_seconds", None)  # jax: ahead-of-time, apart from the epochs
    impl.epoch()  # warm-up
    times = []
    for _ in range(cfg.repeats):
        t0 = time.perf_counter()
        impl.epoch()
        times.append(time.perf_counter() - t0)
    upe = -(-n // B)
    if impl.updates != runs * upe * (cfg.repeats + 1):
        raise RuntimeError(f"{impl.name} did {impl.updates} updates, expected {runs * upe * (cfg.repeats + 1)}")
    _fill(row, times, upe, X, floor, mse(X, y, impl.params()))
    return row


def _cuda_row(n: int, d: int, B: int, runs: int, dtype: str, cfg: Config) -> dict:
    from gdviz.kernels import gpu_descent

    import gdviz

    row = _row("gdviz", gdviz.__version__, n, d, B, runs, dtype, "cuda")
    times = []
    for _ in range(cfg.repeats):
        out = gpu_descent.time_epoch(n, d, B, runs, dtype=np.dtype(dtype).type, repeats=1, seed=SEED)
        times.append(out["seconds"])
    upe = -(-n // B)
    s = statistics.median(times)
    row.update(seconds_median=s, seconds_min=min(times), seconds_max=max(times), samples_per_s=runs * n / s,
               updates_per_s=runs * upe / s)
    if B >= n:
        row["gb_per_s"] = runs * n * d * np.dtype(dtype).itemsize / s / 1e9
    return row


def check_target(target: str) -> None:
    """Raise :class:`TargetError` unless ``target`` can run here."""
    if target != "cuda":
        return
    from gdviz.target import cuda_status

    status = cuda_status()
    if not status.available:
        raise TargetError(f"--target cuda: {status.reason}")
    if importlib.util.find_spec("gdviz.kernels.gpu_descent") is None:
        raise TargetError("--target cuda: this gdviz has no CUDA kernels (gdviz.kernels.gpu_descent is missing)")


def run_bench(cfg: Config, progress=None) -> dict:  # type: ignore[no-untyped-def]
    """Run every row of ``cfg``; returns the ``--json`` document."""
    from gdviz import bench_peers as P

    check_target(cfg.target)
    doc = {"machine": machine(), "floor": None, "rows": []}
    versions = doc["machine"]["versions"]
    for dtype in cfg.dtypes:
        for n in cfg.ns:
            X, y = make_data(n, cfg.d, dtype)
            floor = measure_floor(X, cfg.repeats)
            if doc["floor"] is None or floor["bytes"] > doc["floor"]["bytes"]:
                doc["floor"] = floor
            for batch in cfg.batches:
                B = n if batch is None or batch >= n else batch
                for R in cfg.runs:
                    todo: list[tuple[str, type | None, str | None]] = []
                    if cfg.target == "cuda":
                        if progress:
                            progress(f"cuda n={n} B={B} runs={R}")
                        doc["rows"].append(_cuda_row(n, cfg.d, B, R, dtype, cfg))
                        continue
                    if R == 1:
                        todo.append(("gdviz", P.GdvizSingle, None))
                    else:
                        todo += [("gdviz-batch", P.GdvizRuns, None), ("gdviz-sweep", P.GdvizSweep, None)]
                    if R == 1:
                        todo.append(("numpy", P.NumpyLoop, None))
                    if cfg.peers:
                        for name, (cls, module, applies) in P.PEERS.items():
                            if applies(B, n, R):
                                todo.append((name, cls, module))
                    for name, cls, module in todo:
                        row = _row(name, "", n, cfg.d, B, R, dtype, cfg.target)
                        if module is not None and importlib.util.find_spec(module) is None:
                            row["skipped"] = f"{module} is not installed (pip install -e '.[peers]')"
                        else:
                            if progress:
                                progress(f"{name} n={n:,} batch={B:,} runs={R} {dtype}")
                            time_impl(P.peer_class(cls), X, y, B, R, cfg, floor, row)
                            if name not in (*GDVIZ_IMPLS, "numpy", "numpy-runs"):
                                versions[name.split("-")[0]] = row["version"]
                        doc["rows"].append(row)
    return doc


# --- presentation --------------------------------------------------------------------------


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def _fmt_rate(v: float | None) -> str:
    if v is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def table(doc: dict):  # type: ignore[no-untyped-def]
    """A Rich table of the rows, with each row's time relative to gdviz's at the same work."""
    from rich.table import Table

    m = doc["machine"]
    fl = doc["floor"]
    title = (f"gdviz bench — {m['cpu']}, {m['threads']} threads"
             + (f"; memory floor {fl['gb_per_s']:.1f} GB/s ({fl['bytes'] / 1e6:.0f} MB in {_fmt_s(fl['seconds'])})"
                if fl else ""))
    t = Table(title=title, title_justify="left", caption_justify="left",
              caption="gdviz: advance_batch, one run; gdviz-batch: advance_batch over all the runs at once, "
                      "threads over runs (parallel=True), each run its own seed (its own sample order); "
                      "gdviz-sweep: the same with one seed for all (one order, as numpy-runs and the vmap "
                      "peers), the reference of × gdviz for many runs; jax-vmap's compile time is apart")
    for col, just in (("impl", "left"), ("version", "left"), ("dtype", "left"), ("n", "right"), ("batch", "right"),
                      ("runs", "right"), ("s/epoch median [min–max]", "right"), ("samples/s", "right"),
                      ("updates/s", "right"), ("× gdviz", "right"), ("GB/s", "right"), ("× floor", "right"),
                      ("final MSE", "right")):
        t.add_column(col, justify=just)
    ref = {(r["dtype"], r["n"], r["batch"], r["runs"]): r["seconds_median"] for r in doc["rows"]
           if r["impl"] in GDVIZ_IMPLS and r["seconds_median"] and r["impl"] != "gdviz-batch"}
    for r in doc["rows"]:
        if r["skipped"]:
            t.add_row(r["impl"], r["version"], r["dtype"], f"{r['n']:,}", f"{r['batch']:,}", str(r["runs"]),
                      f"[dim]skipped: {r['skipped']}[/]", *[""] * 6)
            continue
        g = ref.get((r["dtype"], r["n"], r["batch"], r["runs"]))
        ratio = f"{r['seconds_median'] / g:.3g}×" if g else "—"
        t.add_row(
            r["impl"], r["version"], r["dtype"], f"{r['n']:,}", f"{r['batch']:,}", str(r["runs"]),
            f"{_fmt_s(r['seconds_median'])} [{_fmt_s(r['seconds_min'])}–{_fmt_s(r['seconds_max'])}]",
            _fmt_rate(r["samples_per_s"]), _fmt_rate(r["updates_per_s"]), ratio,
            f"{r['gb_per_s']:.3g}" if r["gb_per_s"] is not None else "—",
            f"{r['floor_ratio']:.3g}" if r["floor_ratio"] is not None else "—",
            f"{r['final_mse']:.4g}" if r["final_mse"] is not None else "—",
        )
    return t


# --- start-up and compile time --------------------------------------------------------------


def compile_times(scenario: str = "houses") -> dict:
    """Cold (empty Numba cache, fresh process) and warm wall time of ``gdviz run SCENARIO --headless``."""
    cmd = [sys.executable, "-m", "gdviz", "run", scenario, "--headless"]
    out: dict = {"command": "gdviz run " + scenario + " --headless"}
    with tempfile.TemporaryDirectory(prefix="gdviz-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for key in ("cold_seconds", "warm_seconds", "warm_again_seconds"):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            out[key] = time.perf_counter() - t0
            if proc.returncode != 0:
                raise GdvizError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}",
                                 "bench --compile failed")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gdviz.engine"], capture_output=True, check=False)
    out["import_engine_seconds"] = time.perf_counter() - t0
    return out


# --- the command ---------------------------------------------------------------------------


def cli_main(args, out, err) -> int:  # type: ignore[no-untyped-def]
    """``gdviz bench``: run what ``args`` asks and print a table, or JSON only with ``--json``."""
    import json

    if getattr(args, "engine", False):
        if args.what not in ("kernels", "engine"):
            raise GdvizError(f"--engine means `gdviz bench engine`; it cannot go with `{args.what}`", "bad arguments")
        args.what = "engine"
    if getattr(args, "sweep", False):
        from gdviz.bench_sweep import cli_main as sweep_main

        return sweep_main(args, out, err)
    if getattr(args, "model", "linear") == "mlp":
        from gdviz.bench_mlp import cli_main as mlp_main

        return mlp_main(args, out, err)
    if args.what == "engine":
        from gdviz.bench_engine import cli_main as engine_main

        check_target(args.target)
        return engine_main(args, out, err)
    if args.what == "ui":
        if importlib.util.find_spec("gdviz.tui.bench") is None:
            raise GdvizError("`gdviz bench ui` needs the terminal app (gdviz.tui.bench), which this install lacks",
                             "bench ui unavailable")
        if not args.seconds > 0:
            raise GdvizError(f"--seconds must be positive, got {args.seconds}", "bad arguments")
        from gdviz.tui.bench import bench_ui

        result = bench_ui(seconds=args.seconds)
        if args.json:
            sys.stdout.write(json.dumps(result) + "\n")
        else:
            out.print_json(json.dumps(result))
        return 0
    if args.compile:
        with err.status("Timing cold and warm starts (fresh processes, empty Numba cache)…"):
            result = {"machine": machine(), "compile": compile_times()}
        if args.json:
            sys.stdout.write(json.dumps(result) + "\n")
        else:
            c = result["compile"]
            out.print(f"`{c['command']}`: cold (empty cache) {c['cold_seconds']:.2f} s, warm {c['warm_seconds']:.2f} s, "
                      f"again {c['warm_again_seconds']:.2f} s; `import gdviz.engine` {c['import_engine_seconds']:.2f} s")
        return 0
    check_target(args.target)
    if not args.budget > 0:
        raise GdvizError(f"--budget must be positive, got {args.budget}", "bad arguments")
    for n in args.n:
        if n < 2:
            raise GdvizError(f"--n must be at least 2, got {n}", "bad arguments")
        for b in args.batch:
            if b is not None and b > n:
                raise GdvizError(f"--batch {b} is larger than --n {n}; use `full` for one batch of all rows",
                                 "bad arguments")
    cfg = Config(ns=list(args.n), d=args.d, batches=list(dict.fromkeys(args.batch)), runs=list(dict.fromkeys(args.runs)),
                 dtypes=list(dict.fromkeys(args.dtype)), target=args.target, peers=args.peers, repeats=args.repeats,
                 budget=args.budget)
    check_target(cfg.target)
    with err.status("Benchmarking…") as status:
        doc = run_bench(cfg, progress=lambda msg: status.update(f"Benchmarking {msg}…"))
    if args.json:
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    else:
        out.print(table(doc))
        for r in doc["rows"]:
            if r["skipped"]:
                err.print(f"[dim]skipped {r['impl']} (n={r['n']:,}, batch={r['batch']:,}): {r['skipped']}[/]")
            elif r["compile_seconds"] is not None:
                out.print(f"{r['impl']} (n={r['n']:,}, batch={r['batch']:,}, runs={r['runs']}): compiled in "
                          f"{_fmt_s(r['compile_seconds'])}, apart from its epoch times")
    return 0
