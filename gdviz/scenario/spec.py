"""The schema: the frozen dataclasses a scenario resolves to, with every key declared once.

Each field's metadata (built by :func:`~gdviz.scenario.fields._key`) says its type, range,
default and which choice of ``source``, ``optimizer`` or ``schedule`` it belongs to. The
choices themselves come from :mod:`gdviz.codes`, so the schema never loads the kernels; the
facts of a run (method, updates per epoch) come from :mod:`gdviz.runfacts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdviz import runfacts
from gdviz.codes import ACTIVATIONS, DTYPES, LOSSES, MAX_HIDDEN_LAYERS, MODELS, OPTIMIZERS, SCHEDULES, SOURCES
from gdviz.scenario.batching import BatchSchedule, _BatchScheduleCheck
from gdviz.scenario.fields import (
    _Bool,
    _BatchSize,
    _Choice,
    _Float,
    _FloatList,
    _Int,
    _IntList,
    _Key,
    _key,
    _schema,
    _Str,
    _StrList,
)

HOUSE_FEATURES = ("size_sqft", "bedrooms")
TARGETS = ("auto", "cpu", "cuda")
MAX_VALUES = 50_000_000
#: Every integer key has a range (issue 14): these bound the ones without a natural limit.
MAX_EPOCHS = 100_000
MAX_SEED = 2**32 - 1
#: The most members a seed ensemble may have (each is a run: trained, drawn and tabled).
MAX_ENSEMBLE = 100
#: How ``[data] validation_rows`` picks the held-out rows.
VALIDATION_ROWS = ("random", "last")
#: The largest fraction ``[data] validation`` may hold out.
MAX_VALIDATION = 0.9
#: Rows each side of a validation split must keep.
MIN_SPLIT_ROWS = 2
MAX_ACCUMULATE = 100_000

"""Largest n * d a generated dataset may have (400 MB of float64)."""

_GENERATED = ("houses", "linear", "classes", "random", "moons")
_WITH_D = ("linear", "classes", "random")
_WITH_NOISE = ("houses", "linear", "classes", "moons")


def _default_n(r: Mapping[str, Any]) -> int | None:
    return {"houses": 200, "linear": 1000, "classes": 1000, "random": 1000, "moons": 1000}.get(r.get("source", ""))


def _default_d(r: Mapping[str, Any]) -> int:
    return 10 if r.get("source") == "random" else 2


def _default_noise(r: Mapping[str, Any]) -> float | None:
    # houses: sd of the price noise in dollars; linear: sd of y's noise;
    # classes: spread of each class around its centre (1 = the default overlap);
    # moons: sd of the Gaussian jitter of each point.
    return {"houses": 40_000.0, "linear": 0.5, "classes": 1.0, "moons": 0.2}.get(r.get("source", ""))


def validation_counts(n: int, fraction: float) -> tuple[int, int]:
    """Training and validation rows when ``fraction`` of ``n`` rows is held out.

    As Keras's ``validation_split``: the training rows are ``int(n * (1 - fraction))`` (here
    rounding error aside: 10 rows at 0.8 keep 2, where ``int(10 * 0.19999999999999996)``
    would keep 1), the rest are held out. Both sides need at least :data:`MIN_SPLIT_ROWS`,
    which holds for ``1 / n < fraction <= 1 - 2 / n`` (see :func:`validation_range`).
    """
    n_train = math.floor(n * (1.0 - fraction) + 1e-9)
    return n_train, n - n_train


def validation_range(n: int) -> str:
    """The fractions that leave at least 2 rows on each side of ``n`` rows, for messages."""
    if n < 2 * MIN_SPLIT_ROWS:
        return f"no validation: {n} rows cannot keep {MIN_SPLIT_ROWS} on each side (remove it, or use more rows)"
    top = f"1 - 2/n = {1 - 2 / n:.4g}" if 1 - 2 / n < MAX_VALIDATION else f"{MAX_VALIDATION:g}"
    return f"a fraction above 1/n = {1 / n:.4g} and at most {top}"


def classes_feature_names(d: int) -> tuple[str, ...]:
    """Feature names of the ``classes`` source ("cats vs dogs") for ``d`` features."""
    if d == 1:
        return ("weight_kg",)
    if d == 2:
        return ("weight_kg", "ear_length_cm")
    return tuple(f"x{j + 1}" for j in range(d))


def _default_features(r: Mapping[str, Any]) -> tuple[str, ...] | None:
    src, d = r.get("source"), r.get("d", 2)
    if src == "houses":
        return ("size_sqft",)
    if src in ("linear", "random"):
        return tuple(f"x{j + 1}" for j in range(d))
    if src == "moons":
        return ("x1", "x2")
    if src == "classes":
        return classes_feature_names(d)
    return None


def _default_target(r: Mapping[str, Any]) -> str | None:
    return {"houses": "price", "linear": "y", "classes": "is_dog", "random": "y", "moons": "upper_moon"}.get(
        r.get("source", ""))


@dataclass(frozen=True)
class DataSpec:
    """``[data]``: where the samples come from, resolved (defaults filled in)."""

    source: str = _key(_Choice(SOURCES), doc="houses | linear | classes | random | moons | csv")
    n: int | None = _key(
        _Int(2, 10_000_000), _default_n, applies=("source", _GENERATED), doc="number of samples to generate"
    )
    d: int = _key(_Int(1, 1000), _default_d, applies=("source", _WITH_D), doc="number of features to generate")
    noise: float | None = _key(_Float(0.0), _default_noise, applies=("source", _WITH_NOISE), doc="noise level")
    features: tuple[str, ...] = _key(
        _StrList(),
        _default_features,
        applies=("source", ("houses", "csv")),
        required_when=("source", ("csv",)),
        doc="feature columns, in parameter order",
    )
    target: str = _key(
        _Str(), _default_target, applies=("source", ("csv",)), required_when=("source", ("csv",)), doc="target column"
    )
    path: Path | None = _key(
        _Str(),
        None,
        applies=("source", ("csv",)),
        required_when=("source", ("csv",)),
        doc="CSV file, relative to the scenario file",
    )
    standardize: bool = _key(_Bool(), True, doc="z-score every feature")
    standardize_target: bool = _key(_Bool(), False, doc="z-score the target (regression only)")
    validation: float | None = _key(_Float(0.0, MAX_VALIDATION, lo_open=True), None,
                                    doc="fraction of the rows held out as validation data; none by default")
    validation_rows: str = _key(_Choice(VALIDATION_ROWS), "random",
                                doc='"random" (drawn with the seed) or "last" (as Keras\'s validation_split)')


@dataclass(frozen=True)
class ModelSpec:
    """``[model]``: the model to fit. ``init`` is ``[w_1, ..., w_d, b]`` (b only with an intercept),
    or for an mlp its parameters in PyTorch's order (see :mod:`gdviz.mlp`)."""

    kind: str = _key(_Choice(tuple(MODELS)), "linear", doc="linear (MSE) | logistic (cross-entropy) | mlp")
    fit_intercept: bool = _key(_Bool(), True, applies=("kind", ("linear", "logistic")),
                               doc="learn an intercept b (last parameter)")
    init: tuple[float, ...] = _key(_FloatList(), None, doc="starting parameters [w_1..w_d, b]; zeros by default "
                                   "(mlp: W1, b1, ..., PyTorch's nn.Linear init by default)")
    hidden: tuple[int, ...] = _key(_IntList(_Int(1, 4096), 1, MAX_HIDDEN_LAYERS), (50,), applies=("kind", ("mlp",)),
                                   doc="widths of the hidden layers (one or two)")
    activation: str = _key(_Choice(tuple(ACTIVATIONS)), "relu", applies=("kind", ("mlp",)),
                           doc="relu | tanh | sigmoid (hidden layers)")
    loss: str = _key(_Choice(tuple(LOSSES)), "mse", applies=("kind", ("mlp",)),
                     doc="mse (regression) | bce (0/1 labels; the output is a logit)")
    init_seed: int | None = _key(_Int(0), None, applies=("kind", ("mlp",)),
                                 doc="seed of the initial parameters; the scenario's seed by default")

    @property
    def classifies(self) -> bool:
        """Whether the target must be 0/1 labels (logistic, or an mlp on bce)."""
        return self.kind == "logistic" or (self.kind == "mlp" and self.loss == "bce")


