"""The GPU check script's plumbing (scripts/gpu-check.sh and scripts/gpu_check.py), on tiny
sizes under Numba's CUDA simulator: it stages the package without installing it, compares a
scenario across targets, measures, and writes its report. The real figures come from a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_end_to_end_on_tiny_sizes(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "GDVIZ_GPU_CHECK_SMALL": "1", "PYTHON": sys.executable,
           "NUMBA_ENABLE_CUDASIM": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gpu_check exit code: 0" in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    (tiny,) = report["scenarios"]
    assert tiny["ran_on"] == "cuda", tiny
    assert tiny["ok"], tiny  # the simulator runs the CPU's arithmetic: float64 agrees to 1e-10
    assert report["full_batch"]["read_bytes_per_second"] > 0
    assert report["sweep"]["cuda"]["updates"] == report["sweep"]["cpu"]["updates"] > 0
    assert "| cuda |" in (tmp_path / "report.md").read_text()
    assert "Traceback" not in (tmp_path / "info.txt").read_text()
