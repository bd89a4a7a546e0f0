"""Headless output: the Rich summary table and the JSON document (DESIGN.md, Contracts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from gdviz.engine import Engine, RunSummary
from gdviz.ensembles import ensembles
from gdviz.heldout import held_out_cells, held_out_columns, held_out_document
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
        ("B_simple", "right"),
        ("diverged", "left"),
    ):
        # the run's name wraps only past 24 characters (an ensemble's label is its name + seeds)
        longest = max((len(run.spec.ensemble or run.name) + 10 * (run.spec.ensemble is not None)
                       for run in engine.runs), default=3)
        table.add_column(col, justify=justify, no_wrap=col != "run",  # type: ignore[arg-type]
                         min_width=min(24, longest) if col == "run" else None)
    summaries = engine.summaries()
    groups = {e.runs[0]: e for e in ensembles([run.spec for run in engine.runs], summaries)}
    members = {i for e in groups.values() for i in e.runs[1:]}
    for i, s in enumerate(summaries):
        name = s.name
        if i in groups and len(groups[i].runs) == 1:  # seeds that cannot differ: one run
            name = f"{s.name} (1 run)"
        elif i in groups:  # an ensemble: one row, each figure as median [p10–p90] over its seeds
            e = groups[i]
            label = f"{e.name} ({len(e.runs)} seeds)"
            table.add_row(
                literal(label), literal(s.method), str(s.batch_size), str(s.updates_per_epoch),
                format_bytes(s.memory_per_step), format_seconds(e.seconds_per_epoch.median),
                e.final_loss.text("{:.3g}".format),
                "no target" if s.target_loss is None else e.epochs_to_target.text(),
                format_number(s.gradient_noise, 3), format_number(s.b_simple, 3),
                _diverged_cell([summaries[j] for j in e.runs]),
            )  # fmt: skip
            continue
        if i in members:
            continue
        if s.target_loss is None:
            to_target = "no target"
        elif s.epochs_to_target is None:
            to_target = "not reached"
        else:
            to_target = f"{s.epochs_to_target:.3g}"
        table.add_row(
            literal(name),
            literal(s.method),
            batch_cell(s),
            str(s.updates_per_epoch),
            format_bytes(s.memory_per_step),
            format_seconds(s.seconds_per_epoch),
            format_number(s.final_loss),
            to_target,
            format_number(s.gradient_noise, 3),
            format_number(s.b_simple, 3),
            Text(f"at step {s.diverged_step}", style="red") if s.diverged else "no",
        )
    return table


def _diverged_cell(ss: list[RunSummary]) -> Text | str:
    bad = [s for s in ss if s.diverged]
    if not bad:
        return "no"
    return Text(f"{len(bad)}/{len(ss)} seeds", style="red") if len(ss) > 1 else Text(
        f"at step {bad[0].diverged_step}", style="red")


def held_out_table(engine: Engine) -> Table | None:
    """The runs' figures on the held-out rows (``[data] validation``); None when none are."""
    ds = engine.dataset
    if not ds.n_val:
        return None
    title = (f"held-out rows: {ds.n_val} of {ds.n + ds.n_val} ({ds.validation_rows}), never trained on; "
             f"gap = validation − training loss")
    table = Table(title=literal(title), title_justify="left")
    table.add_column("run", justify="left")
    for col in held_out_columns(ds):
        table.add_column(col, justify="right", no_wrap=True)
    for s in engine.summaries():
        table.add_row(literal(s.name), *held_out_cells(s.final_loss, s.held_out))
    return table


def batch_cell(s: RunSummary) -> str:
    """The batch in force at the run's end: ``"64"``; ``"16×4"`` for 4 micro-batches of 16 per
    update; ``"8→64"`` when a batch schedule took it from 8 to 64."""
    cell = str(s.batch_size) if s.accumulate == 1 else f"{s.batch_size}×{s.accumulate}"
    if s.batch_schedule:
        return f"{s.batch_schedule[0][1]}→{cell}"
    return cell


def run_document(s: RunSummary, engine: Engine, index: int) -> dict[str, Any]:
    h = engine.runs[index].history
    return {
        "name": s.name,
        "ensemble": engine.runs[index].spec.ensemble,
        "seed": engine.runs[index].spec.seed,
        "method": s.method,
        "batch_size": s.batch_size,
        "accumulate": s.accumulate,
        "batch_schedule": [list(c) for c in s.batch_schedule] if s.batch_schedule else None,
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
        "b_simple": finite_or_none(s.b_simple),
        **({"validation": held_out_document(s.held_out)} if s.held_out is not None else {}),
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
        "b_simple": finite_or_none(h.b_simple),
        "params": finite_or_none(h.params),
        **({"val_loss": finite_or_none(h.val_loss)} if np.isfinite(h.val_loss).any() else {}),
    }


def json_document(engine: Engine) -> dict[str, Any]:
    """The ``--json`` document; every number finite or ``null``."""
    ds = engine.dataset
    summaries = engine.summaries()
    return {
        "scenario": engine.scenario.name,
        "title": engine.scenario.title,
        "target": engine.target,
        "dataset": {
            "n": engine.n,
            "d": engine.d,
            "features": list(ds.feature_names),
            "target": ds.target_name,
            "validation": {"n": ds.n_val, "rows": ds.validation_rows} if ds.n_val else None,
        },
        "model": engine.scenario.model.kind,
        "runs": [run_document(s, engine, i) for i, s in enumerate(summaries)],
        "ensembles": [e.as_dict(summaries) for e in ensembles([run.spec for run in engine.runs], summaries)],
    }
