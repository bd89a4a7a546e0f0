"""A seed ensemble's column: the cloud of its members' paths, and its median loss with a band.

The surface shades each half-block pixel by the share of the seeds whose path crossed it
(:mod:`gdviz.tui.density`) and marks where the median seed is now (the seed whose full loss at
the clock is the median, :func:`gdviz.tui.ensembles.median_member`). The loss panel draws the
median over the seeds of the full-dataset loss, bold, over its 10–90 % band (and the median
validation loss, dashed, with held-out rows). The title says ``NAME (k seeds)``. A lone run's
column is :func:`gdviz.tui.views.column_view`; :func:`column_view_of` picks the right one.
"""

from __future__ import annotations

import numpy as np

from gdviz.surface import Surface
from gdviz.tui.bands import Band
from gdviz.tui.chart import ChartSpec, Series, y_range_of
from gdviz.tui.density import Cloud
from gdviz.tui.ensembles import curves_of, curves_version, median_member
from gdviz.tui.panels import RunColumnView
from gdviz.tui.state import Playback
from gdviz.tui.surface_view import PathSpec, SurfaceFrame
from gdviz.tui.views import (ViewOptions, column_view, in_force, looks, marks_of_forks, short_captions,
                             surface_caption)  # fmt: skip


def column_view_of(
    pb: Playback, c: int, opts: ViewOptions, surface: Surface | None, xys: list[np.ndarray | None]
) -> RunColumnView:
    """Column ``c``'s view; ``xys``: its runs' paths in the surface's plane (None: no surface)."""
    if pb.columns[c].ensemble:
        return ensemble_column_view(pb, c, opts, surface, xys)
    return column_view(pb, c, opts, surface, xys[0])


def ensemble_column_view(
    pb: Playback, c: int, opts: ViewOptions, surface: Surface | None, xys: list[np.ndarray | None]
) -> RunColumnView:
    """Ensemble column ``c`` at the playback clock: cloud, median seed, median loss and band."""
    col = pb.columns[c]
    n = len(col.runs)
    info = in_force(pb, col.runs[0])
    look = looks(pb)[c]
    diverged = [i for i in col.runs if pb.diverged_shown(i) is not None]
    subtitle = f"{info.method} · {info.updates_per_epoch} updates/epoch"
    if diverged:
        subtitle = f"{len(diverged)}/{n} seeds diverged"
    if opts.narrow:
        subtitle = f"{subtitle} · run {c + 1}/{len(pb.columns)}, tab: next"
    message = f"all {n} seeds diverged" if len(diverged) == n else ""
    if not any(len(pb.traces[i].history) for i in col.runs) and opts.phase:
        message = opts.phase
    cloud = path = None
    if surface is not None and all(xy is not None for xy in xys):
        ks = tuple(pb.traces[i].cursor(pb.clock) for i in col.runs)
        # a member's points already drawn never change (a fork is a run of its own): prefixes 0
        paths = tuple(xy[:k] for xy, k in zip(xys, ks))  # type: ignore[index]
        cloud = Cloud(paths, (0,) * n, look.color, key=ks)
        med = col.runs.index(median_member(pb, col))
        if ks[med] > 0:  # the median seed's current point: its marker only
            path = PathSpec(paths[med][-1:], look.color, look.marker, key=(med, ks[med]))
    name = f"{col.name} ({n} seeds)"
    lr, B = f"lr {info.learning_rate:g}", f"B={info.batch_label}"
    shorter = (f"{name} · {B} · {lr}", f"{name} · {B}", f"{name} · {lr}", name, col.name)
    return RunColumnView(
        title=f"{look.marker} {name} · {B} · {info.optimizer} · {lr}",
        short_titles=tuple(f"{look.marker} {s}" for s in shorter),
        short_captions=short_captions(surface, pb.p),
        subtitle=subtitle,
        selected=c == opts.selected,
        surface=SurfaceFrame(surface, path, message, contours=opts.plain, cloud=cloud),
        caption=surface_caption(surface, pb.p),
        curve=ensemble_curve_spec(pb, c, opts),
    )


def ensemble_curve_spec(pb: Playback, c: int, opts: ViewOptions) -> ChartSpec:
    """Ensemble column ``c``'s loss panel up to the clock: the median over the seeds of the
    full-dataset loss, bold, over its 10–90 % band; the median validation loss dashed."""
    col = pb.columns[c]
    n = len(col.runs)
    cv = curves_of(pb, col)
    k = cv.cursor(pb.clock)
    color = looks(pb)[c].color
    full = cv.full_loss
    # The median ends where half the seeds have diverged (it is inf there): marked ✖.
    gone = k > 0 and not np.isfinite(full.median[k - 1])
    series = [Series(cv.epoch[:k], full.median[:k], color, label="median full loss", end_mark="✖" if gone else "")]
    bands = [Band(cv.epoch[:k], full.p10[:k], full.p90[:k], color)]
    # The y range covers the whole received history, so the axis does not move as the clock does.
    whole = [Series(cv.epoch, full.p10, (0, 0, 0)), Series(cv.epoch, full.p90, (0, 0, 0)),
             Series(cv.epoch, full.median, (0, 0, 0))]  # fmt: skip
    scale = "log" if opts.log_y else "linear"
    if cv.val_loss is not None:
        val = cv.val_loss
        series.append(Series(cv.epoch[:k], val.median[:k], color, pattern="dashed", label="median validation loss"))
        whole.append(Series(cv.epoch, val.median, (0, 0, 0)))
        title = f"loss ({scale}): median full, dashed val, 10–90% band of {n} seeds"
        shorter = (f"loss ({scale}): median, dashed val, 10–90% band", "loss: median, val dashed, band")
    else:
        title = f"loss ({scale}): median full, 10–90% band of {n} seeds"
        shorter = (f"loss ({scale}): median, 10–90% band", "loss: median, 10–90% band")
    return ChartSpec(
        series=series,
        x_range=(0.0, max(pb.max_epochs, 1e-9)),
        y_range=y_range_of(whole, opts.log_y),
        log_y=opts.log_y,
        x_label="epochs",
        title=title,
        short_titles=shorter,
        key=(k, curves_version(pb, col)),
        no_color=opts.plain,
        bands=tuple(bands),
        marks=marks_of_forks(pb, lambda j, fork: fork.parent in col.runs),  # ⑂ where its median seed was forked
    )
