"""The sweep screen's view values, built from a :class:`~gdviz.sweep.result.SweepResult`.

:func:`figures_of` derives once per result what every panel reads (median steps, each cell's
seeds, the best cells); the other functions build one panel's view each: the heat map
(:class:`~gdviz.tui.sweep_heat.HeatView`), steps and examples against the batch size with the
McCandlish fit, the gradient noise scale along one cell's training (both
:class:`~gdviz.tui.sweep_chart.LogLogSpec`), the selected cell's line and the status line.
Nothing here touches a widget or trains anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdviz.sweep.cells import Trace
from gdviz.sweep.report import cell_marks, fmt_lr, fmt_steps
from gdviz.sweep.result import DIVERGED, NOT_REACHED, REACHED, CellResult, SweepResult
from gdviz.tui import sweep_heat as H
from gdviz.tui.sweep_chart import Curve, LogLogSpec, Rule

S_RGB = (80, 170, 255)  # steps: blue
E_RGB = (255, 150, 60)  # examples: orange
NOISE_RGB = (120, 220, 140)  # B_simple: green


@dataclass(frozen=True)
class Figures:
    """What the panels read of one result (computed once per result, off the UI thread)."""

    result: SweepResult
    median: np.ndarray  # [batch, lr]: steps to target, median over seeds (inf: not reached; nan: not run)
    marks: np.ndarray  # [batch, lr]: report.cell_marks
    cells: dict[tuple[int, int], list[CellResult]]
    best: dict[int, int]  # batch index -> the lr index of its best cell
    done: bool  # every cell has run

    @property
    def spec(self) -> dict:
        return self.result.sweep


def figures_of(result: SweepResult) -> Figures:
    cells: dict[tuple[int, int], list[CellResult]] = {}
    for r in result.cells:
        cells.setdefault((r.cell.b_index, r.cell.lr_index), []).append(r)
    for v in cells.values():
        v.sort(key=lambda r: r.cell.seed_index)
    lrs = result.sweep["learning_rates"]
    best = {result.batches.index(b.batch): lrs.index(b.learning_rate) for b in result.best}
    return Figures(result, result.median_steps, cell_marks(result), cells, best,
                   len(result.cells) >= result.total_cells)


# --- formats ---------------------------------------------------------------------------------
def short_steps(x: float) -> str:
    """At most 4 characters: ``8.5``, ``41.5``, ``172``, ``1.4k``, ``55k``, ``1.2M``."""
    if not math.isfinite(x):
        return "—"
    if x < 99.95:  # a median of two seeds may end in .5
        return f"{x:.0f}" if x == int(x) else f"{x:.1f}"
    if x < 999.5:
        return f"{x:.0f}"
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if x >= scale * 0.9995:
            v = x / scale
            return f"{v:.1f}{unit}" if v < 9.95 else f"{v:.0f}{unit}"
    return f"{x:.0f}"


def fmt_b(x: float) -> str:
    """A batch-size-like figure (B_crit, B_simple): ``73``, ``3.2``."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def short_loss(x: float) -> str:
    """A loss in at most 4 characters where it can: ``0.41``, ``12``, ``3e-4``, ``2e5``."""
    if not math.isfinite(x):
        return "—"
    if 0.01 <= x < 100:
        return f"{x:.2g}"
    return f"{x:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def lr_labels(lr: float) -> tuple[str, ...]:
    """A learning rate's column labels, preferred first, each shorter than the one before
    (the heat map takes the first that fits its cells)."""
    compact = f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")
    out = [fmt_lr(lr)]
    for s in (f"{lr:.2g}", f"{lr:.1g}", compact):
        if len(s) < len(out[-1]):
            out.append(s)
    return tuple(out)


# --- the heat map --------------------------------------------------------------------------------
def final_losses_only(fig: Figures) -> bool:
    """No cell reached the target and all have run: the map shows final losses instead."""
    return fig.done and not fig.result.best


