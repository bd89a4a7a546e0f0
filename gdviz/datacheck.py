"""Checks on data that NumPy would otherwise take silently, or fail on far from the cause.

- :func:`check_row_lengths`: every CSV row has as many cells as the header (an unquoted
  thousands separator, ``1,234``, makes a row one cell longer and shifts its values);
- :func:`check_range`: every value is small enough that its square, summed over the rows,
  fits the dtype the runs compute in (1e300 would overflow the standard deviation to inf,
  or the loss, and make LAPACK print on stdout);
- :func:`shown`: a user's string cut to a readable length for a message.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gdviz.errors import DataError

_SHOWN = 60


def shown(text: str) -> str:
    """``text`` as JSON, cut to about 60 characters (a 200,000-character header is not a message)."""
    if len(text) > _SHOWN:
        return json.dumps(text[:_SHOWN]) + f"... ({len(text):,} characters)"
    return json.dumps(text)


def _rows(text: str):  # type: ignore[no-untyped-def]
    """(line number, cell count) of each non-blank data row."""
    if '"' not in text:  # no quoting: a line is a row and its commas separate its cells
        for i, line in enumerate(text.splitlines()[1:], start=2):
            if line.strip():
                yield i, line.count(",") + 1
        return
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    next(reader, None)
    for row in reader:
        if row and any(c.strip() for c in row):
            yield reader.line_num, len(row)


def check_row_lengths(path: Path, text: str, header: list[str]) -> None:
    """Every data row has ``len(header)`` cells; the first few that do not are named."""
    want = len(header)
    bad = []
    for line, count in _rows(text):
        if count != want:
            hint = " (an unquoted thousands separator such as 1,234? write 1234)" if count > want else ""
            bad.append(f"line {line}: {count} cells, but the header has {want} columns{hint}")
            if len(bad) >= 4:
                break
    if len(bad) == 1:
        raise DataError(f"{path}, {bad[0]}; every row needs one cell per column")
    if bad:
        raise DataError(f"{path}: rows with the wrong number of cells (the first {len(bad)}): " + "; ".join(bad)
                        + "; every row needs one cell per column")


def largest_allowed(n: int, dtypes: set[str]) -> float:
    """The largest magnitude whose square, summed over ``n`` rows, fits every dtype in ``dtypes``."""
    top = min(float(np.finfo(np.dtype(dt)).max) for dt in dtypes) if dtypes else float(np.finfo(np.float64).max)
    return math.sqrt(top / max(n, 1))


def check_range(values: np.ndarray, names: list[str], dtypes: set[str], where: str, cause: str,
                line_of: Callable[[int], int] | None = None) -> None:
    """Every value of ``values`` (n, k) is within :func:`largest_allowed`.

    ``names`` names the columns; ``cause`` says what to change; ``line_of`` maps a row to its
    line in the file (CSV), for the message.
    """
    n = values.shape[0]
    limit = largest_allowed(n, dtypes)
    with np.errstate(invalid="ignore"):
        too_big = np.abs(values) > limit
    if not too_big.any():
        return
    i, j = (int(k) for k in np.argwhere(too_big)[0])
    at = f", line {line_of(i)}" if line_of is not None else f", row {i + 1}"
    dtype = "float32" if "float32" in dtypes else "float64"
    count = int(too_big.sum())
    raise DataError(
        f"{where}{at}: column {shown(names[j])} has {values[i, j]:.4g}, too large to train on: with n = {n} "
        f"rows, a sum of squares overflows {dtype} above |x| = {limit:.3g} ({count} value{'s' if count > 1 else ''} "
        f"beyond it); {cause}"
    )
