"""Everything owed on a real GPU, measured in one go; called by ``scripts/gpu-check.sh``.

1. every bundled scenario trained with ``target = "cuda"`` and ``"cpu"``: the worst relative
   difference of the final float64 parameters (target: 1e-10; float32 runs against 2e-4);
2. the full-batch gradient of one run at n = 50M, d = 16, float32, against the device's
   measured copy bandwidth (target: >= 70% of it);
3. a 4,096-run sweep on the houses data through the real engine, CUDA against the CPU, in
   updates per second (target: >= 20x);
4. the 16,384-cell sweep of the sweeps issue, once ``gdviz sweep`` exists.

Writes ``report.json`` and ``report.md`` under ``--out``. ``--small`` shrinks every size so
the plumbing can be tested on the CPU under Numba's CUDA simulator (tests/test_gpu_check.py).
Needs no Textual: it imports the engine, the kernels and the scenario loader only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

FLOAT64_RTOL = 1e-10
FLOAT32_RTOL = 2e-4
BANDWIDTH_TARGET = 0.70
SWEEP_SPEEDUP_TARGET = 20.0


def _worst_rel(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b| / max|b|``: relative to the parameter vector's size, so an intercept that
    ends near zero (standardized data) does not blow up the ratio."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0 if np.array_equal(a, b, equal_nan=True) else math.inf
    scale = max(float(np.max(np.abs(b))), 1e-300) if b.size else 1.0
    return float(np.max(np.abs(a - b))) / scale if b.size else 0.0


def compare_scenario(scenario, dataset) -> dict:  # type: ignore[no-untyped-def]
    """Train ``scenario`` on both targets; the worst relative difference per dtype."""
    from gdviz.engine import Engine

    out: dict = {"name": scenario.name}
    engines = {}
    for target in ("cuda", "cpu"):
        t0 = time.perf_counter()
        engine = Engine(scenario, dataset, target=target)
        engine.run_to_end()
        out[f"{target}_seconds"] = time.perf_counter() - t0
        engines[target] = engine
    gpu, cpu = engines["cuda"], engines["cpu"]
    out["ran_on"] = gpu.target
    out["note"] = gpu.target_note
    worst = {"float64": 0.0, "float32": 0.0}
    for rg, rc in zip(gpu.runs, cpu.runs, strict=True):
        dtype = rg.spec.train.dtype
        both_diverged = rg.diverged_step is not None and rc.diverged_step is not None
        if both_diverged:
            continue
        worst[dtype] = max(worst[dtype], _worst_rel(rg.history.params[-1], rc.history.params[-1]))
    out["worst_rel_float64"] = worst["float64"]
    out["worst_rel_float32"] = worst["float32"]
    out["ok"] = gpu.target == "cuda" and worst["float64"] <= FLOAT64_RTOL and worst["float32"] <= FLOAT32_RTOL
    return out


def compare_bundled(names: list[str] | None = None) -> list[dict]:
    """:func:`compare_scenario` on every bundled scenario (or those in ``names``)."""
    from gdviz.data import build_dataset
    from gdviz.scenario import bundled_scenarios, load_scenario

    results = []
    for name, _title, _desc in bundled_scenarios():
        if names is not None and name not in names:
            continue
        try:
            scenario = load_scenario(name)
            results.append(compare_scenario(scenario, build_dataset(scenario)))
        except Exception as exc:  # noqa: BLE001 - a report line, not a crash of the whole check
            results.append({"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return results


def compare_tiny() -> list[dict]:
    """:func:`compare_scenario` on a tiny houses scenario (for the plumbing test)."""
    from gdviz.data import build_dataset
    from gdviz.scenario import parse_scenario

    scenario = parse_scenario(sweep_text(4, 2, 40), "tiny.toml", Path("."))
    return [compare_scenario(scenario, build_dataset(scenario))]


def copy_bandwidth(nbytes: int, repeats: int = 5) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second), best of ``repeats``."""
    from numba import cuda

    n = max(1, nbytes // 4)
    src = cuda.device_array(n, np.float32)
    dst = cuda.device_array(n, np.float32)
    dst.copy_to_device(src)
    cuda.synchronize()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_to_device(src)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n * 4 / best


def full_batch_bandwidth(n: int, d: int = 16, repeats: int = 3) -> dict:
    """One full-batch run's epoch (one update) at ``n`` rows: bytes of X and y read per second."""
    from gdviz.kernels import gpu_descent as G

    out = G.time_epoch(n, d, n, 1, dtype=np.float32, repeats=repeats)
    read = n * (d + 1) * 4 / out["seconds"]
    copy = copy_bandwidth(n * (d + 1) * 4)
    return {"n": n, "d": d, "seconds": out["seconds"], "read_bytes_per_second": read,
            "copy_bytes_per_second": copy, "fraction_of_copy": read / copy, "target": BANDWIDTH_TARGET,
            "met": read / copy >= BANDWIDTH_TARGET, "shape": out.get("shape")}  # fmt: skip


def sweep_text(runs: int, epochs: int, n: int = 200) -> str:
    """A houses scenario of ``runs`` runs: batch sizes x learning rates x seeds."""
    batches = ["1", "8", "32", '"full"']
    lrs = [0.003, 0.01, 0.03, 0.1]
    lines = ['title = "GPU check sweep"', "seed = 0", "[data]", 'source = "houses"', f"n = {n}",
             'features = ["size_sqft"]', "standardize = true", "standardize_target = true",
             "[model]", 'kind = "linear"', "[train]", f"epochs = {epochs}"]  # fmt: skip
    for k in range(runs):
        b, lr, seed = batches[k % 4], lrs[(k // 4) % 4], k // 16
        lines += ["[[runs]]", f'name = "r{k}"', f"batch_size = {b}", f"seed = {seed}", f"learning_rate = {lr}"]
    return "\n".join(lines) + "\n"


def sweep_speedup(runs: int, epochs: int, n: int = 200) -> dict:
    """Updates per second of ``runs`` runs through the real engine, CUDA against the CPU."""
    from gdviz.data import build_dataset
    from gdviz.engine import Engine
    from gdviz.scenario import parse_scenario

    scenario = parse_scenario(sweep_text(runs, epochs, n), "gpu-check-sweep.toml", Path("."))
    dataset = build_dataset(scenario)
    out: dict = {"runs": runs, "epochs": epochs}
    for target in ("cuda", "cpu"):
        Engine(scenario, dataset, target=target).advance()  # compile or load the cache
        t0 = time.perf_counter()
        engine = Engine(scenario, dataset, target=target)
        engine.run_to_end()
        seconds = time.perf_counter() - t0
        updates = sum(run.step for run in engine.runs)
        out[target] = {"seconds": seconds, "updates": updates, "updates_per_second": updates / seconds,
                       "ran_on": engine.target}  # fmt: skip
    out["speedup"] = out["cuda"]["updates_per_second"] / out["cpu"]["updates_per_second"]
    out["target"] = SWEEP_SPEEDUP_TARGET
    out["met"] = out["speedup"] >= SWEEP_SPEEDUP_TARGET and out["cuda"]["ran_on"] == "cuda"
    return out


def _step(report: dict, key: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    try:
        report[key] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - each part reports its own failure
        report[key] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"{key}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def markdown(report: dict) -> str:
    lines = [f"# gdviz GPU check, {report['date']}", "", f"device: {report.get('device', '?')}", ""]
    lines.append("| scenario | ran on | worst rel float64 | worst rel float32 | ok |")
    lines.append("|---|---|--:|--:|---|")
    scenarios = report.get("scenarios", [])
    if isinstance(scenarios, dict):  # the step itself failed
        scenarios = [{"name": "(all)", **scenarios}]
    for r in scenarios:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} | | | no |")
            continue
        lines.append(f"| {r['name']} | {r['ran_on']} | {r['worst_rel_float64']:.2e} | {r['worst_rel_float32']:.2e} | "
                     f"{'yes' if r['ok'] else 'no'} |")
    fb = report.get("full_batch", {})
    if "error" not in fb and fb:
        lines += ["", f"full batch n = {fb['n']:,}, d = {fb['d']}: {fb['seconds'] * 1e3:.3g} ms, "
                      f"{fb['read_bytes_per_second'] / 1e9:.1f} GB/s read = {fb['fraction_of_copy']:.0%} of the "
                      f"copy bandwidth ({fb['copy_bytes_per_second'] / 1e9:.0f} GB/s); target 70%: "
                      f"{'met' if fb['met'] else 'not met'}"]
    else:
        lines += ["", f"full batch: {fb.get('error', 'not run')}"]
    sw = report.get("sweep", {})
    if "error" not in sw and sw:
        lines += ["", f"{sw['runs']}-run sweep on houses, {sw['epochs']} epochs: CUDA "
                      f"{sw['cuda']['updates_per_second']:.3g} updates/s vs CPU {sw['cpu']['updates_per_second']:.3g}: "
                      f"{sw['speedup']:.1f}x; target 20x: {'met' if sw['met'] else 'not met'}"]
    else:
        lines += ["", f"sweep: {sw.get('error', 'not run')}"]
    lines += ["", f"16,384-cell sweep: {report['big_sweep']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--small", action="store_true", help="tiny sizes, for the plumbing test")
    ap.add_argument("--scenarios", nargs="*", default=None, help="bundled scenarios to compare (default: all)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "small": args.small}
    from gdviz.target import cuda_status

    status = cuda_status()
    report["device"] = (f"{status.name} (compute {status.compute_capability}, driver {status.driver}, "
                        f"{status.implementation})" if status.available else f"none: {status.reason}")
    if args.small:  # the simulator runs every thread in Python: few threads, tiny problems
        from gdviz.kernels import config

        config.THREADS_PER_RUN, config.GRID_THREADS, config.GRID_BLOCKS = 4, 4, 2
        _step(report, "scenarios", compare_tiny)
        _step(report, "full_batch", full_batch_bandwidth, 2_000)
        _step(report, "sweep", sweep_speedup, 8, 1, 40)
    else:
        _step(report, "scenarios", compare_bundled, args.scenarios)
        _step(report, "full_batch", full_batch_bandwidth, 50_000_000)
        _step(report, "sweep", sweep_speedup, 4096, 30)
    report["big_sweep"] = "not run: `gdviz sweep` (the sweeps issue) does not exist yet"
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
