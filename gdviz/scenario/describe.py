"""A resolved scenario as plain JSON-able values, for ``gdviz check`` to print.

Defaults are filled in; keys that do not belong to the data source, or to a run's optimizer
or schedule, are left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gdviz.scenario.fields import _schema
from gdviz.scenario.problems import _applies
from gdviz.scenario.spec import Scenario


def _jsonable(value: Any) -> Any:
    if hasattr(value, "as_written"):  # a batch schedule
        return value.as_written()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _section_dict(obj: Any, resolved: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, spec in _schema(type(obj)).items():
        value = getattr(obj, key)
        if value is None or _applies(spec, resolved) is False:
            continue
        out[key] = _jsonable(value)
    return out


def _model_dict(s: Scenario) -> dict[str, Any]:
    """``[model]`` resolved: keys that apply to its kind only; an mlp's ``init_seed`` filled in
    (the scenario's seed by default) and ``init`` left out when none was given."""
    model = _section_dict(s.model, dataclasses.asdict(s.model))
    if not s.model.init:
        model.pop("init", None)
    if s.model.kind == "mlp" and s.model.init_seed is None:
        model["init_seed"] = s.seed
    return model


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain JSON-able values (for ``gdviz check``).

    Defaults are filled in; keys that do not belong to the data source, or to a run's
    optimizer or schedule, are left out. ``batch_size`` is ``"full"`` or an integer.
    """
    data = _section_dict(s.data, dataclasses.asdict(s.data))
    data["d"] = s.data.d  # resolved for every source (for csv and houses: len(features))
    if s.data.validation is None:
        data.pop("validation_rows", None)  # no rows held out: how they would be picked is moot
    runs = []
    for run in s.runs:
        t = dataclasses.asdict(run.train)
        entry: dict[str, Any] = {
            "name": run.name,
            "batch_size": "full" if run.batch_size is None else run.batch_size,
            "seed": run.seed,
        }
        entry.update(_section_dict(run.train, t))
        runs.append(entry)
    return {
        "name": s.name,
        "title": s.title,
        "description": s.description,
        "seed": s.seed,
        "source": str(s.source_path) if s.source_path is not None else None,
        "data": data,
        "model": _model_dict(s),
        "runs": runs,
        **({"sweep": s.sweep.as_dict()} if s.sweep is not None else {}),
    }

