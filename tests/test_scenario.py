"""Scenario files: the schema, its defaults, and messages that say what to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gdviz.errors import ScenarioError
from gdviz.codes import OPTIMIZERS
from gdviz.scenario import (
    RunSpec,
    Scenario,
    TrainSpec,
    bundled_scenarios,
    check_against_data,
    load_scenario,
    parse_scenario,
    scenario_to_dict,
)

FIXTURES = Path(__file__).parent / "fixtures" / "scenarios"

MINIMAL = """
[data]
source = "houses"

[train]
learning_rate = 0.1

[[runs]]
batch_size = "full"
"""


def parse(text: str, base_dir: Path | None = None) -> Scenario:
    return parse_scenario(text, "inline.toml", base_dir or Path("."))


def problems_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text)
    return info.value


# --- bad files: each names the key, what was given and what is valid ------------------------

BAD = {
    "not_toml.toml": ["line 1", "not valid TOML", 'title = "missing a closing quote'],
    "unknown_key.toml": ["train.optimiser", "unknown key", "did you mean optimizer?"],
    "wrong_type.toml": ["train.epochs", 'got "twenty"', "expected an integer from 1 to 100000"],
    "batch_zero.toml": ["runs[1].batch_size", "got 0", 'expected "full" or an integer >= 1'],
    "batch_too_large.toml": ["runs[1].batch_size", "got 128", "n = 100", "from 1 to 100"],
    "lr_negative.toml": ["train.learning_rate", "got -0.01", "expected a finite number > 0"],
    "lr_zero.toml": ["runs[0].learning_rate", "got 0", "expected a finite number > 0"],
    "lr_missing.toml": ["train.learning_rate", "missing", "in each [[runs]]"],
    "unknown_optimizer.toml": [
        "train.optimizer",
        'got "lbfgs"',
        'one of "sgd", "adam", "adamw", "rmsprop", "adagrad"',
    ],
    "option_wrong_optimizer.toml": ["runs[0].betas", 'only for optimizer "adam" or "adamw"', '"sgd"', "ignored"],
    "option_wrong_schedule.toml": ["train.step_size", 'only for schedule "step"', '"cosine"'],
    "option_wrong_source.toml": ["data.d", 'only for source "linear", "classes" or "random"', '"houses"', "features"],
    "nesterov_without_momentum.toml": ["train.nesterov", "needs momentum > 0 and dampening = 0", "momentum = 0.0"],
    "empty_runs.toml": ["runs", "is empty", "[[runs]]"],
    "runs_single_brackets.toml": ["runs", "[[runs]] (double brackets)"],
    "missing_data.toml": ["data", "missing", 'source = "houses"'],
    "init_wrong_length.toml": ["model.init", "got 2 numbers, expected 3", "size_sqft, bedrooms"],
    "logistic_on_regression_data.toml": ["model.kind", '"logistic"', "0/1 labels", '"classes"'],
    "several_problems.toml": [
        "7 problems",
        "titel: unknown key; did you mean title?",
        'data.source: got "linaer"',
        'did you mean "linear"?',
        "train.learning_rate: got -1.0",
        "train.momentum",  # adam has no momentum
        "runs[0].batch_size: got 0",
        'runs[1].batch_size: got "32"',
        "without quotes",
        "runs[1].shufle: unknown key; did you mean shuffle?",
    ],
}


def test_every_fixture_is_listed() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.toml")) == sorted(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_scenario_message(name: str) -> None:
    """Every bad file gives a ScenarioError starting with the file, naming key and fix."""
    path = FIXTURES / name
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = info.value.message
    assert message.startswith(str(path))
    for part in BAD[name]:
        assert part in message, f"{part!r} not in:\n{message}"
    assert info.value.problems
    for problem in info.value.problems:
        assert problem in message


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(FIXTURES / "several_problems.toml")
    assert len(info.value.problems) == 7
    paths = [p.split(":")[0] for p in info.value.problems]
    assert {"titel", "data.source", "train.learning_rate", "train.momentum", "runs[0].batch_size", "runs[1].shufle"} <= set(paths)


def test_toml_error_shows_line_and_column() -> None:
    err = problems_of('[data]\nsource = "houses"\nn = = 3\n')
    assert err.message.startswith("inline.toml, line 3, column")
    assert "n = = 3" in err.message and "^" in err.message


# --- individual rules -----------------------------------------------------------------------


def test_unknown_key_far_from_any_lists_valid_keys() -> None:
    err = problems_of(MINIMAL + "zzz_qqq = 1\n")
    assert "runs[0].zzz_qqq: unknown key" in err.message
    assert "batch_size" in err.message and "learning_rate" in err.message


def test_key_in_wrong_section_names_the_right_one() -> None:
    err = problems_of(MINIMAL.replace("[train]", "[train]\nn = 10"))
    assert "train.n: unknown key in [train]; n belongs in [data]" in err.message


def test_bool_instead_of_number_is_a_type_error() -> None:
    err = problems_of(MINIMAL.replace("learning_rate = 0.1", "learning_rate = true"))
    assert "train.learning_rate: got true, expected a finite number > 0" in err.message


def test_nan_and_inf_are_rejected() -> None:
    err = problems_of(MINIMAL.replace("learning_rate = 0.1", "learning_rate = inf\nmomentum = nan"))
    assert "train.learning_rate: got inf" in err.message
    assert "train.momentum: got nan" in err.message


def test_betas_must_be_two_numbers_below_one() -> None:
    text = MINIMAL.replace("learning_rate = 0.1", 'learning_rate = 0.1\noptimizer = "adam"\nbetas = [0.9, 1.0]')
    assert "train.betas: got [0.9, 1.0], expected a list of 2 numbers, each number in [0, 1)" in problems_of(text).message
    text = MINIMAL.replace("learning_rate = 0.1", 'learning_rate = 0.1\noptimizer = "adam"\nbetas = [0.9]')
    assert "it has 1" in problems_of(text).message


def test_train_option_for_another_optimizer_is_fine_when_some_run_uses_it() -> None:
    """momentum in [train] is for the SGD runs; an Adam run simply does not inherit it."""
    s = parse(MINIMAL.replace("learning_rate = 0.1", "learning_rate = 0.1\nmomentum = 0.9") + '\n[[runs]]\nbatch_size = 8\noptimizer = "adam"\n')
    assert s.runs[0].train.momentum == 0.9
    assert s.runs[1].train.optimizer == "adam"


def test_nesterov_with_momentum_is_valid() -> None:
    s = parse(MINIMAL + "momentum = 0.9\nnesterov = true\n")
    assert s.runs[0].train.nesterov and s.runs[0].train.momentum == 0.9


def test_nesterov_with_dampening_is_rejected() -> None:
    err = problems_of(MINIMAL + "momentum = 0.9\ndampening = 0.1\nnesterov = true\n")
    assert "runs[0].nesterov" in err.message and "dampening = 0.1" in err.message


def test_standardize_target_with_logistic_is_rejected() -> None:
    text = MINIMAL.replace('"houses"', '"classes"\nstandardize_target = true').replace(
        "[train]", '[model]\nkind = "logistic"\n\n[train]'
    )
    assert "data.standardize_target" in problems_of(text).message


def test_csv_needs_path_features_and_target() -> None:
    err = problems_of(MINIMAL.replace('"houses"', '"csv"'))
    for key in ("data.path", "data.features", "data.target"):
        assert f"{key}: missing; required with source = \"csv\"" in err.message


def test_csv_target_among_features_is_rejected() -> None:
    text = MINIMAL.replace('"houses"', '"csv"\npath = "x.csv"\nfeatures = ["a", "y"]\ntarget = "y"')
    assert 'data.features: lists the target column "y"' in problems_of(text).message


def test_houses_feature_names_are_checked() -> None:
    err = problems_of(MINIMAL.replace('"houses"', '"houses"\nfeatures = ["sqft"]'))
    assert "data.features" in err.message and '"size_sqft", "bedrooms"' in err.message


def test_duplicate_run_names_are_rejected() -> None:
    err = problems_of(MINIMAL + 'name = "a"\n[[runs]]\nbatch_size = 1\nname = "a"\n')
    assert 'runs[1].name: got "a", already the name of runs[0]' in err.message


def test_too_much_generated_data_is_rejected() -> None:
    err = problems_of(MINIMAL.replace('"houses"', '"linear"\nn = 1000000\nd = 1000'))
    assert "data.n" in err.message and "at most 50,000,000" in err.message


# --- defaults and resolution ------------------------------------------------------------------


def test_defaults_resolve() -> None:
    s = parse(MINIMAL)
    assert s.name == "inline" and s.title == "inline" and s.description == "" and s.seed == 0
    assert s.data.source == "houses" and s.data.n == 200 and s.data.d == 1
    assert s.data.features == ("size_sqft",) and s.data.target == "price"
    assert s.data.noise == 40_000.0 and s.data.standardize and not s.data.standardize_target
    assert s.model.kind == "linear" and s.model.fit_intercept and s.model.init == (0.0, 0.0)
    (run,) = s.runs
    assert run.name == "full-batch" and run.batch_size is None and run.seed == 0
    t = run.train
    assert (t.epochs, t.learning_rate, t.optimizer, t.schedule) == (20, 0.1, "sgd", "constant")
    assert (t.momentum, t.dampening, t.nesterov, t.weight_decay) == (0.0, 0.0, False, 0.0)
    assert t.shuffle and not t.drop_last and t.target_loss is None
    assert (t.dtype, t.target, t.t_max) == ("float64", "auto", 20)


@pytest.mark.parametrize(
    ("optimizer", "eps", "weight_decay"),
    [("adam", 1e-8, 0.0), ("adamw", 1e-8, 0.01), ("rmsprop", 1e-8, 0.0), ("adagrad", 1e-10, 0.0)],
)
def test_optimizer_defaults_follow_torch(optimizer: str, eps: float, weight_decay: float) -> None:
    t = parse(MINIMAL + f'optimizer = "{optimizer}"\n').runs[0].train
    assert (t.eps, t.weight_decay) == (eps, weight_decay)


@pytest.mark.parametrize(("schedule", "gamma"), [("step", 0.1), ("exponential", 0.95)])
def test_schedule_gamma_defaults(schedule: str, gamma: float) -> None:
    assert parse(MINIMAL + f'schedule = "{schedule}"\n').runs[0].train.gamma == gamma


def test_t_max_defaults_to_each_runs_epochs() -> None:
    text = MINIMAL.replace("learning_rate = 0.1", 'learning_rate = 0.1\nschedule = "cosine"') + "epochs = 7\n"
    text += "[[runs]]\nbatch_size = 4\n"
    s = parse(text)
    assert [r.train.t_max for r in s.runs] == [7, 20]


def test_per_run_override() -> None:
    text = """
