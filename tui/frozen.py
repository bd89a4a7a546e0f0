"""A frozen app: every run trained before it starts, no timer and no worker (tests, snapshots).

Measured seconds are replaced by a fixed cost model (:func:`frozen_cost`), so a frozen frame
is the same on every machine; a fork is made in the app's own copy of the trained engine and
trained to its end on the spot (:func:`fork_now`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from gdviz.data import Dataset
from gdviz.engine import Engine, Run, warm_up
from gdviz.scenario import Scenario
from gdviz.surface import Surface, compute_surface
from gdviz.tui.fork import ForkRequest, fork_request
from gdviz.tui.runinfo import run_info
from gdviz.tui.state import Playback
from gdviz.tui.worker import whole_history


def frozen_cost(batch: int) -> float:
    """Seconds per update of batch ``batch`` in a frozen app: 2 µs plus 10 ns per sample."""
    return 2e-6 + 1e-8 * batch


def frozen_seconds(run: Run, steps: np.ndarray) -> np.ndarray:
    """Seconds after ``steps`` updates of ``run`` by :func:`frozen_cost`, each update at the
    batch size its plan gives it (a batch schedule changes the cost per update)."""
    seconds = np.zeros(len(steps))
    for i, seg in enumerate(run.plan.segments):
        span = np.clip(steps - seg.start_step, 0, run.plan.end_step(i) - seg.start_step)
        seconds += span * frozen_cost(seg.facts.batch)
    return seconds


def precompute(
    scenario: Scenario, dataset: Dataset, deterministic_seconds: bool = True, target: str = "cpu"
) -> tuple[Engine, Surface, float]:
    """Train every run to the end now: the engine, its loss surface, the seconds it took.

    With ``deterministic_seconds`` the measured times are replaced by :func:`frozen_cost`,
    so drawings of a frozen app never vary.
    """
    warm_up({run.train.dtype for run in scenario.runs})
    engine = Engine(scenario, dataset, target=target)
    t0 = time.perf_counter()
    engine.run_to_end()
    elapsed = time.perf_counter() - t0
    if deterministic_seconds:
        for r in engine.runs:
            r.history.seconds[:] = frozen_seconds(r, r.history.step)
            r.seconds = float(frozen_seconds(r, np.array([r.step]))[0])
    surface = compute_surface(engine, [r.history.params for r in engine.runs], exclude={
        r.index for r in engine.runs if r.diverged_step is not None}, version=1)  # fmt: skip
    return engine, surface, elapsed


def show_trained(pb: Playback, engine: Engine, clock: float | None) -> None:
    """Put ``engine``'s trained runs into ``pb``, paused at ``clock`` (None: the end)."""
    pb.infos = [run_info(r) for r in engine.runs]
    for r, trace in zip(engine.runs, pb.traces):
        trace.append(whole_history(r))
    pb.clock = pb.end if clock is None else min(float(clock), pb.end)
    pb.playing = False


def train_fork(engine: Engine, request: ForkRequest, *, cost: Callable[[int], float] | None = None) -> Run:
    """Make the fork in ``engine`` and train it to its end now (a frozen app has no worker).

    ``cost`` (seconds per update of a batch size) replaces the fork's own measured seconds,
    as a frozen app does (:func:`frozen_cost`), so its drawings do not vary.
    """
    run = fork_request(engine, request)
    while not run.done:
        run.history.append(engine.advance_run(run, 10_000))
    if cost is not None and run.origin is not None:
        o, h = run.origin, run.history
        own = slice(o.point + 1, len(h))
        h.seconds[own] = o.seconds + (h.step[own] - o.step) * cost(run.batch)
    return run


def fork_now(pb: Playback, engine: Engine, request: ForkRequest, *, fixed_cost: bool = True) -> int:
    """Make the fork ``request`` asks for in ``engine`` (the frozen app's own), train it to its
    end and add it to ``pb``; returns its index."""
    run = train_fork(engine, request, cost=frozen_cost if fixed_cost else None)
    return pb.add_run(run_info(run), whole_history(run, copy=True))
