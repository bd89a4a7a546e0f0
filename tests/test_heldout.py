"""Held-out data (``[data] validation``): the split, standardization, the validation loss at
every recorded point, the fit figures, the headless and JSON output, and bad input.

The references are written here from the maths (``tests/naive.py``'s losses and MLP), never
through gdviz's own :class:`~gdviz.heldout.RowsLoss` or model code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pytest

import naive
from gdviz.cli import main
from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.errors import ScenarioError
from gdviz.heldout import split_rows
from gdviz.scenario import parse_scenario, scenario_to_dict, validation_counts

SEEDS = [0, 1, 12345]


def scenario(data: str, *, model: str = "", runs: str = '[[runs]]\nbatch_size = "full"\n', seed: int = 0,
             train: str = "learning_rate = 0.1\nepochs = 3", base_dir: Path = Path(".")):
    text = f"seed = {seed}\n[data]\n{data}\n[model]\n{model}\n[train]\n{train}\n{runs}"
    return parse_scenario(text, str(base_dir / "s.toml"), base_dir)


def problems(data: str, **kw) -> str:
    with pytest.raises(ScenarioError) as info:
        build_dataset(scenario(data, **kw))
    return info.value.message


# --- the split -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "fraction"), [(10, 0.2), (200, 0.2), (1000, 0.25), (37, 0.9), (5, 0.3)])
def test_random_split_is_a_partition_reproducible_from_the_seed(seed: int, n: int, fraction: float) -> None:
    train, val = split_rows(n, fraction, "random", seed)
    assert not np.intersect1d(train, val).size, "a row in both sets"
    npt.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert (len(train), len(val)) == validation_counts(n, fraction)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)  # rows keep their order
    again = split_rows(n, fraction, "random", seed)
    npt.assert_array_equal(again[0], train)
    npt.assert_array_equal(again[1], val)


def test_random_split_depends_on_the_seed() -> None:
    picks = {tuple(split_rows(1000, 0.2, "random", seed)[1]) for seed in SEEDS}
    assert len(picks) == len(SEEDS)


def test_last_split_holds_out_the_last_rows_as_keras() -> None:
    train, val = split_rows(10, 0.2, "last", 3)
    npt.assert_array_equal(train, np.arange(8))
    npt.assert_array_equal(val, [8, 9])
    # Keras: split_at = int(n * (1 - validation_split))
    for n, v in [(1000, 0.2), (999, 0.3), (7, 0.5), (123, 0.9)]:
        assert validation_counts(n, v)[0] == int(n * (1 - v))


def test_counts_keep_two_rows_at_the_edges_despite_rounding() -> None:
    assert validation_counts(10, 0.8) == (2, 8)  # int(10 * 0.19999999999999996) would be 1


@pytest.mark.parametrize("how", ["random", "last"])
def test_dataset_rows_are_the_split_rows_standardized_with_training_statistics(how: str) -> None:
    data = 'source = "houses"\nn = 60\nfeatures = ["size_sqft", "bedrooms"]\nstandardize_target = true\n'
    whole = build_dataset(scenario(data, seed=5))
    held = build_dataset(scenario(data + f'validation = 0.25\nvalidation_rows = "{how}"\n', seed=5))
    raw_X = whole.X * whole.x_scale + whole.x_mean
    raw_y = whole.y * whole.y_scale + whole.y_mean
    tr, va = held.train_rows, held.val_rows
    assert (held.n, held.n_val) == (45, 15) and held.validation_rows == how
    # the statistics are the training rows' own (ddof = 0), not the whole data's
    npt.assert_allclose(held.x_mean, raw_X[tr].mean(axis=0), rtol=1e-12)
    npt.assert_allclose(held.x_scale, raw_X[tr].std(axis=0), rtol=1e-12)
    npt.assert_allclose(held.y_mean, raw_y[tr].mean(), rtol=1e-12)
    assert not np.allclose(held.x_mean, whole.x_mean, rtol=1e-6)
    npt.assert_allclose(held.X, (raw_X[tr] - held.x_mean) / held.x_scale, rtol=1e-9, atol=1e-12)
    npt.assert_allclose(held.X_val, (raw_X[va] - held.x_mean) / held.x_scale, rtol=1e-9, atol=1e-12)
    npt.assert_allclose(held.y_val, (raw_y[va] - held.y_mean) / held.y_scale, rtol=1e-9, atol=1e-12)


def test_csv_split_holds_out_file_rows(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 3},{2 * i + 1}" for i in range(10))
    (tmp_path / "d.csv").write_text("a,b,y\n" + rows + "\n")
    data = ('source = "csv"\npath = "d.csv"\nfeatures = ["a", "b"]\ntarget = "y"\nstandardize = false\n'
            'validation = 0.3\nvalidation_rows = "last"\n')
    ds = build_dataset(scenario(data, base_dir=tmp_path))
    npt.assert_array_equal(ds.X_val[:, 0], [7, 8, 9])
    npt.assert_array_equal(ds.y, 2 * np.arange(7) + 1)


# --- the validation loss at every recorded point ------------------------------------------------

MODELS = {
    "linear": ('source = "linear"\nn = 90\nd = 3\nvalidation = 0.3\n', ""),
    "logistic": ('source = "classes"\nn = 90\nd = 2\nvalidation = 0.3\n', 'kind = "logistic"'),
    "mlp": ('source = "moons"\nn = 90\nvalidation = 0.3\n', 'kind = "mlp"\nhidden = [5, 4]\nactivation = "tanh"\n'
            'loss = "bce"'),
}
RUNS = '[[runs]]\nbatch_size = "full"\n[[runs]]\nbatch_size = 1\n[[runs]]\nbatch_size = 8\n'


def _reference(kind: str, engine: Engine, X: np.ndarray, y: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    if kind == "mlp":
        net = naive.MLP(engine.d, tuple(engine.model.hidden), engine.model.activation, engine.model.loss)
        return naive.full_loss(X, y, thetas, net, True)
    return naive.full_loss(X, y, thetas, kind, True)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_validation_loss_at_every_point_matches_a_numpy_reference(kind: str, seed: int) -> None:
    data, model = MODELS[kind]
    s = scenario(data, model=model, runs=RUNS, seed=seed)
    ds = build_dataset(s)
    engine = Engine(s, ds)
    engine.run_to_end()
    for run in engine.runs:
        h = run.history
        assert np.isfinite(h.val_loss).all() and len(h.val_loss) == len(h)
        npt.assert_allclose(h.val_loss, _reference(kind, engine, ds.X_val, ds.y_val, h.params), rtol=1e-9, atol=1e-12)
        # and the training loss is still over the training rows only
        npt.assert_allclose(h.full_loss, _reference(kind, engine, ds.X, ds.y, h.params), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_validation_loss_is_the_same_alone_batched_and_in_any_chunking(kind: str) -> None:
    data, model = MODELS[kind]
    s = scenario(data, model=model, runs=RUNS, seed=1)
    ds = build_dataset(s)
    together = Engine(s, ds)
    together.run_to_end()
    for i, run in enumerate(together.runs):
        alone = Engine(s, ds)
        one = alone.runs[i]
        while not one.done:
            one.history.append(alone.advance_run(one, 7))
        assert np.array_equal(one.history.val_loss, run.history.val_loss)
        assert np.array_equal(one.history.full_loss, run.history.full_loss)


def test_no_validation_keeps_nan_and_no_held_out_figures() -> None:
    s = scenario('source = "linear"\nn = 40\nd = 2\n', runs=RUNS)
    ds = build_dataset(s)
    assert ds.X_val is None and ds.n_val == 0 and ds.train_rows is None
    engine = Engine(s, ds)
    engine.run_to_end()
    assert np.isnan(engine.runs[0].history.val_loss).all()
    assert all(summary.held_out is None for summary in engine.summaries())


# --- fit figures ---------------------------------------------------------------------------------


def test_accuracy_counts_the_held_out_rows_on_the_right_side() -> None:
    data, model = MODELS["logistic"]
    s = scenario(data, model=model, runs=RUNS, seed=2)
    ds = build_dataset(s)
    engine = Engine(s, ds)
    engine.run_to_end()
    for run, summary in zip(engine.runs, engine.summaries()):
        theta = run.history.params[-1]
        p = 1.0 / (1.0 + np.exp(-(naive.design(ds.X_val, True) @ theta)))
        expected = np.mean((p > 0.5).astype(float) == ds.y_val)
        assert summary.held_out.validation["accuracy"] == pytest.approx(expected, abs=1e-15)
        assert summary.held_out.n == ds.n_val == 27
        assert summary.held_out.gap == summary.held_out.loss - summary.final_loss


def test_rmse_and_mae_are_in_the_target_original_units() -> None:
    data = 'source = "houses"\nn = 80\nstandardize_target = true\nvalidation = 0.25\n'
    s = scenario(data, runs='[[runs]]\nbatch_size = 4\n', train="learning_rate = 0.05\nepochs = 20", seed=3)
    ds = build_dataset(s)
    engine = Engine(s, ds)
    engine.run_to_end()
    summary = engine.summaries()[0]
    # Independently: the model in original units on the raw rows, residuals in dollars.
    w, b = summary.final_params_original_units
    raw_x = ds.X_val[:, 0] * ds.x_scale[0] + ds.x_mean[0]
    raw_y = ds.y_val * ds.y_scale + ds.y_mean
    r = raw_x * w + b - raw_y
    assert summary.held_out.validation["rmse"] == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-9)
    assert summary.held_out.validation["mae"] == pytest.approx(np.mean(np.abs(r)), rel=1e-9)
    assert 20_000 < summary.held_out.validation["rmse"] < 80_000  # dollars: the generator's noise is $40,000
    best = np.nanargmin(engine.runs[0].history.val_loss)
    assert summary.held_out.best_loss == engine.runs[0].history.val_loss[best]
    assert summary.held_out.best_epoch == engine.runs[0].history.epoch[best]


# --- the command line ----------------------------------------------------------------------------

SMALL = """title = "held"
seed = 1
[data]
source = "classes"
n = 50
validation = 0.2
[model]
kind = "logistic"
[train]
epochs = 3
learning_rate = 0.5
[[runs]]
name = "full"
batch_size = "full"
[[runs]]
name = "sgd"
batch_size = 1
"""


def test_json_has_the_validation_figures_and_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "held.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"]["n"] == 40 and doc["dataset"]["validation"] == {"n": 10, "rows": "random"}
    for run in doc["runs"]:
        v = run["validation"]
        assert v["n"] == 10 and set(v["validation"]) == {"accuracy"} and set(v["train"]) == {"accuracy"}
        assert v["final_loss"] == run["history"]["val_loss"][-1]
        assert v["gap"] == pytest.approx(v["final_loss"] - run["final_loss"], abs=1e-15)
        assert len(run["history"]["val_loss"]) == len(run["history"]["full_loss"])


def test_headless_prints_the_held_out_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "held.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--headless"]) == 0
    out = capsys.readouterr().out
    assert "held-out rows: 10 of 50 (random)" in out
    for col in ("val loss", "gap", "best val loss", "val accuracy", "train accuracy"):
        assert col in out


def test_without_validation_json_has_no_validation_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(SMALL.replace("validation = 0.2\n", ""))
    assert main(["run", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"]["validation"] is None
    assert all("validation" not in r and "val_loss" not in r["history"] for r in doc["runs"])


def test_check_prints_the_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "held.toml"
    path.write_text(SMALL)
    assert main(["check", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # Rich wraps long lines
    assert "n=40 samples (10 more held out for validation, random rows)" in out
    data = scenario_to_dict(scenario('source = "classes"\nvalidation = 0.2\n'))["data"]
    assert (data["validation"], data["validation_rows"]) == (0.2, "random")
    assert "validation_rows" not in scenario_to_dict(scenario('source = "classes"\n'))["data"]


# --- bad input: exit 2, the key, what is valid -----------------------------------------------------

BAD = {
    "validation = 0": ["data.validation", "got 0", "expected a number in (0, 0.9]"],
    "validation = 0.95": ["data.validation", "got 0.95", "expected a number in (0, 0.9]"],
    "validation = -0.2": ["data.validation", "expected a number in (0, 0.9]"],
    'validation = "0.2"': ["data.validation", "write the number without quotes"],
    'validation = 0.2\nvalidation_rows = "first"': ["data.validation_rows", 'got "first"', '"random", "last"'],
    'validation_rows = "last"': ["data.validation_rows", "only with data.validation"],
    "validation = 0.01": ["data.validation", "leaves 49 training and 1 validation rows of n = 50",
                          "at least 2", "above 1/n = 0.02 and at most 0.9"],
}


@pytest.mark.parametrize("extra", sorted(BAD))
def test_bad_validation_exits_2_naming_the_key(extra: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace("validation = 0.2\n", extra + "\n"))
    assert main(["check", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())  # Rich wraps long lines
    for part in BAD[extra]:
        assert part in err
    assert "Traceback" not in err


def test_too_few_rows_on_either_side_of_a_csv(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,y\n1,2\n2,3\n3,5\n4,4\n5,7\n")
    data = 'source = "csv"\npath = "d.csv"\nfeatures = ["a"]\ntarget = "y"\n'
    msg = problems(data + "validation = 0.9\n", base_dir=tmp_path)
    assert "data.validation" in msg and "leaves 0 training and 5 validation rows of n = 5" in msg
    assert "at most 1 - 2/n = 0.6" in msg
    msg = problems(data + "validation = 0.1\n", base_dir=tmp_path)
    assert "leaves 4 training and 1 validation rows" in msg


def test_batch_size_above_the_training_rows_says_why(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario('source = "linear"\nn = 50\nvalidation = 0.2\n', runs="[[runs]]\nbatch_size = 41\n")
    msg = info.value.message
    assert "runs[0].batch_size" in msg and "train on 40 rows (50 less 10 held out by data.validation)" in msg
    assert "from 1 to 40" in msg
    (tmp_path / "d.csv").write_text("a,y\n" + "".join(f"{i},{i % 7}\n" for i in range(10)))
    data = 'source = "csv"\npath = "d.csv"\nfeatures = ["a"]\ntarget = "y"\nvalidation = 0.5\n'
    msg = problems(data, runs="[[runs]]\nbatch_size = 6\n", base_dir=tmp_path)
    assert "runs[0].batch_size" in msg and "train on 5 rows (10 less 5 held out" in msg
