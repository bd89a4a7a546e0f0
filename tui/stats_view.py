"""The stats table's view at the playback clock: a row per column (a lone run or a seed ensemble).

Split from :mod:`gdviz.tui.views` (whose helpers it uses): the same figures as the headless
table, a seed ensemble's over its seeds.
"""

from __future__ import annotations

import math

from gdviz.ensembles import spread
from gdviz.report import format_bytes, format_number, format_seconds
from gdviz.runs import measured
from gdviz.tui.ensembles import Column, spread_cell
from gdviz.tui.panels import StatsView
from gdviz.tui.state import Playback
from gdviz.tui.views import in_force, looks


def stats_view(pb: Playback) -> StatsView:
    """The stats table at the playback clock (the headless table's columns), a row per column.

    The fixed figures are the runs' facts (:mod:`gdviz.tui.runinfo`); the measured ones come
    from :func:`gdviz.runs.measured` at the clock, as the headless table's at a run's end. A
    seed ensemble's row gives each figure over its seeds (:func:`_ensemble_row`).
    """
    rows = [_ensemble_row(pb, col) if col.ensemble else _run_row(pb, col) for col in pb.columns]
    return StatsView(tuple(rows), looks(pb))


def _fixed(pb: Playback, col: Column) -> tuple[str, ...]:
    info = in_force(pb, col.runs[0])  # the batch in force at the clock (a batch schedule's)
    name = col.label if col.ensemble or col.seeds > 1 else info.name
    return (name, info.method, info.batch_label, str(info.updates_per_epoch),
            format_bytes(info.memory_per_step) if info.memory_per_step else "–")  # fmt: skip


def _ended(pb: Playback, i: int) -> bool:
    """The clock is at run ``i``'s end."""
    trace = pb.traces[i]
    return trace.done and pb.clock >= trace.last_epoch - 1e-12


def _run_row(pb: Playback, col: Column) -> tuple[str, ...]:
    i = col.runs[0]
    info, trace = pb.infos[i], pb.traces[i]
    k = trace.cursor(pb.clock)
    if k == 0:
        return (*_fixed(pb, col), "–", "–", "–", "–", "–", "–", "–")
    m = measured(trace.history, k, info.target_loss)
    if info.target_loss is None:
        to_target = "no target"
    elif m.epochs_to_target is not None:
        to_target = f"{m.epochs_to_target:.3g}"
    else:
        to_target = "not reached" if _ended(pb, i) else "not yet"
    div = pb.diverged_shown(i)
    return (
        *_fixed(pb, col),
        f"{m.epochs:.2f}",
        format_seconds(m.seconds_per_epoch) if m.epochs > 0 else "–",
        format_number(m.full_loss),
        to_target,
        format_number(m.gradient_noise, 3),
        format_number(m.b_simple, 3),
        f"at step {div}" if div is not None else "no",
    )  # fmt: skip


def _ensemble_row(pb: Playback, col: Column) -> tuple[str, ...]:
    """An ensemble's figures over its seeds at the clock: full loss and epochs to target as
    ``median [p10–p90]`` (:func:`gdviz.ensembles.spread`), the others as their median."""
    info = pb.infos[col.runs[0]]
    ms = [measured(pb.traces[i].history, k, pb.infos[i].target_loss)
          for i in col.runs if (k := pb.traces[i].cursor(pb.clock)) > 0]  # fmt: skip
    if not ms:
        return (*_fixed(pb, col), "–", "–", "–", "–", "–", "–", "–")
    epochs = spread([m.epochs for m in ms]).median

    def median(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return spread(finite).median if finite else math.nan

    if info.target_loss is None:
        to_target = "no target"
    else:
        sp = spread([m.epochs_to_target for m in ms])
        ended = all(_ended(pb, i) for i in col.runs)
        if sp.reached == 0:
            to_target = "not reached" if ended else "not yet"
        else:  # seeds not there yet: later than the clock (or than their end)
            to_target = spread_cell(sp, "{:.3g}".format, f">{epochs:.3g}")
    diverged = sum(pb.diverged_shown(i) is not None for i in col.runs)
    return (
        *_fixed(pb, col),
        f"{epochs:.2f}",
        format_seconds(median([m.seconds_per_epoch for m in ms])) if epochs > 0 else "–",
        spread_cell(spread([m.full_loss for m in ms]), "{:.3g}".format, "✖", count=False),
        to_target,
        format_number(median([m.gradient_noise for m in ms]), 3),
        format_number(median([m.b_simple for m in ms]), 3),
        f"{diverged}/{len(col.runs)} seeds" if diverged else "no",
    )  # fmt: skip
