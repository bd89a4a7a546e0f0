"""Batch size during training, through the engine: batch schedules and gradient accumulation.

The engine changes a run's batch between kernel calls, at the epoch where its plan says so
(``gdviz.runfacts.BatchPlan``), and never lets a call cross that epoch. Checked here: the plan
(updates per epoch of each batch, epochs of each point), bit-identical results whatever the
chunking and grouping, an independent reference loop, forks at the same epochs, the CUDA
target (simulator), and what the summary, the table and the JSON say.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import naive
from gdviz.kernels import layout as L
from gdviz.kernels import permutation
from gdviz.report import json_document, summary_table

SCHEDULES = """
title = "schedules"
seed = 4
[data]
source = "linear"
n = 96
d = 3
noise = 0.3
[train]
epochs = 7
learning_rate = 0.05
optimizer = "{optimizer}"
shuffle = {shuffle}
[[runs]]
name = "grow"
batch_size = 4
batch_schedule = {{ kind = "step", factor = 2, every = 2, max = 16 }}
[[runs]]
name = "list"
batch_schedule = [[0, "full"], [3, 12], [5, 1]]
[[runs]]
name = "accumulate"
batch_size = 8
accumulate = 3
batch_schedule = [[3, 5]]
[[runs]]
name = "constant"
batch_size = 10
"""
# (epoch, batch, updates per epoch) of each run's plan on n = 96
PLANS = {
    "grow": [(0, 4, 24), (2, 8, 12), (4, 16, 6)],  # 32 capped at max = 16: no change at epoch 6
    "list": [(0, 96, 1), (3, 12, 8), (5, 1, 96)],
    "accumulate": [(0, 8, 4), (3, 5, 7)],  # 12 micro-batches of 8 in groups of 3; 20 of 5: 3, 3, ..., 2
    "constant": [(0, 10, 10)],
}


def text(optimizer="adam", shuffle="true"):
    return SCHEDULES.format(optimizer=optimizer, shuffle=shuffle)


def by_name(engine):
    return {run.name: run for run in engine.runs}


def test_each_run_follows_its_plan(engine_factory):
    """Updates per epoch of each batch, the total, the epoch of every point, and the batch the
    kernel used last."""
    engine = engine_factory(text())
    engine.run_to_end()
    for name, run in by_name(engine).items():
        plan = PLANS[name]
        assert [(s.epoch, s.facts.batch, s.facts.updates_per_epoch) for s in run.plan.segments] == plan
        ends = [e for e, _, _ in plan[1:]] + [7]
        total = sum((end - e) * upe for (e, _, upe), end in zip(plan, ends, strict=True))
        assert run.total_updates == run.step == total
        h = run.history
        whole = np.flatnonzero(np.isclose(h.epoch, np.round(h.epoch), rtol=0, atol=1e-12))
        assert np.round(h.epoch[whole]).tolist() == list(range(8))  # one point at every epoch end
        counts = np.diff(h.step[whole]).tolist()  # updates in each epoch
        assert counts == [upe for (e, _, upe), end in zip(plan, ends) for _ in range(end - e)]
        assert run.hpi[L.I_BATCH] == plan[-1][1] == run.batch
        assert run.facts.updates_per_epoch == plan[-1][2]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_chunk_sizes_and_grouping_never_change_a_scheduled_result(engine_factory, optimizer):
    """Odd chunks (none may cross a change of batch) and runs alone give the bits of the default."""
    whole = engine_factory(text(optimizer))
    whole.run_to_end()
    chunked = engine_factory(text(optimizer))
    sizes = itertools.cycle([1, 7, 3, 50, 2])
    while not chunked.done:
        for run in chunked.runs:
            run.history.append(chunked.advance_run(run, next(sizes)))
    for a, b in zip(whole.runs, chunked.runs, strict=True):
        for key in ("step", "epoch", "params", "loss", "full_loss"):
            np.testing.assert_array_equal(getattr(a.history, key), getattr(b.history, key))
    for name in PLANS:  # each run alone in its scenario
        lone = engine_factory(text(optimizer).split("[[runs]]")[0] + "[[runs]]" + next(
            part for part in text(optimizer).split("[[runs]]")[1:] if f'name = "{name}"' in part))
        lone.run_to_end()
        np.testing.assert_array_equal(lone.runs[0].history.params, by_name(whole)[name].history.params)


def test_a_schedule_matches_an_independent_reference(engine_factory):
    """Adam with shuffling through every batch change and accumulation: a literal loop over
    epochs, each with its batch, its permutation (data order for the full batch) and
    PyTorch's accumulation loop, one optimizer carried throughout."""
    engine = engine_factory(text("adam"))
    engine.run_to_end()
    X, y = engine.dataset.X, engine.dataset.y
    for name, run in by_name(engine).items():
        opt = naive.Adam(0.05, 0.9, 0.999, 1e-8)
        theta = engine.init.copy()
        k = run.facts.accumulate
        for epoch in range(7):
            B = run.plan.segments[run.plan.index_at_epoch(epoch)].facts.batch
            rows = np.arange(96) if B >= 96 else permutation(4, epoch, 96)
            tr = naive.descend_accumulated(X, y, theta, opt, "linear", True, B, k, 1, order=lambda _e, r=rows: r)
            theta = tr.params[-1]
        np.testing.assert_allclose(run.params, theta, rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("shuffle,changes", [("false", [(3, 12), (5, 1)]), ("true", [(3, 96)])],
                         ids=["data order", "shuffled, then the full batch"])
def test_a_schedule_equals_forks_at_the_same_epochs(engine_factory, shuffle, changes):
    """Plain SGD at a constant learning rate carries nothing across a fork (a fork starts a
    fresh optimizer, step count and epoch count), so forking a batch-4 run at the epochs of
    a schedule, to its batches, gives the schedule's bits. With shuffling that holds for a
    change to the full batch, whose rows are summed in data order (as a fresh run's), not in
    the last shuffled order."""
    listed = ", ".join(f"[{e}, {b}]" for e, b in changes)
    sched = engine_factory(text("sgd", shuffle).replace('[[0, "full"], [3, 12], [5, 1]]', f"[[0, 4], {listed}]"))
    sched.run_to_end()
    forked = engine_factory(text("sgd", shuffle).replace('[[0, "full"], [3, 12], [5, 1]]', "[[0, 4]]"))
    i = [r.name for r in forked.runs].index("list")
    run = forked.runs[i]
    assert run.plan.scheduled is False and run.batch == 4
    at = 0
    for epoch, batch in changes:
        # the run's own points up to the epoch (a fork starts at its parent's last recorded point)
        run.history.append(forked.advance_run(run, (epoch - at) * run.updates_per_epoch))
        run = forked.fork_run(run.index, epochs=7 - epoch, batch_size=batch)
        at = epoch
    forked.run_to_end()
    assert run.step == run.total_updates == (7 - at) * run.updates_per_epoch
    whole = by_name(sched)["list"]
    np.testing.assert_array_equal(run.params, whole.params)
    # the minibatch losses of the last stage too (a sum's last bit can vanish in a small step)
    k = run.total_updates  # the fork's own points, one per update, after its parent's
    assert whole.stride == run.stride == 1
    np.testing.assert_array_equal(run.history.loss[-k:], whole.history.loss[-k:])


def test_a_fork_keeps_the_batch_in_force_and_drops_the_schedule(engine_factory):
    engine = engine_factory(text())
    run = by_name(engine)["grow"]
    i = run.index
    run.history.append(engine.advance_run(run, 2 * 24 + 5))  # into epoch 2: batch 8
    engine._enter_segment(engine._groups[0], run)
    assert run.batch == 8
    new = engine.fork_run(i, epochs=4.0, learning_rate=0.01)
    assert new.batch == 8 and not new.plan.scheduled and new.spec.train.batch_schedule is None
    assert new.total_updates == 4 * 12


def test_accumulation_in_the_engine_is_the_larger_batch(engine_factory):
    """4 micro-batches of 16 against batches of 64 (n = 256, data order): the same path to rel
    1e-12, the same updates and gradient noise (of the 64 samples an update sums), and the
    memory of 16 rows."""
    scenario = text("adam", "true").split("[[runs]]")[0].replace("n = 96", "n = 256") + """
[[runs]]
batch_size = 16
accumulate = 4
[[runs]]
batch_size = 64
[[runs]]
batch_size = 16
"""
    engine = engine_factory(scenario)
    engine.run_to_end()
    acc, big, small = engine.runs
    assert acc.name == "batch 16×4" and acc.method == "mini-batch"
    assert acc.updates_per_epoch == big.updates_per_epoch == 4 and acc.total_updates == 28
    np.testing.assert_array_equal(acc.history.step, big.history.step)
    np.testing.assert_allclose(acc.history.params, big.history.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(acc.history.noise, big.history.noise, rtol=1e-9, equal_nan=True)
    assert acc.facts.memory_per_step == small.facts.memory_per_step < big.facts.memory_per_step
    s = engine.summary(acc)
    assert (s.batch_size, s.accumulate, s.updates_per_epoch, s.batch_schedule) == (16, 4, 4, None)


def test_table_and_json_show_the_batch_in_force(engine_factory):
    engine = engine_factory(text())
    engine.run_to_end()
    doc = json_document(engine)
    runs = {r["name"]: r for r in doc["runs"]}
    assert runs["grow"]["batch_size"] == 16 and runs["grow"]["updates_per_epoch"] == 6
    assert runs["grow"]["batch_schedule"] == [[0, 4], [2, 8], [4, 16]]
    assert runs["accumulate"]["accumulate"] == 3 and runs["accumulate"]["batch_size"] == 5
    assert runs["constant"]["batch_schedule"] is None and runs["constant"]["accumulate"] == 1
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_table(engine))
    out = console.export_text()
    assert "4→16" in out and "96→1" in out and "8→5×3" in out


def test_the_cuda_target_follows_the_schedule(engine_factory, monkeypatch):
    """Under the simulator: a change of batch makes the group's device copy again (the other
    runs' orders, which only the device held, remade on the host first)."""
    pytest.importorskip("gdviz.kernels.gpu_descent")
    from gdviz.kernels import config

    monkeypatch.setattr(config, "THREADS_PER_RUN", 4)
    cpu, gpu = engine_factory(text()), engine_factory(text(), target="cuda")
    assert gpu.target == "cuda"
    cpu.run_to_end()
    gpu.run_to_end()
    for a, b in zip(cpu.runs, gpu.runs, strict=True):
        assert a.step == b.step == a.total_updates
        np.testing.assert_array_equal(a.history.step, b.history.step)
        np.testing.assert_allclose(a.history.params, b.history.params, rtol=1e-10, atol=1e-12)
