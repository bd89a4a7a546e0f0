"""What a sweep measured, and what it implies: best learning rates, the McCandlish fit, B_simple.

A cell is one run (batch size ``B``, learning rate, shuffling seed) trained until its
full-dataset loss reaches the target, it diverges, or ``max_epochs`` pass. From the cells:

- the **best learning rate** of each batch size: the one with the fewest steps to the target,
  median over seeds (a seed that did not reach it counts as infinitely many steps);
- **steps** ``S(B)`` and **examples** ``E(B) = S(B)·B`` to the target at that learning rate;
- the **McCandlish fit** (*An Empirical Model of Large-Batch Training*, 2018):
  ``(S/S_min - 1)(E/E_min - 1) = 1``, which with ``E = S·B`` is ``S(B) = S_min + E_min/B``:
  linear in ``(S_min, E_min)`` with regressor ``1/B``, fitted here by least squares on the
  *relative* error (each point weighted by ``1/S``, so that 10 000 steps and 10 steps count
  alike), both coefficients constrained to be >= 0. The **critical batch size** is
  ``B_crit = E_min / S_min``: below it doubling the batch nearly halves the steps, above it
  it mostly doubles the examples;
- the **gradient noise scale** ``B_simple = tr(Sigma) / |G|^2`` (``Sigma`` the per-example
  gradient covariance, ``G`` the full gradient) at the point where each best cell first
  reached the target; McCandlish et al. show it predicts ``B_crit``.

Everything here is NumPy on the cells' figures; nothing trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: What a cell ended as.
REACHED, NOT_REACHED, DIVERGED = "reached", "not reached", "diverged"


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: where it sits (``b_index``, ``lr_index``, ``seed_index``) and its settings.

    ``batch_size`` is what the scenario wrote (``None`` for the full batch); ``batch`` the
    samples per update (``n`` for the full batch).
    """

    index: int
    b_index: int
    lr_index: int
    seed_index: int
    batch_size: int | None
    batch: int
    learning_rate: float
    seed: int
    updates_per_epoch: int


@dataclass(frozen=True)
class CellResult:
    """What one cell measured. ``steps_to_target`` is the first recorded step whose full loss
    is at or below the target (recorded at least every 1/32 of the steps so far: an upper
    bound within 3 %); ``steps`` where the cell ended (at the target, at its divergence, or
    after ``max_epochs``); ``final_loss`` the full loss there (NaN once diverged)."""

    cell: Cell
    status: str
    steps_to_target: int | None
    final_loss: float
    steps: int
    seconds: float
    #: Parameters where the target was first reached (float64[p]), for B_simple; None otherwise.
    params_at_target: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: The seed whose run this cell shares (a full batch, or no shuffling: the order, hence
    #: the run, cannot depend on the seed, so it was trained once); None if trained itself.
    same_as_seed: int | None = None

    @property
    def epochs_to_target(self) -> float | None:
        s = self.steps_to_target
        return None if s is None else s / self.cell.updates_per_epoch

    @property
    def examples_to_target(self) -> int | None:
        s = self.steps_to_target
        return None if s is None else s * self.cell.batch

    @property
    def diverged(self) -> bool:
        return self.status == DIVERGED

    def as_dict(self) -> dict[str, Any]:
        c = self.cell
        return {
            "batch_size": c.batch,
            "learning_rate": c.learning_rate,
            "seed": c.seed,
            "status": self.status,
            "steps_to_target": self.steps_to_target,
            "epochs_to_target": self.epochs_to_target,
            "examples_to_target": self.examples_to_target,
            "final_loss": _finite(self.final_loss),
            "diverged": self.diverged,
            "steps": self.steps,
            "seconds": self.seconds,
            "same_as_seed": self.same_as_seed,
        }


@dataclass(frozen=True)
class Best:
    """The best learning rate of one batch size and its steps and examples to the target."""

    batch_size: int | None
    batch: int
    learning_rate: float
    steps_to_target: float  # median over seeds
    examples_to_target: float
    b_simple: float | None  # at the first point where the median seed's cell reached the target

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch,
            "learning_rate": self.learning_rate,
            "steps_to_target": self.steps_to_target,
            "examples_to_target": self.examples_to_target,
            "b_simple_at_target": _finite(self.b_simple),
        }


