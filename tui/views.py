"""The view values the widgets draw, built from the playback state: one function per view.

The app keeps the playback state (:mod:`gdviz.tui.state`) and how the user asked to see it
(:class:`ViewOptions`); each frame it calls these functions and hands every widget its value
(:class:`~gdviz.tui.panels.RunColumnView`, :class:`~gdviz.tui.chart.ChartSpec`,
:class:`~gdviz.tui.panels.StatsView`, ...). Nothing here touches a widget or the app.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdviz.history import History
from gdviz.models import Model
from gdviz.surface import Surface
from gdviz.target import is_fallback
from gdviz.tui.bands import Band
from gdviz.tui.chart import ChartSpec, Mark, Series, y_range_of
from gdviz.tui.colors import FORK_MARK, PATTERN_GLYPHS, RunLook, run_looks
from gdviz.tui.ensembles import curves_of, median_member
from gdviz.tui.main_screen import ScreenLayout
from gdviz.tui.panels import RunColumnView, StatusView
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import Playback, RunTrace, format_speed
from gdviz.tui.surface_view import PathSpec, SurfaceFrame

#: Below this terminal size the app shows a message instead of a squeezed drawing.
MIN_SIZE = (64, 20)
#: Below this width or height, one run column is shown at a time (tab switches).
NARROW = (120, 40)
#: The comparison chart's x axes, in the order ``x`` cycles through them.
X_AXES = ("epochs", "updates", "seconds")


@dataclass(frozen=True)
class ViewOptions:
    """How the user asked to see the runs (the app's state that every view reads)."""

    selected: int = 0  # the selected run (tab, click)
    x_axis: str = "epochs"  # the comparison chart's x axis, one of X_AXES
    log_y: bool = True
    plain: bool = False  # no colour: markers, line styles and contour lines
    narrow: bool = False  # one run column at a time
    phase: str = ""  # what the engine is doing before its first points ("" once it has them)
    validation: bool = False  # the comparison chart shows the validation loss (held-out rows)
    b_simple: bool = False  # the comparison chart shows the gradient noise scale B_simple (b)


class Projections:
    """Each run's received path in the surface's plane, cached until it grows or the plane moves."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[object, np.ndarray]] = {}

    def get(self, i: int, surface: Surface | None, trace: RunTrace) -> np.ndarray | None:
        if surface is None:
            return None
        key = (id(surface), surface.version, trace.version)
        hit = self._cache.get(i)
        if hit is not None and hit[0] == key:
            return hit[1]
        xy = surface.project(trace.history.params)
        self._cache[i] = (key, xy)
        return xy

    def clear(self) -> None:
        self._cache.clear()


def looks(pb: Playback) -> tuple[RunLook, ...]:
    """Each column's colour, marker and line style, from its (first) run's method; a fork's
    (a lone column) from its parent's column (:func:`run_looks`)."""
    firsts = [pb.infos[col.runs[0]] for col in pb.columns]
    parents = [None if info.parent is None else pb.column_of(info.parent) for info in firsts]
    return run_looks([info.method for info in firsts], parents)


def fork_marks(pb: Playback, i: int, x_axis: str = "epochs") -> tuple[Mark, ...]:
    """⑂ on run ``i``'s full-loss line where each fork shown so far leaves it (``x_axis``: the
    chart's), and at its own fork point if it is a fork; each in the fork's colour."""
    return marks_of_forks(pb, lambda j, info: j == i or info.parent == i, x_axis)


def marks_of_forks(pb: Playback, which: Any, x_axis: str = "epochs") -> tuple[Mark, ...]:
    """⑂ at the fork point of each fork ``j`` shown so far for which ``which(j, info)`` holds."""
    lk = looks(pb)
    out = []
    for j, info in enumerate(pb.infos):
        if info.parent is None or not which(j, info):
            continue
        trace = pb.traces[j]
        if trace.cursor(pb.clock) <= info.start or info.start >= len(trace.history):
            continue
        h, k = trace.history, info.start
        x = {"epochs": h.epoch, "updates": h.step, "seconds": h.seconds}[x_axis][k]
        out.append(Mark(float(x), float(h.full_loss[k]), FORK_MARK, lk[pb.column_of(j)].color))
    return tuple(out)


def in_force(pb: Playback, i: int) -> RunInfo:
    """Run ``i``'s figures with the batch size in force at the playback clock (a batch
    schedule's; the run's last received epoch when the clock is past it)."""
    info = pb.infos[i]
    if not info.schedule:
        return info
    h = pb.traces[i].history
    return info.at(min(pb.clock, float(h.epoch[-1])) if len(h) else 0.0)


def representative(pb: Playback, c: int) -> int:
    """The run that stands for column ``c``: its run, or an ensemble's median seed at the clock
    (:func:`gdviz.tui.ensembles.median_member`): the status line's model, ``.``, the fork form."""
    col = pb.columns[c]
    return median_member(pb, col) if col.ensemble else col.runs[0]


# --- a run column --------------------------------------------------------------------------------
def column_view(pb: Playback, c: int, opts: ViewOptions, surface: Surface | None, xy: np.ndarray | None) -> RunColumnView:
    """Column ``c``'s view at the playback clock, for a lone run (an ensemble's is
    :func:`gdviz.tui.ensemble_view.ensemble_column_view`); ``xy`` is its path in ``surface``'s plane."""
    col = pb.columns[c]
    i = col.runs[0]
    trace, info = pb.traces[i], in_force(pb, i)
    k = trace.cursor(pb.clock)
    div = pb.diverged_shown(i)
    subtitle = f"diverged at step {div}" if div is not None else f"{info.method} · {info.updates_per_epoch} updates/epoch"
    short_subtitles: tuple[str, ...] = ()
    if col.seeds > 1 and div is None:  # seeds that cannot differ: one run, which says why
        why = "shuffle = false" if "shuffle = false" in col.note else "a full batch is never shuffled"
        subtitle = f"{col.seeds} seeds, one path: {why}"
        short_subtitles = (f"one path: {why}", f"one path for {col.seeds} seeds")
    if opts.narrow:
        where = f" · run {c + 1}/{len(pb.columns)}, tab: next"
        subtitle = f"{subtitle}{where}"
        short_subtitles = tuple(f"{s}{where}" for s in short_subtitles)
    message = f"diverged at step {div}" if div is not None else ""
    if not len(trace.history) and opts.phase:
        message = opts.phase
    look = looks(pb)[c]
    path = None
    if xy is not None and k > info.start:  # a fork's path starts at its fork point
        path = PathSpec(xy[info.start : k], look.color, look.marker,
                        key=(k, trace.version if k >= len(trace.history) else 0))  # fmt: skip
    lr, B = f"lr {info.learning_rate:g}", f"B={info.batch_label}"
    name = f"{info.name} ({col.seeds} seeds: 1 run)" if col.seeds > 1 else info.name
    # Narrow columns keep the batch in force before the learning rate: it is what the app is about.
    shorter = (f"{name} · {B} · {info.optimizer} {lr}", f"{name} · {B} · {lr}", f"{name} · {B}",
               f"{name} · {lr}", name)  # fmt: skip
    if col.seeds > 1:
        shorter = (*shorter, info.name)
    return RunColumnView(
        title=f"{look.marker} {info.title if col.seeds == 1 else f'{name} · {B} · {info.optimizer} · {lr}'}",
        short_titles=tuple(f"{look.marker} {s}" for s in shorter),
        short_captions=short_captions(surface, pb.p),
        subtitle=subtitle,
        short_subtitles=short_subtitles,
        selected=c == opts.selected,
        surface=SurfaceFrame(surface, path, message, contours=opts.plain),
        caption=surface_caption(surface, pb.p),
        curve=curve_spec(pb, i, opts),
    )


def surface_caption(surface: Surface | None, p: int) -> str:
    """What the plane's axes are (a model with ``p`` parameters)."""
    s = surface
    if s is None:
        return ""
    if p > 2:
        return f"plane through ✕ along the paths' {s.xlabel} → and {s.ylabel} ↑"
    optimum = "optimum" if s.optimum is not None else ""
    return f"→ {s.xlabel} [{s.x0:.3g}, {s.x1:.3g}]  ↑ {s.ylabel} [{s.y0:.3g}, {s.y1:.3g}]  ✕ {optimum}"


def short_captions(surface: Surface | None, p: int) -> tuple[str, ...]:
    """Shorter forms of :func:`surface_caption`, longest first."""
    s = surface
    if s is None:
        return ()
    if p > 2:
        return (f"→ {s.xlabel}  ↑ {s.ylabel}  plane through ✕", f"→ {s.xlabel}  ↑ {s.ylabel}")
    ranges = f"→ {s.xlabel} {s.x0:.3g}…{s.x1:.3g} ↑ {s.ylabel} {s.y0:.3g}…{s.y1:.3g}"
    tight = f"→{s.xlabel} {s.x0:.3g}…{s.x1:.3g} ↑{s.ylabel} {s.y0:.3g}…{s.y1:.3g}"
    return (f"{ranges}  ✕ optimum" if s.optimum is not None else ranges, ranges, tight,
            f"→ {s.xlabel}  ↑ {s.ylabel}")  # fmt: skip


def curve_spec(pb: Playback, i: int, opts: ViewOptions) -> ChartSpec:
    """Run ``i``'s loss curve up to the clock: minibatch loss faint, full-dataset loss bold."""
    trace = pb.traces[i]
    h = trace.history
    k = trace.cursor(pb.clock)
    a = min(pb.infos[i].start, k)  # a fork's curve starts at its fork point
    div = pb.diverged_shown(i)
    color = looks(pb)[pb.column_of(i)].color
    # A diverged run's curve is drawn up to its last finite point, which is marked ✖.
    full = Series(h.epoch[a:k], h.full_loss[a:k], color, label="full loss", end_mark="✖" if div is not None else "")
    b = a + (pb.infos[i].parent is not None)  # a fork's first point is its parent's (and its minibatch loss)
    mini = Series(h.epoch[b:k], h.loss[b:k], color, faint=True, label="minibatch loss")
    # The y range covers the whole received history, so the axis does not move as the clock does.
    whole = [Series(h.epoch, h.full_loss, (0, 0, 0))]
    scale = "log" if opts.log_y else "linear"
    # Held-out rows ([data] validation): their loss dashed, in the run's colour.
    held = bool(np.isfinite(h.val_loss).any())
    val = [Series(h.epoch[:k], h.val_loss[:k], color, pattern="dashed", label="validation loss")] if held else []
    if held:
        whole.append(Series(h.epoch, h.val_loss, (0, 0, 0)))
    shorter: tuple[str, ...] = ()
    if pb.infos[i].updates_per_epoch == 1 and not pb.infos[i].schedule:
        # Full batch: its minibatch loss is the full loss before each update, the same curve one
        # point behind, so it is not drawn twice.
        series = [full, *val]
        title = f"loss ({scale}): bold full, dashed validation" if held else f"loss ({scale}): full dataset"
        shorter = (f"loss ({scale}): bold full, dashed val", "loss: full, val dashed") if held else ()
    else:
        series = [mini, full, *val]
        whole.append(Series(h.epoch, _mini_clip(h), (0, 0, 0)))
        faint = "faint" if not opts.plain else "dim"
        if held:
            title = f"loss ({scale}): bold full, dashed validation, {faint} minibatch"
            shorter = (f"loss ({scale}): bold full, dashed val, {faint} mini", f"loss ({scale}): full bold, val dashed",
                       "loss: full, val dashed")  # fmt: skip
        else:
            title = f"loss ({scale}): bold full, {faint} minibatch" if not opts.plain else "loss: bold full, dim minibatch"
    if div is not None:
        title = f"loss: ✖ diverged at step {div}"
    return ChartSpec(
        series=series,
        x_range=(0.0, max(pb.max_epochs, 1e-9)),
        y_range=y_range_of(whole, opts.log_y),
        log_y=opts.log_y,
        x_label="epochs",
        title=title,
        short_titles=shorter if div is None else (),
        key=(k, trace.version if k >= len(h) else 0),
        no_color=opts.plain,
        marks=fork_marks(pb, i),
    )


def _mini_clip(h: History) -> np.ndarray:
    """Minibatch losses, floored at 1/100 of the lowest full loss (keeps the axis readable)."""
    full = h.full_loss[np.isfinite(h.full_loss)]
    if not len(full):
        return h.loss
    return np.maximum(h.loss, float(full.min()) / 100.0)


# --- the comparison chart ------------------------------------------------------------------------
#: What the comparison chart plots: the history column and how its title names it.
QUANTITIES = {"full_loss": "full-dataset loss", "val_loss": "validation loss", "b_simple": "B_simple = tr(Σ)/|G|²"}


def comparison_view(pb: Playback, opts: ViewOptions) -> ChartSpec:
    """Every column's full-dataset loss (with ``opts.validation`` its validation loss, with
    ``opts.b_simple`` its gradient noise scale B_simple, log y) up to the clock, against epochs,
    updates or seconds. A seed ensemble is one curve, its median, over its 10–90 % band."""
    quantity = "b_simple" if opts.b_simple else "val_loss" if opts.validation else "full_loss"
    log_y = True if opts.b_simple else opts.log_y
    cursors = pb.cursors()
    series, everything, bands = [], [], []
    lk = looks(pb)
    starts = []
    for c, col in enumerate(pb.columns):
        if col.ensemble:
            cv = curves_of(pb, col)
            k, x, bd = cv.cursor(pb.clock), cv.x(opts.x_axis), getattr(cv, quantity)
            y = bd.median if bd is not None else np.full(len(x), np.nan)
            if bd is not None:
                bands.append(Band(x[:k], bd.p10[:k], bd.p90[:k], lk[c].color))
                everything += [Series(x, bd.p10, (0, 0, 0)), Series(x, bd.p90, (0, 0, 0))]
        else:
            h, k = pb.traces[col.runs[0]].history, cursors[col.runs[0]]
            x = {"epochs": h.epoch, "updates": h.step.astype(np.float64), "seconds": h.seconds}[opts.x_axis]
            y = getattr(h, quantity)
        a = 0 if col.ensemble else min(pb.infos[col.runs[0]].start, k)  # a fork's line starts at its fork point
        pattern = lk[c].pattern if opts.plain else "solid"
        series.append(Series(x[a:k], y[a:k], lk[c].color, pattern=pattern, end_mark=lk[c].marker))
        everything.append(Series(x, y, (0, 0, 0)))
        if len(y) and np.isfinite(y[0]):
            starts.append(float(y[0]))
    # A run that blew up would squash the others into a few rows: the y axis stops at ten times
    # the highest starting loss, and a line above it ends in ↑ where it left the chart.
    if starts and not opts.b_simple:
        cap = 10.0 * max(starts)
        everything = [Series(s.x, np.minimum(s.y, cap), s.color) for s in everything]
    if opts.x_axis == "epochs":
        xr = (0.0, max(pb.max_epochs, 1e-9))
    elif opts.x_axis == "updates":
        top = max((info.last_step for info in pb.infos), default=1)
        xr = (0.0, float(np.log10(top + 1.0)))
    else:
        secs = [float(t.history.seconds[k - 1]) for t, k in zip(pb.traces, cursors) if k > 0]
        xr = (0.0, _nice_ceiling(max(secs, default=0.0)))
    legend = "   ".join(
        f"{lk[c].marker} {PATTERN_GLYPHS[lk[c].pattern] + ' ' if opts.plain else ''}"
        f"{col.label if col.ensemble else pb.infos[col.runs[0]].name}"
        for c, col in enumerate(pb.columns)
    )
    axis_name = {"epochs": "epochs (samples seen / n)", "updates": "updates (log)", "seconds": "seconds (measured)"}[opts.x_axis]
    held = any(len(t.history) and np.isfinite(t.history.val_loss[0]) for t in pb.traces)
    other = (", v: training" if opts.validation else ", v: validation") if held else ""
    hint = "" if opts.narrow else f" (x: cycle axis, l: log/linear{other})"
    if opts.b_simple:
        hint = "" if opts.narrow else " (log; x: cycle axis, b: back to the loss)"
    what = f"{QUANTITIES[quantity]} vs {opts.x_axis}"
    spread_words = ", median and 10–90% band over seeds" if bands else ""
    # Measured seconds can change for points already drawn (a fork): the versions join the key.
    versions = tuple(t.version for t in pb.traces) if opts.x_axis == "seconds" else 0
    return ChartSpec(
        series=series,
        x_range=xr,
        y_range=y_range_of(everything, log_y),
        log_y=log_y,
        log_x=opts.x_axis == "updates",
        x_label=axis_name,
        title=f"{what}{spread_words}{hint}   {legend}",
        short_titles=(f"{what}{spread_words}   {legend}", f"{what}   {legend}", legend),
        key=(tuple(cursors), versions, quantity),
        no_color=opts.plain,
        bands=tuple(bands),
        marks=() if opts.b_simple else marks_of_forks(pb, lambda j, info: True, opts.x_axis),
    )


def _nice_ceiling(v: float) -> float:
    """The smallest 1/2/5 × 10^k at or above ``v`` (an x range that changes rarely)."""
    if not v > 0:
        return 1e-3
    mag = 10.0 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if m * mag >= v:
            return m * mag
    return 10 * mag


# --- the status line -----------------------------------------------------------------------------
def target_text(target: str, label: str, note: str, *, frozen: bool) -> str:
    """Where the engine computes, for the status line (marked when it fell back to the CPU)."""
    text = target if frozen else label or f"target {target}"
    if is_fallback(note):
        text += " ⚠ fell back to CPU" if target == "cpu" else " ⚠ see ?"
    return text


def status_view(
    pb: Playback,
    opts: ViewOptions,
    *,
    scenario: str,
    dataset: Any,
    where: str,
    model: Model | None,
    phase_seconds: float = 0.0,
) -> StatusView:
    """Scenario, data size, target, play state and speed, the clock, and the selected run's
    fitted model (``model``'s line, in original units) at the clock (an ensemble's: its median
    seed's, :func:`representative`)."""
    if opts.phase:  # start-up (Numba compiling on a cold cache): the seconds show it is alive
        state = f"⏳ {opts.phase.splitlines()[0]} {phase_seconds:.0f} s"
    elif pb.finished:
        state = f"■ finished {format_speed(pb.speed)}"
    else:
        state = f"{'▶ playing' if pb.playing else '⏸ paused'} {format_speed(pb.speed)}"
    n, d = dataset.X.shape
    # The clock first: on a narrow terminal the line is cut at the right, never the epoch counter.
    parts = [f"epoch {pb.clock:.2f}/{pb.max_epochs:g}", state, scenario, f"n={n} d={d}", where]
    c = min(opts.selected, len(pb.columns) - 1)
    trace = pb.traces[representative(pb, c)] if pb.traces else None
    if trace is not None and len(trace.history) and model is not None:
        params = trace.history.params[trace.cursor(pb.clock) - 1]
        if np.all(np.isfinite(params)):
            median = "median seed: " if pb.columns[c].ensemble else ""
            parts.append(f"{looks(pb)[c].marker} {median}{model.fitted_line(dataset, params)}")
    return StatusView(" · ".join(parts))


# --- the screen ----------------------------------------------------------------------------------
def screen_layout(width: int, height: int, table_visible: bool | None) -> ScreenLayout:
    """The main screen's layout at ``width × height``; ``table_visible`` None: hidden if narrow."""
    small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
    narrow = width < NARROW[0] or height < NARROW[1]
    message = ""
    if small:
        message = (f"The terminal is {width}×{height}; gdviz needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}.\n"
                   f"Enlarge the window (or reduce the font size). q quits.")  # fmt: skip
    return ScreenLayout(small, narrow, (not narrow) if table_visible is None else table_visible, message)
