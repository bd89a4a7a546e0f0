"""Seed ensembles: the runs of one ``[[runs]]`` entry with ``seeds = k``, read as one.

A run's path and figures depend on its shuffling seed; one run's "epochs to target" is one
draw. An ensemble trains ``k`` copies shuffled with ``seed, seed + 1, ...`` (each an ordinary
run of the engine: :func:`gdviz.scenario.validate._members`), and reports each figure as its
median with the 10th and 90th percentiles over the seeds. A figure that some seeds never
reached (the target) is reported with how many reached it; its percentiles treat the others
as infinitely late, so a median is shown only when at least half the seeds reached it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdviz.runs import RunSummary


@dataclass(frozen=True)
class Spread:
    """Median and 10-90 % range of one figure over an ensemble's seeds (``inf``: not reached)."""

    median: float
    p10: float
    p90: float
    reached: int
    total: int

    def text(self, fmt: Any = "{:.3g}".format) -> str:
        """``1.7 [1.5–2.0]``; ``not reached`` or ``3.1 [2.0–not reached], 3/5 reached``."""
        def one(x: float) -> str:
            return fmt(x) if math.isfinite(x) else "not reached"

        if self.reached == 0:
            return "not reached"
        out = f"{one(self.median)} [{one(self.p10)}–{one(self.p90)}]"
        return out if self.reached == self.total else f"{out}, {self.reached}/{self.total} reached"

    def as_dict(self) -> dict[str, Any]:
        def f(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"median": f(self.median), "p10": f(self.p10), "p90": f(self.p90), "reached": self.reached,
                "seeds": self.total}


def spread(values: list[float | None]) -> Spread:
    """The :class:`Spread` of per-seed values (None or NaN: not reached, counted as ``inf``)."""
    x = np.array([np.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values])
    reached = int(np.isfinite(x).sum())
    # percentiles on sorted values, inf kept (np.percentile's interpolation would give nan)
    s = np.sort(x)

    def pct(q: float) -> float:
        pos = q * (len(s) - 1)
        lo, hi = int(math.floor(pos)), int(math.ceil(pos))
        if not math.isfinite(s[hi]):
            return math.inf if not math.isfinite(s[lo]) or pos > lo else float(s[lo])
        return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))

    return Spread(pct(0.5), pct(0.1), pct(0.9), reached, len(x))


@dataclass(frozen=True)
class Ensemble:
    """An ensemble's runs (their indices in the engine) and its figures over the seeds."""

    name: str
    runs: list[int]
    note: str
    epochs_to_target: Spread
    updates_to_target: Spread
    final_loss: Spread
    seconds_per_epoch: Spread

    def as_dict(self, summaries: list[RunSummary]) -> dict[str, Any]:
        return {
            "name": self.name,
            "runs": [summaries[i].name for i in self.runs],
            "note": self.note,
            "epochs_to_target": self.epochs_to_target.as_dict(),
            "updates_to_target": self.updates_to_target.as_dict(),
            "final_loss": self.final_loss.as_dict(),
            "seconds_per_epoch": self.seconds_per_epoch.as_dict(),
        }


def ensembles(specs: list[Any], summaries: list[RunSummary]) -> list[Ensemble]:
    """The ensembles among runs with specs ``specs`` (RunSpec, in the engine's order)."""
    groups: dict[str, list[int]] = {}
    notes: dict[str, str] = {}
    for i, spec in enumerate(specs):
        if spec.ensemble is not None:
            groups.setdefault(spec.ensemble, []).append(i)
            notes[spec.ensemble] = spec.ensemble_note
    out = []
    for name, idx in groups.items():
        ss = [summaries[i] for i in idx]
        out.append(Ensemble(
            name=name, runs=idx, note=notes[name],
            epochs_to_target=spread([s.epochs_to_target for s in ss]),
            updates_to_target=spread([s.updates_to_target for s in ss]),
            final_loss=spread([s.final_loss for s in ss]),
            seconds_per_epoch=spread([s.seconds_per_epoch for s in ss]),
        ))
    return out