def heat_view(fig: Figures, cursor: tuple[int, int], plain: bool) -> H.HeatView:
    res, spec = fig.result, fig.spec
    nb, nl, ns = res.shape
    losses = final_losses_only(fig)
    values: list[tuple[float | None, ...]] = []
    texts: list[tuple[str, ...]] = []
    kinds: list[tuple[str, ...]] = []
    for i in range(nb):
        vrow, trow, krow = [], [], []
        for j in range(nl):
            mark = fig.marks[i, j]
            kind = {None: H.PENDING, "": H.OK, DIVERGED: H.DIVERGED}.get(mark, H.NOT_REACHED)
            value: float | None = None
            if losses and kind == H.NOT_REACHED:
                finals = [r.final_loss for r in fig.cells.get((i, j), []) if math.isfinite(r.final_loss)]
                if finals:
                    kind, value = H.OK, float(np.median(finals))
            elif kind == H.OK:
                value = float(fig.median[i, j])
            vrow.append(value)
            trow.append("" if value is None else (short_loss(value) if losses else short_steps(value)))
            krow.append(kind)
        values.append(tuple(vrow))
        texts.append(tuple(trow))
        kinds.append(tuple(krow))
    finite = [v for row in values for v in row if v is not None and v > 0]
    fmt = short_loss if losses else short_steps
    if losses:
        title = f"final loss (no cell reached the target {spec['target_loss']:g}), median of {ns} seeds"
        legend = (f"{fmt(min(finite))} loss" if finite else "", fmt(max(finite)) if finite else "")
    else:
        title = f"steps to loss {spec['target_loss']:g} (median of {ns} seeds): batch size ↓, learning rate →"
        legend = (f"{fmt(min(finite))} steps" if finite else "", fmt(max(finite)) if finite else "")
    return H.HeatView(
        rows=tuple(str(b) for b in spec["batch_sizes"]),
        cols=tuple(lr_labels(lr) for lr in spec["learning_rates"]),
        values=tuple(values), texts=tuple(texts), kinds=tuple(kinds),
        best=frozenset(fig.best.items()) if not losses else frozenset(),
        cursor=cursor, title=title, legend=legend, plain=plain,
    )  # fmt: skip


# --- the selected cell ------------------------------------------------------------------------------
def _counts(cells: list[CellResult]) -> str:
    parts = []
    for status, word in ((REACHED, "reached"), (NOT_REACHED, "not reached"), (DIVERGED, "diverged")):
        k = sum(r.status == status for r in cells)
        if k:
            parts.append(f"{k} {word}")
    return ", ".join(parts)


def cell_line(fig: Figures, i: int, j: int) -> str:
    """The selected cell's figures: median steps, epochs and examples to the target, the
    per-seed spread and what each seed ended as."""
    res, spec = fig.result, fig.spec
    ns = res.shape[2]
    b, lr = spec["batch_sizes"][i], spec["learning_rates"][j]
    head = f"B {b} · lr {fmt_lr(lr)}: "
    cells = fig.cells.get((i, j), [])
    if not cells:
        return head + "not run yet"
    seeds = f"{len(cells)} of {ns} seeds" if len(cells) < ns else f"{ns} seed{'s' if ns > 1 else ''}"
    shared = any(r.same_as_seed is not None for r in cells)
    med = float(fig.median[i, j])
    target = spec["target_loss"]
    if math.isfinite(med):
        upe = cells[0].cell.updates_per_epoch
        text = (f"median {fmt_steps(med)} steps = {med / upe:.3g} epochs = {fmt_steps(med * res.batches[i])} "
                f"examples to loss {target:g}")  # fmt: skip
        reached = [r.steps_to_target for r in cells if r.steps_to_target is not None]
        if len(set(reached)) > 1:
            text += f" · per seed {fmt_steps(min(reached))}–{fmt_steps(max(reached))} steps"
        if fig.best.get(i) == j:
            text += " · the best lr of this batch size"
    elif fig.marks[i, j] == DIVERGED:
        at = [r.steps for r in cells if r.status == DIVERGED]
        text = f"diverged (at step {fmt_steps(min(at))}" + (f"–{fmt_steps(max(at))})" if max(at) != min(at) else ")")
    else:
        finals = [r.final_loss for r in cells if math.isfinite(r.final_loss)]
        final = f" (final loss {np.median(finals):.3g}, median)" if finals else ""
        text = f"loss {target:g} not reached in {spec['max_epochs']} epochs{final}"
    text += f" · {seeds}: {_counts(cells)}"
    if shared:
        text += " (never shuffled: every seed is the same run)"
    return head + text