_ADAMS = ("adam", "adamw")


def _default_weight_decay(r: Mapping[str, Any]) -> float:
    return 0.01 if r.get("optimizer") == "adamw" else 0.0  # torch.optim.AdamW's default


def _default_eps(r: Mapping[str, Any]) -> float:
    return 1e-10 if r.get("optimizer") == "adagrad" else 1e-8  # as torch.optim


def _default_gamma(r: Mapping[str, Any]) -> float:
    return {"step": 0.1, "exponential": 0.95}.get(r.get("schedule", ""), 1.0)


@dataclass(frozen=True)
class TrainSpec:
    """``[train]`` merged with one ``[[runs]]`` entry: every hyperparameter of one run, resolved.

    Keys that do not belong to the run's optimizer or schedule hold their torch defaults
    and are unused; :func:`scenario_to_dict` leaves them out.
    """

    epochs: int = _key(_Int(1, MAX_EPOCHS), 20, doc="passes over the data")
    learning_rate: float = _key(_Float(0.0, lo_open=True), doc="base learning rate")
    optimizer: str = _key(_Choice(tuple(OPTIMIZERS)), "sgd", doc="as torch.optim")
    momentum: float = _key(_Float(0.0), 0.0, applies=("optimizer", ("sgd", "rmsprop")))
    dampening: float = _key(_Float(0.0), 0.0, applies=("optimizer", ("sgd",)))
    nesterov: bool = _key(_Bool(), False, applies=("optimizer", ("sgd",)))
    weight_decay: float = _key(_Float(0.0), _default_weight_decay, doc="L2 penalty (adamw: decoupled)")
    betas: tuple[float, float] = _key(
        _FloatList(_Float(0.0, 1.0, hi_open=True), 2), (0.9, 0.999), applies=("optimizer", _ADAMS)
    )
    eps: float = _key(
        _Float(0.0, lo_open=True), _default_eps, applies=("optimizer", ("adam", "adamw", "rmsprop", "adagrad"))
    )
    alpha: float = _key(_Float(0.0, 1.0, hi_open=True), 0.99, applies=("optimizer", ("rmsprop",)))
    centered: bool = _key(_Bool(), False, applies=("optimizer", ("rmsprop",)))
    amsgrad: bool = _key(_Bool(), False, applies=("optimizer", _ADAMS))
    lr_decay: float = _key(_Float(0.0), 0.0, applies=("optimizer", ("adagrad",)))
    initial_accumulator_value: float = _key(_Float(0.0), 0.0, applies=("optimizer", ("adagrad",)))
    schedule: str = _key(_Choice(tuple(SCHEDULES)), "constant", doc="learning-rate schedule, per epoch")
    step_size: int = _key(_Int(1, MAX_EPOCHS), 10, applies=("schedule", ("step",)), doc="epochs between decays")
    gamma: float = _key(
        _Float(0.0, 1.0, lo_open=True), _default_gamma, applies=("schedule", ("step", "exponential"))
    )
    t_max: int = _key(_Int(1, MAX_EPOCHS), lambda r: r.get("epochs", 20), applies=("schedule", ("cosine",)))
    eta_min: float = _key(_Float(0.0), 0.0, applies=("schedule", ("cosine",)))
    shuffle: bool = _key(_Bool(), True, doc="a fresh sample order every epoch")
    drop_last: bool = _key(_Bool(), False, doc="skip the last, smaller batch of an epoch")
    batch_schedule: BatchSchedule | None = _key(
        _BatchScheduleCheck(MAX_VALUES, MAX_EPOCHS), None,
        doc="batch size changes at epoch boundaries: a step rule or [epoch, batch] pairs",
    )
    accumulate: int = _key(_Int(1, MAX_ACCUMULATE), 1,
                           doc="micro-batches whose gradients one optimizer step sums (as PyTorch's loop)")
    target_loss: float | None = _key(_Float(0.0, lo_open=True), None, doc="loss to reach; epochs to it are measured")
    seeds: int = _key(_Int(1, MAX_ENSEMBLE), 1, doc="a seed ensemble: copies of the run shuffled with seeds "
                      "seed, seed + 1, ..., shown as one (median, 10-90% band, spread)")
    dtype: str = _key(_Choice(DTYPES), "float64")
    target: str = _key(_Choice(TARGETS), "auto", doc="where to compute")


