"""Datasets: generators, CSV reading with precise messages, standardization and its inverse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.testing as npt
import pytest

from gdviz.data import Dataset, build_dataset, generate_classes, generate_houses, generate_linear
from gdviz.errors import DataError, ScenarioError
from gdviz.scenario import Scenario, bundled_scenarios, load_scenario, parse_scenario

SEEDS = [0, 1, 12345]


def scenario(data: str, *, model: str = "", runs: str = '[[runs]]\nbatch_size = "full"\n', seed: int = 0,
             base_dir: Path = Path(".")) -> Scenario:
    text = f"seed = {seed}\n[data]\n{data}\n[model]\n{model}\n[train]\nlearning_rate = 0.1\n{runs}"
    return parse_scenario(text, str(base_dir / "s.toml"), base_dir)


def csv_scenario(tmp_path: Path, content: str | bytes | None, *, features: str = '["a", "b"]',
                 target: str = "y", model: str = "", extra: str = "", batch: int = 2) -> Scenario:
    path = tmp_path / "data.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    data = f'source = "csv"\npath = "data.csv"\nfeatures = {features}\ntarget = "{target}"\n{extra}'
    return scenario(data, model=model, runs=f"[[runs]]\nbatch_size = {batch}\n", base_dir=tmp_path)


def data_error(s: Scenario) -> str:
    with pytest.raises(DataError) as info:
        build_dataset(s)
    return info.value.message


GOOD_CSV = "a,b,y\n1,10,3.5\n2,30,4.0\n3,20,8.25\n4,50,9\n"


# --- every bundled scenario builds ---------------------------------------------------------


@pytest.mark.parametrize("name", [name for name, _, _ in bundled_scenarios()])
def test_bundled_scenario_builds(name: str) -> None:
    s = load_scenario(name)
    ds = build_dataset(s)
    assert ds.X.dtype == np.float64 and ds.X.flags.c_contiguous and ds.X.ndim == 2
    assert ds.y.dtype == np.float64 and ds.y.shape == (ds.n,)
    assert ds.d == s.data.d == len(ds.feature_names)
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    assert all(r.batch_size is None or r.batch_size <= ds.n for r in s.runs)
    assert ds.source


# --- generators ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_generators_are_deterministic_per_seed(seed: int) -> None:
    for source in ('source = "houses"\nfeatures = ["size_sqft", "bedrooms"]', 'source = "linear"\nd = 4',
                   'source = "classes"'):
        model = 'kind = "logistic"' if "classes" in source else ""
        a = build_dataset(scenario(source, model=model, seed=seed))
        b = build_dataset(scenario(source, model=model, seed=seed))
        c = build_dataset(scenario(source, model=model, seed=seed + 1))
        npt.assert_array_equal(a.X, b.X)
        npt.assert_array_equal(a.y, b.y)
        assert not np.array_equal(a.y, c.y)


@pytest.mark.parametrize("seed", SEEDS)
def test_houses_are_realistic(seed: int) -> None:
    cols, price = generate_houses(2000, 40_000.0, seed)
    size, beds = cols["size_sqft"], cols["bedrooms"]
    assert size.min() >= 500 and size.max() <= 5000 and 1500 < np.median(size) < 2100
    assert set(np.unique(beds)) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    assert np.corrcoef(size, beds)[0, 1] > 0.5
    npt.assert_array_equal(price, np.round(price))
    coef = np.linalg.lstsq(np.column_stack([size, beds, np.ones_like(size)]), price, rcond=None)[0]
    npt.assert_allclose(coef[0], 150, rtol=0.15)
    assert 100_000 < np.median(price) < 700_000


def test_houses_features_follow_the_scenario_order() -> None:
    ds = build_dataset(scenario('source = "houses"\nfeatures = ["bedrooms", "size_sqft"]\nstandardize = false'))
    assert ds.feature_names == ("bedrooms", "size_sqft")
    assert ds.X[:, 0].max() <= 6 and ds.X[:, 1].min() >= 500


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_recovers_its_true_parameters(seed: int) -> None:
    X, y, true = generate_linear(5000, 3, 0.1, seed)
    fit = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    npt.assert_allclose(fit, true, atol=0.02)


@pytest.mark.parametrize(("d", "seed"), [(1, 0), (2, 1), (5, 2)])
def test_classes_labels_are_0_or_1_and_balanced(d: int, seed: int) -> None:
    X, y = generate_classes(1000, d, 1.0, seed)
    assert X.shape == (1000, d)
    assert set(np.unique(y)) == {0.0, 1.0}
    assert y.sum() == 500


def test_classes_overlap_but_are_mostly_separable() -> None:
    """Overlapping classes keep the logistic optimum finite."""
    X, y = generate_classes(2000, 2, 1.0, 0)
    # the line half-way between the class means misclassifies some, not most
    mid = (X[y == 0].mean(0) + X[y == 1].mean(0)) / 2
    direction = X[y == 1].mean(0) - X[y == 0].mean(0)
    accuracy = np.mean(((X - mid) @ direction > 0) == (y == 1))
    assert 0.75 < accuracy < 0.98


def test_cats_vs_dogs_dataset() -> None:
    ds = build_dataset(load_scenario("cats_vs_dogs"))
    assert ds.task == "classification" and ds.feature_names == ("weight_kg", "ear_length_cm")
    assert set(np.unique(ds.y)) == {0.0, 1.0}
    assert ds.y_mean is None and ds.y_scale is None


# --- standardization ----------------------------------------------------------------------------


def test_standardized_features_have_zero_mean_unit_sd() -> None:
    ds = build_dataset(scenario('source = "houses"\nfeatures = ["size_sqft", "bedrooms"]\nstandardize_target = true'))
    npt.assert_allclose(ds.X.mean(0), 0.0, atol=1e-12)
    npt.assert_allclose(ds.X.std(0), 1.0)
    npt.assert_allclose([ds.y.mean(), ds.y.std()], [0.0, 1.0], atol=1e-12)
    assert ds.x_mean is not None and ds.x_scale is not None and ds.y_mean is not None


def test_not_standardized_keeps_raw_values() -> None:
    ds = build_dataset(scenario('source = "houses"\nstandardize = false'))
    assert ds.x_mean is None and ds.x_scale is None and ds.y_mean is None
    assert ds.X.min() >= 500


@pytest.mark.parametrize("standardize_target", [True, False])
@pytest.mark.parametrize("seed", SEEDS)
def test_to_original_units_roundtrip(seed: int, standardize_target: bool) -> None:
    """lstsq on standardized data, converted, equals lstsq on the raw data."""
    flag = "true" if standardize_target else "false"
    s = scenario(f'source = "houses"\nfeatures = ["size_sqft", "bedrooms"]\nstandardize_target = {flag}', seed=seed)
    ds = build_dataset(s)
    fit_std = np.linalg.lstsq(np.column_stack([ds.X, np.ones(ds.n)]), ds.y, rcond=None)[0]
    cols, price = generate_houses(ds.n, s.data.noise or 0.0, seed)
    X_raw = np.column_stack([cols["size_sqft"], cols["bedrooms"]])
    fit_raw = np.linalg.lstsq(np.column_stack([X_raw, np.ones(ds.n)]), price, rcond=None)[0]
    npt.assert_allclose(ds.to_original_units(fit_std), fit_raw, rtol=1e-8)


def test_to_original_units_keeps_leading_axes_and_non_finite() -> None:
    ds = build_dataset(scenario('source = "linear"\nd = 2\nstandardize_target = true'))
    history = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 0.0]])
    out = ds.to_original_units(history)
    assert out.shape == (2, 3)
    npt.assert_allclose(out[0], ds.to_original_units(history[0]))
    assert np.isnan(out[1, 0]) and np.isnan(out[1, 2])


def test_to_original_units_without_intercept() -> None:
    """A model without b on centred data has an intercept in original units."""
    ds = Dataset(X=np.zeros((2, 1)), y=np.zeros(2), feature_names=("x",), target_name="y", task="regression",
                 x_mean=np.array([10.0]), x_scale=np.array([2.0]), y_mean=5.0, y_scale=3.0, source="test")
    w_orig, b_orig = ds.to_original_units(np.array([4.0]))
    assert w_orig == pytest.approx(4.0 * 3.0 / 2.0)
    assert b_orig == pytest.approx(5.0 + 3.0 * (0.0 - 4.0 * 10.0 / 2.0))
    raw = Dataset(X=np.zeros((2, 1)), y=np.zeros(2), feature_names=("x",), target_name="y", task="regression",
                  x_mean=None, x_scale=None, y_mean=None, y_scale=None, source="test")
    npt.assert_array_equal(raw.to_original_units(np.array([4.0])), [4.0, 0.0])


def test_constant_feature_cannot_be_standardized(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,7,1\n2,7,2\n3,7,3\n"))
    assert message.startswith(str(tmp_path / "data.csv"))
    assert 'column "b" is constant' in message and "standardize = false" in message
    ds = build_dataset(csv_scenario(tmp_path, "a,b,y\n1,7,1\n2,7,2\n3,7,3\n", extra="standardize = false"))
    npt.assert_array_equal(ds.X[:, 1], 7.0)


# --- CSV --------------------------------------------------------------------------------------------


def test_csv_reads_columns_in_feature_order(tmp_path: Path) -> None:
    ds = build_dataset(csv_scenario(tmp_path, GOOD_CSV, features='["b", "a"]', extra="standardize = false"))
    npt.assert_array_equal(ds.X, [[10, 1], [30, 2], [20, 3], [50, 4]])
    npt.assert_array_equal(ds.y, [3.5, 4.0, 8.25, 9.0])
    assert ds.feature_names == ("b", "a") and ds.target_name == "y" and ds.task == "regression"
    assert ds.X.flags.c_contiguous and ds.y.flags.c_contiguous


def test_csv_tolerates_bom_quotes_spaces_and_blank_lines(tmp_path: Path) -> None:
    content = '\ufeff"a", "b" ,y\n1, 10,3.5\n\n   \n2,"30",4\n3,20,8.25\r\n'
    ds = build_dataset(csv_scenario(tmp_path, content, extra="standardize = false"))
    npt.assert_array_equal(ds.y, [3.5, 4.0, 8.25])


def test_csv_missing_file(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, None))
    assert message.startswith(f"{tmp_path / 'data.csv'}: file not found")
    assert "data.path" in message


def test_csv_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = csv_scenario(tmp_path, GOOD_CSV)

    def denied(path: Path, limit: int, what: str) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("gdviz.data.read_regular", denied)
    message = data_error(s)
    assert message.startswith(str(tmp_path / "data.csv")) and "cannot be read: Permission denied" in message


def test_csv_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    assert "is a directory" in data_error(csv_scenario(tmp_path, None))


def test_csv_not_utf8(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, b"a,b,y\n1,2,3\n4,5,caf\xe9\n"))
    assert message.startswith(f"{tmp_path / 'data.csv'}, line 3: not UTF-8")


def test_csv_empty(tmp_path: Path) -> None:
    assert "the file is empty" in data_error(csv_scenario(tmp_path, ""))


def test_csv_without_header(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "1,2,3\n4,5,6\n"))
    assert "line 1: looks like data, not a header" in message and "a,b,y" in message


def test_csv_missing_column_lists_columns_and_suggests(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "size,rooms,price\n1,2,3\n4,5,6\n",
                                      features='["sise", "rooms"]', target="prize"))
    assert 'no column named "sise" (data.features); did you mean "size"?' in message
    assert 'no column named "prize" (data.target); did you mean "price"?' in message
    assert 'the header has columns "size", "rooms", "price"' in message


def test_csv_non_numeric_cell(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,2,3\n4,five,6\n7,8,9\n"))
    assert message == f'{tmp_path / "data.csv"}, line 3, column 2 (b): "five" is not a number'


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf"])
def test_csv_nan_or_inf_cell(tmp_path: Path, cell: str) -> None:
    message = data_error(csv_scenario(tmp_path, f"a,b,y\n1,2,3\n4,5,6\n7,8,{cell}\n"))
    assert message.startswith(f"{tmp_path / 'data.csv'}, line 4, column 3 (y): {cell} is not allowed")


def test_csv_empty_cell(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,2,3\n4,,6\n7,8,9\n"))
    assert "line 3, column 2 (b): empty cell" in message


def test_csv_short_row(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,2,3\n4,5\n7,8,9\n"))
    assert "line 3: 2 cells, but the header has 3 columns" in message


def test_csv_several_bad_cells_are_listed(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,x,3\n4,5,6\n7,8,nan\n"))
    assert "2 bad cells" in message and "line 2, column 2 (b)" in message and "line 4, column 3 (y)" in message


@pytest.mark.parametrize(("content", "what"), [("a,b,y\n", "no data rows"), ("a,b,y\n1,2,3\n", "only 1 data row")])
def test_csv_fewer_than_two_rows(tmp_path: Path, content: str, what: str) -> None:
    message = data_error(csv_scenario(tmp_path, content))
    assert what in message and "expected at least 2" in message


def test_csv_logistic_target_must_be_0_or_1(tmp_path: Path) -> None:
    message = data_error(csv_scenario(tmp_path, "a,b,y\n1,2,1\n3,5,0\n\n2,8,0.5\n", model='kind = "logistic"'))
    assert "line 5" in message and 'target "y" is 0.5' in message and "labels 0 or 1" in message


def test_csv_logistic_target_0_1_is_classification(tmp_path: Path) -> None:
    ds = build_dataset(csv_scenario(tmp_path, "a,b,y\n1,2,1\n3,5,0\n2,8,1\n", model='kind = "logistic"'))
    assert ds.task == "classification"
    npt.assert_array_equal(ds.y, [1.0, 0.0, 1.0])


def test_csv_batch_larger_than_rows_is_a_scenario_error(tmp_path: Path) -> None:
    s = csv_scenario(tmp_path, GOOD_CSV, batch=10)
    with pytest.raises(ScenarioError) as info:
        build_dataset(s)
    assert "runs[0].batch_size: got 10, but the data has n = 4 samples" in info.value.message
