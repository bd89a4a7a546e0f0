"""A small sweep for the sweep screen's tests: 60 cells on n = 200 (5 batch sizes x 6
learning rates x 2 seeds), trained in well under a second.

Every cell that reaches the target does so in fewer than 128 steps, where the runner records
every step: its steps to target do not depend on how the rounds fell (above 128 steps the
recording stride, hence the step read off, depends on the rounds' timing), so the snapshots
are the same on every machine."""

from __future__ import annotations

from pathlib import Path

from gdviz.data import build_dataset
from gdviz.scenario import parse_scenario
from gdviz.sweep.runner import SweepRunner

SWEEP = """
title = "A small sweep"
description = "Sixty cells on a small linear problem."
seed = 0

[data]
source = "linear"
n = 200
d = 4
noise = 0.5
standardize = true

[model]
kind = "linear"

[train]
learning_rate = 0.02
target_loss = {target}

[sweep]
batch_sizes = [1, 4, 16, 64, "full"]
learning_rates = {{ from = 0.01, to = 3.0, points = 6 }}
seeds = 2
max_epochs = {epochs}

[[runs]]
batch_size = 1
"""


def small_sweep(target: float = 0.3, epochs: int = 50) -> SweepRunner:
    scenario = parse_scenario(SWEEP.format(target=target, epochs=epochs), "small_sweep.toml", Path("."))
    return SweepRunner(scenario, build_dataset(scenario))
