"""The scenario keys of batch size during training: ``batch_schedule`` and ``accumulate``.

What they resolve to (and what ``gdviz check`` prints), and bad input: every problem names its
key, what was given and what is valid, exits with code 2 and never shows a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdviz.cli import main
from gdviz.errors import ScenarioError
from gdviz.runfacts import plan_of
from gdviz.scenario import load_scenario, parse_scenario, scenario_to_dict
from gdviz.scenario.batching import BatchSchedule
from hostile import gdviz

HEAD = """
[data]
source = "linear"
n = 200
[train]
epochs = 12
learning_rate = 0.05
"""


def parse(runs: str, head: str = HEAD):
    return parse_scenario(head + runs, "inline.toml", Path("."))


def problems(runs: str, head: str = HEAD) -> str:
    with pytest.raises(ScenarioError) as info:
        parse(runs, head)
    return info.value.message


def test_a_step_rule_and_a_list_resolve_to_the_batches_followed():
    s = parse("""
[[runs]]
batch_size = 8
batch_schedule = { kind = "step", factor = 2, every = 3, max = 48 }
[[runs]]
batch_schedule = [[0, 64], [4, 16], [8, "full"]]
[[runs]]
batch_size = 100
batch_schedule = { kind = "step", factor = 0.3, every = 5 }
[[runs]]
batch_size = 10
batch_schedule = []
""")
    grow, listed, anneal, plain = s.runs
    assert grow.train.batch_schedule == BatchSchedule("step", 2.0, 3, 48, None)
    # 8, 16, 32, then 64 capped at max = 48
    assert plan_of(grow, n=200, d=2, p=3).changes() == ((0, 8), (3, 16), (6, 32), (9, 48))
    assert listed.batch_size == 64  # the list's epoch-0 entry is the starting batch
    assert plan_of(listed, n=200, d=2, p=3).changes() == ((0, 64), (4, 16), (8, 200))
    # 100 * 0.3 = 30, 100 * 0.09 = 9: rounded to the nearest integer
    assert plan_of(anneal, n=200, d=2, p=3).changes() == ((0, 100), (5, 30), (10, 9))
    assert plain.train.batch_schedule is None and not plan_of(plain, n=200, d=2, p=3).scheduled
    assert [r.name for r in s.runs] == ["mini-batch 8 scheduled", "mini-batch 64 scheduled",
                                        "mini-batch 100 scheduled", "mini-batch 10"]
    runs = scenario_to_dict(s)["runs"]
    assert runs[0]["batch_schedule"] == {"kind": "step", "factor": 2.0, "every": 3, "max": 48}
    assert runs[1]["batch_schedule"] == [[0, 64], [4, 16], [8, "full"]] and runs[1]["batch_size"] == 64
    assert "batch_schedule" not in runs[3] and all(r["accumulate"] == 1 for r in runs)


def test_a_schedule_and_accumulate_in_train_are_inherited_and_can_be_overridden():
    s = parse(HEAD.replace("[train]", "[train]\naccumulate = 2\nbatch_schedule = [[6, 40]]") + """
