"""``[sweep]``: the grid of batch sizes x learning rates x seeds a sweep trains (issue 11).

Every cell of a sweep is one run of the scenario's ``[train]`` settings with its own batch
size, learning rate and shuffling seed, trained until the full-dataset loss reaches
``target_loss`` or ``max_epochs`` pass. The table is validated here, Numba- and NumPy-free
like the rest of :mod:`gdviz.scenario`::

    [sweep]
    batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, "full"]
    learning_rates = { from = 1e-3, to = 3.0, points = 12 }   # log-spaced; or a list
    seeds = 5            # shuffling seeds per cell: the scenario's seed, seed + 1, ...
    max_epochs = 200     # a cell that has not reached target_loss by then is "not reached"
    target_loss = 0.3    # [train]'s target_loss by default
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gdviz.scenario.fields import _Bad, _BatchSize, _Float, _Int, _is_int, _is_number, _REQUIRED, _show
from gdviz.scenario.problems import _check_keys, _Problems, _resolve, _table
from gdviz.scenario.spec import MAX_EPOCHS, MAX_VALUES, TrainSpec

#: The most cells a sweep may have (each is a training run; a million is hours of one machine).
MAX_CELLS = 1_000_000
#: The most shuffling seeds per cell.
MAX_SEEDS = 1000
#: The most points a log-spaced learning-rate range may have.
MAX_LR_POINTS = 1000

_KEYS = ("batch_sizes", "learning_rates", "seeds", "max_epochs", "target_loss")
_EXAMPLE = ('[sweep]\n      batch_sizes = [1, 8, 64, "full"]\n'
            "      learning_rates = { from = 0.001, to = 1.0, points = 10 }")


@dataclass(frozen=True)
class SweepSpec:
    """``[sweep]``, resolved: the axes of the grid and the training every cell shares.

    ``batch_sizes`` holds integers and ``None`` for the full batch (last), increasing;
    ``learning_rates`` increasing; ``seeds`` the shuffling seeds themselves; ``base`` the
    ``[train]`` settings of every cell (its ``learning_rate`` and ``epochs`` are replaced per
    cell by the sweep's).
    """

    batch_sizes: tuple[int | None, ...]
    learning_rates: tuple[float, ...]
    seeds: tuple[int, ...]
    max_epochs: int
    target_loss: float
    base: TrainSpec

    @property
    def n_cells(self) -> int:
        return len(self.batch_sizes) * len(self.learning_rates) * len(self.seeds)

    def as_dict(self) -> dict[str, Any]:
        """The resolved table as JSON-able values (``"full"`` for the full batch)."""
        return {
            "batch_sizes": ["full" if b is None else b for b in self.batch_sizes],
            "learning_rates": list(self.learning_rates),
            "seeds": list(self.seeds),
            "max_epochs": self.max_epochs,
            "target_loss": self.target_loss,
        }


def _batch_sizes(v: Any) -> tuple[int | None, ...]:
    if not isinstance(v, list) or not v:
        raise _Bad('expected a non-empty list of batch sizes, each "full" or an integer >= 1, increasing')
    check = _BatchSize(MAX_VALUES)
    out = []
    for i, x in enumerate(v):
        try:
            out.append(check(x))
        except _Bad as bad:
            raise _Bad(f'item {i + 1} ({_show(x)}) is not "full" or an integer >= 1' + (f"; {bad.hint}" if bad.hint else "")) from None
    ints = [b for b in out if b is not None]
    if out.count(None) > 1:
        raise _Bad('"full" is listed twice')
    if None in out and out[-1] is not None:
        raise _Bad('"full" is the largest batch: put it last')
    for a, b in zip(ints, ints[1:]):
        if b <= a:
            raise _Bad(f"not increasing ({a} then {b}); list each batch size once, smallest first")
    return tuple(out)


def _log_range(lo: float, hi: float, points: int) -> tuple[float, ...]:
    """``points`` log-spaced values from ``lo`` to ``hi`` (both included), as numpy.geomspace."""
    ratio = math.log(hi / lo)
    values = [lo * math.exp(ratio * i / (points - 1)) for i in range(points)]
    values[0], values[-1] = lo, hi
    return tuple(values)


def _learning_rates(v: Any) -> tuple[float, ...]:
    if isinstance(v, dict):
        unknown = sorted(set(v) - {"from", "to", "points"})
        if unknown:
            raise _Bad(f"unknown key {_show(unknown[0])} in the range; a range has from, to and points")
        missing = [k for k in ("from", "to", "points") if k not in v]
        if missing:
            raise _Bad(f"the range has no {missing[0]}; write {{ from = 0.001, to = 1.0, points = 10 }}")
        lo, hi, points = v["from"], v["to"], v["points"]
        if not (_is_number(lo) and _is_number(hi)) or not (math.isfinite(lo) and math.isfinite(hi)):
            raise _Bad("from and to must be finite numbers")
        if lo <= 0 or hi <= lo:
            raise _Bad(f"expected 0 < from < to, got from = {_show(lo)}, to = {_show(hi)}")
        if not _is_int(points) or not 2 <= points <= MAX_LR_POINTS:
            raise _Bad(f"points must be an integer from 2 to {MAX_LR_POINTS}, got {_show(points)}")
        return _log_range(float(lo), float(hi), int(points))
    if not isinstance(v, list) or not v:
        raise _Bad("expected a non-empty list of numbers > 0, increasing, or { from = ..., to = ..., points = ... }")
    out = []
    for i, x in enumerate(v):
        try:
            out.append(_Float(0.0, lo_open=True)(x))
        except _Bad:
            raise _Bad(f"item {i + 1} ({_show(x)}) is not a finite number > 0") from None
    for a, b in zip(out, out[1:]):
        if b <= a:
            raise _Bad(f"not increasing ({a:g} then {b:g}); list each learning rate once, smallest first")
    return tuple(out)


@dataclass(frozen=True)
class _Custom:
    """A check given as a function, with what it expects (for the schema machinery)."""

    fn: Any
    expected: str

    def __call__(self, v: Any) -> Any:
        return self.fn(v)


_SCHEMA = {
    "batch_sizes": _Custom(_batch_sizes, 'a non-empty list of batch sizes, each "full" or an integer >= 1, increasing'),
    "learning_rates": _Custom(_learning_rates, "a list of numbers > 0, increasing, or { from = ..., to = ..., points = ... }"),
    "seeds": _Int(1, MAX_SEEDS),
    "max_epochs": _Int(1, MAX_EPOCHS),
    "target_loss": _Float(0.0, lo_open=True),
}


def validate_sweep(raw: Mapping[str, Any], data: Mapping[str, Any] | None, top_seed: int,
                   problems: _Problems) -> SweepSpec | None:
    """``[sweep]`` of the document ``raw`` resolved, or None (absent, or its problems added)."""
    from gdviz.scenario.fields import _Key, _schema

    table = _table(raw, "sweep", problems, required=False, example=_EXAMPLE)
    if table is None:
        return None
    given = _check_keys(table, {k: _Key(c) for k, c in _SCHEMA.items()}, "sweep", problems)
    for key in ("batch_sizes", "learning_rates"):
        if key not in table:
            problems.add(f"sweep.{key}", f"missing; expected {_SCHEMA[key].expected}")
    train_table = raw.get("train") if isinstance(raw.get("train"), dict) else {}
    train_schema = _schema(TrainSpec)
    train_given = _check_keys(train_table, train_schema, "train", _Problems())  # reported by the runs' check
    train_given.pop("learning_rate", None)
    lrs = given.get("learning_rates")
    train_given["learning_rate"] = lrs[0] if lrs else 1.0  # each cell has its own
    if "max_epochs" in given:
        train_given["epochs"] = given["max_epochs"]  # before the defaults that follow it (t_max)
    base = _resolve(train_schema, train_given, {}, skip=set(train_table) - set(train_given))
    if any(train_schema[k].default is _REQUIRED and k not in base for k in train_schema):
        return None  # a [train] problem already reported
    for key, neutral, why in (("accumulate", 1, "one optimizer step per batch"),
                              ("batch_schedule", None, "one batch size from start to end")):
        if base.get(key, neutral) not in (neutral, ()):
            problems.add(f"train.{key}", f"not with [sweep]: each cell of a sweep trains {why}; "
                         "remove it from [train] (set it per run instead)")
    target = given.get("target_loss", base.get("target_loss"))
    if target is None and "target_loss" not in table:
        problems.add("sweep.target_loss", "missing; a sweep measures the steps to a target loss: set target_loss "
                     "in [sweep] or [train], e.g. a little above the loss the best cells reach")
    n = data.get("n") if data is not None and data.get("source") != "csv" else None
    batches = given.get("batch_sizes")
    if batches and n is not None:
        too_big = [b for b in batches if b is not None and b > n]
        if too_big:
            problems.add("sweep.batch_sizes", f"got {too_big[0]}, but the data has n = {n} samples; "
                         f'expected "full" or integers from 1 to {n}')
    seeds = given.get("seeds", 1)
    if batches and lrs:
        cells = len(batches) * len(lrs) * seeds
        if cells > MAX_CELLS:
            problems.add("sweep", f"{len(batches)} batch sizes x {len(lrs)} learning rates x {seeds} seeds = "
                         f"{cells:,} cells, expected at most {MAX_CELLS:,}; use fewer points or seeds")
    if not batches or not lrs or target is None or any(p.startswith("sweep") for p in problems.items):
        return None
    return SweepSpec(
        batch_sizes=batches,
        learning_rates=lrs,
        seeds=tuple(top_seed + i for i in range(seeds)),
        max_epochs=int(base["epochs"]),
        target_loss=float(target),
        base=TrainSpec(**{**base, "target_loss": float(target)}),
    )
