"""The loss landscape under the paths (gdviz.surface): plane, extent, grid, bands; no UI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.scenario import load_scenario
from gdviz.surface import Surface, compute_surface, heat_levels, resample


def bowl_surface() -> Surface:
    nx, ny = 40, 20
    gx = np.linspace(-2, 2, nx)
    gy = np.linspace(1, -1, ny)
    Z = gx[None, :] ** 2 + gy[:, None] ** 2 + 0.1
    return Surface(np.zeros(2), np.eye(2), -2.0, 2.0, -1.0, 1.0, Z, (0.0, 0.0), "w", "b", "bowl", version=1)


@pytest.fixture(scope="module")
def engines():
    """Two trained engines: houses (2 parameters) and optimizers (3 parameters)."""
    out = {}
    for name in ("houses", "optimizers"):
        scenario = load_scenario(name)
        engine = Engine(scenario, build_dataset(scenario))
        engine.run_to_end()
        out[name] = engine
    return out


def test_heat_levels_put_the_minimum_in_the_lowest_band():
    s = bowl_surface()
    bands = heat_levels(s.Z, 10)
    assert bands.min() == 0 and bands.max() == 9
    assert bands[np.unravel_index(np.argmin(s.Z), s.Z.shape)] == 0


def test_non_finite_losses_take_the_top_band():
    Z = np.array([[0.0, 1.0], [np.inf, np.nan]])
    assert heat_levels(Z, 5)[1].tolist() == [4, 4]


def test_resample_keeps_the_corners():
    Z = np.arange(12.0).reshape(3, 4)
    R = resample(Z, 6, 8)
    assert R[0, 0] == 0 and R[-1, -1] == 11


def test_with_two_parameters_the_plane_is_the_parameter_space(engines):
    engine = engines["houses"]
    s = compute_surface(engine, [r.history.params for r in engine.runs], version=3)
    assert np.array_equal(s.basis, np.eye(2)) and s.version == 3
    assert (s.xlabel, s.ylabel) == ("w_size_sqft", "b")
    assert s.optimum == pytest.approx(tuple(engine.theta_star))
    for r in engine.runs:
        assert s.contains(s.project(r.history.params))


def test_the_grid_is_the_full_loss_at_its_cell_centres(engines):
    engine = engines["houses"]
    s = compute_surface(engine, [r.history.params for r in engine.runs])
    ny, nx = s.Z.shape
    i, j = ny // 3, nx // 4
    x = s.x0 + (j + 0.5) * (s.x1 - s.x0) / nx
    y = s.y1 - (i + 0.5) * (s.y1 - s.y0) / ny
    theta = s.origin + s.basis @ np.array([x, y])
    assert s.Z[i, j] == pytest.approx(float(engine.full_loss(theta[None, :])[0]))


def test_with_more_parameters_the_plane_has_two_orthonormal_axes_through_the_optimum(engines):
    engine = engines["optimizers"]
    assert engine.p == 3
    s = compute_surface(engine, [r.history.params for r in engine.runs])
    assert s.basis.shape == (3, 2)
    assert s.basis.T @ s.basis == pytest.approx(np.eye(2))
    assert np.allclose(s.origin, engine.theta_star)
    assert s.xlabel.startswith("PC1 (") and s.ylabel.startswith("PC2 (")


def test_with_more_parameters_the_paths_fill_the_plane_along_both_axes():
    """synthetic (11 parameters): the paths' spread along PC2 is a small part of PC1's, and
    each axis is fitted to it, so the paths cover most of the panel's height as well as its
    width, with the optimum in view."""
    scenario = load_scenario("synthetic")
    engine = Engine(scenario, build_dataset(scenario))
    engine.run_to_end()
    s = compute_surface(engine, [r.history.params for r in engine.runs])
    xy = np.concatenate([s.project(r.history.params) for r in engine.runs])
    assert np.ptp(xy[:, 0]) > 0.7 * (s.x1 - s.x0)
    assert np.ptp(xy[:, 1]) > 0.7 * (s.y1 - s.y0)
    assert s.x0 < s.optimum[0] < s.x1 and s.y0 < s.optimum[1] < s.y1
    assert s.contains(xy)


def test_diverged_runs_are_left_out_of_the_extent(engines):
    engine = engines["houses"]
    paths = [r.history.params for r in engine.runs]
    far = paths[0] * 1e6
    wide = compute_surface(engine, [far, *paths[1:]])
    kept = compute_surface(engine, [far, *paths[1:]], exclude={0})
    assert kept.x1 - kept.x0 < (wide.x1 - wide.x0) / 100


def test_the_surface_module_imports_without_textual():
    code = (
        "import sys, gdviz.surface;"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
