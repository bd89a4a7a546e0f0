"""A run's figures in the app come from one place: the run's spec and its RunFacts."""

from __future__ import annotations

import dataclasses

import pytest

from gdviz.tui.fork import ForkSettings, forked_spec
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


def test_a_planned_fork_has_the_figures_of_the_engines_fork(engine):
    settings = ForkSettings(learning_rate=0.01, batch_size=16, optimizer="adam")
    spec = forked_spec(engine.runs[1].spec, engine.n, settings)
    made = engine.fork_run(1, engine.runs[1].params, 1.0, batch_size=16, learning_rate=0.01, optimizer="adam")
    info = run_info(planned(engine, 1, spec), forked_at=1.0)
    assert info == run_info(made, forked_at=1.0)
    assert (info.batch, info.updates_per_epoch, info.optimizer, info.learning_rate) == (16, 9, "adam", 0.01)


def test_a_fork_to_the_full_batch_is_one_update_an_epoch(engine):
    spec = forked_spec(engine.runs[1].spec, engine.n, ForkSettings(0.1, 10_000, "sgd"))
    info = run_info(planned(engine, 1, spec))
    assert (info.method, info.batch, info.updates_per_epoch) == ("full-batch", 150, 1)


def test_run_info_is_a_value(engine):
    info = run_info(engine.runs[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.batch = 3  # type: ignore[misc]
    assert info.title == "sgd, short batch kept · B=32 · sgd · lr 0.05"