seed = 5
[data]
source = "linear"
n = 100
d = 3
[train]
learning_rate = 0.1
epochs = 10
[[runs]]
batch_size = 1
[[runs]]
batch_size = 10
learning_rate = 0.02
optimizer = "adam"
epochs = 3
seed = 9
name = "my run"
"""
    s = parse(text)
    a, b = s.runs
    assert (a.name, a.seed, a.train.learning_rate, a.train.epochs, a.train.optimizer) == ("stochastic", 5, 0.1, 10, "sgd")
    assert (b.name, b.seed, b.train.learning_rate, b.train.epochs, b.train.optimizer) == ("my run", 9, 0.02, 3, "adam")
    assert s.model.init == (0.0,) * 4


def test_integers_are_accepted_for_floats() -> None:
    t = parse(MINIMAL.replace("learning_rate = 0.1", "learning_rate = 1")).runs[0].train
    assert t.learning_rate == 1.0 and isinstance(t.learning_rate, float)


def test_derived_run_names_are_unique() -> None:
    text = MINIMAL + '[[runs]]\nbatch_size = 32\n[[runs]]\nbatch_size = 32\noptimizer = "adam"\n'
    names = [r.name for r in parse(text).runs]
    assert names[0] == "full-batch"
    assert len(set(names)) == 3 and all(n.startswith("mini-batch 32") for n in names[1:])


@pytest.mark.parametrize(
    ("batch_size", "n", "method", "updates"),
    [(None, 100, "full-batch", 1), (1, 100, "stochastic", 100), (32, 100, "mini-batch", 4), (100, 100, "full-batch", 1)],
)
def test_run_method(batch_size: int | None, n: int, method: str, updates: int) -> None:
    run = RunSpec(name="r", batch_size=batch_size, seed=0, train=parse(MINIMAL).runs[0].train)
    assert run.method(n) == method
    assert run.updates_per_epoch(n) == updates


def test_drop_last_counts_only_full_batches() -> None:
    s = parse(MINIMAL.replace('"full"', "32") + "drop_last = true\n")
    assert s.runs[0].updates_per_epoch(100) == 3


def test_trainspec_is_frozen() -> None:
    t = parse(MINIMAL).runs[0].train
    assert isinstance(t, TrainSpec)
    with pytest.raises(AttributeError):
        t.epochs = 3  # type: ignore[misc]


def test_optimizer_choices_come_from_the_kernels() -> None:
    err = problems_of(MINIMAL + 'optimizer = "x"\n')
    for name in OPTIMIZERS:
        assert f'"{name}"' in err.message


# --- check_against_data -------------------------------------------------------------------------


def test_check_against_data_batch_and_init(tmp_path: Path) -> None:
    text = """
