"""Batch size during training: the ``batch_schedule`` value and the checks of it and of ``accumulate``.

A batch schedule changes a run's batch size at epoch boundaries, either by a rule or by a list::

    batch_schedule = { kind = "step", factor = 2, every = 5, max = 512 }   # x2 every 5 epochs
    batch_schedule = { kind = "step", factor = 0.5, every = 5, min = 8 }   # /2: annealing down
    batch_schedule = [[0, 256], [10, 64], [20, 16]]                        # (epoch, batch) pairs

:class:`BatchSchedule` holds it as written; :meth:`BatchSchedule.changes` resolves it, for a
run's starting batch, ``n`` rows and its epochs, into the ``(epoch, batch)`` pairs the engine
follows (:class:`gdviz.runfacts.BatchPlan`). :func:`batching_problems` says what is wrong
with a run's schedule and ``accumulate`` once its epochs (and, when known, ``n``) are. No
NumPy, no Numba: the schema reads this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gdviz import runfacts
from gdviz.scenario.fields import _Bad, _is_int, _is_number, _show

#: The keys of a ``kind = "step"`` table, in the order ``gdviz check`` prints them.
STEP_KEYS = ("kind", "factor", "every", "max", "min")


@dataclass(frozen=True)
class BatchSchedule:
    """A run's batch schedule as written: a step rule, or explicit ``(epoch, batch)`` pairs.

    ``kind = "step"``: at epochs ``every``, ``2 every``, ... the batch becomes the starting batch
    times ``factor ** j``, rounded to the nearest integer (halves up) and kept within
    ``[least, most]`` (``min`` and ``max`` in TOML; by default 1 and ``n``). ``kind = "list"``:
    ``points`` are ``(epoch, batch)`` pairs with increasing epochs, ``batch`` None for the full
    batch; a pair at epoch 0 is the starting batch.
    """

    kind: str
    factor: float = 1.0
    every: int = 1
    most: int | None = None
    least: int | None = None
    points: tuple[tuple[int, int | None], ...] = ()

    @property
    def start(self) -> int | None | str:
        """The batch a list gives at epoch 0 (None: the full batch); ``"none"`` when it gives none."""
        if self.kind == "list" and self.points and self.points[0][0] == 0:
            return self.points[0][1]
        return "none"

    def changes(self, start: int | None, n: int, epochs: int) -> tuple[tuple[int, int], ...]:
        """``(epoch, batch)`` pairs from epoch 0: the batch in force from each epoch on.

        ``start`` is the run's ``batch_size`` (None: full); batches are capped at ``n``, changes
        at or after ``epochs`` dropped, and a pair that changes nothing merged into the one
        before. The first pair is always ``(0, starting batch)``.
        """
        b0 = runfacts.effective_batch(start, n)
        pairs: list[tuple[int, int]] = [(0, b0)]
        if self.kind == "step":
            lo = max(1, self.least or 1)
            hi = min(n, self.most if self.most is not None else n)
            j = 1
            while self.every * j < epochs:
                b = math.floor(b0 * self.factor**j + 0.5)
                pairs.append((self.every * j, max(lo, min(hi, b))))
                j += 1
        else:
            for epoch, batch in self.points:
                if epoch < epochs:
                    b = runfacts.effective_batch(batch, n)
                    if epoch == 0:
                        pairs[0] = (0, b)
                    else:
                        pairs.append((epoch, b))
        out = [pairs[0]]
        for epoch, batch in pairs[1:]:
            if batch != out[-1][1]:
                out.append((epoch, batch))
        return tuple(out)

    def as_written(self) -> Any:
        """The schedule as TOML would write it (JSON-able), for ``gdviz check``."""
        if self.kind == "list":
            return [[e, "full" if b is None else b] for e, b in self.points]
        out: dict[str, Any] = {"kind": "step", "factor": self.factor, "every": self.every}
        if self.most is not None:
            out["max"] = self.most
        if self.least is not None:
            out["min"] = self.least
        return out


@dataclass(frozen=True)
class _BatchScheduleCheck:
    """The ``batch_schedule`` check: a step table or a list of ``[epoch, batch]`` pairs.

    An empty list means no schedule (a run's way to drop one set in ``[train]``): None.
    """

    hi: int
    max_epoch: int

    expected: str = ('{ kind = "step", factor = F, every = E } (max or min optional) or a list of [epoch, batch] '
                     'pairs with increasing epochs, each batch "full" or an integer >= 1')

    def _batch(self, v: Any, where: str) -> int | None:
        if isinstance(v, str) and v == "full":
            return None
        if _is_int(v) and 1 <= v <= self.hi:
            return int(v)
        if _is_int(v) and v > self.hi:
            raise _Bad(f"{where}: at most {self.hi}, the most samples a dataset may have")
        raise _Bad(f'{where}: got {_show(v)}, expected "full" or an integer >= 1')

    def _count(self, v: Any, where: str, lo: int, hi: int) -> int:
        if _is_int(v) and lo <= v <= hi:
            return int(v)
        raise _Bad(f"{where}: got {_show(v)}, expected an integer from {lo} to {hi}")

    def __call__(self, v: Any) -> BatchSchedule | None:
        if isinstance(v, dict):
            return self._step(v)
        if not isinstance(v, list):
            raise _Bad()
        if not v:
            return None
        points: list[tuple[int, int | None]] = []
        for i, entry in enumerate(v):
            if not isinstance(entry, list) or len(entry) != 2:
                raise _Bad(f"entry {i} is {_show(entry)}, expected [epoch, batch], e.g. [10, 64]")
            epoch = self._count(entry[0], f"entry {i}'s epoch", 0, self.max_epoch)
            batch = self._batch(entry[1], f"entry {i}'s batch")
            if points and epoch <= points[-1][0]:
                raise _Bad(f"epochs must increase: entry {i} ({_show(entry)}) comes after epoch {points[-1][0]}")
            points.append((epoch, batch))
        return BatchSchedule("list", points=tuple(points))

    def _step(self, v: dict[str, Any]) -> BatchSchedule:
        unknown = [k for k in v if k not in STEP_KEYS]
        if unknown:
            raise _Bad(f"unknown key {_show(unknown[0][:40])} in the table; its keys are {', '.join(STEP_KEYS)}")
        if v.get("kind") != "step":
            raise _Bad(f'kind = {_show(v["kind"])}: the only rule is "step"' if "kind" in v else 'add kind = "step"')
        for key in ("factor", "every"):
            if key not in v:
                raise _Bad(f"{key} is missing")
        factor = v["factor"]
        if not _is_number(factor) or not math.isfinite(factor) or factor <= 0:
            raise _Bad(f"factor: got {_show(factor)}, expected a number > 0 (above 1 grows the batch, "
                       "below 1 anneals it down)")
        every = self._count(v["every"], "every", 1, self.max_epoch)
        most = self._count(v["max"], "max", 1, self.hi) if "max" in v else None
        least = self._count(v["min"], "min", 1, self.hi) if "min" in v else None
        if factor > 1 and least is not None:
            raise _Bad(f"min is for factor < 1 (annealing down); with factor = {_show(factor)} the batch "
                       "only grows: bound it with max")
        if factor < 1 and most is not None:
            raise _Bad(f"max is for factor > 1 (growing); with factor = {_show(factor)} the batch only "
                       "shrinks: bound it with min")
        return BatchSchedule("step", float(factor), every, most, least)


def batching_problems(schedule: BatchSchedule | None, batch_size: int | None, accumulate: int, drop_last: bool,
                      epochs: int, n: int | None) -> list[tuple[str, str]]:
    """``(key, problem)`` for a run's ``batch_schedule`` and ``accumulate`` (``n``: None when unknown).

    A change must fall within the run's epochs; a batch must not exceed ``n``; a step rule's
    bound must not be on the wrong side of the starting batch; and ``accumulate`` must not
    exceed the micro-batches of an epoch at any batch the run trains with (every update
    would then be a short last group, its gradient shrunk by the missing micro-batches).
    """
    out: list[tuple[str, str]] = []
    b0 = batch_size
    if schedule is not None and schedule.kind == "list":
        late = [e for e, _ in schedule.points if e >= epochs]
        if late:
            out.append(("batch_schedule", f"changes the batch at epoch {late[0]}, but the run trains for {epochs} "
                        f"epochs (0 to {epochs - 1}); remove that entry or raise epochs"))
        big = [b for _, b in schedule.points if b is not None and n is not None and b > n]
        if big:
            out.append(("batch_schedule", f'has batch {big[0]}, but the data has n = {n} samples; expected "full" '
                        f"or an integer from 1 to {n}"))
    elif schedule is not None:
        if schedule.every >= epochs:
            out.append(("batch_schedule", f"every = {schedule.every}, but the run trains for {epochs} epochs: "
                        "the batch would never change; lower every or raise epochs"))
        bound, word = (schedule.most, "max") if schedule.factor > 1 else (schedule.least, "min")
        if bound is not None and n is not None and bound > n:
            out.append(("batch_schedule", f'{word} = {bound}, but the data has n = {n} samples; expected at most '
                        f'{n} (leave max out to grow up to the full batch)'))
        elif bound is not None and b0 is not None and (bound < b0 if schedule.factor > 1 else bound > b0):
            out.append(("batch_schedule", f"{word} = {bound} is on the wrong side of the starting batch "
                        f"{b0}: with factor = {schedule.factor:g} the batch "
                        f"{'grows' if schedule.factor > 1 else 'shrinks'} from {b0}"))
    if n is not None and accumulate > 1 and not out:
        pairs = schedule.changes(b0, n, epochs) if schedule is not None else ((0, runfacts.effective_batch(b0, n)),)
        for _, b in pairs:
            micro = runfacts.updates_per_epoch(n, b, drop_last)
            if accumulate > micro:
                at = f"the full batch ({b})" if b >= n else f"batch {b}"
                valid = f"expected 1 to {micro}" if micro > 1 else "expected 1 (no accumulation)"
                out.append(("accumulate", f"got {accumulate}, but at {at} an epoch of n = {n} samples has "
                            f"{micro} micro-batch{'es' if micro > 1 else ''}: every update would be a short "
                            f"group, its gradient divided by {accumulate}; {valid}"))
                break
    return out


def batching_note(index: int, run: Any, n: int) -> str | None:
    """What a run's batch schedule and accumulation do on ``n`` rows, in words (``gdviz check``);
    None for a run with neither. ``run`` is a :class:`gdviz.scenario.RunSpec`."""
    t = run.train
    if t.batch_schedule is None and t.accumulate == 1:
        return None
    plan = runfacts.plan_of(run, n=n, d=1, p=1)
    parts = []
    if plan.scheduled:
        steps = ", ".join(f"{s.facts.batch} from epoch {s.epoch} ({s.facts.updates_per_epoch}"
                          f"{' updates/epoch' if i == 0 else ''})" for i, s in enumerate(plan.segments))
        parts.append(f"batch {steps}: {plan.total_updates} updates in {t.epochs} epochs, each change at the "
                     "start of its epoch")
    if t.accumulate > 1:
        k = t.accumulate
        for s in plan.segments[:1] if not plan.scheduled else plan.segments:
            f = s.facts
            micro = runfacts.updates_per_epoch(n, f.batch, t.drop_last)
            short = micro % k
            last = (f"the epoch's last group holds {short} micro-batch{'es' if short > 1 else ''} and still steps, "
                    f"each of its gradients divided by {k} (as PyTorch's usual loop)" if short else
                    "every group is whole")
            parts.append(f"at batch {f.batch} each update sums {k} micro-batches ({f.update_batch} samples; memory "
                         f"for {f.batch} rows): {f.updates_per_epoch} updates per epoch of {micro} micro-batches; "
                         f"{last}")
    return f"runs[{index}] {_show(run.name)}: " + "; ".join(parts) + "."
