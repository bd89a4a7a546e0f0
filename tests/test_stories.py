"""Each bundled scenario's description tells a story in numbers; these tests hold it to them.

Every story is checked on the engine's own result (the headless engine, CPU, float64, the
bundled scenario as shipped), so a change to a kernel, a generator or a scenario that stops a
scenario telling its story fails here instead of silently misleading a reader. The figures are
the ones ``gdviz run NAME --json`` reports; the numbers quoted in the description are checked
to be the measured ones, rounded as the description rounds them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.ensembles import ensembles
from gdviz.runs import RunSummary
from gdviz.scenario import bundled_scenarios, load_scenario

Figures = dict[str, RunSummary]
README = Path(__file__).resolve().parents[1] / "README.md"


def _run(name: str) -> tuple[Engine, Figures, str]:
    scenario = load_scenario(name)
    engine = Engine(scenario, build_dataset(scenario))
    engine.run_to_end()
    figures = {s.name: s for s in engine.summaries()}
    return engine, figures, scenario.description


def _quoted(description: str, *numbers: str) -> None:
    for number in numbers:
        assert number in description, f"the description no longer quotes {number!r}: {description!r}"


def houses(engine: Engine, f: Figures, text: str) -> None:
    full, sgd, mini = f["full-batch"], f["stochastic"], f["mini-batch 32"]
    # per epoch SGD is first by far; per update mini-batch and full batch are close, SGD last
    assert sgd.epochs_to_target < mini.epochs_to_target < full.epochs_to_target
    assert (sgd.epochs_to_target, sgd.updates_to_target) == (0.14, 28)
    assert (round(mini.epochs_to_target, 1), mini.updates_to_target) == (1.7, 12)
    assert (full.epochs_to_target, full.updates_to_target) == (13, 13)
    # at the end the constant-lr SGD run still jitters above the best; full batch is at it
    assert round(engine.loss_star, 3) == 0.127 and round(full.final_loss, 3) == 0.127
    assert round(sgd.final_loss, 3) == 0.135 and sgd.final_loss > mini.final_loss > full.final_loss
    _quoted(text, "0.14 epochs (28 updates)", "1.7 epochs (12 updates)", "13 epochs (13 updates)", "0.135", "0.127")
    # the README quotes full batch's fitted line at the end, as the app's status line shows it
    w, b = full.final_params_original_units
    assert (round(w, 1), round(b)) == (163.1, 60058)
    assert "price = 163.1·size_sqft + 60 058" in README.read_text(encoding="utf-8")


def cats_vs_dogs(engine: Engine, f: Figures, text: str) -> None:
    full, sgd, mini = f["full-batch"], f["stochastic"], f["mini-batch 50"]
    assert round(sgd.epochs_to_target, 2) == 0.03
    assert round(mini.epochs_to_target, 1) == 1.8
    assert full.epochs_to_target == 35
    # only the batches of 50 end at the best loss (no run of any method ends lower)
    best = min(s.final_loss for s in f.values())
    assert best == mini.final_loss and round(best, 3) == 0.297
    assert full.final_loss > best + 0.01 and sgd.final_loss > best + 0.005
    _quoted(text, "0.03 epochs", "1.8", "full batch 35", "0.297")


def lr_too_large(engine: Engine, f: Figures, text: str) -> None:
    full, mini, sgd = f["full-batch"], f["mini-batch 32"], f["stochastic"]
    assert not full.diverged and round(full.final_loss, 3) == round(engine.loss_star, 3) == 0.127
    assert not mini.diverged and mini.updates_to_target == 2 and round(mini.final_loss, 3) == 0.199
    assert sgd.diverged and sgd.diverged_step == 52 and sgd.epochs_to_target is None
    _quoted(text, "0.127", "2 updates", "0.199", "update 52")


def optimizers(engine: Engine, f: Figures, text: str) -> None:
    sgd, momentum, adam = f["sgd"], f["sgd + momentum 0.9"], f["adam"]
    assert sgd.updates_to_target == 205
    assert momentum.updates_to_target == adam.updates_to_target == 41
    _quoted(text, "205 updates", "41 each")


def synthetic(engine: Engine, f: Figures, text: str) -> None:
    full, sgd, mini = f["full-batch"], f["stochastic"], f["mini-batch 32"]
    assert sgd.epochs_to_target == 0.075 and sgd.updates_to_target == 75
    assert round(mini.epochs_to_target, 1) == 1.9 and mini.updates_to_target == 60
    assert full.epochs_to_target == full.updates_to_target == 60
    _quoted(text, "0.075 epochs", "1.9", "full batch 60", "60 each", "75")


def noise_floor(engine: Engine, f: Figures, text: str) -> None:
    full, sgd, decay, mini = f["full-batch"], f["stochastic"], f["stochastic, lr decay"], f["mini-batch 32"]
    assert round(engine.loss_star, 3) == 0.262
    assert (mini.updates_to_target, full.updates_to_target, decay.updates_to_target) == (90, 94, 9440)
    # constant-lr SGD ran all its epochs and never came within the target
    assert sgd.epochs == 120 and not sgd.diverged and sgd.epochs_to_target is None
    _quoted(text, "0.268", "0.262", "90 updates", "full batch 94", "9,440", "120 epochs")


def mlp_random(engine: Engine, f: Figures, text: str) -> None:
    full, mini, sgd = f["full-batch"], f["mini-batch 64"], f["stochastic"]
    assert (engine.n, engine.d) == (1000, 10)
    assert [full.updates_per_epoch, mini.updates_per_epoch, sgd.updates_per_epoch] == [1, 16, 1000]
    assert all(len(s.final_params) == 601 for s in f.values())
    assert engine.runs[0].history.full_loss[0] == pytest.approx(1.15, abs=0.01)
    assert full.final_loss > 1.0 > mini.final_loss > 0.95
    assert 0.6 < sgd.final_loss < 0.7
    _quoted(text, "1.15", "1.0", "0.65")


def mlp_moons(engine: Engine, f: Figures, text: str) -> None:
    full, mini, sgd = f["full-batch"], f["mini-batch 32"], f["stochastic"]
    assert sgd.epochs_to_target <= 3
    assert 40 <= mini.epochs_to_target <= 50
    assert full.epochs_to_target is None and 0.25 < full.final_loss < 0.3
    _quoted(text, "0.1", "0.28")


def sweep_synthetic(engine: Engine, f: Figures, text: str) -> None:
    # its runs (the sweep's figures are checked in tests/test_sweep.py)
    full, sgd, mini = f["full-batch"], f["stochastic"], f["mini-batch 32"]
    assert (sgd.updates_to_target, mini.updates_to_target, full.updates_to_target) == (150, 9, 3)
    _quoted(text, "SGD 150, mini-batch 32 9, full batch 3")


def sweep_cats(engine: Engine, f: Figures, text: str) -> None:
    # its runs (the sweep's figures are checked in tests/test_sweep.py)
    full, sgd, mini = f["full-batch"], f["stochastic"], f["mini-batch 32"]
    assert (sgd.updates_to_target, mini.updates_to_target, full.updates_to_target) == (156, 11, 5)
    _quoted(text, "SGD 156, mini-batch 32 11, full batch 5")


def overfitting(engine: Engine, f: Figures, text: str) -> None:
    full, mini, sgd = f["full-batch"], f["mini-batch 32"], f["stochastic"]
    assert (engine.n, engine.dataset.n_val) == (160, 40)
    assert [full.updates_per_epoch, mini.updates_per_epoch, sgd.updates_per_epoch] == [1, 5, 160]
    hf, hm, hs = full.held_out, mini.held_out, sgd.held_out
    # stochastic descent: the lowest training loss and best training accuracy of the three ...
    assert sgd.final_loss < mini.final_loss < full.final_loss and round(sgd.final_loss, 2) == 0.25
    assert hs.train["accuracy"] == 0.9 and hs.train["accuracy"] > max(hm.train["accuracy"], hf.train["accuracy"])
    # ... but its validation loss bottomed out early and ends far above the others'
    assert (round(hs.best_loss, 2), hs.best_epoch) == (0.42, 3.0)
    assert round(hs.loss, 2) == 1.11 and hs.loss > 2 * max(hm.loss, hf.loss)
    assert hs.validation["accuracy"] == 0.725 < min(hm.validation["accuracy"], hf.validation["accuracy"])
    # full batch and mini-batch 32: small gaps, better validation accuracy
    assert round(hf.loss, 2) == round(hm.loss, 2) == 0.43
    assert (round(hf.gap, 2), round(hm.gap, 2)) == (0.03, 0.06)
    assert (hf.validation["accuracy"], hm.validation["accuracy"]) == (0.825, 0.8)
    _quoted(text, "0.25, 90%", "lowest (0.42) at epoch 3", "ends at 1.11 (72.5%", "validation losses 0.43",
            "gaps 0.03 and 0.06", "82.5% and 80%", "validation = 0.2", "40 held out")
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert "lowest (0.42) at epoch 3, ends at 1.11 (72.5% accuracy on the held-out points)" in readme
    assert "0.43 (gaps 0.03 and 0.06; 82.5% and 80%)" in readme


def seeds(engine: Engine, f: Figures, text: str) -> None:
    e = {x.name: x for x in ensembles([r.spec for r in engine.runs], engine.summaries())}
    full, sgd, mini = e["full-batch"], e["stochastic"], e["mini-batch 32"]
    assert len(sgd.runs) == len(mini.runs) == 20
    assert len(full.runs) == 1 and "a full batch is never shuffled" in full.note
    # to the target: SGD's updates spread fourfold over the seeds, mini-batch's by one update
    su, mu = sgd.updates_to_target, mini.updates_to_target
    assert su.reached == mu.reached == 20 and su.p90 > 4 * su.p10 and mu.p90 - mu.p10 <= 1
    # at the end: SGD's final loss is the luck of where its jitter stops; mini-batch's barely varies
    assert sgd.final_loss.p90 > 2 * sgd.final_loss.p10 and mini.final_loss.p90 < 1.05 * mini.final_loss.p10
    assert round(full.final_loss.median, 3) == 0.127 and full.epochs_to_target.median == 13
    n = "{:.0f}".format
    _quoted(text, f"SGD {sgd.epochs_to_target.text()} epochs ({su.text(n)} updates)",
            f"mini-batch 32 {mini.epochs_to_target.text()} epochs ({mu.text(n)} updates)",
            f"final loss SGD {sgd.final_loss.text()}, mini-batch 32 {mini.final_loss.text()}", "(13 epochs, 0.127)")
    readme = " ".join(README.read_text(encoding="utf-8").split())
    lo, hi = "{:.3g}".format(sgd.final_loss.p10), "{:.3g}".format(sgd.final_loss.p90)
    assert f"SGD needs {su.text(n)} updates over 20 seeds and mini-batch 32 {mu.text(n)}" in readme
    assert f"SGD ends anywhere from {lo} to {hi}" in readme


def _loss_at_epochs(engine: Engine, name: str, epochs: range) -> np.ndarray:
    """A run's full-dataset loss at whole epochs (every epoch end is a recorded point)."""
    h = next(r.history for r in engine.runs if r.name == name)
    return np.array([h.full_loss[np.flatnonzero(np.isclose(h.epoch, e, rtol=0, atol=1e-9))[0]] for e in epochs])


