"""Scenario files: the schema, declared once, and the validator that reports every problem.

A scenario is a TOML file (see ``scenarios/*.toml`` for commented examples)::

    title = "House prices"
    seed = 0

    [data]                 # what to learn from
    source = "houses"

    [model]                # what to fit
    kind = "linear"

    [train]                # defaults for every run
    epochs = 30
    learning_rate = 0.1

    [[runs]]               # one entry per run, trained side by side
    batch_size = "full"

    [[runs]]
    batch_size = 32
    optimizer = "adam"     # any [train] key can be overridden per run

The schema lives in frozen dataclasses: each field's metadata (built by ``_key``) says its
type, range, default and which choice of ``source``, ``optimizer`` or ``schedule`` it belongs
to. The validator walks the dict from :mod:`tomllib` against that metadata and collects *all*
problems before raising one :class:`~gdviz.errors.ScenarioError`, so a user fixes a file in
one go. Each problem names the key path (``runs[2].batch_size``), what was given and what
would be valid; unknown keys get the nearest valid key.

The package, one purpose a module (none imports NumPy, Numba or Textual):

- :mod:`~gdviz.scenario.fields`: value checks and the key-declaration machinery;
- :mod:`~gdviz.scenario.spec`: the frozen dataclasses (the schema) and its constants;
- :mod:`~gdviz.scenario.problems`: problem collection and the per-table key steps;
- :mod:`~gdviz.scenario.validate`: the validator, section by section, and the check
  against the loaded data;
- :mod:`~gdviz.scenario.split`: the checks of ``[data] validation`` (rows on each side);
- :mod:`~gdviz.scenario.load`: TOML text, scenario files and the bundled scenarios;
- :mod:`~gdviz.scenario.describe`: a resolved scenario as JSON-able values (``gdviz check``).

This module re-exports the public names, so ``from gdviz.scenario import ...`` is all a
caller needs.
"""

from __future__ import annotations

from gdviz.scenario.describe import scenario_to_dict
from gdviz.scenario.load import bundled_scenarios, load_scenario, parse_scenario
from gdviz.scenario.spec import (
    DTYPES,
    HOUSE_FEATURES,
    MAX_VALUES,
    SOURCES,
    TARGETS,
    DataSpec,
    ModelSpec,
    RunSpec,
    Scenario,
    TrainSpec,
    classes_feature_names,
    validation_counts,
)
from gdviz.scenario.split import check_validation_split
from gdviz.scenario.against_data import check_against_data

__all__ = [
    "DTYPES",
    "TARGETS",
    "DataSpec",
    "ModelSpec",
    "TrainSpec",
    "RunSpec",
    "Scenario",
    "load_scenario",
    "parse_scenario",
    "bundled_scenarios",
    "scenario_to_dict",
    "check_against_data",
    "check_validation_split",
    "validation_counts",
    "SOURCES",
    "HOUSE_FEATURES",
    "MAX_VALUES",
    "classes_feature_names",
]
