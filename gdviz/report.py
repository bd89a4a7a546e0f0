"""Headless output: the Rich summary table and the JSON document (DESIGN.md, Contracts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from gdviz.engine import Engine, RunSummary
from gdviz.history import History
from gdviz.text import literal


def finite_or_none(x: Any) -> Any:
    """``x`` with every non-finite float replaced by ``None`` (lists and arrays too)."""
    if isinstance(x, np.ndarray):
        return finite_or_none(x.tolist())
    if isinstance(x, (list, tuple)):
        return [finite_or_none(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def format_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if b < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    raise AssertionError("unreachable")


def format_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def format_number(x: float | None, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.{digits}g}"


def _model_words(engine: Engine) -> str:
    """``linear regression``, ``logistic regression`` or the MLP's ``mlp 10→50→1 relu, 601 parameters``."""
    describe = getattr(engine.model, "description", None)
    return describe() if describe is not None else f"{engine.scenario.model.kind} regression"


def summary_table(engine: Engine) -> Table:
    """One row per run with the measured figures; the scenario's and runs' names shown literally."""
    sc = engine.scenario
    table = Table(
        title=literal(f"{sc.title} — n={engine.n}, d={engine.d}, {_model_words(engine)}, target {engine.target}"),
        title_justify="left",
    )
    for col, justify in (
        ("run", "left"),
        ("method", "left"),
        ("batch", "right"),
        ("updates/epoch", "right"),
        ("memory/step", "right"),
        ("time/epoch", "right"),
        ("final loss", "right"),
        ("epochs to target", "right"),
        ("gradient noise", "right"),
        ("diverged", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "run")  # type: ignore[arg-type]
    for s in engine.summaries():
        if s.target_loss is None:
            to_target = "no target"
        elif s.epochs_to_target is None:
            to_target = "not reached"
        else:
            to_target = f"{s.epochs_to_target:.3g}"
        table.add_row(
            literal(s.name),
            literal(s.method),
            str(s.batch_size),
            str(s.updates_per_epoch),
            format_bytes(s.memory_per_step),
            format_seconds(s.seconds_per_epoch),
            format_number(s.final_loss),
            to_target,
            format_number(s.gradient_noise, 3),
            Text(f"at step {s.diverged_step}", style="red") if s.diverged else "no",
        )
    return table


def run_document(s: RunSummary, engine: Engine, index: int) -> dict[str, Any]:
    h = engine.runs[index].history
    return {
        "name": s.name,
        "method": s.method,
        "batch_size": s.batch_size,
        "updates_per_epoch": s.updates_per_epoch,
        "optimizer": s.optimizer,
        "learning_rate": s.learning_rate,
        "epochs": s.epochs,
        "updates": s.updates,
        "memory_per_step": s.memory_per_step,
        "final_params": finite_or_none(s.final_params),
        "final_params_original_units": finite_or_none(s.final_params_original_units),
        "final_loss": finite_or_none(s.final_loss),
        "diverged": s.diverged,
        "diverged_step": s.diverged_step,
        "target_loss": finite_or_none(s.target_loss),
        "epochs_to_target": finite_or_none(s.epochs_to_target),
        "updates_to_target": s.updates_to_target,
        "seconds_to_target": finite_or_none(s.seconds_to_target),
        "seconds_per_epoch": finite_or_none(s.seconds_per_epoch),
        "gradient_noise": finite_or_none(s.gradient_noise),
        # a fork: its parent and the parent's epoch at the fork point (its history starts
        # with the parent's points up to there); null for a run of the scenario
        "forked_from": None if s.forked_from is None else {"run": s.forked_from, "epoch": s.forked_at_epoch},
        "history": history_document(h),
    }


def history_document(h: History) -> dict[str, Any]:
    """A run's recorded points as the JSON document's ``history`` (non-finite numbers null)."""
    return {
        "step": h.step.tolist(),
        "epoch": finite_or_none(h.epoch),
        "seconds": finite_or_none(h.seconds),
        "loss": finite_or_none(h.loss),
        "full_loss": finite_or_none(h.full_loss),
        "params": finite_or_none(h.params),
    }


def json_document(engine: Engine) -> dict[str, Any]:
    """The ``--json`` document; every number finite or ``null``."""
    ds = engine.dataset
    return {
        "scenario": engine.scenario.name,
        "title": engine.scenario.title,
        "target": engine.target,
        "dataset": {
            "n": engine.n,
            "d": engine.d,
            "features": list(ds.feature_names),
            "target": ds.target_name,
        },
        "model": engine.scenario.model.kind,
        "runs": [run_document(s, engine, i) for i, s in enumerate(engine.summaries())],
    }