@dataclass(frozen=True)
class Fit:
    """``S(B) = S_min + E_min / B`` fitted to the best cells; ``b_crit = E_min / S_min``."""

    s_min: float
    e_min: float
    b_crit: float | None
    points: int
    #: Why ``b_crit`` is undefined, or how far it is from what was measured ("" when fine).
    note: str = ""

    def predict_steps(self, B: np.ndarray) -> np.ndarray:
        return self.s_min + self.e_min / np.asarray(B, dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        return {"s_min": self.s_min, "e_min": self.e_min, "b_crit": self.b_crit, "points": self.points,
                "note": self.note}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def median_steps(results: list[CellResult], shape: tuple[int, int, int]) -> np.ndarray:
    """Steps to target per (batch size, learning rate): the median over seeds, ``inf`` where
    the median seed did not reach it (not reached or diverged), ``nan`` where no seed has run yet."""
    steps = np.full(shape, np.nan)
    for r in results:
        c = r.cell
        steps[c.b_index, c.lr_index, c.seed_index] = r.steps_to_target if r.steps_to_target is not None else np.inf
    out = np.full(shape[:2], np.nan)
    done = ~np.isnan(steps)
    for i in range(shape[0]):
        for j in range(shape[1]):
            vals = steps[i, j][done[i, j]]
            if len(vals):
                out[i, j] = float(np.median(vals)) if not np.all(np.isinf(vals)) else np.inf
    return out


def best_per_batch(med: np.ndarray, batches: list[int], batch_sizes: list[int | None],
                   learning_rates: list[float]) -> list[tuple[int, int, float]]:
    """``(b_index, lr_index, steps)`` of each batch size's fewest median steps (finite only;
    ties go to the smaller learning rate)."""
    out = []
    for i in range(len(batches)):
        row = med[i]
        finite = np.isfinite(row)
        if not finite.any():
            continue
        j = int(np.flatnonzero(finite)[np.argmin(row[finite])])
        out.append((i, j, float(row[j])))
    return out


def fit_mccandlish(batches: np.ndarray, steps: np.ndarray) -> Fit | None:
    """Fit ``S = S_min + E_min / B`` (``S_min, E_min >= 0``) to points ``(B_i, S_i)`` by least
    squares on ``(S_i - S(B_i)) / S_i``; None with fewer than two distinct batch sizes."""
    B = np.asarray(batches, dtype=np.float64)
    S = np.asarray(steps, dtype=np.float64)
    keep = np.isfinite(S) & (S > 0)
    B, S = B[keep], S[keep]
    if len(np.unique(B)) < 2:
        return None
    A = np.stack([1.0 / S, 1.0 / (B * S)], axis=1)  # rows: [1, 1/B] / S
    target = np.ones(len(S))

    def cost(c: np.ndarray) -> float:
        return float(np.sum((A @ c - target) ** 2))

    candidates = []
    c, *_ = np.linalg.lstsq(A, target, rcond=None)
    if np.all(c >= 0):
        candidates.append(c)
    for k in (0, 1):  # one coefficient at zero: the other has a closed form (>= 0 here)
        col = A[:, k]
        v = max(float(col @ target / (col @ col)), 0.0)
        candidates.append(np.array([v, 0.0]) if k == 0 else np.array([0.0, v]))
    s_min, e_min = (float(x) for x in min(candidates, key=cost))
    if s_min > 0 and e_min > 0:
        return Fit(s_min, e_min, e_min / s_min, len(S))
    if e_min == 0:
        note = "steps do not fall with the batch size over this range: B_crit is below the smallest batch"
    else:
        note = "steps halve with every doubling over the whole range: B_crit is above the largest batch"
    return Fit(s_min, e_min, None, len(S), note)


@dataclass
class SweepResult:
    """Every cell's figures (so far), and the best cells, fit and B_simple derived from them."""

    scenario: str
    sweep: dict[str, Any]
    n: int
    shape: tuple[int, int, int]  # batch sizes, learning rates, seeds
    batches: list[int]
    cells: list[CellResult]
    best: list[Best]
    fit: Fit | None
    b_simple_at_target: float | None
    seconds: float
    total_cells: int
    note: str = ""

    @property
    def median_steps(self) -> np.ndarray:
        return median_steps(self.cells, self.shape)

    #: Updates the kernels did (cells that share a run counted once; a round may take a
    #: cell past its target, and those updates are counted too).
    updates: int = 0

    @property
    def cells_per_second(self) -> float:
        return len(self.cells) / self.seconds if self.seconds > 0 else math.nan

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``gdviz sweep --json`` (null where undefined)."""
        cells = sorted(self.cells, key=lambda r: r.cell.index)
        return {
            "scenario": self.scenario,
            "sweep": self.sweep,
            "n": self.n,
            "cells": [r.as_dict() for r in cells],
            "best": [b.as_dict() for b in self.best],
            "fit": self.fit.as_dict() if self.fit is not None else None,
            "b_crit": self.fit.b_crit if self.fit is not None else None,
            "b_simple_at_target": _finite(self.b_simple_at_target),
            "note": self.note,
            "seconds": self.seconds,
            "updates": self.updates,
            "cells_done": len(self.cells),
            "cells_total": self.total_cells,
        }


def summarize_cells(*, scenario: str, sweep: dict[str, Any], n: int, shape: tuple[int, int, int],
                    batches: list[int], batch_sizes: list[int | None], learning_rates: list[float],
                    results: list[CellResult], b_simple: Any, seconds: float, total_cells: int,
                    updates: int = 0) -> SweepResult:
    """A :class:`SweepResult` from the cells so far. ``b_simple(params[k, p]) -> float[k]`` gives
    the noise scale at parameter points (the model's per-example gradient statistics)."""
    med = median_steps(results, shape)
    best_idx = best_per_batch(med, batches, batch_sizes, learning_rates)
    # The cell whose steps are the median (the lower median for an even count), for B_simple;
    # in cell order, so that of seeds tied at the median the same one is taken whatever the
    # order the cells ended in (rounds in-process, tasks on a cluster).
    by_pos: dict[tuple[int, int], list[CellResult]] = {}
    for r in sorted(results, key=lambda r: r.cell.index):
        by_pos.setdefault((r.cell.b_index, r.cell.lr_index), []).append(r)
    reps: list[CellResult | None] = []
    for i, j, s in best_idx:
        reached = sorted((r for r in by_pos[(i, j)] if r.steps_to_target is not None),
                         key=lambda r: r.steps_to_target)  # type: ignore[arg-type,return-value]
        reps.append(min(reached, key=lambda r: abs(r.steps_to_target - s)) if reached else None)  # type: ignore[operator]
    thetas = [r.params_at_target for r in reps if r is not None and r.params_at_target is not None]
    values = list(b_simple(np.stack(thetas))) if thetas else []
    best = []
    for (i, j, s), rep in zip(best_idx, reps, strict=True):
        bs = values.pop(0) if rep is not None and rep.params_at_target is not None else None
        best.append(Best(batch_sizes[i], batches[i], learning_rates[j], s, s * batches[i],
                         float(bs) if bs is not None else None))
    fit = fit_mccandlish(np.array([b.batch for b in best]), np.array([b.steps_to_target for b in best]))
    finite_bs = [b.b_simple for b in best if b.b_simple is not None and math.isfinite(b.b_simple)]
    b_simple_at = float(np.median(finite_bs)) if finite_bs else None
    note = ""
    if results and not best:
        note = "B_crit undefined: no cell reached the target (the final losses are shown instead)"
    elif best and fit is None:
        note = "B_crit undefined: the target was reached at only one batch size"
    elif fit is not None and fit.b_crit is None:
        note = f"B_crit undefined: {fit.note}"
    return SweepResult(scenario, sweep, n, shape, batches, results, best, fit, b_simple_at, seconds,
                       total_cells, note, updates)


def result_of(sweep: Any) -> SweepResult:
    """The :class:`SweepResult` of a sweep's cells so far, from a :class:`~gdviz.sweep.runner.SweepRunner`
    or a :class:`~gdviz.sweep.dask.DaskSweep` (their ``scenario``, ``spec``, ``n``, ``shape``,
    ``batches``, ``results``, ``engine``, ``seconds``, ``cells`` and ``updates``)."""
    s = sweep.spec
    return summarize_cells(
        scenario=sweep.scenario.name, sweep=s.as_dict(), n=sweep.n, shape=sweep.shape, batches=sweep.batches,
        batch_sizes=list(s.batch_sizes), learning_rates=list(s.learning_rates), results=list(sweep.results),
        b_simple=sweep.engine.b_simple, seconds=sweep.seconds, total_cells=len(sweep.cells), updates=sweep.updates,
    )  # fmt: skip