def batch_schedules(engine: Engine, f: Figures, text: str) -> None:
    decay, grow, anneal, constant = f["decay lr"], f["grow batch"], f["anneal batch"], f["constant"]
    # Smith et al.: growing the batch by the factor the learning rate is decayed by follows the
    # decayed run's loss epoch for epoch (the guard: within 5% at equal epochs) with at
    # least 3x fewer updates.
    epochs = range(1, 26)
    a, b = _loss_at_epochs(engine, "decay lr", epochs), _loss_at_epochs(engine, "grow batch", epochs)
    gap = np.abs(b / a - 1)
    assert gap.max() <= 0.05 and round(float(gap.max()), 3) <= 0.011
    assert (decay.updates, grow.updates) == (25_600, 6_820) and decay.updates >= 3 * grow.updates
    assert round(decay.final_loss, 4) == round(grow.final_loss, 4) == round(engine.loss_star, 4) == 0.2522
    assert grow.batch_schedule == ((0, 4), (5, 16), (10, 64), (15, 256), (20, 1024)) and grow.batch_size == 1024
    assert (grow.updates_per_epoch, decay.updates_per_epoch) == (4, 1024)  # at the end: batch 1024 against 4
    # annealing down: the best run after 5 epochs, then as noisy as a constant batch of 4
    at5 = {name: _loss_at_epochs(engine, name, range(5, 6))[0] for name in f}
    assert min(at5, key=at5.get) == "anneal batch" and round(at5["anneal batch"], 3) == 0.254
    assert round(anneal.final_loss, 3) == round(constant.final_loss, 3) == 0.384
    assert anneal.final_loss > 1.5 * decay.final_loss
    _quoted(text, "0.2522 (best 0.2522)", "25,600 updates", "6,820 updates", "1.1%", "0.254", "0.384")


