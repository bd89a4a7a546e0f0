"""The MLP as a user meets it: the ``[model] kind = "mlp"`` schema and its errors, the host
model (gdviz.mlp), the generators it comes with, the engine and the two bundled scenarios,
whose descriptions are checked against what the app measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import naive
from gdviz.cli import main
from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.errors import ScenarioError
from gdviz.generators import generate_moons, generate_random
from gdviz.mlp import MLP
from gdviz.models import make_model
from gdviz.scenario import load_scenario, parse_scenario
from gdviz.surface import compute_surface

NET = """
seed = 3
[data]
source = "random"
n = 60
d = 4

[model]
kind = "mlp"
hidden = [5]

[train]
epochs = 3
learning_rate = 0.01

[[runs]]
batch_size = "full"

[[runs]]
batch_size = 8
"""


def parse(text: str):
    return parse_scenario(text, "net.toml", Path("."))


def test_defaults_are_one_relu_layer_on_mse_seeded_by_the_scenario():
    sc = parse(NET.replace("hidden = [5]\n", ""))
    assert (sc.model.hidden, sc.model.activation, sc.model.loss, sc.model.init_seed) == ((50,), "relu", "mse", None)
    engine = Engine(sc, build_dataset(sc))
    assert engine.p == 4 * 50 + 50 + 50 + 1
    np.testing.assert_array_equal(engine.init, MLP(4, (50,), init_seed=3).initial_params())


@pytest.mark.parametrize(
    "change,key,words",
    [
        ("hidden = []", "model.hidden", "a list of 1 to 2 integers"),
        ("hidden = [0]", "model.hidden", "from 1"),
        ("hidden = [-3, 4]", "model.hidden", "from 1"),
        ("hidden = [4, 4, 4]", "model.hidden", "it has 3"),
        ("hidden = 5", "model.hidden", "write a list: [5]"),
        ('hidden = [5]\nactivation = "gelu"', "model.activation", '"relu", "tanh", "sigmoid"'),
        ('hidden = [5]\nloss = "bce"', "model.loss", "not 0/1 labels"),
        ("hidden = [5]\ninit = [0.1, 0.2]", "model.init", "expected 31"),
        ("hidden = [5]\nfit_intercept = false", "model.fit_intercept", 'only for kind "linear" or "logistic"'),
    ],
)
def test_bad_mlp_settings_name_the_key_and_what_is_valid(change, key, words):
    with pytest.raises(ScenarioError) as info:
        parse(NET.replace("hidden = [5]", change))
    message = info.value.message
    assert key in message and words in message, message


def test_mlp_keys_on_a_linear_model_are_refused():
    text = NET.replace('kind = "mlp"\nhidden = [5]', 'kind = "linear"\nactivation = "tanh"')
    with pytest.raises(ScenarioError, match='model.activation: only for kind "mlp"'):
        parse(text)


def test_bad_mlp_scenario_exits_2_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(NET.replace("hidden = [5]", "hidden = [5, 0]"))
    assert main(["run", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "model.hidden" in err and "Traceback" not in err


# --- the host model ----------------------------------------------------------------------------


def test_initial_parameters_are_uniform_within_one_over_root_fan_in_per_layer():
    model = MLP(10, (50, 20), init_seed=7)
    theta = model.initial_params()
    assert theta.shape == (model.n_params,) == (10 * 50 + 50 + 50 * 20 + 20 + 20 + 1,)
    for (W, b), fan_in in zip(model.unflatten(theta), (10, 50, 20)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(W).max() > 0.8 * bound  # spread over the whole range
    np.testing.assert_array_equal(theta, MLP(10, (50, 20), init_seed=7).initial_params())
    assert not np.array_equal(theta, MLP(10, (50, 20), init_seed=8).initial_params())


def test_names_description_and_settings():
    model = make_model("mlp", 10, hidden=[50])
    assert model.description() == "mlp 10→50→1 relu, 601 parameters"
    names = model.param_names()
    assert len(names) == 601 and names[:2] == ["W1[0][0]", "W1[0][1]"] and names[500] == "b1[0]"
    assert names[-2:] == ["Wo[49]", "bo"]


@pytest.mark.parametrize("activation,loss", [("relu", "mse"), ("tanh", "bce"), ("sigmoid", "mse")])
def test_batched_losses_and_gradient_stats_match_the_reference(activation, loss):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = (rng.random(30) > 0.5).astype(float) if loss == "bce" else rng.standard_normal(30)
    model = MLP(3, (4, 5), activation, loss)
    ref = naive.MLP(3, (4, 5), activation, loss)
    thetas = rng.standard_normal((3, model.n_params))
    np.testing.assert_allclose(model.losses(X, y, thetas), [ref.loss_grad(X, y, t)[0] for t in thetas], rtol=1e-12)
    G, M = model.example_gradient_stats(X, y, thetas)
    for k, t in enumerate(thetas):
        per_row = np.array([ref.loss_grad(X, y, t, [i])[1] for i in range(30)])
        np.testing.assert_allclose(G[k], per_row.mean(axis=0), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(M[k], np.mean(np.sum(per_row**2, axis=1)), rtol=1e-10)


def test_original_units_fold_the_standardization_into_the_first_and_last_layers():
    sc = parse(NET.replace('source = "random"', 'source = "moons"').replace("d = 4\n", "")
               .replace("[data]", "[data]\nstandardize = true"))
    ds = build_dataset(sc)
    model = make_model("mlp", 2, hidden=[5])
    theta = model.initial_params()
    raw = ds.X * ds.x_scale + ds.x_mean
    orig = model.to_original_units(ds, theta)
    np.testing.assert_allclose(model.losses(raw, ds.y, orig[None]), model.losses(ds.X, ds.y, theta[None]), rtol=1e-12)


# --- generators ------------------------------------------------------------------------------


def test_random_is_independent_standard_normal_and_moons_are_two_balanced_classes():
    X, y = generate_random(4000, 10, 0)
    assert X.shape == (4000, 10) and abs(X.std() - 1) < 0.03 and abs(y.std() - 1) < 0.05
    assert np.abs(X.T @ (y - y.mean()) / 4000).max() < 0.06
    X, y = generate_moons(1000, 0.1, 0)
    assert set(np.unique(y)) == {0.0, 1.0} and y.sum() == 500
    assert X[y == 1, 1].mean() > X[y == 0, 1].mean()  # the upper moon is above
    np.testing.assert_array_equal(generate_moons(1000, 0.1, 0)[0], X)


# --- the engine and the bundled scenarios ---------------------------------------------------------


def test_engine_runs_an_mlp_scenario_with_a_surface_on_the_path_plane():
    sc = parse(NET)
    engine = Engine(sc, build_dataset(sc))
    engine.run_to_end()
    for run in engine.runs:
        h = run.history
        assert h.params.shape[1] == 31 and np.isfinite(h.full_loss).all()
        np.testing.assert_allclose(h.full_loss, engine.full_loss(h.params), rtol=0, atol=0)
    surface = compute_surface(engine, [r.history.params for r in engine.runs])
    assert "principal directions" in surface.title and np.isfinite(surface.Z).all()
    i, j = 7, 11
    nx, ny = surface.Z.shape[1], surface.Z.shape[0]
    x = surface.x0 + (j + 0.5) * (surface.x1 - surface.x0) / nx
    yy = surface.y1 - (i + 0.5) * (surface.y1 - surface.y0) / ny
    theta = surface.origin + surface.basis @ np.array([x, yy])
    assert surface.Z[i, j] == pytest.approx(float(engine.full_loss(theta[None])[0]), rel=1e-10)


def _json(capsys, name):
    assert main(["run", name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# What mlp_random and mlp_moons show is checked with every scenario's story: tests/test_stories.py.


def test_bundled_mlp_scenarios_load():
    for name in ("mlp_random", "mlp_moons"):
        assert load_scenario(name).model.kind == "mlp"


def test_bench_model_mlp_prints_one_json_document(capsys):
    assert main(["bench", "--model", "mlp", "--n", "100", "--repeats", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["impl"], r["batch"], r["runs"]) for r in doc["rows"]] == [
        ("gdviz", 1, 1), ("gdviz", 32, 1), ("gdviz", 64, 1), ("gdviz", 100, 1), ("gdviz", 64, 64)]
    assert all(r["seconds_per_epoch"] > 0 for r in doc["rows"]) and doc["ratios"] == {}


def test_check_shows_an_mlp_with_its_own_keys_only():
    """`gdviz check` on an mlp: no fit_intercept (an MLP always has biases), no empty init,
    the init_seed it will use (the scenario's seed by default); a linear model keeps its keys."""
    from gdviz.scenario import scenario_to_dict

    model = scenario_to_dict(load_scenario("mlp_random"))["model"]
    assert "fit_intercept" not in model and "init" not in model
    assert model["init_seed"] == load_scenario("mlp_random").seed
    assert model["hidden"] == [50] and model["activation"] == "relu"
    linear = scenario_to_dict(load_scenario("houses"))["model"]
    assert linear["fit_intercept"] is True and linear["init"] == [-1.0, 1.5] and "init_seed" not in linear
