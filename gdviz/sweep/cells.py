"""A sweep cell as ordinary runs: for the main app (enter on a cell) and for its B_simple trace.

A cell (batch size, learning rate) with its seeds is a scenario of its own: the sweep's
``[train]`` settings, ``max_epochs`` epochs, one ``[[runs]]`` entry per seed. Trained by the
:class:`~gdviz.engine.Engine`, each run is exactly the sweep's cell, bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gdviz.data import Dataset
from gdviz.engine import Engine
from gdviz.scenario import RunSpec, Scenario
from gdviz.sweep.report import batch_label, fmt_lr


def cell_scenario(scenario: Scenario, b_index: int, lr_index: int, seeds: list[int] | None = None) -> Scenario:
    """The runs of one (batch size, learning rate) cell, one per seed (all seeds by default),
    as a seed ensemble; a full batch, never shuffled, has one run whatever the seeds."""
    spec = scenario.sweep
    assert spec is not None
    b, lr = spec.batch_sizes[b_index], spec.learning_rates[lr_index]
    train = dataclasses.replace(spec.base, learning_rate=lr, epochs=spec.max_epochs)
    seeds = list(spec.seeds if seeds is None else seeds)
    if b is None or not train.shuffle:
        seeds = seeds[:1]
    runs = tuple(
        RunSpec(name=f"B {batch_label(b)}, lr {fmt_lr(lr)}" + (f" · seed {s}" if len(seeds) > 1 else ""),
                batch_size=b, seed=s, train=train,
                # the cell's seeds are a seed ensemble: one column in the app, spreads in the table
                ensemble=f"B {batch_label(b)}, lr {fmt_lr(lr)}" if len(seeds) > 1 else None)
        for s in seeds
    )
    title = f"{scenario.title}: batch {batch_label(b)}, lr {fmt_lr(lr)}"
    return dataclasses.replace(scenario, title=title, runs=runs, sweep=None)


@dataclasses.dataclass(frozen=True)
class Trace:
    """One run of a cell along training: its steps, full loss and gradient noise scale."""

    step: np.ndarray
    full_loss: np.ndarray
    b_simple: np.ndarray
    target_loss: float
    #: B_simple where the full loss first reached the target (None if it never did).
    b_simple_at_target: float | None


def cell_trace(scenario: Scenario, dataset: Dataset, b_index: int, lr_index: int, seed_index: int = 0,
               steps: int | None = None, points: int = 200) -> Trace:
    """Train one seed of a cell alone for about ``steps`` updates (whole epochs; by default
    ``max_epochs``) and evaluate B_simple at up to ``points`` of its recorded points. Give
    ``steps`` about twice the cell's steps to target to see B_simple as the loss falls to it
    and past it."""
    spec = scenario.sweep
    assert spec is not None
    one = cell_scenario(scenario, b_index, lr_index, [spec.seeds[seed_index]])
    if steps is not None:
        upe = one.runs[0].updates_per_epoch(dataset.X.shape[0])
        epochs = max(1, min(spec.max_epochs, -(-int(steps) // upe)))
        one = dataclasses.replace(one, runs=tuple(dataclasses.replace(r, train=dataclasses.replace(
            r.train, epochs=epochs)) for r in one.runs))
    engine = Engine(one, dataset, max_points=points)
    engine.run_to_end()
    h = engine.runs[0].history
    bs = engine.b_simple(h.params)
    hit = np.flatnonzero(h.full_loss <= spec.target_loss)
    at = float(bs[hit[0]]) if len(hit) else None
    return Trace(np.asarray(h.step), np.asarray(h.full_loss), bs, spec.target_loss, at)
