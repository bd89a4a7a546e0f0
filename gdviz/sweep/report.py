"""A sweep's result as text: ``gdviz sweep S --headless``.

Three parts, as the sweep screen: steps to the target per batch size and learning rate
(median over seeds; ``×`` diverged, ``·`` not reached by ``max_epochs``; ``*`` the best
learning rate of each batch size), the best cells with their steps, examples and B_simple,
and the McCandlish fit with the critical batch size.
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from gdviz.sweep.result import DIVERGED, SweepResult


def fmt_steps(x: float) -> str:
    """Steps as they read best in a cell: ``12``, ``1.2k``, ``34k``, ``1.2M``."""
    if not math.isfinite(x):
        return "—"
    if x < 1000:
        return f"{x:.0f}" if x == int(x) else f"{x:.1f}"
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            v = x / scale
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{x:.0f}"


def fmt_lr(x: float) -> str:
    return f"{x:.2g}" if x >= 0.01 else f"{x:.1e}".replace("e-0", "e-")


def batch_label(b: int | None) -> str:
    return "full" if b is None else str(b)


def cell_marks(res: SweepResult) -> np.ndarray:
    """Per (batch size, learning rate): "diverged" when the median seed diverged, "not reached"
    when it did not reach the target, "" when it did, None when no seed has run yet."""
    nb, nl, ns = res.shape
    status = np.full((nb, nl, ns), None, dtype=object)
    for r in res.cells:
        c = r.cell
        status[c.b_index, c.lr_index, c.seed_index] = r.status
    out = np.full((nb, nl), None, dtype=object)
    med = res.median_steps
    for i in range(nb):
        for j in range(nl):
            got = [s for s in status[i, j] if s is not None]
            if not got:
                continue
            if math.isfinite(med[i, j]):
                out[i, j] = ""
            else:
                out[i, j] = DIVERGED if got.count(DIVERGED) * 2 >= len(got) else "not reached"
    return out


def heat_table(res: SweepResult) -> Table:
    sweep = res.sweep
    lrs, bss = sweep["learning_rates"], sweep["batch_sizes"]
    table = Table()
    table.add_column("batch \\ lr", justify="right", style="bold")
    for lr in lrs:
        table.add_column(fmt_lr(lr), justify="right")
    med, marks = res.median_steps, cell_marks(res)
    best = {(b.batch, b.learning_rate) for b in res.best}
    for i, b in enumerate(bss):
        row = []
        for j, lr in enumerate(lrs):
            m = marks[i, j]
            if m is None:
                row.append("")
            elif m == DIVERGED:
                row.append("×")
            elif m:
                row.append("·")
            else:
                star = "*" if (res.batches[i], lr) in best else ""
                row.append(Text(fmt_steps(med[i, j]) + star, style="bold" if star else ""))
        table.add_row(str(b), *row)
    return table


def best_table(res: SweepResult) -> Table:
    table = Table()
    for name in ("batch", "best lr", "steps S", "examples E = S·B", "B_simple at target"):
        table.add_column(name, justify="right")
    for b in res.best:
        table.add_row(str(b.batch), fmt_lr(b.learning_rate), fmt_steps(b.steps_to_target),
                      fmt_steps(b.examples_to_target), f"{b.b_simple:.0f}" if b.b_simple is not None else "—")
    return table


def fit_lines(res: SweepResult) -> list[str]:
    lines = []
    f = res.fit
    if f is not None:
        lines.append(f"McCandlish fit S(B) = S_min + E_min/B on {f.points} batch sizes: "
                     f"S_min = {f.s_min:.3g} steps, E_min = {f.e_min:.3g} examples")
        if f.b_crit is not None:
            lines.append(f"critical batch size B_crit = E_min/S_min = {f.b_crit:.0f}")
    if res.note:
        lines.append(res.note)
    if res.b_simple_at_target is not None:
        lines.append(f"gradient noise scale B_simple = tr(Σ)/|G|² at the target: {res.b_simple_at_target:.0f} "
                     "(median over the best cells)")
    lines.append(f"{len(res.cells):,} cells, {res.updates:,} updates in {res.seconds:.2f} s "
                 f"({res.cells_per_second:,.0f} cells/s, {res.updates / max(res.seconds, 1e-9):,.0f} updates/s)")
    return lines


def summary(res: SweepResult) -> Group:
    """The headless report: heat table, best table, fit lines."""
    parts: list = [Text("steps to target loss (median over seeds; × diverged, · not reached, * best lr)"),
                   heat_table(res), Text("best learning rate per batch size"), best_table(res)]
    parts.extend(Text(line) for line in fit_lines(res))
    return Group(*parts)
