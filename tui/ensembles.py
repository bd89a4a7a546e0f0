"""Seed ensembles in the app: which runs make one column, and their curves over the seeds.

A ``[[runs]]`` entry with ``seeds = k`` is k runs of the engine, each named ``NAME · seed S``
with ``spec.ensemble = NAME`` (:func:`gdviz.scenario.validate._members`); the app shows them as
one :class:`Column`. A full batch, or a run with ``shuffle = false``, has one order whatever
its seed: its ensemble is one run, shown as a lone run that says why (``Column.note``).

The curves of an ensemble (:func:`curves_of`) are the median and the 10th and 90th
percentiles over its seeds at each recorded point, with :func:`gdviz.ensembles.spread`'s
rules: a seed that diverged counts as infinitely bad from the point it blew up (its loss is
``inf`` there and after), so a median exists only while at least half the seeds are finite;
a point a seed has not sent yet leaves it out. Members share their recorded steps (same batch
size and epochs), so the points line up; a member recorded elsewhere is interpolated.
Nothing here draws: :mod:`gdviz.tui.ensemble_view` and :mod:`gdviz.tui.views` do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gdviz.ensembles import Spread

if TYPE_CHECKING:
    from gdviz.tui.state import Playback, RunTrace


@dataclass(frozen=True)
class Column:
    """The runs one column shows: a lone run, or the members of a seed ensemble."""

    name: str  # the ``[[runs]]`` entry's name (a lone run's own name)
    runs: tuple[int, ...]  # the runs' indices in the engine
    seeds: int = 1  # seeds asked for (more than ``len(runs)`` when they cannot differ)
    note: str = ""  # why several seeds are one run ("" otherwise)

    @property
    def ensemble(self) -> bool:
        """Several runs drawn as one (a cloud, a median and a band)."""
        return len(self.runs) > 1

    @property
    def label(self) -> str:
        """How legends and the stats table name the column: ``NAME (8 seeds)``, ``NAME (1 run)``."""
        if self.ensemble:
            return f"{self.name} ({len(self.runs)} seeds)"
        return f"{self.name} (1 run)" if self.seeds > 1 else self.name


def columns_of(specs: Sequence[Any]) -> tuple[Column, ...]:
    """One column per lone run and per ensemble, in the scenario's order (``specs``: RunSpec)."""
    out: list[Column] = []
    at: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.ensemble is None:
            out.append(Column(spec.name, (i,)))
        elif spec.ensemble in at:
            c = out[at[spec.ensemble]]
            out[at[spec.ensemble]] = Column(c.name, (*c.runs, i), c.seeds, c.note)
        else:
            at[spec.ensemble] = len(out)
            out.append(Column(spec.ensemble, (i,), int(spec.train.seeds), spec.ensemble_note))
    return tuple(out)


def one_per_run(names: Sequence[str]) -> tuple[Column, ...]:
    """A column per run (a scenario without ensembles)."""
    return tuple(Column(name, (i,)) for i, name in enumerate(names))


# --- percentiles over the seeds ------------------------------------------------------------------
class Bands(NamedTuple):
    """Median, 10th and 90th percentiles over the seeds at each point (NaN: no seed there)."""

    median: np.ndarray
    p10: np.ndarray
    p90: np.ndarray


