"""The validation split's checks: ``[data] validation`` must leave 2 rows on each side.

For a generated source the rows are known while the file is validated; for a CSV only once
it is read (:func:`check_validation_split`, called by :func:`gdviz.data.build_dataset`).
Batch-size messages say how many rows the runs train on when some are held out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gdviz.scenario.fields import _show
from gdviz.scenario.problems import _Problems, _raise
from gdviz.scenario.spec import MIN_SPLIT_ROWS, Scenario, validation_counts, validation_range


def _split_problem(n: int, fraction: float, problems: _Problems) -> None:
    """``data.validation`` that leaves fewer than 2 of ``n`` rows on either side."""
    n_train, n_val = validation_counts(n, fraction)
    if min(n_train, n_val) < MIN_SPLIT_ROWS:
        problems.add("data.validation", f"got {_show(fraction)}, which leaves {n_train} training and {n_val} "
                     f"validation rows of n = {n}; each side needs at least {MIN_SPLIT_ROWS}: expected "
                     f"{validation_range(n)}")


def _training_rows(data: Mapping[str, Any] | None) -> tuple[int | None, str]:
    """Rows the runs train on (None when not known before the data is read), and how to say it."""
    if data is None or data.get("source") == "csv" or data.get("n") is None:
        return None, ""
    return _rows_and_words(data["n"], data.get("validation"))


def _rows_and_words(n: int, fraction: float | None) -> tuple[int, str]:
    if fraction is None:
        return n, f"the data has n = {n} samples"
    n_train, n_val = validation_counts(n, fraction)
    return n_train, f"the runs train on {n_train} rows ({n} less {n_val} held out by data.validation)"


def check_validation_split(scenario: Scenario, n: int) -> None:
    """Check that ``[data] validation`` leaves at least 2 of the ``n`` loaded rows on each side.

    Raises
    ------
    ScenarioError
        Naming ``data.validation``, the rows each side would keep and the valid fractions.
    """
    problems = _Problems()
    if scenario.data.validation is not None:
        _split_problem(n, scenario.data.validation, problems)
    if problems.items:
        _raise(scenario.label, problems.items)
