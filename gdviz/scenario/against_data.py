"""What a scenario can only be checked against once its data is loaded: batch sizes (a batch
schedule's and a sweep's too) within the rows the runs train on, ``accumulate`` within an
epoch's micro-batches, and ``init`` of the model's length.
"""

from __future__ import annotations

import dataclasses

from gdviz.scenario.batching import batching_problems
from gdviz.scenario.problems import _Problems, _raise
from gdviz.scenario.spec import Scenario
from gdviz.scenario.split import _rows_and_words
from gdviz.scenario.validate import _layout, _n_params

def check_against_data(scenario: Scenario, n: int, d: int, n_rows: int | None = None) -> None:
    """Check what depends on the loaded data: batch sizes <= n (a batch schedule's too), ``accumulate``
    within an epoch's micro-batches, the sweep's batch sizes, and ``init`` of length d + b.

    ``n`` is the rows the runs train on; ``n_rows`` all the rows read, when ``[data]
    validation`` held some out (for messages).

    Raises
    ------
    ScenarioError
        Every mismatch, each naming its key (``runs[1].batch_size``, ``model.init``).
    """
    problems = _Problems()
    if n_rows is not None and scenario.data.validation is not None:
        words = _rows_and_words(n_rows, scenario.data.validation)[1]
    else:
        words = f"the data has n = {n} samples"
    for i, run in enumerate(scenario.runs):
        if run.batch_size is not None and run.batch_size > n:
            problems.add(
                f"runs[{i}].batch_size",
                f'got {run.batch_size}, but {words}; expected "full" or an integer from 1 to {n}',
            )
        else:
            t = run.train
            for key, text in batching_problems(t.batch_schedule, run.batch_size, t.accumulate, t.drop_last,
                                               t.epochs, n):
                problems.add(f"runs[{i}].{key}", text)
    if scenario.sweep is not None:
        too_big = [b for b in scenario.sweep.batch_sizes if b is not None and b > n]
        if too_big:
            problems.add("sweep.batch_sizes", f"got {too_big[0]}, but the data has n = {n} samples; "
                         f'expected "full" or integers from 1 to {n}')
    model = scenario.model
    p = _n_params(dataclasses.asdict(model), d)
    if (model.kind != "mlp" or model.init) and len(model.init) != p:
        problems.add("model.init", f"got {len(model.init)} numbers, expected {p}: {_layout(dataclasses.asdict(model))} "
                     f"with d = {d}")
    if problems.items:
        _raise(scenario.label, problems.items)

