"""Forks: a new run beside its parent, from one of the parent's points, with new settings.

The parent keeps its whole trajectory; adding the fork regroups the runs of its dtype
without changing any other run's result, bit for bit (CPU, and the CUDA target under the
simulator); the fork's history reads as one trajectory from the start of training.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdviz.report import json_document, summary_table
from test_engine import scenario_text


def _advance_all(engine, chunks: int) -> None:
    for _ in range(chunks):
        engine.advance(0.001)


def same_runs(a, b) -> None:
    """The runs of ``a`` equal the first runs of ``b``, bit for bit (``b`` may have forks too)."""
    assert len(b.runs) >= len(a.runs)
    for ra, rb in zip(a.runs, b.runs):
        for name in ("step", "epoch", "params", "loss", "full_loss"):
            np.testing.assert_array_equal(getattr(ra.history, name), getattr(rb.history, name))
        np.testing.assert_array_equal(ra.opt_state, rb.opt_state)
        np.testing.assert_array_equal(ra.params, rb.params)


def _step(engine, run, n: int) -> None:
    """Advance ``run`` alone by ``n`` updates, keeping what it records."""
    run.history.append(engine.advance_run(run, n))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_fork_is_added_beside_its_parent_and_changes_no_other_run(engine_factory, dtype):
    """Bit for bit: every run of an engine that made a fork mid-way ends as in one that did not."""
    text = scenario_text(optimizer="adam", dtype=dtype)
    plain, forked = engine_factory(text), engine_factory(text)
    for e in (plain, forked):
        _step(e, e.runs[1], 37)  # mid-epoch: the fork regroups runs that are part-way
        _step(e, e.runs[2], 3)
    parent_points = len(forked.runs[1].history)
    fork = forked.fork_run(1, batch_size=16, learning_rate=0.01, optimizer="sgd")
    assert fork.index == 3 and forked.runs[3] is fork and len(forked.runs) == 4
    assert len(forked.runs[1].history) == parent_points  # the parent is not cut
    plain.run_to_end()
    forked.run_to_end()
    same_runs(plain, forked)
    assert fork.done and fork.params.dtype == np.dtype(dtype)


def test_a_fork_on_the_cuda_target_changes_no_other_run(engine_factory, monkeypatch):
    """The device states are remade from the host's when the groups are restacked (simulator):
    mid-epoch runs keep their sample order."""
    pytest.importorskip("gdviz.kernels.gpu_descent")
    from gdviz.kernels import config
    from test_target import SMALL

    monkeypatch.setattr(config, "THREADS_PER_RUN", 4)
    plain, forked = engine_factory(SMALL, target="cuda"), engine_factory(SMALL, target="cuda")
    assert forked.target == "cuda"
    for e in (plain, forked):
        e.advance_run(e.runs[1], 5)  # 5 of 12 rows into the first epoch, on the device
    from gdviz.kernels import layout as L

    assert forked.runs[1].istate[L.S_POS] == 5  # mid-epoch
    forked.fork_run(2, learning_rate=0.2)
    plain.run_to_end()
    forked.run_to_end()
    same_runs(plain, forked)
    assert forked.target == "cuda" and forked.runs[3].done


def test_a_fork_at_the_start_with_the_same_settings_is_its_parent_again(engine_factory):
    """The fork starts from the parent's first point with fresh state, its seed and its epochs."""
    engine = engine_factory(scenario_text(optimizer="adam"))
    fork = engine.fork_run(1, at=1)
    engine.run_to_end()
    parent = engine.runs[1]
    np.testing.assert_array_equal(fork.history.params, parent.history.params)
    np.testing.assert_array_equal(fork.history.step, parent.history.step)
    np.testing.assert_array_equal(fork.history.epoch, parent.history.epoch)
    assert fork.name == "stochastic ⑂ @ep 0"