[data]
source = "csv"
path = "d.csv"
features = ["a", "b"]
target = "y"
[model]
init = [1.0, 2.0, 3.0]
[train]
learning_rate = 0.1
[[runs]]
batch_size = 64
"""
    s = parse_scenario(text, str(tmp_path / "s.toml"), tmp_path)
    assert s.data.path == (tmp_path / "d.csv").resolve() and s.data.n is None and s.data.d == 2
    check_against_data(s, 64, 2)  # fits
    with pytest.raises(ScenarioError) as info:
        check_against_data(s, 50, 3)
    message = info.value.message
    assert message.startswith(str(tmp_path / "s.toml"))
    assert "runs[0].batch_size: got 64, but the data has n = 50 samples" in message
    assert "model.init: got 3 numbers, expected 4" in message


# --- files and bundled scenarios ------------------------------------------------------------------


def test_bundled_scenarios_are_listed() -> None:
    listed = bundled_scenarios()
    names = [name for name, _, _ in listed]
    assert names == sorted(names)
    assert {"houses", "synthetic", "cats_vs_dogs", "lr_too_large", "optimizers"} <= set(names)
    for name, title, description in listed:
        assert title and title != name, name
        assert description, name


@pytest.mark.parametrize("name", [name for name, _, _ in bundled_scenarios()])
def test_every_bundled_scenario_loads(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name and s.runs
    assert s.source_path is not None and s.source_path.name == f"{name}.toml"
    json.dumps(scenario_to_dict(s))  # JSON-able


def test_bundled_houses_compares_the_three_methods() -> None:
    s = load_scenario("houses")
    n = s.data.n
    assert n is not None
    assert sorted(r.method(n) for r in s.runs) == ["full-batch", "mini-batch", "stochastic"]
    assert len({r.train.learning_rate for r in s.runs}) == 1
    assert all(r.train.target_loss for r in s.runs)


def test_cats_vs_dogs_has_20_updates_per_epoch_run() -> None:
    s = load_scenario("cats_vs_dogs")
    assert s.model.kind == "logistic" and s.data.n == 1000
    assert 20 in [r.updates_per_epoch(1000) for r in s.runs]


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    s = load_scenario(path)
    assert s.name == "mine" and s.source_path == path
    assert load_scenario(str(path)).runs == s.runs


def test_unknown_bundled_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("housse")
    message = info.value.message
    assert message.startswith("housse:")
    assert "cats_vs_dogs, four_houses, houses" in message and "did you mean houses?" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.message.startswith(f"{path}: file not found")
    assert "houses" in info.value.message


def test_not_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.message.startswith(f"{path}, line 1: not UTF-8")


def test_scenario_to_dict_is_resolved_and_omits_unused_options() -> None:
    s = parse(MINIMAL + '[[runs]]\nbatch_size = 8\noptimizer = "adam"\n')
    d = scenario_to_dict(s)
    full, adam = d["runs"]
    assert full["batch_size"] == "full" and full["momentum"] == 0.0 and "betas" not in full
    assert adam["betas"] == [0.9, 0.999] and adam["eps"] == 1e-8 and "momentum" not in adam
    assert d["data"]["n"] == 200 and d["data"]["d"] == 1 and "path" not in d["data"]
    assert d["model"]["init"] == [0.0, 0.0]
    assert json.loads(json.dumps(d)) == d


def test_scenario_module_does_not_import_textual() -> None:
    code = "import sys, gdviz.scenario, gdviz.data; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