def trace_seed(fig: Figures, i: int, j: int) -> tuple[int, int | None] | None:
    """``(seed_index, steps)`` for the cell's B_simple trace: the seed whose steps are the
    median, trained for twice its steps to the target (None: to ``max_epochs``); None when
    the cell has not run yet."""
    cells = fig.cells.get((i, j), [])
    if not cells:
        return None
    reached = sorted((r for r in cells if r.steps_to_target is not None), key=lambda r: r.steps_to_target or 0)
    if not reached:
        return cells[0].cell.seed_index, None
    med = float(fig.median[i, j]) if math.isfinite(fig.median[i, j]) else reached[len(reached) // 2].steps_to_target
    r = min(reached, key=lambda r: abs((r.steps_to_target or 0) - med))
    return r.cell.seed_index, 2 * int(r.steps_to_target or 1)


def auto_cursor(fig: Figures) -> tuple[int, int] | None:
    """Where the cursor goes until the user moves it: the best cell of the batch size nearest
    ``B_crit`` (of the middle batch size with a best cell when B_crit is undefined)."""
    if not fig.best:
        return None
    rows = sorted(fig.best)
    fit = fig.result.fit
    if fit is not None and fit.b_crit is not None:
        i = min(rows, key=lambda r: abs(math.log(fig.result.batches[r] / fit.b_crit)))
    else:
        i = rows[len(rows) // 2]
    return i, fig.best[i]


# --- steps and examples against the batch size ----------------------------------------------------
def scaling_spec(fig: Figures, plain: bool) -> LogLogSpec:
    res = fig.result
    best = res.best
    title = "at each batch size's best lr"
    if not best:
        message = res.note or "waiting for a cell to reach the target…"
        return LogLogSpec((), title=title, message=message, no_color=plain, key=("msg", message))
    B = np.array([b.batch for b in best], np.float64)
    S = np.array([b.steps_to_target for b in best], np.float64)
    curves = [Curve(B, S, S_RGB, "S steps", marker="●"), Curve(B, S * B, E_RGB, "E = S·B examples", marker="■")]
    rules = []
    fit = res.fit
    if fit is not None:
        grid = np.geomspace(B.min(), B.max(), 120) if B.max() > B.min() else B
        s_fit = fit.predict_steps(grid)
        curves += [Curve(grid, s_fit, S_RGB, "S fit"), Curve(grid, s_fit * grid, E_RGB, "E fit", pattern="dashed")]
        if fit.b_crit is not None:
            rules.append(Rule("x", fit.b_crit, f"B_crit {fmt_b(fit.b_crit)}"))
    key = (tuple(B), tuple(S), None if fit is None else (fit.s_min, fit.e_min))
    return LogLogSpec(tuple(curves), tuple(rules), title=title, x_label="batch size B", no_color=plain, key=key)


def fit_lines(fig: Figures) -> list[str]:
    """Under the S(B), E(B) chart: the fit and its critical batch size (or why there is none),
    and the gradient noise scale at the target beside it."""
    res = fig.result
    out = []
    fit = res.fit
    bs = res.b_simple_at_target
    has_bs = bs is not None and math.isfinite(bs)
    if fit is not None:
        out.append(f"S_min = {fit.s_min:.3g} steps, E_min = {fit.e_min:.3g} examples (fit S = S_min + E_min/B)")
    if fit is not None and fit.b_crit is not None:
        out.append(f"B_crit = E_min/S_min = {fmt_b(fit.b_crit)}" + (f" = {fit.b_crit / bs:.2f} × B_simple" if has_bs else ""))
    elif res.note:
        out.append(res.note)
    if has_bs:
        out.append(f"B_simple at the target = {fmt_b(bs)} (median of the best cells)")
    return out


# --- the gradient noise scale along one cell's training -------------------------------------------
def noise_spec(fig: Figures, cell: tuple[int, int], trace: Trace | None, plain: bool, *,
               computing: bool = False) -> LogLogSpec:
    spec = fig.spec
    i, j = cell
    title = f"B_simple along training, B {spec['batch_sizes'][i]} lr {fmt_lr(spec['learning_rates'][j])}"
    if trace is None:
        message = ("computing B_simple along this cell's training…" if computing or fig.cells.get(cell)
                   else "this cell has not run yet")  # fmt: skip
        return LogLogSpec((), title=title, message=message, no_color=plain, key=("msg", cell, message))
    curves = [Curve(trace.full_loss, trace.b_simple, NOISE_RGB, "B_simple")]
    if trace.b_simple_at_target is not None:
        curves.append(Curve(np.array([trace.target_loss]), np.array([trace.b_simple_at_target]), NOISE_RGB,
                            "at target", marker="◆"))  # fmt: skip
    rules = [Rule("x", trace.target_loss, f"target {trace.target_loss:g}")]
    fit = fig.result.fit
    if fit is not None and fit.b_crit is not None:
        rules.append(Rule("y", fit.b_crit, f"B_crit {fmt_b(fit.b_crit)}"))
    key = ("trace", cell, len(trace.step), None if fit is None else fit.b_crit)
    return LogLogSpec(tuple(curves), tuple(rules), title=title, x_label="full loss (falls →)", reverse_x=True,
                      no_color=plain, key=key)  # fmt: skip


def noise_line(fig: Figures, cell: tuple[int, int], trace: Trace | None) -> str:
    """Under the B_simple chart: its value at the target beside B_crit."""
    fit = fig.result.fit
    crit = f"B_crit = {fmt_b(fit.b_crit)} (fit)" if fit is not None and fit.b_crit is not None else "B_crit undefined"
    if trace is None:
        return f"B_simple = tr(Σ)/|G|², the gradient noise scale · {crit}"
    if trace.b_simple_at_target is None:
        why = "diverged" if fig.marks[cell] == DIVERGED else "did not reach the target"
        return f"this run {why}: no B_simple at the target (its trace up to where it stopped) · {crit}"
    return f"B_simple at the target = {fmt_b(trace.b_simple_at_target)} (this cell) · {crit}"


# --- the status line ------------------------------------------------------------------------------------
def progress_text(fig: Figures | None, *, total: int, phase: str = "", phase_seconds: float = 0.0,
                  eta: float | None = None, seconds: float | None = None) -> str:
    """Progress first (a narrow terminal cuts the line at the right): compiling, cells done and
    time left, or the sweep's time once done (``seconds`` None: not shown, as in snapshots)."""
    if phase:
        return f"⏳ {phase} {phase_seconds:.0f} s"
    done = 0 if fig is None else len(fig.result.cells)
    if done >= total:
        took = f" in {seconds:.1f} s ({total / seconds:,.0f} cells/s)" if seconds else ""
        return f"■ {total:,} cells done{took}"
    left = f" · about {eta:.0f} s left" if eta is not None else ""
    return f"▶ {done:,} of {total:,} cells{left}"


def closing_note(fig: Figures, seconds: float | None) -> str:
    """The note shown when the sweep ends: its time, B_crit and B_simple at the target."""
    res = fig.result
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    fit = res.fit
    crit = f"B_crit = {fmt_b(fit.b_crit)} from the fit" if fit is not None and fit.b_crit is not None else res.note
    bs = res.b_simple_at_target
    noise = f"; B_simple at the target = {fmt_b(bs)}" if bs is not None and math.isfinite(bs) else ""
    return f"{res.total_cells:,} cells done{took}: {crit}{noise}"
