"""The inspector (``i``): the selected run's last update explained; ``.`` makes the next one.

It shows, for one update, the batch's rows (as many as the screen holds) with each row's
features and target, prediction, residual and gradient; their mean (the update's gradient,
beside the kernel's own for the same batch); the learning rate times it; the optimizer's
buffers before and after (momentum, Adam's moments, ...); and the parameters before and
after, also in original units when the data are standardised. The numbers come from
:mod:`gdviz.explain`: a private replay of the run with the kernels, and the per-row terms in
NumPy; the replay catches up with the run in a thread worker. Playback is paused while it is
open; ``.`` advances the run by exactly one update and moves the playback clock there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual import work
from textual.screen import ModalScreen
from textual.widgets import Static

from gdviz.explain import Replay, UpdateExplained
from gdviz.text import printable
from gdviz.tui.runinfo import RunInfo
from gdviz.tui.state import Playback

#: Parameters listed one by one (an MLP's others are summed up as a norm).
MAX_PARAMS = 8
#: Features shown per row.
MAX_FEATURES = 3


def _fmt(x: float, digits: int = 6) -> str:
    """A number as the inspector writes it: ``digits`` significant digits, no needless exponent."""
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    a = abs(x)
    if 10**digits <= a < 1e12:
        return f"{x:.0f}"
    if 1e-4 <= a < 10**digits:
        return f"{x:.{digits}g}"
    return f"{x:.{max(1, digits - 2)}e}"


def _table(*columns: str) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for k, name in enumerate(columns):
        table.add_column(name, justify="left" if k == 0 else "right", no_wrap=True)
    return table


def explanation(ex: UpdateExplained, info: RunInfo, model: Any, dataset: Any, *, max_rows: int = 8,
                total: int | None = None, width: int = 120) -> Group:  # fmt: skip
    """The explanation of ``ex`` as the inspector shows it (a Rich renderable ``width`` wide).

    Columns are named briefly (``x1``, ``y``, ``g1``, ...) and a legend line says what each is.
    """
    digits = 6 if width >= 110 else 4

    def _f(x: float) -> str:
        return _fmt(x, digits)

    def _signed(x: float) -> str:
        text = _f(x)
        return text if text.startswith("-") or text == "0" else f"+{text}"

    names = model.param_names(dataset.feature_names)
    p = len(names)
    features = list(dataset.feature_names)
    mlp = p > MAX_PARAMS
    grad_cols = [] if mlp else list(range(p))
    room = max(1, (width - 16) // 10 - 3 - (1 if mlp else len(grad_cols)))
    shown_f = list(range(min(len(features), MAX_FEATURES, room)))
    xs = np.ones(len(features)) if dataset.x_scale is None else np.asarray(dataset.x_scale)
    xm = np.zeros(len(features)) if dataset.x_mean is None else np.asarray(dataset.x_mean)
    ys = 1.0 if dataset.y_scale is None else float(dataset.y_scale)
    ym = 0.0 if dataset.y_mean is None else float(dataset.y_mean)
    regression = dataset.task == "regression"
    standardised = dataset.x_mean is not None or dataset.y_mean is not None
    of = f" of {total}" if total else ""
    where = f"row {ex.position}" if ex.batch == 1 else f"rows {ex.position}–{ex.position + ex.batch - 1}"
    head = Text.assemble((f"update {ex.step}{of}", "bold"), f" · epoch {ex.epoch}, {where} of the epoch's order · "
                         f"B={ex.batch} · {ex.optimizer} · lr {_f(ex.lr)}")  # fmt: skip
    legend = [f"x{j + 1} = {features[j]}" for j in shown_f]
    if len(features) > len(shown_f):
        legend.append(f"(+{len(features) - len(shown_f)} more features)")
    legend.append(f"y = {dataset.target_name} · ŷ = prediction · ŷ−y = residual")
    legend += [f"g{j + 1} = ∂loss/∂{names[j]}" for j in grad_cols] if not mlp else ["‖g‖ = the row's gradient's norm"]
    g_heads = [f"g{j + 1}" for j in grad_cols] if not mlp else ["‖g‖"]
    rows = _table("row", *(f"x{j + 1}" for j in shown_f), "y", "ŷ", "ŷ−y", *g_heads)
    t = ex.terms

    def grads(g: np.ndarray) -> list[str]:
        return [_f(g[j]) for j in grad_cols] if not mlp else [_f(float(np.linalg.norm(g)))]

    for r in range(min(ex.batch, max_rows)):
        x = ex.X[r] * xs + xm
        y = ex.y[r] * ys + ym if regression else ex.y[r]
        pred = t.pred[r] * ys + ym if regression else t.pred[r]
        res = t.residual[r] * ys if regression else t.residual[r]
        rows.add_row(str(int(ex.rows[r])), *(_f(x[j]) for j in shown_f), _f(y), _f(pred), _f(res), *grads(t.grads[r]))
    pad = [""] * (len(shown_f) + 3)
    if ex.batch > max_rows:
        rows.add_row(f"+{ex.batch - max_rows} rows", *pad, *([""] * len(g_heads)))
    rows.add_row(Text("mean = g", style="bold"), *pad, *(Text(c, style="bold") for c in grads(ex.grad)))
    rows.add_row("lr × g", *pad, *grads(ex.lr * ex.grad))
    diff = float(np.max(np.abs(ex.grad - ex.kernel_grad))) if p else 0.0
    units = " · rows in original units, gradients in the standardised units it trains in" if standardised else ""
    notes = Text(" · ".join(legend) + units, style="dim")
    check = Text(f"mean loss of the batch {_f(ex.mean_loss)} · the kernel's gradient differs from g by at most "
                 f"{diff:.1e}", style="dim")  # fmt: skip
    # the optimizer and the parameters
    rule = {"sgd": "momentum_buffer = momentum·momentum_buffer + (1 − dampening)·g; after = before − lr·momentum_buffer"
            if ex.buffers else "after = before − lr·g",
            "adam": "after = before − lr·m̂/(√v̂ + eps); m̂, v̂: exp_avg, exp_avg_sq bias-corrected",
            "adamw": "after = before·(1 − lr·wd) − lr·m̂/(√v̂ + eps); m̂, v̂: exp_avg, exp_avg_sq bias-corrected",
            "rmsprop": "after = before − lr·g/(√square_avg + eps)",
            "adagrad": "after = before − lr·g/(√sum + eps)"}.get(ex.optimizer, "")  # fmt: skip
    params = _table("parameter", "before", "after", "Δ")
    shown_p = list(range(p)) if not mlp else list(range(MAX_PARAMS - 1))
    for j in shown_p:
        params.add_row(names[j], _f(ex.before[j]), _f(ex.after[j]), _signed(ex.after[j] - ex.before[j]))
    if len(shown_p) < p:
        params.add_row(f"+{p - len(shown_p)} more", "", "", "")
    parts: list[Any] = [head, notes, rows, check, Text(f"{ex.optimizer}: {rule}", style="bold")]
    if ex.buffers:  # one row per buffer, before and after, one column per parameter
        few = shown_p[: max(1, (width - 22) // 11)]
        buffers = _table("optimizer buffer", *(names[j] for j in few))
        for name, b0, b1 in ex.buffers:
            buffers.add_row(f"{name} before", *(_f(b0[j]) for j in few))
            buffers.add_row(f"{name} after", *(_f(b1[j]) for j in few))
        parts.append(buffers)
    parts.append(params)
    if standardised and not mlp:
        parts.append(Text(f"in original units: {model.fitted_line(dataset, ex.before)}  →  "
                          f"{model.fitted_line(dataset, ex.after)}"))  # fmt: skip
    return Group(*parts)


class InspectorScreen(ModalScreen[None]):
    """The selected run's update, explained; ``.`` the next one, ``i`` or escape closes."""

    BINDINGS = [
        Binding("full_stop", "next_update", "next update"),
        Binding("i,escape", "dismiss", "close"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, info: RunInfo, replay: Replay, step: int, model: Any, dataset: Any, *,
                 moved: Callable[[int], None] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.info = info
        self.replay = replay
        self.model = model
        self.dataset = dataset
        self.moved = moved  # told the update count after each ".", to move the playback clock
        self.step = step  # the update to show first (none yet at a run's start or a fork's fork point)
        self.current: UpdateExplained | None = None
        #: False while the replay catches up with the run (a thread: thousands of updates of a
        #: network can take seconds, which the UI thread must not wait for).
        self.ready = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="inspector"):
            yield Static(Text(f"inspector · {printable(self.info.name)}", style="bold reverse"), id="inspector-title")
            yield Static("", id="inspector-body")
            yield Static(Text(". next update (exactly one) · i or escape closes · playback is paused", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#inspector-body", Static).update(Text(f"replaying the run up to update {self.step}…"))
        self._catch_up()

    @work(thread=True, exclusive=True, exit_on_error=False, group="inspector")
    def _catch_up(self) -> None:
        replay = self.replay
        ex = replay.explain(self.step) if self.step > replay.step_offset else None
        if ex is None:
            replay.seek(self.step)
        self.app.call_from_thread(self._caught_up, ex)

    def _caught_up(self, ex: UpdateExplained | None) -> None:
        self.current = ex
        self.ready = True
        self.show()

    @property
    def total(self) -> int:
        return self.info.last_step

    def body_text(self) -> str:
        """The explanation as plain text (for tests and screen readers)."""
        import io

        from rich.console import Console

        console = Console(width=200, record=True, color_system=None, file=io.StringIO())
        console.print(self._renderable())
        return console.export_text()

    def _renderable(self) -> Any:
        if self.current is None:
            done = self.replay.done
            return Text("no update yet: . makes the first" if not done else "the run has ended: no update to make")
        rows = max(3, self.app.size.height - 20) if self.is_mounted else 8
        width = self.app.size.width - 4 if self.is_mounted else 120
        return explanation(self.current, self.info, self.model, self.dataset, max_rows=rows, total=self.total,
                           width=width)  # fmt: skip

    def show(self) -> None:
        self.query_one("#inspector-body", Static).update(self._renderable())

    def action_next_update(self) -> None:
        if not self.ready:
            self.notify("the replay is still catching up with the run", severity="warning")
            return
        ex = self.replay.explain_next()
        if ex is None:
            self.notify("the run has ended: no update to make", severity="warning")
            return
        self.current = ex
        self.show()
        if self.moved is not None:
            self.moved(ex.step)


def inspector_for(pb: Playback, i: int, scenario: Any, dataset: Any, model: Any,
                  moved: Callable[[int], None] | None = None) -> InspectorScreen | str:  # fmt: skip
    """The inspector of run ``i`` at the playback clock, or why there is none yet."""
    info, trace = pb.infos[i], pb.traces[i]
    if model is None or not len(trace.history) or info.spec is None:
        return "the engine has not started yet"
    k = trace.cursor(pb.clock)
    step = int(trace.history.step[k - 1])
    if info.parent is None:
        replay = Replay(scenario, dataset, info.spec)
    else:
        own = max(1, round((info.epochs - (info.forked_at or 0.0)) * info.updates_per_epoch))
        replay = Replay(scenario, dataset, info.spec, start=trace.history.params[info.start], total_updates=own,
                        step_offset=info.start_step)  # fmt: skip
        step = max(step, info.start_step)
    return InspectorScreen(info, replay, step, model, dataset, moved=moved)
