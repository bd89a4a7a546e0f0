"""`gdviz bench` plumbing on tiny sizes: the JSON document, equal work per row, skipped
peers, bad flags. Never asserts a speed (the machine is shared and noisy)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from gdviz import bench, bench_engine
from gdviz import bench_peers as P
from gdviz.cli import main

ROW_KEYS = {"impl", "version", "n", "d", "batch", "runs", "dtype", "target", "seconds_median", "seconds_min",
            "seconds_max", "samples_per_s", "updates_per_s", "final_mse", "gb_per_s", "floor_ratio", "compile_seconds",
            "skipped"}
TINY = ["bench", "--n", "600", "--d", "3", "--batch", "1", "7", "full", "--runs", "1", "3", "--repeats", "5", "--json"]


def run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.fixture(scope="module")
def doc():
    """One tiny run with peers (whichever are installed), shared by the structure tests."""
    cfg = bench.Config(ns=[600], d=3, batches=[1, 7, None], runs=[1, 3], dtypes=["float32"], peers=True, repeats=5)
    return bench.run_bench(cfg)


def test_json_document_has_the_documented_shape(doc):
    assert set(doc) == {"machine", "floor", "rows"}
    assert set(doc["machine"]) == {"cpu", "threads", "versions"}
    assert set(doc["floor"]) == {"bytes", "seconds", "gb_per_s"}
    assert doc["floor"]["bytes"] == 600 * 3 * 4
    for row in doc["rows"]:
        assert set(row) == ROW_KEYS
        assert row["impl"] in bench.IMPLS
        assert isinstance(row["batch"], int) and 1 <= row["batch"] <= row["n"]
    json.dumps(doc, allow_nan=False)


def test_rows_cover_every_size_and_always_include_gdviz_and_numpy(doc):
    keys = {(r["impl"], r["batch"], r["runs"]) for r in doc["rows"]}
    for B in (1, 7, 600):
        assert ("gdviz", B, 1) in keys and ("numpy", B, 1) in keys and ("gdviz-batch", B, 3) in keys
        assert ("numpy-runs", B, 3) in keys and ("gdviz-sweep", B, 3) in keys
        assert not {("gdviz", B, 3), ("gdviz-batch", B, 1)} & keys
    assert {r["impl"] for r in doc["rows"] if r["batch"] != 1} >= {"gdviz", "numpy"}
    assert not [r for r in doc["rows"] if r["impl"] == "sklearn" and r["batch"] != 1]


def test_every_timed_row_did_one_epoch_of_updates_per_run(doc):
    for r in doc["rows"]:
        if r["skipped"]:
            continue
        upe = -(-r["n"] // r["batch"])
        assert r["updates_per_s"] * r["seconds_median"] == pytest.approx(upe * r["runs"], rel=1e-9)
        assert r["samples_per_s"] * r["seconds_median"] == pytest.approx(r["n"] * r["runs"], rel=1e-9)
        assert r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"]
        assert (r["gb_per_s"] is not None) == (r["batch"] == r["n"]) == (r["floor_ratio"] is not None)


def test_equal_work_shows_in_the_final_mse(doc):
    """Same data, lr, batch and epochs: every implementation lands near the same loss."""
    for B in (1, 7, 600):
        for R in (1, 3):
            got = [r["final_mse"] for r in doc["rows"] if r["batch"] == B and r["runs"] == R and not r["skipped"]]
            assert len(got) >= 1 and all(v is not None for v in got)
            assert max(got) <= 1.5 * min(got) + 0.01


def test_missing_peers_are_listed_as_skipped(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "sklearn", "jax") else real(name, *a))
    cfg = bench.Config(ns=[300], d=2, batches=[1], runs=[1, 2], dtypes=["float32"], peers=True, repeats=5)
    rows = bench.run_bench(cfg)["rows"]
    skipped = {r["impl"]: r["skipped"] for r in rows if r["skipped"]}
    assert set(skipped) == {"torch-tutorial", "torch-manual", "torch-manual-gather", "sklearn", "jax-vmap",
                            "torch-vmap"}
    assert all("pip install" in v for v in skipped.values())
    assert all(r["seconds_median"] is None for r in rows if r["skipped"])


def test_a_row_over_the_budget_is_skipped_with_an_estimate():
    cfg = bench.Config(ns=[400], d=2, batches=[1], runs=[1], dtypes=["float64"], repeats=5, budget=1e-9)
    rows = bench.run_bench(cfg)["rows"]
    assert rows and all(r["skipped"] and "per epoch" in r["skipped"] for r in rows)


def test_cli_json_prints_one_document_only(capsys):
    got = run_json(capsys, ["bench", "--n", "200", "--d", "2", "--batch", "4", "full", "--runs", "1", "--json"])
    assert [r["impl"] for r in got["rows"]] == ["gdviz", "numpy", "gdviz", "numpy"]
    assert [r["batch"] for r in got["rows"]] == [4, 4, 200, 200]


@pytest.mark.parametrize("argv", [
    ["bench", "--batch", "0"],
    ["bench", "--batch", "half"],
    ["bench", "--n", "-5"],
    ["bench", "--runs", "0"],
    ["bench", "--dtype", "float16"],
    ["bench", "--target", "tpu"],
    ["bench", "--repeats", "x"],
    ["bench", "--n", "10", "--batch", "20"],
    ["bench", "--n", "10", "--budget", "0"],
])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cuda_target_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    from gdviz import target

    monkeypatch.setattr(target, "cuda_status", lambda: type("S", (), {"available": False, "reason": "no GPU here"})())
    assert main(["bench", "--n", "100", "--batch", "full", "--target", "cuda", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no GPU here" in captured.err


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B", [1, 5, 64])
def test_the_many_runs_row_trains_each_run_as_the_single_run_row(B, dtype):
    """gdviz-batch (R runs, threads over runs) ends each run bit for bit where gdviz (one run
    with its learning rate and seed) does: the rows do the same work."""
    rng = np.random.default_rng(B)
    n, R = 64, 5
    X = rng.standard_normal((n, 3)).astype(dtype)
    y = (X @ rng.standard_normal(3) + 0.3).astype(dtype)
    lrs = np.linspace(0.01, 0.1, R)
    many = P.GdvizRuns(X, y, B, lrs, 7)
    for _ in range(3):
        many.epoch()
    assert many.updates == 3 * R * -(-n // B) and many.params().shape == (R, 4)
    for r in (0, R - 1):
        one = P.GdvizSingle(X, y, B, lrs[r : r + 1], 7 + r)
        for _ in range(3):
            one.epoch()
        np.testing.assert_array_equal(many.params()[r], one.params()[0])


@pytest.mark.parametrize("B", [1, 7, 50])
def test_torch_manual_peers_agree(B):
    """The permute-then-slice peer and the per-batch gather peer take the same steps."""
    pytest.importorskip("torch")
    X, y = bench.make_data(50, 3, "float64")
    a, b = P.TorchManual(X, y, B, np.array([0.05]), 1), P.TorchManualGather(X, y, B, np.array([0.05]), 1)
    for _ in range(2):
        a.epoch()
        b.epoch()
    assert a.updates == b.updates == 2 * -(-50 // B)
    np.testing.assert_allclose(a.params(), b.params(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_many_runs_peers_take_the_same_full_batch_steps(dtype):
    """A full batch has no order: jax-vmap, torch-vmap, numpy-runs and gdviz-sweep take the
    same steps for every run (to rounding), and the vmap peers count their updates."""
    X, y = bench.make_data(80, 3, dtype)
    lrs = np.array([0.05, 0.1, 0.2])
    impls = [P.NumpyRuns(X, y, 80, lrs, 0), P.GdvizSweep(X, y, 80, lrs, 0)]
    for name in ("jax-vmap", "torch-vmap"):
        if importlib.util.find_spec(P.PEERS[name][1]) is not None:
            impls.append(P.peer_class(P.PEERS[name][0])(X, y, 80, lrs, 0))
    for impl in impls:
        for _ in range(3):
            impl.epoch()
        assert impl.updates == 3 * 3
    tol = 1e-5 if dtype == "float32" else 1e-12
    for impl in impls[1:]:
        np.testing.assert_allclose(impl.params(), impls[0].params(), rtol=tol, atol=tol, err_msg=impl.name)


@pytest.mark.parametrize("B", [1, 7])
def test_vmap_peers_train_every_run_on_minibatches(B):
    """Minibatches of one shared order (the peers' own RNG): each run's final loss is near the
    one-run NumPy loop's at its learning rate, and the runs differ."""
    X, y = bench.make_data(200, 3, "float32")
    lrs = np.array([0.01, 0.03])
    for name in ("jax-vmap", "torch-vmap"):
        if importlib.util.find_spec(P.PEERS[name][1]) is None:
            continue
        impl = P.peer_class(P.PEERS[name][0])(X, y, B, lrs, 0)
        for _ in range(3):
            impl.epoch()
        got = impl.params()
        assert got.shape == (2, 4) and impl.updates == 3 * 2 * -(-200 // B) and not np.allclose(got[0], got[1])
        for r in range(2):
            ref = P.NumpyLoop(X, y, B, lrs[r : r + 1], 0)
            for _ in range(3):
                ref.epoch()
            assert bench.mse(X, y, got[r : r + 1]) <= 1.5 * bench.mse(X, y, ref.params()) + 0.01


def test_floor_read_touches_every_word():
    from gdviz.kernels.floor import read_once

    a = np.zeros(1001, np.uint32)
    a[1000] = 5
    assert read_once(a) == 5


def test_bench_ui_prints_frames_per_second_as_json(capsys):
    """`gdviz bench ui --json` drives the app headless and reports frames, fps and CPU per frame."""
    import json

    from gdviz.cli import main

    assert main(["bench", "ui", "--seconds", "2", "--json"]) == 0  # 2 s: a loaded machine starts the app slowly
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == [200, 60] and doc["scenario"] == "houses"
    assert doc["frames"] > 0 and doc["fps"] > 0 and doc["cpu_ms_per_frame"] > 0


# --- gdviz bench engine ----------------------------------------------------------------------


def _finite_positive(value) -> bool:
    return isinstance(value, float) and np.isfinite(value) and value > 0


def test_engine_bench_document_on_a_tiny_scenario():
    doc = bench_engine.run_engine_bench(per_method=2, epochs=2, n=64, d=3, repeats=2, commands=False)
    assert set(doc) == {"machine", "engine", "commands"} and doc["commands"] == []
    e = doc["engine"]
    assert set(e) == {"scenario", "repeats", "many", "few", "extra_runs", "extra_seconds", "target_seconds",
                      "target_met"}
    assert e["scenario"]["n"] == 64 and e["scenario"]["runs_per_method"] == 2
    assert e["many"]["runs"] == 6 and e["few"]["runs"] == 3 and e["extra_runs"] == 3
    # per method: full batch 1 update per epoch, batch 1: 64, batch 32: 2
    assert e["few"]["updates"] == 2 * (1 + 64 + 2) and e["many"]["updates"] == 2 * e["few"]["updates"]
    for part in (e["many"], e["few"]):
        assert part["diverged"] == 0 and part["target"] == "cpu"
        assert len(part["seconds_all"]) == 2 and part["seconds"] == min(part["seconds_all"])
        assert _finite_positive(part["seconds"]) and _finite_positive(part["setup_seconds"])
    assert np.isfinite(e["extra_seconds"])
    assert e["target_met"] == (e["many"]["seconds"] <= e["target_seconds"])
    json.dumps(doc, allow_nan=False)
    assert any("3 extra runs" in line for line in bench_engine.report_lines(doc))


def test_engine_bench_scenario_has_every_method_and_differing_seeds():
    from gdviz.scenario import parse_scenario

    sc = parse_scenario(bench_engine.scenario_text(per_method=3, epochs=1, n=100, d=2), "x.toml", ".")
    assert [r.batch_size for r in sc.runs] == [None, 1, 32] * 3
    assert [r.seed for r in sc.runs] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len({r.name for r in sc.runs}) == 9


def test_engine_bench_times_commands_as_fresh_processes(monkeypatch):
    calls = []

    class Done:
        returncode, stderr = 0, ""

    monkeypatch.setattr(bench_engine.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    got = bench_engine.time_command(("check", "houses"), 3, 0.15)
    assert len(calls) == 4 and calls[0][-2:] == ["check", "houses"]  # one untimed, then 3
    assert got["command"] == "gdviz check houses" and len(got["seconds_all"]) == 3
    assert got["seconds"] == min(got["seconds_all"]) and got["target_met"] == (got["seconds"] <= 0.15)


@pytest.mark.parametrize("how", [["bench", "engine"], ["bench", "--engine"]])
def test_cli_bench_engine_json(capsys, how):
    got = run_json(capsys, [*how, "--engine-runs", "1", "--engine-epochs", "1", "--engine-n", "40", "--no-commands",
                            "--repeats", "1", "--json"])
    assert got["engine"]["many"]["runs"] == got["engine"]["few"]["runs"] == 3
    assert _finite_positive(got["engine"]["many"]["seconds"])


def test_cli_bench_engine_prints_its_lines(capsys):
    assert main(["bench", "engine", "--engine-runs", "1", "--engine-epochs", "1", "--engine-n", "40",
                 "--no-commands", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 runs" in out and "extra runs cost" in out and "target" in out


def test_engine_flag_cannot_go_with_ui(capsys):
    assert main(["bench", "ui", "--engine"]) == 2
    assert "--engine" in capsys.readouterr().err
