"""A run's figures in the app come from one place: the run's spec and its RunFacts."""

from __future__ import annotations

import dataclasses

import pytest

from gdviz.tui.runinfo import planned_run, run_info

# 150 rows, batch 32: 5 updates an epoch, 4 with drop_last.
MIXED = """
title = "mixed"
seed = 1
[data]
source = "linear"
n = 150
d = 3
noise = 0.3
[model]
kind = "linear"
[train]
epochs = 2
learning_rate = 0.05
optimizer = "sgd"
[[runs]]
name = "sgd, short batch kept"
batch_size = 32
[[runs]]
name = "sgd, short batch dropped"
batch_size = 32
drop_last = true
[[runs]]
name = "adam, short batch dropped"
batch_size = 32
drop_last = true
optimizer = "adam"
"""


@pytest.fixture
def engine(engine_factory):
    return engine_factory(MIXED)


def planned(engine, index, spec):
    return planned_run(index, spec, n=engine.n, d=engine.p - 1, p=engine.p)


def test_updates_per_epoch_honour_drop_last(engine):
    infos = [run_info(r) for r in engine.runs]
    assert [i.updates_per_epoch for i in infos] == [5, 4, 4]
    assert [i.method for i in infos] == ["mini-batch"] * 3


def test_memory_per_step_counts_the_optimizers_buffers(engine):
    """Plain SGD keeps no buffer; Adam keeps two p-sized ones (float64)."""
    sgd, adam = run_info(engine.runs[1]), run_info(engine.runs[2])
    assert adam.memory_per_step - sgd.memory_per_step == 2 * engine.p * 8


def test_before_the_engine_the_app_shows_the_figures_the_engine_will_have(engine):
    for run in engine.runs:
        assert run_info(planned(engine, run.index, run.spec)) == run_info(run)


def test_a_fork_has_the_figures_of_its_spec_and_its_origin(engine):
    made = engine.fork_run(1, batch_size=16, learning_rate=0.01, optimizer="adam", epochs=1.0)
    info = run_info(made)
    # the facts are those of its spec (as a planned run has them), the fork's own from its origin
    assert info == dataclasses.replace(run_info(planned(engine, 3, made.spec)), forked_at=0.0, parent=1)
    assert (info.batch, info.updates_per_epoch, info.optimizer, info.learning_rate) == (16, 9, "adam", 0.01)
    assert (info.parent, info.forked_at, info.epochs, info.last_step) == (1, 0.0, 1.0, 9)


def test_a_fork_to_the_full_batch_is_one_update_an_epoch(engine):
    made = engine.fork_run(1, batch_size=10_000, epochs=2.0)
    info = run_info(made)
    assert (info.method, info.batch, info.updates_per_epoch) == ("full-batch", 150, 1)


def test_run_info_is_a_value(engine):
    info = run_info(engine.runs[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.batch = 3  # type: ignore[misc]
    assert info.title == "sgd, short batch kept · B=32 · sgd · lr 0.05"