def four_houses(engine: Engine, f: Figures, text: str) -> None:
    sgd, full = f["stochastic"], f["full-batch"]
    h = engine.runs[0].history
    # the hand calculation of the scenario's comment: house 1 first, from w = b = 0
    assert h.step[1] == 1 and np.allclose(h.params[1], [0.4378, 0.398], rtol=0, atol=1e-12)
    assert (round(sgd.epochs_to_target, 1), sgd.updates_to_target) == (25.2, 101)
    assert full.epochs_to_target is None and full.epochs == 50 and round(full.final_loss, 3) == 0.022
    _quoted(text, "(0.4378, 0.398)", "25.2 epochs (101 updates)", "50 epochs at 0.022", "made-up")


STORIES: dict[str, Callable[[Engine, Figures, str], None]] = {
    f.__name__: f
    for f in (houses, cats_vs_dogs, lr_too_large, optimizers, synthetic, noise_floor, mlp_random, mlp_moons,
              sweep_synthetic, sweep_cats, overfitting, batch_schedules, four_houses, seeds)
}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_scenario_tells_its_story(name: str) -> None:
    engine, figures, description = _run(name)
    STORIES[name](engine, figures, description)


def test_every_bundled_scenario_has_a_checked_story() -> None:
    """A new bundled scenario needs an entry in ``STORIES`` stating what it shows."""
    missing = [name for name, _, _ in bundled_scenarios() if name not in STORIES]
    assert not missing, f"bundled scenarios with no story test: {missing}"
