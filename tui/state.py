"""What the app knows, on the UI side: each run's received trace and the playback clock.

The engine runs in a worker thread and posts :class:`~gdviz.history.HistoryChunk` objects;
the message handlers append them here (and do nothing else). The frame timer moves the
playback clock, in epochs, and every widget draws each run up to the clock, so the runs are
compared at the same number of samples seen; the comparison chart can still lay them out by
updates or seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdviz.history import History, HistoryChunk
from gdviz.tui.ensembles import Column, one_per_run
from gdviz.tui.runinfo import RunInfo

#: Playback speeds offered by ``+`` and ``-``.
SPEEDS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
#: At 1× the longest run's epochs play in this many seconds (after the slow start).
SECONDS_AT_1X = 20.0
#: The slow start: the clock begins at SLOW_START_FLOOR of the playback rate and speeds up in
#: proportion to the epochs shown, reaching the full rate after SLOW_START_SECONDS of full-rate
#: epochs, so that stochastic descent's first updates (a few hundredths of an epoch, over in a
#: frame at the full rate) can be watched one by one while the rest plays at the usual pace.
SLOW_START_FLOOR = 0.01
SLOW_START_SECONDS = 1.0


@dataclass
class RunTrace:
    """The points received so far for one run (a fork's begin with its parent's, up to the fork point)."""

    p: int
    history: History = field(init=False)
    done: bool = False
    diverged_step: int | None = None
    version: int = 0  # bumped on every change, so widgets know when to redraw

    def __post_init__(self) -> None:
        self.history = History(self.p)

    def append(self, chunk: HistoryChunk) -> None:
        self.history.append(chunk)
        self.done = chunk.done
        self.diverged_step = chunk.diverged_step
        self.version += 1

    @property
    def last_epoch(self) -> float:
        h = self.history
        return float(h.epoch[-1]) if len(h) else 0.0

    def cursor(self, epoch: float) -> int:
        """Number of points at or before ``epoch`` (at least 1 once a point exists)."""
        h = self.history
        if not len(h):
            return 0
        return max(1, int(np.searchsorted(h.epoch, epoch + 1e-12, side="right")))


class Playback:
    """The playback clock (in epochs), its speed and play/pause state, over the run traces.

    ``columns``: the runs each column shows (a seed ensemble is one column; default: one per run).
    """

    def __init__(self, infos: list[RunInfo], p: int, columns: tuple[Column, ...] | None = None) -> None:
        self.infos = infos
        self.traces = [RunTrace(p) for _ in infos]
        self.columns = columns if columns is not None else one_per_run([info.name for info in infos])
        self._column_of = {i: c for c, col in enumerate(self.columns) for i in col.runs}
        self.clock = 0.0
        self.speed_index = SPEEDS.index(1.0)
        self.playing = True
        self.p = p

    def column_of(self, run: int) -> int:
        """The column that shows run ``run``."""
        return self._column_of[run]

    # --- runs -----------------------------------------------------------------------------
    def add_run(self, info: RunInfo, first: HistoryChunk) -> int:
        """Add a run (a fork) whose points so far are ``first``, in a lone column of its own
        after the others (a fork of an ensemble is one run: its median seed's); returns its index."""
        trace = RunTrace(self.p)
        trace.append(first)
        self.infos.append(info)
        self.traces.append(trace)
        i = len(self.traces) - 1
        self.columns = (*self.columns, Column(info.name, (i,)))
        self._column_of[i] = len(self.columns) - 1
        return i

    def drop_forks(self) -> list[str]:
        """Remove every fork (runs that are not the scenario's) and its column; returns their names."""
        names = [info.name for info in self.infos if info.parent is not None]
        keep = [i for i, info in enumerate(self.infos) if info.parent is None]
        new = {old: j for j, old in enumerate(keep)}
        self.infos = [self.infos[i] for i in keep]
        self.traces = [self.traces[i] for i in keep]
        self.columns = tuple(
            Column(col.name, tuple(new[i] for i in col.runs), col.seeds, col.note)
            for col in self.columns
            if all(i in new for i in col.runs)
        )
        self._column_of = {i: c for c, col in enumerate(self.columns) for i in col.runs}
        return names

    # --- clock ----------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_index]

    @property
    def max_epochs(self) -> float:
        ends = [info.epochs for info in self.infos]
        return float(max(ends)) if ends else 0.0

    @property
    def epochs_per_second(self) -> float:
        """Playback rate at the current speed."""
        return self.speed * max(self.max_epochs, 1.0) / SECONDS_AT_1X

    @property
    def available(self) -> float:
        """The clock may not pass what every unfinished run has computed."""
        limits = [t.last_epoch for t in self.traces if not t.done]
        return min(limits) if limits else self.end

    @property
    def end(self) -> float:
        """The last epoch any run reached (the clock's end once every run is done)."""
        return max((t.last_epoch for t in self.traces), default=0.0)

    @property
    def finished(self) -> bool:
        return all(t.done for t in self.traces) and self.clock >= self.end - 1e-12

    def rate(self) -> float:
        """Epochs per wall second at the clock: :attr:`epochs_per_second`, slowed at the start."""
        full = self.epochs_per_second
        warm = full * SLOW_START_SECONDS  # the epochs over which the rate ramps up
        return full * max(SLOW_START_FLOOR, min(1.0, self.clock / warm)) if warm > 0 else full

    def tick(self, dt: float) -> bool:
        """Advance the clock by ``dt`` wall seconds if playing; True if it moved."""
        if not self.playing:
            return False
        before = self.clock
        self.clock = min(self.clock + dt * self.rate(), max(self.available, self.clock))
        return self.clock != before

    def step(self, run: int) -> bool:
        """Move the clock to run ``run``'s next recorded point (``.``); True if it moved."""
        h = self.traces[run].history
        nxt = h.epoch[h.epoch > self.clock + 1e-12]
        if len(nxt) == 0:
            return False
        self.clock = min(float(nxt[0]), max(self.available, self.clock))
        return True

    def faster(self) -> None:
        self.speed_index = min(self.speed_index + 1, len(SPEEDS) - 1)

    def slower(self) -> None:
        self.speed_index = max(self.speed_index - 1, 0)

    def cursors(self) -> list[int]:
        return [t.cursor(self.clock) for t in self.traces]

    def diverged_shown(self, run: int) -> int | None:
        """The diverged step of ``run`` once the clock has reached it, else None."""
        t = self.traces[run]
        if t.diverged_step is None:
            return None
        return t.diverged_step if t.done and self.clock >= t.last_epoch - 1e-12 else None


def format_speed(speed: float) -> str:
    return f"{speed:g}×"

