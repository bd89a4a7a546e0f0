"""Datasets: the generated ones (houses, linear, classes) and CSV files, standardized on request.

:func:`build_dataset` turns a validated :class:`~gdviz.scenario.Scenario` into a
:class:`Dataset`. Generated data is a pure function of ``scenario.seed``. A CSV is read with
NumPy's fast parser; when that fails, or finds NaN or inf, a plain :mod:`csv` pass finds the
exact line and column for the message.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdviz.datacheck import check_range, check_row_lengths, shown
from gdviz.errors import DataError
from gdviz.safeio import MAX_CSV_BYTES, Refused, read_regular
from gdviz.generators import generate_classes, generate_houses, generate_linear, generate_moons, generate_random
from gdviz.heldout import split_rows
from gdviz.scenario import HOUSE_FEATURES, Scenario, check_against_data, check_validation_split

__all__ = ["Dataset", "build_dataset", "generate_houses", "generate_linear", "generate_classes", "read_csv"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples ready for the kernels.

    Attributes
    ----------
    X : ndarray, float64, shape (n, d), C-contiguous
        Features, z-scored when ``x_mean``/``x_scale`` are set.
    y : ndarray, float64, shape (n,)
        Target, z-scored when ``y_mean``/``y_scale`` are set; 0.0/1.0 labels for classification.
    feature_names : tuple of str, length d
        In parameter order: ``params = [w_1, ..., w_d, b]``.
    target_name : str
    task : {"regression", "classification"}
    x_mean, x_scale : ndarray, float64, shape (d,), or None
        The mean and standard deviation (ddof=0) removed from each raw feature.
    y_mean, y_scale : float or None
        The same for the target (regression with ``standardize_target`` only).
    source : str
        One line saying where the data came from, for headers and reports.
    true_params : ndarray, shape (d + 1,), or None
        The generating ``[w..., b]`` in original units, where there is one (source "linear").
    X_val, y_val : ndarray or None
        The held-out rows (``[data] validation``), standardized with the training rows'
        statistics; None when nothing is held out. ``X`` and ``y`` are then the training rows.
    train_rows, val_rows : ndarray, int64, or None
        Which rows of the data (in file or generation order) each set holds.
    validation_rows : str
        How the held-out rows were picked (``"random"`` or ``"last"``), "" when none are.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    task: str
    x_mean: np.ndarray | None
    x_scale: np.ndarray | None
    y_mean: float | None
    y_scale: float | None
    source: str
    true_params: np.ndarray | None = field(default=None)
    X_val: np.ndarray | None = field(default=None)
    y_val: np.ndarray | None = field(default=None)
    train_rows: np.ndarray | None = field(default=None)
    val_rows: np.ndarray | None = field(default=None)
    validation_rows: str = ""

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_val(self) -> int:
        """Held-out rows (0 when none)."""
        return 0 if self.X_val is None else int(self.X_val.shape[0])

    def to_original_units(self, params: np.ndarray, fit_intercept: bool | None = None) -> np.ndarray:
        """Express parameters fitted on the standardized data for the raw features and target.

        A model ``y_s = sum_j w_j (x_j - mu_j) / s_j + b`` with ``y = mu_y + s_y y_s`` is, in
        original units, ``w'_j = w_j s_y / s_j`` and
        ``b' = mu_y + s_y (b - sum_j w_j mu_j / s_j)``.

        Parameters
        ----------
        params : array_like, shape (..., d + 1) or (..., d)
            ``[w_1, ..., w_d, b]``, or ``[w_1, ..., w_d]`` for a model without intercept;
            leading axes (e.g. a history of parameters) are kept.
        fit_intercept : bool, optional
            Whether the last entry is ``b``; by default inferred from the length.

        Returns
        -------
        ndarray, float64, shape (..., d + 1)
            Always ``[w'_1, ..., w'_d, b']``: a model without an intercept on centred data has
            one in original units (``b' = 0`` when nothing was standardized). Non-finite
            inputs stay non-finite.
        """
        p = np.asarray(params, dtype=np.float64)
        d = self.d
        if fit_intercept is None:
            if p.shape[-1] not in (d, d + 1):
                raise ValueError(f"params has {p.shape[-1]} entries, expected d = {d} or d + 1 = {d + 1}")
            fit_intercept = p.shape[-1] == d + 1
        expected = d + int(fit_intercept)
        if p.shape[-1] != expected:
            raise ValueError(f"params has {p.shape[-1]} entries, expected {expected}")
        w = p[..., :d]
        b = p[..., d] if fit_intercept else np.zeros(p.shape[:-1])
        mu = self.x_mean if self.x_mean is not None else np.zeros(d)
        s = self.x_scale if self.x_scale is not None else np.ones(d)
        mu_y = self.y_mean if self.y_mean is not None else 0.0
        s_y = self.y_scale if self.y_scale is not None else 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            w_orig = w * (s_y / s)
            b_orig = mu_y + s_y * (b - np.sum(w * (mu / s), axis=-1))
        return np.concatenate([w_orig, np.asarray(b_orig)[..., None]], axis=-1)


# =========================================================================================
# CSV
# =========================================================================================


def _decode(path: Path, label: str) -> str:
    try:
        raw = read_regular(path, MAX_CSV_BYTES, "CSV file")
    except Refused as err:
        raise DataError(f"{path}: {err.problem} (data.path in {label})") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (data.path in {label}, relative to the scenario's folder)") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a CSV file (data.path in {label})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read: {err.strerror or err} (data.path in {label})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8 CSV"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_index(path: Path, header: list[str], wanted: list[str], key_of: dict[str, str]) -> list[int]:
    """Index of each wanted column in the header; every missing one reported at once."""
    problems = []
    index = []
    for name in wanted:
        hits = [j for j, h in enumerate(header) if h == name]
        if len(hits) == 1:
            index.append(hits[0])
            continue
        if len(hits) > 1:
            cols = ", ".join(str(j + 1) for j in hits)
            problems.append(f"column {shown(name)} ({key_of[name]}) appears {len(hits)} times (columns {cols})")
            continue
        near = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
        if not near:
            near = [h for h in header if h.lower() == name.lower()]
        hint = f"; did you mean {shown(near[0])}?" if near else ""
        problems.append(f"no column named {shown(name)} ({key_of[name]}){hint}")
    if problems:
        columns = ", ".join(shown(h) for h in header[:30]) + (f", ... ({len(header)} in all)" if len(header) > 30 else "")
        raise DataError(f"{path}, line 1: {'; '.join(problems)}; the header has columns {columns}")
    return index


def _slow_parse(path: Path, text: str, header: list[str], index: list[int]) -> np.ndarray:
    """The plain-Python pass, used when NumPy's parser refuses the file or finds NaN/inf.

    Blank lines are skipped; the first few bad cells are named by line and column.
    """
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    next(reader)
    bad: list[str] = []
    rows: list[list[float]] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        line = reader.line_num
        if len(row) <= max(index):
            bad.append(f"line {line}: {len(row)} cells, but the header has {len(header)} columns")
            continue
        values = []
        for j in index:
            cell = row[j].strip()
            where = f"line {line}, column {j + 1} ({header[j]})"
            if not cell:
                bad.append(f"{where}: empty cell; every row needs a number here (fill it in or drop the row)")
            elif not _is_number(cell):
                bad.append(f"{where}: {shown(cell)} is not a number")
            elif not np.isfinite(float(cell)):
                bad.append(f"{where}: {cell if len(cell) <= 60 else shown(cell)} is not allowed; NaN and infinite values must be removed or filled in")
            else:
                values.append(float(cell))
        if len(bad) >= 4:
            break
        if not bad:
            rows.append(values)
    if len(bad) == 1:
        raise DataError(f"{path}, {bad[0]}")
    if bad:
        more = " (stopped after 4)" if len(bad) >= 4 else ""
        raise DataError(f"{path}: {len(bad)} bad cells{more}: " + "; ".join(bad))
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(index))


def _data_lines(text: str) -> list[int]:
    """Line number of each non-blank data row (for messages about a row found by NumPy)."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    next(reader)
    return [reader.line_num for row in reader if row and any(c.strip() for c in row)]


def read_csv(path: Path, features: list[str], target: str, *, label: str = "") -> tuple[np.ndarray, np.ndarray, str]:
    """Read the feature and target columns of a CSV with a header line.

    Returns
    -------
    X : ndarray, float64, shape (n, d)
    y : ndarray, float64, shape (n,)
    text : str
        The decoded file (for messages that need line numbers afterwards).

    Raises
    ------
    DataError
        Missing or unreadable file, not UTF-8, empty, no header, missing column (with the
        available ones and the nearest name), a cell that is empty, not a number, NaN or
        infinite (line and column named), or fewer than 2 rows.
    """
    text = _decode(path, label)
    # A cell may be as long as the file (the default limit, 131,072 characters, raises _csv.Error).
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header line naming the columns, then rows of numbers")
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [h.strip() for h in next(reader)]
    if header and all(_is_number(h) for h in header if h):
        raise DataError(
            f"{path}, line 1: looks like data, not a header; the first line must name the columns "
            f"(e.g. {','.join([*features, target])})"
        )
    key_of = {name: "data.features" for name in features}
    key_of[target] = "data.target"
    index = _column_index(path, header, [*features, target], key_of)
    check_row_lengths(path, text, header)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            table = np.loadtxt(
                io.StringIO(text, newline=""),
                delimiter=",",
                skiprows=1,
                usecols=index,
                ndmin=2,
                dtype=np.float64,
                comments=None,
                quotechar='"',
            )
    except ValueError:
        table = _slow_parse(path, text, header, index)
    if not np.isfinite(table).all():
        table = _slow_parse(path, text, header, index)
    if table.shape[0] < 2:
        rows = "no data rows" if table.shape[0] == 0 else "only 1 data row"
        raise DataError(f"{path}: {rows} after the header; expected at least 2")
    X = np.ascontiguousarray(table[:, :-1])
    y = np.ascontiguousarray(table[:, -1])
    return X, y, text


# =========================================================================================
# build_dataset
# =========================================================================================


def _standardize(values: np.ndarray, names: list[str], where: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    for j, name in enumerate(names):
        spread = np.max(np.abs(values[:, j] - mean[j])) if values.shape[0] else 0.0
        if not scale[j] > 0 or spread <= 1e-12 * max(abs(mean[j]), 1.0):
            raise DataError(
                f"{where}: column {json.dumps(name)} is constant (every row is {values[0, j]:g}); a column with "
                f"zero variance cannot be standardized: drop it from data.features or set {key} = false"
            )
    return mean, scale


def _classifier(scenario: Scenario) -> str:
    return 'model.kind = "logistic"' if scenario.model.kind == "logistic" else 'model.loss = "bce"'


def build_dataset(scenario: Scenario) -> Dataset:
    """Build (or read) the scenario's data, hold out validation rows and standardize as asked.

    Deterministic: the same scenario and seed give the same arrays (and split), bit for bit.

    Raises
    ------
    DataError
        The CSV cannot be used (see :func:`read_csv`), a logistic target that is not 0/1, or
        a constant column that should be standardized.
    ScenarioError
        A batch size larger than the number of training rows, or ``model.init`` of the wrong
        length (from :func:`gdviz.scenario.check_against_data`); a ``validation`` fraction
        that leaves fewer than 2 rows on either side.
    """
    spec = scenario.data
    label = scenario.label
    features = list(spec.features)
    true_params = None
    task = "classification" if scenario.model.classifies else "regression"
    where = label
    if spec.source == "houses":
        assert spec.n is not None and spec.noise is not None
        cols, price = generate_houses(spec.n, spec.noise, scenario.seed)
        X = np.column_stack([cols[f] for f in features])
        y = price
        description = (
            f"houses: {spec.n} synthetic sales, price = 50,000 + 150*size_sqft + 10,000*bedrooms "
            f"+ noise (sd ${spec.noise:,.0f}); features {', '.join(features)}"
        )
        assert set(features) <= set(HOUSE_FEATURES)
    elif spec.source == "linear":
        assert spec.n is not None and spec.noise is not None
        X, y, true_params = generate_linear(spec.n, spec.d, spec.noise, scenario.seed)
        description = f"linear: {spec.n} samples of y = X w + b + noise (sd {spec.noise:g}), d = {spec.d}"
    elif spec.source == "classes":
        assert spec.n is not None and spec.noise is not None
        X, y = generate_classes(spec.n, spec.d, spec.noise, scenario.seed)
        kind = "cats (0) vs dogs (1)" if spec.d <= 2 else "two Gaussian blobs (0/1)"
        description = f"classes: {spec.n} samples, {kind}, d = {spec.d}, spread {spec.noise:g}"
    elif spec.source == "random":
        assert spec.n is not None
        X, y = generate_random(spec.n, spec.d, scenario.seed)
        description = f"random: {spec.n} samples, X ~ N(0, 1) with d = {spec.d} and y ~ N(0, 1), independent"
    elif spec.source == "moons":
        assert spec.n is not None and spec.noise is not None
        X, y = generate_moons(spec.n, spec.noise, scenario.seed)
        description = f"moons: {spec.n} samples on two interleaving half circles (0/1), jitter sd {spec.noise:g}"
    else:
        assert spec.path is not None
        X, y, text = read_csv(spec.path, features, spec.target, label=label)
        where = str(spec.path)
        description = f"csv: {spec.path.name}, {X.shape[0]} rows, features {', '.join(features)}, target {spec.target}"
        if task == "classification":
            bad = np.flatnonzero((y != 0.0) & (y != 1.0))
            if bad.size:
                line = _data_lines(text)[bad[0]]
                raise DataError(
                    f"{spec.path}, line {line}: target {json.dumps(spec.target)} is {y[bad[0]]:g}, but "
                    f"{_classifier(scenario)} needs labels 0 or 1 ({bad.size} rows are neither)"
                )
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # Before standardizing or training: a value whose square overflows would give inf or a
    # LAPACK error far from the cause.
    dtypes = {run.train.dtype for run in scenario.runs}
    if spec.source == "csv":
        cause = f"rescale that column in the file (divide it by a power of ten); data.path in {label}"
        line_of = lambda i: _data_lines(text)[i]  # noqa: E731
    else:
        cause = (f"lower data.noise ({spec.noise:g}) in {label}" if spec.noise is not None
                 else f"the generated data of {label}")
        line_of = None
    check_range(np.column_stack([X, y]), [*features, spec.target or "target"], dtypes, where, cause, line_of)

    n_rows = X.shape[0]
    X_val = y_val = train_rows = val_rows = None
    if spec.validation is not None:
        check_validation_split(scenario, n_rows)
        train_rows, val_rows = split_rows(n_rows, spec.validation, spec.validation_rows, scenario.seed)
        X, X_val, y, y_val = X[train_rows], X[val_rows], y[train_rows], y[val_rows]
        description += f"; {len(val_rows)} of {n_rows} rows held out for validation ({spec.validation_rows})"

    # The statistics come from the training rows only: the held-out rows stay unseen.
    x_mean = x_scale = None
    if spec.standardize:
        x_mean, x_scale = _standardize(X, features, where, "data.standardize")
        X = (X - x_mean) / x_scale
        X_val = None if X_val is None else (X_val - x_mean) / x_scale
    y_mean = y_scale = None
    if spec.standardize_target and task == "regression":
        m, s = _standardize(y[:, None], [spec.target], where, "data.standardize_target")
        y_mean, y_scale = float(m[0]), float(s[0])
        y = (y - y_mean) / y_scale
        y_val = None if y_val is None else (y_val - y_mean) / y_scale

    dataset = Dataset(
        X=np.ascontiguousarray(X, dtype=np.float64),
        y=np.ascontiguousarray(y, dtype=np.float64),
        feature_names=tuple(features),
        target_name=spec.target,
        task=task,
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
        source=description,
        true_params=true_params,
        X_val=None if X_val is None else np.ascontiguousarray(X_val, dtype=np.float64),
        y_val=None if y_val is None else np.ascontiguousarray(y_val, dtype=np.float64),
        train_rows=train_rows,
        val_rows=val_rows,
        validation_rows=spec.validation_rows if val_rows is not None else "",
    )
    check_against_data(scenario, dataset.n, dataset.d, n_rows)
    return dataset