@dataclass(frozen=True)
class RunSpec:
    """One ``[[runs]]`` entry, resolved. ``batch_size`` None means the full batch."""

    name: str = _key(_Str(), None, doc="label; derived from the batch size by default")
    batch_size: int | None = _key(_BatchSize(MAX_VALUES), doc='"full" or samples per update')
    seed: int = _key(_Int(0, MAX_SEED), None, doc="sample-order seed; the scenario's seed by default")
    train: TrainSpec = field(default=None)  # type: ignore[assignment]
    #: The seed ensemble this run belongs to (its ``[[runs]]`` entry's name), None for a lone run.
    ensemble: str | None = None
    #: Why an entry with ``seeds > 1`` is one run ("" otherwise): a full batch, or no shuffling.
    ensemble_note: str = ""

    def effective_batch(self, n: int) -> int:
        """Samples per update on ``n`` samples (``"full"`` is ``n``); see :mod:`gdviz.runfacts`."""
        return runfacts.effective_batch(self.batch_size, n)

    def method(self, n: int) -> str:
        """``"full-batch"`` (B >= n), ``"stochastic"`` (B = 1) or ``"mini-batch"``."""
        return runfacts.method_name(self.effective_batch(n), n)

    def updates_per_epoch(self, n: int) -> int:
        """``ceil(n / B)``, or ``floor(n / B)`` with ``drop_last``; over ``accumulate`` (rounded up).
        With a batch schedule: at the starting batch."""
        return runfacts.updates_per_epoch(n, self.effective_batch(n), self.train.drop_last, self.train.accumulate)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: data, model and the runs to train side by side."""

    name: str
    title: str
    description: str
    seed: int
    source_path: Path | None
    data: DataSpec
    model: ModelSpec
    runs: tuple[RunSpec, ...]
    #: ``[sweep]`` resolved (a :class:`gdviz.scenario.sweep.SweepSpec`), None without one.
    sweep: Any = None

    @property
    def label(self) -> str:
        """How messages name this scenario: its file, else its name."""
        return str(self.source_path) if self.source_path is not None else self.name


_TOP_KEYS: dict[str, _Key] = {
    "title": _Key(_Str(), None),
    "description": _Key(_Str(allow="\n\t"), ""),
    "seed": _Key(_Int(0, MAX_SEED), 0),
    "data": _Key(_Str()),  # tables: checked by hand
    "model": _Key(_Str(), None),
    "train": _Key(_Str(), None),
    "runs": _Key(_Str()),
    "sweep": _Key(_Str(), None),  # a table: checked by gdviz.scenario.sweep
}
_SECTIONS = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec}
_RUN_KEYS = {**_schema(RunSpec), **_schema(TrainSpec)}
