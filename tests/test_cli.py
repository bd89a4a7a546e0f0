"""The command line: exit codes, messages, and what goes to stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gdviz.cli import main

SMALL = """
title = "small"
seed = 1
[data]
source = "linear"
n = 64
d = 2
[train]
epochs = 3
learning_rate = 0.05
target_loss = 0.5
[[runs]]
name = "full"
batch_size = "full"
[[runs]]
name = "sgd"
batch_size = 1
[[runs]]
name = "mini"
batch_size = 16
"""


def strict_json(text: str):
    """Parse as a strict JSON parser would: NaN and Infinity are errors."""

    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_headless_prints_one_row_per_run(small, capsys):
    assert main(["run", str(small), "--headless"]) == 0
    out = capsys.readouterr().out
    for name in ("full", "sgd", "mini", "full-batch", "stochastic", "mini-batch"):
        assert name in out
    assert "updates/epoch" in out


def test_json_is_the_documented_document_and_nothing_else(small, capsys):
    assert main(["run", str(small), "--json"]) == 0
    captured = capsys.readouterr()
    doc = strict_json(captured.out)
    assert doc["scenario"] == "small"
    assert doc["target"] == "cpu"
    assert doc["dataset"]["n"] == 64 and doc["dataset"]["d"] == 2
    keys = {"name", "batch_size", "updates_per_epoch", "optimizer", "learning_rate", "final_params",
            "final_params_original_units", "final_loss", "diverged", "epochs_to_target",
            "seconds_per_epoch", "history"}
    for run in doc["runs"]:
        assert keys <= run.keys()
        assert {"step", "epoch", "loss", "full_loss", "params"} <= run["history"].keys()
        assert len(run["final_params"]) == 3  # [w_1, w_2, b]
        assert run["history"]["params"][-1] == run["final_params"]
    assert [r["updates_per_epoch"] for r in doc["runs"]] == [1, 64, 4]


def test_diverged_run_exits_zero_with_nulls_not_nan(tmp_path, capsys):
    path = tmp_path / "fast.toml"
    path.write_text(SMALL.replace("learning_rate = 0.05", "learning_rate = 4.0"))
    assert main(["run", str(path), "--json"]) == 0
    doc = strict_json(capsys.readouterr().out)
    sgd = doc["runs"][1]
    assert sgd["diverged"] is True
    assert isinstance(sgd["diverged_step"], int)


def test_bad_scenario_exits_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace("batch_size = 16", "batch_size = 0"))
    assert main(["run", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "runs[2].batch_size" in err
    assert "bad.toml" in err
    assert "Traceback" not in err


def test_not_toml_exits_2_with_the_line(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text('title = "x"\n[data\nsource = "linear"\n')
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.toml" in err and "line 2" in err


def test_unknown_scenario_name_exits_2_and_lists_bundled(capsys):
    assert main(["run", "no-such-scenario", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "houses" in err


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_bad_fps_exits_2(small, capsys):
    assert main(["run", str(small), "--headless", "--fps", "0"]) == 2
    assert "--fps" in capsys.readouterr().err


def test_the_app_is_given_the_scenarios_target_or_the_flags(small, monkeypatch):
    import gdviz.tui.app

    seen = []
    monkeypatch.setattr(gdviz.tui.app, "run_app",
                        lambda scenario, dataset, *, fps, target, export_dir: seen.append((fps, target, export_dir)) or 0)
    assert main(["run", str(small)]) == 0
    assert main(["run", str(small), "--target", "cpu", "--fps", "12", "--out", "shots"]) == 0
    assert seen == [(30, "auto", None), (12, "cpu", "shots")]


def test_the_app_with_cuda_and_no_gpu_exits_2_before_it_starts(small, monkeypatch, capsys):
    import gdviz.target
    import gdviz.tui.app

    no_gpu = gdviz.target.CudaStatus(False, "numba.cuda finds no usable GPU (no driver)", short="no GPU")
    monkeypatch.setattr(gdviz.target, "cuda_status", lambda: no_gpu)
    monkeypatch.setattr(gdviz.tui.app, "run_app", lambda *a, **k: pytest.fail("the app started"))
    assert main(["run", str(small), "--target", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "target unavailable" in err and "no usable GPU" in err and "Traceback" not in err


def test_check_prints_the_resolved_scenario(small, capsys):
    assert main(["check", str(small)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "momentum" in out  # a default that the file did not set


def test_list_names_every_bundled_scenario(capsys):
    from gdviz.scenario import bundled_scenarios

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    names = [name for name, _, _ in bundled_scenarios()]
    assert {"houses", "synthetic", "cats_vs_dogs"} <= set(names)
    for name in names:
        assert name in out


def test_info_names_versions_and_cuda(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("numba", "numpy", "CPU threads", "CUDA"):
        assert word in out


def test_bundled_scenario_by_name_from_another_directory(tmp_path):
    """`gdviz run houses` works from any directory, through the installed console script."""
    result = subprocess.run(
        [sys.executable, "-m", "gdviz", "run", "houses", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    doc = strict_json(result.stdout)
    assert [r["batch_size"] for r in doc["runs"]][1] == 1
    assert "Traceback" not in result.stderr


def test_same_scenario_gives_the_same_trajectory_across_processes(small):
    """Bit-identical histories from two separate program runs (timings aside)."""
    docs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "gdviz", "run", str(small), "--json"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        docs.append(strict_json(r.stdout))
    for a, b in zip(docs[0]["runs"], docs[1]["runs"], strict=True):
        for key in ("step", "loss", "full_loss", "params"):
            assert a["history"][key] == b["history"][key]
        assert a["final_params"] == b["final_params"]
