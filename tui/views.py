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
from gdviz.report import format_bytes, format_number, format_seconds
from gdviz.runs import measured
from gdviz.surface import Surface
from gdviz.target import is_fallback
from gdviz.tui.chart import ChartSpec, Mark, Series, y_range_of
from gdviz.tui.colors import FORK_MARK, PATTERN_GLYPHS, RunLook, run_looks
from gdviz.tui.main_screen import ScreenLayout
from gdviz.tui.panels import RunColumnView, StatsView, StatusView
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
    """Each run's colour, marker and line style, from its method, a fork's from its parent's
    (:func:`run_looks`)."""
    return run_looks([info.method for info in pb.infos], [info.parent for info in pb.infos])


def fork_marks(pb: Playback, i: int, x_axis: str = "epochs") -> tuple[Mark, ...]:
    """⑂ on run ``i``'s full-loss line where each fork shown so far leaves it (``x_axis``: the
    chart's), and at its own fork point if it is a fork; each in the fork's colour."""
    lk = looks(pb)
    out = []
    for j, info in enumerate(pb.infos):
        if info.parent is None or (j != i and info.parent != i):
            continue
        trace = pb.traces[j]
        if trace.cursor(pb.clock) <= info.start or info.start >= len(trace.history):
            continue
        h, k = trace.history, info.start
        x = {"epochs": h.epoch, "updates": h.step, "seconds": h.seconds}[x_axis][k]
        out.append(Mark(float(x), float(h.full_loss[k]), FORK_MARK, lk[j].color))
    return tuple(out)


def in_force(pb: Playback, i: int) -> RunInfo:
    """Run ``i``'s figures with the batch size in force at the playback clock (a batch
    schedule's; the run's last received epoch when the clock is past it)."""
    info = pb.infos[i]
    if not info.schedule:
        return info
    h = pb.traces[i].history
    return info.at(min(pb.clock, float(h.epoch[-1])) if len(h) else 0.0)


