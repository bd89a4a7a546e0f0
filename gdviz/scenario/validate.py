"""The validator: a dict from :mod:`tomllib` in, resolved sections and every problem out.

:func:`_validate` walks the document section by section (``[data]``, ``[model]``, ``[train]``
and each ``[[runs]]``) against the schema in :mod:`gdviz.scenario.spec`, checks what ties the
sections together (logistic needs 0/1 labels, ``init`` has d + b numbers, run names are
unique, ...) and :func:`_build` turns the result into a :class:`~gdviz.scenario.spec.Scenario`.
:func:`check_against_data` checks what can only be known once the data is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gdviz.codes import mlp_n_params
from gdviz.scenario.batching import batching_problems
from gdviz.scenario.fields import _Bad, _one_of, _quoted, _schema, _show
from gdviz.scenario.problems import (
    _applies,
    _check_keys,
    _not_for,
    _Problems,
    _raise,
    _resolve,
    _table,
    _unknown_key,
)
from gdviz.scenario.sweep import validate_sweep
from gdviz.scenario.spec import (
    _RUN_KEYS,
    _TOP_KEYS,
    _GENERATED,
    HOUSE_FEATURES,
    MAX_VALUES,
    SOURCES,
    DataSpec,
    ModelSpec,
    RunSpec,
    Scenario,
    TrainSpec,
)
from gdviz.scenario.split import _rows_and_words, _split_problem, _training_rows


def _validate_data(raw: Mapping[str, Any], base_dir: Path, problems: _Problems) -> dict[str, Any] | None:
    table = _table(raw, "data", problems, required=True, example='[data]\n      source = "houses"')
    if table is None:
        return None
    schema = _schema(DataSpec)
    given = _check_keys(table, schema, "data", problems)
    if "source" not in table:
        problems.add("data.source", f"missing; expected one of {_quoted(SOURCES)}")
    if "source" not in given:
        return None
    r = _resolve(schema, given, {}, skip=set(table) - set(given))
    src = r["source"]
    for key, spec in schema.items():
        if key in given and _applies(spec, r) is False:
            hint = ""
            if key == "d" and src == "houses":
                hint = f' (for houses, choose columns with features, from {_quoted(HOUSE_FEATURES)})'
            elif key == "d" and src == "csv":
                hint = " (for csv, d is the number of features)"
            problems.add(f"data.{key}", _not_for(key, spec, r, "this scenario has") + hint)
        if spec.required_when is not None and key not in given and key not in table:
            selector, values = spec.required_when
            if r.get(selector) in values:
                problems.add(f"data.{key}", f"missing; required with source = {_show(src)} ({spec.doc})")
    feats = given.get("features")
    if src == "houses" and feats is not None:
        unknown = [f for f in feats if f not in HOUSE_FEATURES]
        if unknown:
            hints = []
            if len(unknown) > 8:  # name the first few, count the rest
                hints_more = f" and {len(unknown) - 8} more"
                unknown = unknown[:8]
            else:
                hints_more = ""
            for f in unknown:
                near = difflib.get_close_matches(f, HOUSE_FEATURES, n=1, cutoff=0.6)
                hints.append(f"{_show(f)} (did you mean {_show(near[0])}?)" if near else _show(f))
            problems.add(
                "data.features",
                f"got {', '.join(hints)}{hints_more}; the houses source has columns {_quoted(HOUSE_FEATURES)}",
            )
            r.pop("features", None)
    if src == "csv":
        target = given.get("target")
        if feats is not None and target is not None and target in feats:
            problems.add("data.features", f"lists the target column {_show(target)}; a column cannot predict itself")
        if "path" in given:
            r["path"] = (base_dir / given["path"]).resolve() if given["path"] else None
            if not given["path"]:
                problems.add("data.path", "got an empty string, expected the CSV file's path")
        if feats is not None:
            r["d"] = len(feats)
        else:
            r.pop("d", None)
    if src == "houses":
        if "features" in r:
            r["d"] = len(r["features"])
        else:
            r.pop("d", None)
    if "validation_rows" in given and "validation" not in table:
        problems.add("data.validation_rows", "only with data.validation (the fraction of rows to hold out), which "
                     "is not set; set validation = 0.2 (for example) or remove validation_rows")
    if src in _GENERATED and "n" in r and r.get("validation") is not None:
        _split_problem(r["n"], r["validation"], problems)
    if src in _GENERATED and "n" in r and "d" in r and r["n"] * r["d"] > MAX_VALUES:
        problems.add(
            "data.n",
            f"n * d = {r['n']} * {r['d']} = {r['n'] * r['d']:,} values, expected at most {MAX_VALUES:,} "
            f"({MAX_VALUES * 8 // 1_000_000} MB of float64)",
        )
    return r


def _validate_model(
    raw: Mapping[str, Any], data: Mapping[str, Any] | None, problems: _Problems
) -> dict[str, Any] | None:
    table = _table(raw, "model", problems, required=False, example="")
    schema = _schema(ModelSpec)
    given = _check_keys(table or {}, schema, "model", problems)
    r = _resolve(schema, given, {}, skip=set(table or {}) - set(given))
    if "kind" not in r:
        return None
    for key, spec in schema.items():
        if key in given and _applies(spec, r) is False:
            problems.add(f"model.{key}", _not_for(key, spec, r, "this scenario has"))
    mlp = r["kind"] == "mlp"
    classifies = r["kind"] == "logistic" or (mlp and r.get("loss") == "bce")
    if data is not None:
        src = data["source"]
        if classifies and src in ("houses", "linear", "random"):
            what = "house prices" if src == "houses" else "continuous values"
            key, got, fix = (("model.loss", "bce", 'loss = "mse"') if mlp else ("model.kind", "logistic", 'kind = "linear"'))
            problems.add(
                key,
                f"got {_show(got)}, but source {_show(src)} has {what} as its target, not 0/1 labels; "
                f'use source = "classes" or "moons" (or a csv with a 0/1 target), or {fix}',
            )
        if classifies and data.get("standardize_target"):
            what = 'model.kind = "logistic"' if not mlp else 'model.loss = "bce"'
            problems.add(
                "data.standardize_target",
                f"got true, but {what} needs 0/1 labels; standardize_target is for regression",
            )
    d = data.get("d") if data is not None else None
    p = _n_params(r, d)
    if "init" in given:
        if p is not None and len(given["init"]) != p:
            layout = _layout(r)
            problems.add(
                "model.init",
                f"got {len(given['init'])} numbers, expected {p}: {layout} with d = {d} "
                f"(features: {', '.join(data['features'])})"
                if data is not None and data.get("features")
                else f"got {len(given['init'])} numbers, expected {p}: {layout} with d = {d}",
            )
    elif mlp:
        r["init"] = ()  # drawn by the model from init_seed (gdviz.mlp)
    elif p is not None:
        r["init"] = (0.0,) * p
    return r


def _n_params(r: Mapping[str, Any], d: int | None) -> int | None:
    """Parameters of the resolved ``[model]`` on ``d`` features (None when unknown)."""
    if d is None:
        return None
    if r.get("kind") == "mlp":
        return mlp_n_params(d, r["hidden"]) if "hidden" in r else None
    return d + int(r["fit_intercept"]) if "fit_intercept" in r else None


def _layout(r: Mapping[str, Any]) -> str:
    if r.get("kind") == "mlp":
        return "W1, b1, ..., Wo, bo (PyTorch's model.parameters() order)"
    return "[w_1, ..., w_d, b]" if r.get("fit_intercept") else "[w_1, ..., w_d] (fit_intercept = false)"


def _derive_name(batch_size: int | None, t: Mapping[str, Any] | None = None) -> str:
    t = t or {}
    if t.get("accumulate", 1) > 1:
        base = f"batch {'full' if batch_size is None else batch_size}×{t['accumulate']}"
    elif batch_size is None:
        base = "full-batch"
    elif batch_size == 1:
        base = "stochastic"
    else:
        base = f"mini-batch {batch_size}"
    return f"{base} scheduled" if t.get("batch_schedule") is not None else base


def _starting_batch(prefix: str, B: Any, has_batch: bool, t: Mapping[str, Any], given: Mapping[str, Any],
                    problems: _Problems) -> Any:
    """The run's starting batch: its ``batch_size``, or the epoch-0 entry of its batch schedule
    list (then ``batch_size`` may be left out; both given must agree). "missing" when neither."""
    schedule = t.get("batch_schedule")
    start = schedule.start if schedule is not None else "none"
    where = f"{prefix}.batch_schedule" if "batch_schedule" in given else "train.batch_schedule"
    if start == "none":
        if not has_batch:
            problems.add(f"{prefix}.batch_size", 'missing; expected "full" or an integer >= 1')
        return B
    if B != "missing" and B != start:
        problems.add(where, f"starts at epoch 0 with batch {_show('full' if start is None else start)}, but "
                     f"{prefix}.batch_size = {_show('full' if B is None else B)}; give the starting batch once "
                     "(leave batch_size out, or start the list at the first change)")
        return B
    return start


def _validate_runs(
    raw: Mapping[str, Any], data: Mapping[str, Any] | None, top_seed: int, problems: _Problems
) -> list[dict[str, Any]] | None:
    train_table = _table(raw, "train", problems, required=False, example="") or {}
    train_schema = _schema(TrainSpec)
    train_given = _check_keys(train_table, train_schema, "train", problems)
    train_bad = set(train_table) - set(train_given)

    if "runs" not in raw:
        problems.add("runs", "missing; add at least one run, e.g.\n      [[runs]]\n      batch_size = 32")
        return None
    runs_raw = raw["runs"]
    if isinstance(runs_raw, dict):
        problems.add("runs", "is a single table; write [[runs]] (double brackets) before each run")
        return None
    if not isinstance(runs_raw, list) or not all(isinstance(x, dict) for x in runs_raw):
        problems.add("runs", f"got {_show(runs_raw)}, expected [[runs]] tables, one per run")
        return None
    if not runs_raw:
        problems.add("runs", "is empty; add at least one [[runs]] table with a batch_size")
        return None

    n, rows_words = _training_rows(data)
    resolved: list[dict[str, Any] | None] = []
    run_givens: list[dict[str, Any]] = []
    for i, run_table in enumerate(runs_raw):
        prefix = f"runs[{i}]"
        given = _check_keys(run_table, _RUN_KEYS, prefix, problems)
        run_givens.append(given)
        merged = {k: v for k, v in train_given.items()}
        merged.update({k: v for k, v in given.items() if k in train_schema})
        bad_here = (set(run_table) - set(given)) | {k for k in train_bad if k not in run_table}
        if any(k in bad_here for k in ("optimizer", "schedule", "epochs")):
            # Its defaults would depend on a value already reported: the run's own keys and
            # its name are still checked (below), so every problem is reported at once.
            resolved.append({"name": given.get("name"), "batch_size": "missing", "train": None})
            continue
        t = _resolve(train_schema, merged, {}, skip=bad_here)
        B = given.get("batch_size", "missing") if "batch_size" in run_table else "missing"
        listed = isinstance(run_table.get("batch_schedule", train_table.get("batch_schedule")), list)
        if "batch_schedule" in bad_here and listed:
            pass  # a list may give the starting batch: its problem is reported, not a missing batch_size
        else:
            B = _starting_batch(prefix, B, "batch_size" in run_table, t, given, problems)
        if "batch_size" in given and B is not None and n is not None and B > n:
            problems.add(
                f"{prefix}.batch_size",
                f'got {B}, but {rows_words}; expected "full" or an integer from 1 to {n}',
            )
        run = {
            "name": given.get("name"),
            "batch_size": B,
            "seed": given.get("seed", top_seed),
            "train": t,
        }
        resolved.append(run)
        if B != "missing" and "epochs" in t and "accumulate" in t and "batch_schedule" in t:
            for key, text in batching_problems(t["batch_schedule"], B, t["accumulate"], bool(t.get("drop_last")),
                                               t["epochs"], n):
                problems.add(f"{prefix}.{key}" if key in given else f"train.{key}", text)
        # Options given in this run that its optimizer or schedule would ignore.
        for key, value in given.items():
            spec = train_schema.get(key)
            if spec is not None and _applies(spec, t) is False:
                problems.add(f"{prefix}.{key}", _not_for(key, spec, t, "this run has"))

    # Options in [train] that every run inheriting them would ignore.
    for key in train_given:
        spec = train_schema[key]
        heirs = [r["train"] for r, g in zip(resolved, run_givens, strict=True)
                 if r is not None and r["train"] is not None and key not in g]  # fmt: skip
        if heirs and all(_applies(spec, t) is False for t in heirs):
            assert spec.applies is not None
            selector, values = spec.applies
            used = sorted({t[selector] for t in heirs})
            problems.add(
                f"train.{key}",
                f"only for {selector} {_one_of(values)}, but the runs that inherit it have "
                f"{selector} {_one_of(used)}; it would be ignored, so remove it or change {selector}",
            )

    # learning_rate has no default: in [train] or in every run.
    if "learning_rate" not in train_table:
        missing = [i for i, r in enumerate(runs_raw) if "learning_rate" not in r]
        if len(missing) == len(runs_raw):
            problems.add(
                "train.learning_rate",
                "missing; set it in [train] (for every run) or in each [[runs]], expected a finite number > 0",
            )
        else:
            for i in missing:
                problems.add(
                    f"runs[{i}].learning_rate", "missing; set it here or in [train], expected a finite number > 0"
                )

    # nesterov as torch: needs momentum > 0 and no dampening.
    for i, (r, g) in enumerate(zip(resolved, run_givens, strict=True)):
        if r is None or r["train"] is None:
            continue
        t = r["train"]
        plain = t.get("momentum", 0) <= 0 or t.get("dampening", 0) != 0
        if t.get("optimizer") == "sgd" and t.get("nesterov") and plain:
            where = f"runs[{i}].nesterov" if "nesterov" in g else "train.nesterov"
            problems.add(
                where,
                f"nesterov = true needs momentum > 0 and dampening = 0 (as torch.optim.SGD), "
                f"got momentum = {_show(t.get('momentum'))} and dampening = {_show(t.get('dampening'))}",
            )

    # Names: given ones must be unique; derived ones are made unique.
    given_names: dict[str, int] = {}
    for i, r in enumerate(resolved):
        if r is not None and r["name"] is not None:
            if not r["name"].strip():
                problems.add(f"runs[{i}].name", f"got {_show(r['name'])}, expected a non-empty label (or leave name out)")
            elif r["name"] in given_names:
                problems.add(
                    f"runs[{i}].name",
                    f"got {_show(r['name'])}, already the name of runs[{given_names[r['name']]}]; names must be unique",
                )
            else:
                given_names[r["name"]] = i
    taken = set(given_names)
    pending = [r for r in resolved if r is not None and r["name"] is None and r["batch_size"] != "missing"]
    base_count: dict[str, int] = {}
    for r in pending:
        base = _derive_name(r["batch_size"], r["train"])
        base_count[base] = base_count.get(base, 0) + 1
    for r in pending:
        base = _derive_name(r["batch_size"], r["train"])
        t = r["train"]
        name = base
        if base_count[base] > 1 or base in taken:
            name = f"{base} {t.get('optimizer', '')}, lr {t.get('learning_rate', 0):g}"
        k = 2
        candidate = name
        while candidate in taken:
            candidate = f"{name} #{k}"
            k += 1
        r["name"] = candidate
        taken.add(candidate)
    if any(r is None or r["train"] is None for r in resolved):
        return None
    return resolved  # type: ignore[return-value]


def _validate(raw: Mapping[str, Any], base_dir: Path, default_title: str) -> tuple[dict[str, Any], list[str]]:
    problems = _Problems()
    for key in raw:
        if key not in _TOP_KEYS:
            _unknown_key(problems, "", key, _TOP_KEYS)
    top: dict[str, Any] = {}
    for key in ("title", "description", "seed"):
        if key in raw:
            spec = _TOP_KEYS[key]
            try:
                top[key] = spec.check(raw[key])
            except _Bad as bad:
                problems.bad_value(key, raw[key], spec.check, bad.hint)
    title = top.get("title") or default_title
    seed = top.get("seed", 0)
    data = _validate_data(raw, base_dir, problems)
    model = _validate_model(raw, data, problems)
    runs = _validate_runs(raw, data, seed, problems)
    sweep = validate_sweep(raw, data, seed, problems)
    resolved = {
        "title": title,
        "description": top.get("description", ""),
        "seed": seed,
        "data": data,
        "model": model,
        "runs": runs,
        "sweep": sweep,
    }
    return resolved, problems.items


def _members(r: Mapping[str, Any]) -> list[RunSpec]:
    """The runs of one resolved ``[[runs]]`` entry: itself, or with ``seeds = k`` a seed
    ensemble of k runs shuffled with ``seed, seed + 1, ...``. A full batch, or a run without
    shuffling, has one order whatever its seed: its ensemble is one run, and says why."""
    train = TrainSpec(**r["train"])
    k = train.seeds
    one = RunSpec(name=r["name"], batch_size=r["batch_size"], seed=r["seed"], train=train)
    if k == 1:
        return [one]
    if r["batch_size"] is None or not train.shuffle:
        why = "a full batch is never shuffled" if r["batch_size"] is None else "shuffle = false"
        note = f"{k} seeds are one run: {why}, so every seed gives the same path"
        return [dataclasses.replace(one, ensemble=r["name"], ensemble_note=note)]
    return [RunSpec(name=f"{r['name']} · seed {r['seed'] + j}", batch_size=r["batch_size"], seed=r["seed"] + j,
                    train=train, ensemble=r["name"])
            for j in range(k)]


def _build(resolved: Mapping[str, Any], name: str, source_path: Path | None) -> Scenario:
    data = resolved["data"]
    data_fields = {k: data.get(k) for k in _schema(DataSpec)}
    return Scenario(
        name=name,
        title=resolved["title"],
        description=resolved["description"],
        seed=resolved["seed"],
        source_path=source_path,
        data=DataSpec(**data_fields),
        model=ModelSpec(**resolved["model"]),
        runs=tuple(spec for r in resolved["runs"] for spec in _members(r)),
        sweep=resolved.get("sweep"),
    )
