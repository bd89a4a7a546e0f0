"""Exporting what the app shows: every run's history as CSV and JSON, named after the scenario.

The JSON follows the ``--json`` document's shape (DESIGN.md, Contracts), with the history as
received by the app. A fork is a run of its own, listed after the scenario's, with
``forked_from`` (its parent and the parent's epoch at the fork point); its history starts with
the parent's points up to there.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from gdviz.data import Dataset
from gdviz.models import Model
from gdviz.report import finite_or_none, history_document
from gdviz.safeio import atomic_write, write_text_atomic
from gdviz.scenario import Scenario
from gdviz.tui.state import Playback


def export_paths(scenario_name: str, directory: Path) -> tuple[Path, Path]:
    stem = f"gdviz-{scenario_name}-history"
    return directory / f"{stem}.csv", directory / f"{stem}.json"


def export_history(
    playback: Playback, scenario: Scenario, dataset: Dataset, model: Model, directory: Path, target: str = "cpu"
) -> tuple[Path, Path]:
    """Write ``gdviz-<scenario>-history.csv`` and ``.json`` into ``directory``; return both paths.

    Each file is written whole or not at all (a temporary file, then a rename).

    ``model`` (the engine's) names the parameters and converts them to original units.
    """
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = export_paths(scenario.name, directory)
    with atomic_write(csv_path, newline="") as f:
        w = csv.writer(f)
        held = ["val_loss"] if dataset.X_val is not None else []  # loss over the held-out rows
        w.writerow(["run", "step", "epoch", "seconds", "loss", "full_loss", *held,
                    *model.param_names(dataset.feature_names)])  # fmt: skip
        for info, trace in zip(playback.infos, playback.traces):
            h = trace.history
            for k in range(len(h)):
                row = [info.name, int(h.step[k]), *(finite_or_none(float(v)) for v in (
                    h.epoch[k], h.seconds[k], h.loss[k], h.full_loss[k], *(h.val_loss[k] for _ in held)))]  # fmt: skip
                row += [finite_or_none(float(v)) for v in h.params[k]]
                w.writerow(["" if v is None else v for v in row])
    doc: dict[str, Any] = {
        "scenario": scenario.name,
        "title": scenario.title,
        "target": target,
        "dataset": {"n": int(dataset.X.shape[0]), "d": int(dataset.X.shape[1]),
                    "features": list(dataset.feature_names), "target": dataset.target_name,
                    "validation": {"n": dataset.n_val, "rows": dataset.validation_rows} if dataset.n_val else None},  # fmt: skip
        "model": scenario.model.kind,
        "runs": [],
    }
    for info, trace in zip(playback.infos, playback.traces):
        spec = info.spec if info.spec is not None else scenario.runs[info.index]  # a fork's is its own
        h = trace.history
        final = h.params[-1] if len(h) else None
        doc["runs"].append({
            "name": info.name,
            "ensemble": spec.ensemble,  # a seed ensemble's members are runs of their own, as in --json
            "seed": spec.seed,
            "method": info.method,
            "batch_size": info.batch,
            "updates_per_epoch": info.updates_per_epoch,
            "optimizer": info.optimizer,
            "learning_rate": info.learning_rate,
            "memory_per_step": info.memory_per_step,
            "final_params": finite_or_none(final) if final is not None else None,
            "final_params_original_units": finite_or_none(model.to_original_units(dataset, final)) if final is not None else None,
            "final_loss": finite_or_none(float(h.full_loss[-1])) if len(h) else None,
            "diverged": trace.diverged_step is not None,
            "diverged_step": trace.diverged_step,
            "forked_from": None if info.parent is None else {
                "run": playback.infos[info.parent].name, "epoch": info.forked_at},
            "history": history_document(h),
        })  # fmt: skip
    write_text_atomic(json_path, json.dumps(doc, allow_nan=False) + "\n")
    return csv_path, json_path