[[runs]]
batch_size = 10
[[runs]]
batch_size = 20
accumulate = 1
batch_schedule = []
""", head="")
    assert s.runs[0].train.accumulate == 2 and s.runs[0].train.batch_schedule is not None
    assert s.runs[0].name == "batch 10×2 scheduled"
    assert s.runs[1].train.accumulate == 1 and s.runs[1].train.batch_schedule is None
    assert s.runs[0].updates_per_epoch(200) == 10  # 20 micro-batches of 10, in pairs


BAD = {
    "factor_zero": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 0, every = 3 }',
                    ["runs[0].batch_schedule", "factor: got 0", "expected a number > 0"]),
    "factor_negative": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = -2.0, every = 3 }',
                        ["runs[0].batch_schedule", "factor: got -2.0", "> 0"]),
    "not_increasing": ("batch_schedule = [[0, 64], [4, 16], [4, 8]]",
                       ["runs[0].batch_schedule", "epochs must increase", "entry 2 ([4, 8])", "after epoch 4"]),
    "decreasing": ("batch_size = 8\nbatch_schedule = [[5, 16], [2, 32]]", ["epochs must increase", "entry 1"]),
    "batch_above_n": ("batch_schedule = [[0, 64], [4, 500]]",
                      ["runs[0].batch_schedule", "batch 500", "n = 200", '"full" or an integer from 1 to 200']),
    "max_above_n": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 2, every = 3, max = 512 }',
                    ["runs[0].batch_schedule", "max = 512", "n = 200", "at most 200"]),
    "max_below_start": ('batch_size = 64\nbatch_schedule = { kind = "step", factor = 2, every = 3, max = 32 }',
                        ["max = 32 is on the wrong side of the starting batch 64"]),
    "min_when_growing": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 2, every = 3, min = 4 }',
                         ["min is for factor < 1", "bound it with max"]),
    "unknown_rule": ('batch_size = 8\nbatch_schedule = { kind = "linear", factor = 2, every = 3 }',
                     ['kind = "linear"', 'the only rule is "step"']),
    "unknown_table_key": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 2, every = 3, maxi = 9 }',
                          ['unknown key "maxi"', "kind, factor, every, max, min"]),
    "missing_every": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 2 }', ["every is missing"]),
    "pair_of_three": ("batch_size = 8\nbatch_schedule = [[2, 16, 3]]", ["entry 0 is [2, 16, 3]", "[epoch, batch]"]),
    "float_batch": ("batch_size = 8\nbatch_schedule = [[2, 7.5]]", ["entry 0's batch: got 7.5"]),
    "a_number": ("batch_size = 8\nbatch_schedule = 5", ["runs[0].batch_schedule: got 5", "[epoch, batch] pairs"]),
    "past_the_end": ("batch_size = 8\nbatch_schedule = [[20, 16]]",
                     ["at epoch 20", "trains for 12 epochs (0 to 11)"]),
    "every_past_the_end": ('batch_size = 8\nbatch_schedule = { kind = "step", factor = 2, every = 12 }',
                           ["every = 12", "would never change"]),
    "start_twice": ("batch_size = 32\nbatch_schedule = [[0, 64], [4, 16]]",
                    ["starts at epoch 0 with batch 64", "runs[0].batch_size = 32", "give the starting batch once"]),
    "no_start": ("batch_schedule = [[4, 16]]", ["runs[0].batch_size: missing"]),
    "accumulate_zero": ("batch_size = 8\naccumulate = 0", ["runs[0].accumulate: got 0", "from 1 to 100000"]),
    "accumulate_float": ("batch_size = 8\naccumulate = 2.0", ["runs[0].accumulate", "without the decimal point"]),
    "accumulate_above_micro_batches": ("batch_size = 64\naccumulate = 5",
                                       ["runs[0].accumulate: got 5", "batch 64", "4 micro-batches", "1 to 4"]),
    "accumulate_full_batch": ('batch_size = "full"\naccumulate = 2',
                              ["the full batch (200)", "1 micro-batch", "expected 1 (no accumulation)"]),
    "accumulate_after_growth": ("batch_size = 10\naccumulate = 3\nbatch_schedule = [[6, 100]]",
                                ["runs[0].accumulate: got 3", "batch 100", "2 micro-batches"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_batching_is_named_with_what_is_valid(case):
    runs, parts = BAD[case]
    message = problems("[[runs]]\n" + runs + "\n")
    for part in parts:
        assert part in message, f"{part!r} not in:\n{message}"


def test_a_bad_schedule_in_train_is_named_there():
    message = problems("[[runs]]\nbatch_size = 8\n",
                       head=HEAD.replace("[train]", '[train]\nbatch_schedule = { kind = "step", factor = 2, every = 30 }'))
    assert "train.batch_schedule: every = 30" in message


def test_a_csv_dataset_is_checked_once_loaded(tmp_path):
    """n is known only after reading the file: the same checks, naming the run's key."""
    (tmp_path / "d.csv").write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(10)))
    path = tmp_path / "s.toml"
    path.write_text("[data]\nsource = 'csv'\npath = 'd.csv'\nfeatures = ['x']\ntarget = 'y'\n[train]\nepochs = 4\n"
                    "learning_rate = 0.01\n[[runs]]\nbatch_size = 4\naccumulate = 4\n[[runs]]\nbatch_size = 2\n"
                    "batch_schedule = [[2, 20]]\n")
    from gdviz.data import build_dataset

    with pytest.raises(ScenarioError) as info:
        build_dataset(load_scenario(path))
    message = info.value.message
    assert "runs[0].accumulate: got 4" in message and "3 micro-batches" in message
    assert "runs[1].batch_schedule: has batch 20, but the data has n = 10" in message


def test_bad_batching_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + "[[runs]]\nbatch_size = 8\naccumulate = 0\n"
                    '[[runs]]\nbatch_size = 8\nbatch_schedule = { kind = "step", factor = 0, every = 2 }\n')
    r = gdviz("check", str(path))
    assert r.code == 2
    assert "runs[0].accumulate" in r.err and "runs[1].batch_schedule" in r.err and "2 problems" in r.err


def test_check_says_what_the_schedule_and_the_accumulation_do(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(HEAD + "[[runs]]\nbatch_size = 8\nbatch_schedule = { kind = 'step', factor = 2, every = 4 }\n"
                    "[[runs]]\nbatch_size = 16\naccumulate = 4\n[[runs]]\nbatch_size = 25\naccumulate = 2\n")
    assert main(["check", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ('runs[0] "mini-batch 8 scheduled": batch 8 from epoch 0 (25 updates/epoch), 16 from epoch 4 (13), '
            "32 from epoch 8 (7): 180 updates in 12 epochs") in out
    assert ('runs[1] "batch 16×4": at batch 16 each update sums 4 micro-batches (64 samples; memory for 16 rows): '
            "4 updates per epoch of 13 micro-batches; the epoch's last group holds 1 micro-batch and still steps, "
            "each of its gradients divided by 4 (as PyTorch's usual loop)") in out
    assert "runs[2]" in out and "every group is whole" in out
    doc = json.loads(out[out.index("{"):])
    assert doc["runs"][1]["accumulate"] == 4
