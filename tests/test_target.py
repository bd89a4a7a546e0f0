"""Choosing the target (gdviz/target.py), the engine on it, and what the CLI says.

cuda_status is mocked for the messages; the engine's CUDA runs use the simulator.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gdviz import target as T
from gdviz.cli import main
from gdviz.errors import TargetError

NO_GPU = T.CudaStatus(False, "numba.cuda finds no usable GPU (CudaSupportError: no driver); " + T.INSTALL_HINT,
                      short="no CUDA driver or GPU found")
GPU = T.CudaStatus(True, "", "NVIDIA H100", "9.0", 80 * 2**30, 79 * 2**30, "12.4")
SIM = T.CudaStatus(True, "", "CUDA simulator", "simulated", simulator=True)

SMALL = """
title = "small"
seed = 1
[data]
source = "linear"
n = 12
d = 2
[train]
epochs = 2
learning_rate = 0.05
optimizer = "adam"
[[runs]]
batch_size = "full"
[[runs]]
batch_size = 1
[[runs]]
batch_size = 5
"""


@pytest.fixture
def status(monkeypatch):
    def use(s):
        monkeypatch.setattr(T, "cuda_status", lambda: s)

    return use


def test_cpu_is_always_the_cpu(status):
    status(NO_GPU)
    assert T.resolve_target("cpu") == ("cpu", "")


def test_auto_without_a_gpu_uses_the_cpu_and_says_why(status):
    status(NO_GPU)
    target, note = T.resolve_target("auto")
    assert target == "cpu" and "no CUDA driver or GPU found" in note


def test_cuda_without_a_gpu_is_an_error_with_the_reason_and_the_install_command(status):
    status(NO_GPU)
    with pytest.raises(TargetError, match="no driver") as err:
        T.resolve_target("cuda")
    assert "pip install -e '.[cuda]'" in err.value.message


def test_auto_with_a_real_gpu_uses_it(status):
    status(GPU)
    assert T.resolve_target("auto", need_bytes=2**30) == ("cuda", "")


def test_data_too_large_for_the_gpu_falls_back_with_auto_and_fails_with_cuda(status):
    status(GPU)
    target, note = T.resolve_target("auto", need_bytes=100 * 2**30)
    assert target == "cpu" and "100.00 GiB" in note and "NVIDIA H100" in note
    with pytest.raises(TargetError, match="need 100.00 GiB"):
        T.resolve_target("cuda", need_bytes=100 * 2**30)


def test_the_simulator_is_never_picked_by_auto_but_can_be_asked_for(status):
    status(SIM)
    assert T.resolve_target("auto")[0] == "cpu"
    assert T.resolve_target("cuda")[0] == "cuda"


def test_a_scenario_target_comes_from_its_runs():
    assert T.scenario_target({"auto"}) == "auto"
    assert T.scenario_target({"cpu", "auto"}) == "cpu"
    assert T.scenario_target({"cpu", "cuda"}) == "cuda"


def test_cli_cuda_without_a_gpu_exits_2_with_the_message(status, tmp_path, capsys):
    status(NO_GPU)
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--headless", "--target", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "target unavailable" in err and ".[cuda]" in err and "Traceback" not in err


def test_cli_auto_names_the_fallback_on_stderr_and_cpu_in_the_output(status, tmp_path, capsys):
    status(NO_GPU)
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--headless"]) == 0
    captured = capsys.readouterr()
    assert "using the CPU" in captured.err and "target cpu" in captured.out


def test_listing_scenarios_does_not_probe_cuda():
    code = "import sys; from gdviz.cli import main; main(['list']); main(['check', 'houses']); " \
           "sys.exit(1 if 'numba.cuda' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- the engine on the CUDA target (simulator) -----------------------------------------------


@pytest.fixture
def small_blocks(monkeypatch):
    from gdviz.kernels import config

    monkeypatch.setattr(config, "THREADS_PER_RUN", 4)


def test_engine_on_cuda_matches_the_cpu_engine(engine_factory, small_blocks):
    pytest.importorskip("gdviz.kernels.gpu_descent")
    cpu, gpu = engine_factory(SMALL), engine_factory(SMALL, target="cuda")
    assert cpu.target == "cpu" and gpu.target == "cuda"
    cpu.run_to_end()
    gpu.run_to_end()
    for a, b in zip(cpu.runs, gpu.runs):
        assert a.step == b.step == a.total_updates
        np.testing.assert_array_equal(a.history.step, b.history.step)
        np.testing.assert_allclose(a.history.params, b.history.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.history.loss, b.history.loss, rtol=1e-10, atol=1e-12)


def test_a_cuda_failure_at_run_time_continues_on_the_cpu(engine_factory, small_blocks, monkeypatch):
    G = pytest.importorskip("gdviz.kernels.gpu_descent")
    cpu, gpu = engine_factory(SMALL), engine_factory(SMALL, target="cuda")
    real = G.GpuRuns.advance
    calls = []

    def flaky(self, n_updates, cap):
        calls.append(n_updates)
        # the second launch fails: since a run's first call does up to 256 updates, SMALL's
        # runs end in their second launch (a third never comes)
        if len(calls) > 1:
            raise RuntimeError("CUDA_ERROR_OUT_OF_MEMORY: out of memory")
        return real(self, n_updates, cap)

    monkeypatch.setattr(G.GpuRuns, "advance", flaky)
    for _ in range(2):
        cpu.advance()
        gpu.advance()
    assert gpu.target == "cpu" and "CUDA failed at run time" in gpu.target_note and "out of memory" in gpu.target_note
    cpu.run_to_end()
    gpu.run_to_end()
    for a, b in zip(cpu.runs, gpu.runs):
        np.testing.assert_array_equal(a.history.step, b.history.step)
        np.testing.assert_allclose(a.history.params, b.history.params, rtol=1e-10, atol=1e-12)


def test_only_an_unusable_gpu_counts_as_a_fallback():
    """No GPU under ``auto`` is information; a GPU that failed or lacked room is a fallback."""
    from gdviz.target import NO_GPU_NOTE, is_fallback

    assert not is_fallback("")
    assert not is_fallback(NO_GPU_NOTE + "(no CUDA driver)")
    assert is_fallback("target auto: using the CPU, because the data need 90 GiB on H100")
    assert is_fallback("CUDA failed at run time (CudaError: x); continued on the CPU")