# --- a run column --------------------------------------------------------------------------------
def column_view(pb: Playback, i: int, opts: ViewOptions, surface: Surface | None, xy: np.ndarray | None) -> RunColumnView:
    """Run ``i``'s column at the playback clock; ``xy`` is its path in ``surface``'s plane."""
    trace, info = pb.traces[i], in_force(pb, i)
    k = trace.cursor(pb.clock)
    div = pb.diverged_shown(i)
    subtitle = f"diverged at step {div}" if div is not None else f"{info.method} · {info.updates_per_epoch} updates/epoch"
    if opts.narrow:
        subtitle = f"{subtitle} · run {info.index + 1}/{len(pb.traces)}, tab: next"
    message = f"diverged at step {div}" if div is not None else ""
    if not len(trace.history) and opts.phase:
        message = opts.phase
    look = looks(pb)[i]
    path = None
    if xy is not None and k > info.start:  # a fork's path starts at its fork point
        path = PathSpec(xy[info.start : k], look.color, look.marker,
                        key=(k, trace.version if k >= len(trace.history) else 0))  # fmt: skip
    lr, B = f"lr {info.learning_rate:g}", f"B={info.batch_label}"
    # Narrow columns keep the batch in force before the learning rate: it is what the app is about.
    shorter = (f"{info.name} · {B} · {info.optimizer} {lr}", f"{info.name} · {B} · {lr}", f"{info.name} · {B}",
               f"{info.name} · {lr}", info.name)  # fmt: skip
    return RunColumnView(
        title=f"{look.marker} {info.title}",
        short_titles=tuple(f"{look.marker} {s}" for s in shorter),
        short_captions=short_captions(surface, pb.p),
        subtitle=subtitle,
        selected=i == opts.selected,
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
    color = looks(pb)[i].color
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
def comparison_view(pb: Playback, opts: ViewOptions) -> ChartSpec:
    """Every run's full-dataset loss (or, with ``opts.validation``, its validation loss) up to
    the clock, against epochs, updates or seconds."""
    cursors = pb.cursors()
    series, everything = [], []
    lk = looks(pb)
    ys = [t.history.val_loss if opts.validation else t.history.full_loss for t in pb.traces]
    for i, (trace, k) in enumerate(zip(pb.traces, cursors)):
        h, y = trace.history, ys[i]
        x = {"epochs": h.epoch, "updates": h.step.astype(np.float64), "seconds": h.seconds}[opts.x_axis]
        pattern = lk[i].pattern if opts.plain else "solid"
        a = min(pb.infos[i].start, k)  # a fork's line starts at its fork point (marked ⑂)
        series.append(Series(x[a:k], y[a:k], lk[i].color, pattern=pattern, end_mark=lk[i].marker))
        everything.append(Series(x, y, (0, 0, 0)))
    # A run that blew up would squash the others into a few rows: the y axis stops at ten times
    # the highest starting loss, and a line above it ends in ↑ where it left the chart.
    starts = [float(y[0]) for y in ys if len(y) and np.isfinite(y[0])]
    if starts:
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
        f"{lk[i].marker} {PATTERN_GLYPHS[lk[i].pattern] + ' ' if opts.plain else ''}{info.name}"
        for i, info in enumerate(pb.infos)
    )
    axis_name = {"epochs": "epochs (samples seen / n)", "updates": "updates (log)", "seconds": "seconds (measured)"}[opts.x_axis]
    held = any(len(t.history) and np.isfinite(t.history.val_loss[0]) for t in pb.traces)
    other = (", v: training" if opts.validation else ", v: validation") if held else ""
    hint = "" if opts.narrow else f" (x: cycle axis, l: log/linear{other})"
    # Measured seconds can change for points already drawn (a fork): the versions join the key.
    versions = tuple(t.version for t in pb.traces) if opts.x_axis == "seconds" else 0
    return ChartSpec(
        series=series,
        x_range=xr,
        y_range=y_range_of(everything, opts.log_y),
        log_y=opts.log_y,
        log_x=opts.x_axis == "updates",
        x_label=axis_name,
        title=f"{'validation' if opts.validation else 'full-dataset'} loss vs {opts.x_axis}{hint}   {legend}",
        key=(tuple(cursors), versions, opts.validation),
        no_color=opts.plain,
        marks=tuple(m for i, info in enumerate(pb.infos) if info.parent is not None
                    for m in fork_marks(pb, i, opts.x_axis)),
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


# --- the stats table -----------------------------------------------------------------------------
def stats_view(pb: Playback) -> StatsView:
    """The stats table at the playback clock (the headless table's columns).

    The fixed figures are the runs' facts (:mod:`gdviz.tui.runinfo`); the measured ones come
    from :func:`gdviz.runs.measured` at the clock, as the headless table's at a run's end.
    """
    rows = []
    for i, trace in enumerate(pb.traces):
        info = in_force(pb, i)
        fixed = (info.name, info.method, info.batch_label, str(info.updates_per_epoch),
                 format_bytes(info.memory_per_step) if info.memory_per_step else "–")  # fmt: skip
        k = trace.cursor(pb.clock)
        if k == 0:
            rows.append((*fixed, "–", "–", "–", "–", "–", "–"))
            continue
        m = measured(trace.history, k, info.target_loss)
        if info.target_loss is None:
            to_target = "no target"
        elif m.epochs_to_target is not None:
            to_target = f"{m.epochs_to_target:.3g}"
        else:
            ended = trace.done and pb.clock >= trace.last_epoch - 1e-12  # the clock is at the run's end
            to_target = "not reached" if ended else "not yet"
        div = pb.diverged_shown(info.index)
        rows.append((
            *fixed,
            f"{m.epochs:.2f}",
            format_seconds(m.seconds_per_epoch) if m.epochs > 0 else "–",
            format_number(m.full_loss),
            to_target,
            format_number(m.gradient_noise, 3),
            f"at step {div}" if div is not None else "no",
        ))  # fmt: skip
    return StatsView(tuple(rows), looks(pb))


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
    fitted model (``model``'s line, in original units) at the clock."""
    if opts.phase:  # start-up (Numba compiling on a cold cache): the seconds show it is alive
        state = f"⏳ {opts.phase.splitlines()[0]} {phase_seconds:.0f} s"
    elif pb.finished:
        state = f"■ finished {format_speed(pb.speed)}"
    else:
        state = f"{'▶ playing' if pb.playing else '⏸ paused'} {format_speed(pb.speed)}"
    n, d = dataset.X.shape
    # The clock first: on a narrow terminal the line is cut at the right, never the epoch counter.
    parts = [f"epoch {pb.clock:.2f}/{pb.max_epochs:g}", state, scenario, f"n={n} d={d}", where]
    sel = min(opts.selected, len(pb.traces) - 1)
    trace = pb.traces[sel] if pb.traces else None
    if trace is not None and len(trace.history) and model is not None:
        params = trace.history.params[trace.cursor(pb.clock) - 1]
        if np.all(np.isfinite(params)):
            parts.append(f"{looks(pb)[sel].marker} {model.fitted_line(dataset, params)}")
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
