"""Helpers for the hostile-input tests: gdviz in a subprocess, checked as a user would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SMALL_RUNS = """
[data]
source = "linear"
n = 32
d = 1
[train]
epochs = 2
learning_rate = 0.05
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


def gdviz(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, shell_suffix: str = "",
          timeout: float = 120) -> Result:
    """Run ``python -m gdviz ARGS`` (``shell_suffix``: redirections, through sh) and check it
    left no traceback on stderr."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    cmd = [sys.executable, "-m", "gdviz", *args]
    if shell_suffix:
        quoted = " ".join("'" + c.replace("'", "'\\''") + "'" for c in cmd)
        proc = subprocess.run(["sh", "-c", f"{quoted} {shell_suffix}"], capture_output=True, text=True,
                              cwd=cwd, env=full_env, timeout=timeout)
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def only_json(text: str):
    """stdout under --json: one strict JSON document and nothing else."""

    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def scenario(tmp_path: Path, body: str, name: str = "s.toml", runs: str = SMALL_RUNS) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body + "\n" + runs, encoding="utf-8")
    return path