def percentiles(values: np.ndarray, qs: Sequence[float] = (0.5, 0.1, 0.9)) -> list[np.ndarray]:
    """Percentiles of each column of ``values`` [seeds, points], as :func:`gdviz.ensembles.spread`
    takes them: linear between order statistics, ``inf`` kept (a percentile that reaches an
    ``inf`` is ``inf``), NaN left out (a column of NaN gives NaN)."""
    v = np.asarray(values, np.float64)
    s = np.sort(v, axis=0)  # NaN sort last, after inf
    m = np.sum(~np.isnan(v), axis=0)
    out = []
    for q in qs:
        pos = q * np.maximum(m - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        a = np.take_along_axis(s, lo[None], axis=0)[0]
        b = np.take_along_axis(s, hi[None], axis=0)[0]
        frac = pos - lo
        with np.errstate(invalid="ignore"):
            r = a + (b - a) * frac
        r = np.where(np.isinf(b), np.where((frac > 0) | np.isinf(a), np.inf, a), r)
        out.append(np.where(m > 0, r, np.nan))
    return out


def _bands(values: np.ndarray) -> Bands:
    return Bands(*percentiles(values))


# --- an ensemble's curves --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Curves:
    """An ensemble's points and its figures over the seeds at each (NumPy arrays of one length)."""

    epoch: np.ndarray
    step: np.ndarray
    seconds: np.ndarray  # the median seed's measured seconds at each point
    full_loss: Bands
    val_loss: Bands | None  # None without held-out rows
    b_simple: Bands  # at the noise points (NaN elsewhere)

    def cursor(self, epoch: float) -> int:
        """Points at or before ``epoch`` (at least 1 once there is one), as RunTrace.cursor."""
        if not len(self.epoch):
            return 0
        return max(1, int(np.searchsorted(self.epoch, epoch + 1e-12, side="right")))

    def x(self, axis: str) -> np.ndarray:
        """The points' x on the comparison chart's axis (``epochs``, ``updates``, ``seconds``)."""
        return {"epochs": self.epoch, "updates": self.step.astype(np.float64), "seconds": self.seconds}[axis]


def _on_grid(traces: Sequence[RunTrace], grid: np.ndarray, column: str, bad: float, after: float) -> np.ndarray:
    """Each member's ``column`` at the grid's epochs [members, points]: non-finite values become
    ``bad``, points after a diverged member's end ``after``, points it has not sent NaN."""
    out = np.full((len(traces), len(grid)), np.nan)
    for j, t in enumerate(traces):
        h = t.history
        e, y = h.epoch, np.asarray(getattr(h, column), np.float64)
        n = len(e)
        if not n:
            continue
        if n <= len(grid) and np.array_equal(e, grid[:n]):  # the usual case: shared steps
            row = y.copy()
            out[j, :n] = np.where(np.isfinite(row), row, bad)
        else:
            inside = (grid >= e[0]) & (grid <= e[-1])
            vals = np.interp(grid[inside], e, np.where(np.isfinite(y), y, np.nan))
            out[j, inside] = np.where(np.isfinite(vals), vals, bad)
        if t.done and t.diverged_step is not None:
            out[j, grid > e[-1]] = after
    return out


def ensemble_curves(traces: Sequence[RunTrace]) -> Curves:
    """The curves of an ensemble whose members' traces are ``traces``."""
    longest = max(traces, key=lambda t: len(t.history))
    grid = longest.history.epoch.copy()
    step = longest.history.step.copy()
    inf, nan = math.inf, math.nan
    seconds = percentiles(_on_grid(traces, grid, "seconds", nan, nan), (0.5,))[0]
    full = _bands(_on_grid(traces, grid, "full_loss", inf, inf))
    held = any(len(t.history) and np.isfinite(t.history.val_loss).any() for t in traces)
    val = _bands(_on_grid(traces, grid, "val_loss", inf, inf)) if held else None
    scale = _bands(_on_grid(traces, grid, "b_simple", nan, nan))
    return Curves(grid, step, seconds, full, val, scale)


_CACHE: dict[tuple[int, ...], tuple[tuple[object, ...], tuple[int, ...], Curves]] = {}


def curves_of(pb: Playback, column: Column) -> Curves:
    """:func:`ensemble_curves` of ``column``'s runs, computed again only when a trace changed."""
    traces = tuple(pb.traces[i] for i in column.runs)
    versions = tuple(t.version for t in traces)
    hit = _CACHE.get(column.runs)
    if hit is not None and hit[1] == versions and all(a is b for a, b in zip(hit[0], traces)):
        return hit[2]
    curves = ensemble_curves(traces)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[column.runs] = (traces, versions, curves)
    return curves


def curves_version(pb: Playback, column: Column) -> tuple[int, ...]:
    """Changes whenever :func:`curves_of` may (a member received points or was forked)."""
    return tuple(pb.traces[i].version for i in column.runs)


def median_member(pb: Playback, column: Column) -> int:
    """The run whose full loss at the clock is the median of its ensemble's (the lower middle
    one for an even count; a diverged seed counts as the worst): the ensemble's representative
    for the status line's fitted model, the marker on the surface, ``.`` and the fork form."""
    ranked = []
    for i in column.runs:
        t = pb.traces[i]
        k = t.cursor(pb.clock)
        if k == 0:
            continue
        loss = float(t.history.full_loss[k - 1])
        if not math.isfinite(loss) or pb.diverged_shown(i) is not None:
            loss = math.inf
        ranked.append((loss, i))
    if not ranked:
        return column.runs[0]
    ranked.sort()
    return ranked[(len(ranked) - 1) // 2][1]


def spread_cell(sp: Spread, fmt: Any, missing: str, count: bool = True) -> str:
    """A :class:`~gdviz.ensembles.Spread` in a table cell: ``1.7 [1.5–2.0]``; a percentile among
    seeds that have not got there shows ``missing`` (``>3.2`` epochs, ``✖`` diverged), and
    ``count`` adds how many did when some did not (``2.1 [1.5–>3] 6/8``)."""

    def one(x: float) -> str:
        return fmt(x) if math.isfinite(x) else missing

    text = f"{one(sp.median)} [{one(sp.p10)}–{one(sp.p90)}]"
    return f"{text} {sp.reached}/{sp.total}" if count and sp.reached < sp.total else text