def test_a_full_batch_fork_with_the_same_settings_continues_its_parent_exactly(engine_factory):
    """Plain SGD on the full batch keeps no state: the fork's points are the parent's later ones."""
    engine = engine_factory(scenario_text())
    parent = engine.runs[0]
    _step(engine, parent, 2)
    engine.run_to_end()
    k = 3  # the point after 2 updates (step 0, 1, 2)
    fork = engine.fork_run(0, at=k, epochs=2)
    while not fork.done:
        _step(engine, fork, 1)
    h, p = fork.history, parent.history
    np.testing.assert_array_equal(h.step, p.step[: len(h)])
    np.testing.assert_array_equal(h.epoch, p.epoch[: len(h)])
    np.testing.assert_array_equal(h.params, p.params[: len(h)])
    np.testing.assert_array_equal(h.full_loss, p.full_loss[: len(h)])
    assert fork.origin.step == 2 and int(h.step[-1]) == 4


def test_a_forks_history_counts_from_the_start_of_training(engine_factory):
    engine = engine_factory(scenario_text())
    parent = engine.runs[2]  # batch 32 on 150 rows: 5 updates an epoch
    _step(engine, parent, 7)
    engine.run_to_end()
    at = int(np.searchsorted(parent.history.step, 7)) + 1
    fork = engine.fork_run(2, at=at, batch_size=16, learning_rate=0.01, optimizer="adam")
    assert fork.batch == 16 and fork.spec.train.learning_rate == 0.01 and fork.spec.train.optimizer == "adam"
    assert fork.name == "mini-batch 32 ⑂ lr 0.01 B=16 adam @ep 1.4"
    assert fork.total_updates == 26  # the 2.6 epochs its parent had left, of ceil(150 / 16) = 10 updates
    assert not fork.opt_state.any() and fork.step == 0
    np.testing.assert_array_equal(fork.history.params, parent.history.params[:at])  # the prefix, then its own
    engine.run_to_end()
    h = fork.history
    assert np.all(np.diff(h.step) > 0) and np.all(np.diff(h.epoch) > 0) and np.all(np.diff(h.seconds) >= 0)
    assert int(h.step[-1]) == 7 + 26 and h.epoch[-1] == pytest.approx(4.0)
    assert fork.end_epoch == pytest.approx(4.0) and fork.epoch_now == pytest.approx(4.0)
    np.testing.assert_allclose(h.full_loss, engine.full_loss(h.params), rtol=0, atol=0)


def test_a_finished_run_is_forked_for_the_epochs_asked_for(engine_factory):
    engine = engine_factory(scenario_text())
    engine.run_to_end()
    with pytest.raises(ValueError, match="no epochs left"):
        engine.fork_run(1)
    fork = engine.fork_run(1, epochs=1.5, learning_rate=0.005)
    assert fork.origin.epoch == 4.0 and fork.total_updates == 225
    engine.run_to_end()
    assert fork.done and fork.history.epoch[-1] == pytest.approx(5.5)


def test_a_fork_to_the_full_batch(engine_factory):
    engine = engine_factory(scenario_text())
    fork = engine.fork_run(1, epochs=2.0, batch_size=10_000)
    assert fork.method == "full-batch" and fork.total_updates == 2 and "B=full" in fork.name


def test_a_fork_from_a_point_that_is_not_finite_is_refused(engine_factory):
    engine = engine_factory(scenario_text().replace("learning_rate = 0.05", "learning_rate = 1e300"))
    engine.run_to_end()
    sgd = engine.runs[1]
    assert sgd.diverged_step == 2 and not np.all(np.isfinite(sgd.history.params[-1]))
    with pytest.raises(ValueError, match="diverged"):
        engine.fork_run(1, epochs=1)
    with pytest.raises(ValueError, match="fork point"):
        engine.fork_run(1, at=0)


def test_the_headless_table_and_the_json_document_list_forks(engine_factory):
    engine = engine_factory(scenario_text())
    fork = engine.fork_run(0, learning_rate=0.3)
    engine.run_to_end()
    doc = json.loads(json.dumps(json_document(engine), allow_nan=False))
    runs = doc["runs"]
    assert [r["name"] for r in runs][-1] == fork.name == "full-batch ⑂ lr 0.3 @ep 0"
    assert runs[-1]["forked_from"] == {"run": "full-batch", "epoch": 0.0}
    assert all(r["forked_from"] is None for r in runs[:-1])
    assert runs[-1]["epochs"] == pytest.approx(4.0) and runs[-1]["learning_rate"] == 0.3
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_table(engine))
    assert "full-batch ⑂ lr 0.3 @ep 0" in console.export_text()
