"""Property tests (Hypothesis) for the two readers of user files, and for user strings.

- Any TOML document, any text at all, gives a valid scenario or a ``GdvizError``: never
  another exception.
- Any CSV bytes give a dataset or a ``GdvizError``; a dataset that comes back is finite and
  has the shape the scenario asked for.
- Names and titles come back literally in the headless table and in the JSON document.

Example counts are small (the whole suite must stay well under 10 minutes on 2 cores); the
seed is fixed by ``derandomize`` so a failure reproduces.
"""

from __future__ import annotations

import io
import json
import math
import unicodedata
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from gdviz.data import build_dataset
from gdviz.errors import GdvizError
from gdviz.scenario import parse_scenario

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = ["title", "description", "seed", "data", "model", "train", "runs", "source", "n", "d", "noise", "path",
        "features", "target", "standardize", "kind", "init", "epochs", "learning_rate", "optimizer", "batch_size",
        "name", "momentum", "schedule", "step_size", "gamma", "t_max", "dtype", "betas", "eps"]
WORDS = ["houses", "linear", "classes", "csv", "full", "sgd", "adam", "step", "cosine", "float32", "logistic",
         "d.csv", "x", "y", "[/]", "", "   "]

scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4), max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # \uXXXX escapes; a lone surrogate is a TOML error, which is fine
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict) -> str:
    """A TOML document: scalars first, then each table (a list of tables as [[...]])."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{json.dumps(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for table in v:
                lines.append(f"[[{k}]]")
                lines += [f"{json.dumps(kk)} = {_toml_value(vv)}" for kk, vv in table.items()]
        elif isinstance(v, list):
            lines.insert(0, f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _load_and_build(text: str, base: Path) -> None:
    try:
        scenario = parse_scenario(text, "prop.toml", base)
    except GdvizError:
        return
    if scenario.data.source == "csv" or (scenario.data.n or 0) <= 5000:
        try:
            dataset = build_dataset(scenario)
        except GdvizError:
            return
        assert np.isfinite(dataset.X).all() and np.isfinite(dataset.y).all()


@SETTINGS
@given(documents)
def test_any_toml_document_is_a_scenario_or_a_gdviz_error(tmp_path, doc):
    _load_and_build(to_toml(doc), tmp_path)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_a_scenario_or_a_gdviz_error(tmp_path, text):
    _load_and_build(text, tmp_path)


CELLS = st.one_of(
    st.sampled_from(["1", "0", "-2.5", "1e300", "-1.7e308", "nan", "inf", "", " ", "x", '"3"', '"1,234"', "1,234",
                     "1e-320", "0x10", "١", "\ufeff1", '"', "9" * 400]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=6),
)
NUMBERS = st.one_of(
    st.sampled_from(["1", "0", "1", "-2.5", "3", "1e300", "-1.7e308", "1e25", "1e154", "1e-320"]),
    st.sampled_from(["1", "0", "1", "-2.5", "3", "1e300", "-1.7e308", "1e25", "1e154", "1e-320"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)
CSV_SCENARIO = ("[data]\nsource = 'csv'\npath = 'd.csv'\nfeatures = ['a', 'b']\ntarget = 'y'\nstandardize = {std}\n"
                "[model]\nkind = '{kind}'\n[train]\nepochs = 1\nlearning_rate = 0.1\ndtype = '{dtype}'\n[[runs]]\nbatch_size = 1\n")


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.sampled_from([["a", "b", "y"], ["a", "b", "y"], ["y", "c", "b", "a"], None]))
    if header is None:
        header = draw(st.lists(st.sampled_from(["a", "b", "y", "", "a "]), max_size=4))
    well_formed = st.lists(NUMBERS, min_size=len(header), max_size=len(header))
    rows = draw(st.lists(well_formed, min_size=2, max_size=8))
    if draw(st.integers(0, 2)) == 0:  # one odd row: short, long, empty or not numbers
        rows.insert(draw(st.integers(0, len(rows))), draw(st.lists(CELLS, max_size=5)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([",".join(header), *(",".join(r) for r in rows)])
    raw = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        raw = draw(st.binary(max_size=40)) + raw
    return raw


@SETTINGS
@given(csv_files(), st.booleans(), st.sampled_from(["linear", "linear", "linear", "logistic"]), st.sampled_from(["float64", "float32"]))
def test_any_csv_is_a_dataset_or_a_gdviz_error(tmp_path, raw, std, kind, dtype):
    (tmp_path / "d.csv").write_bytes(raw)
    text = CSV_SCENARIO.format(std=str(std).lower(), kind=kind, dtype=dtype)
    scenario = parse_scenario(text, str(tmp_path / "s.toml"), tmp_path)
    try:
        dataset = build_dataset(scenario)
    except GdvizError:
        event("refused")
        return
    event("read")
    assert dataset.X.shape == (dataset.n, 2) and dataset.n >= 2
    assert np.isfinite(dataset.X).all() and np.isfinite(dataset.y).all()
    if std:
        assert np.isfinite(dataset.x_scale).all() and (dataset.x_scale > 0).all()


@SETTINGS
@given(st.binary(max_size=200))
def test_any_csv_bytes_are_a_dataset_or_a_gdviz_error(tmp_path, raw):
    test_any_csv_is_a_dataset_or_a_gdviz_error.hypothesis.inner_test(tmp_path, raw, True, "linear", "float64")


# --- user strings round-trip literally -------------------------------------------------------------------------
def _shown_char(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cs", "Cn", "Co", "Zl", "Zp") and ch not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


names = st.text(st.characters().filter(_shown_char), min_size=1, max_size=14).filter(lambda s: s.strip() == s and s)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=3, unique=True), names)
def test_names_and_titles_round_trip_into_the_table_and_the_json(run_names, title):
    from gdviz.engine import Engine
    from gdviz.report import json_document, summary_table

    runs = "\n".join(f"[[runs]]\nname = {json.dumps(n, ensure_ascii=False)}\nbatch_size = {i + 1}" for i, n in enumerate(run_names))
    text = (f"title = {json.dumps(title, ensure_ascii=False)}\n[data]\nsource = 'linear'\nn = 16\nd = 1\n"
            f"[train]\nepochs = 1\nlearning_rate = 0.05\ntarget = 'cpu'\n{runs}\n")
    scenario = parse_scenario(text, "names.toml", Path("."))
    assert [r.name for r in scenario.runs] == run_names and scenario.title == title
    engine = Engine(scenario, build_dataset(scenario), target="cpu")
    engine.run_to_end()
    console = Console(file=io.StringIO(), width=2000, color_system=None)
    console.print(summary_table(engine))
    out = console.file.getvalue()
    for name in run_names:
        assert name in out
    assert title in out
    doc = json.loads(json.dumps(json_document(engine)))
    assert [r["name"] for r in doc["runs"]] == run_names and doc["title"] == title
