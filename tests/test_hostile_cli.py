"""Hostile input through the command line, in a subprocess (issue 14): every case ends with
the documented exit code, no traceback on stderr, and nothing but JSON on stdout under --json.

One test (or a few) per class of input; the helpers are in ``tests/hostile.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import gdviz, only_json, scenario

MARKUP_NAMES = ("x[/]", "[red]x[/red]", "[link=x]l[/link]", "[/bold] [b", "a\\[b]")


def _markup_scenario(tmp_path: Path, folder: str = "plain") -> Path:
    runs = "\n".join(f"[[runs]]\nname = '{n}'\nbatch_size = {i + 1}" for i, n in enumerate(MARKUP_NAMES))
    return scenario(tmp_path / folder, 'title = "[/bold] T [red]x[/red]"\ndescription = "[link=x]d[/link]"\n' + runs,
                    name="[red]s.toml")


# --- 1. user strings are never markup ------------------------------------------------------------------
def test_markup_in_names_and_title_is_printed_literally_by_headless(tmp_path):
    path = _markup_scenario(tmp_path, "[b]dir")
    r = gdviz("run", str(path), "--headless")
    assert r.code == 0, r.err
    for name in MARKUP_NAMES:
        assert name in r.out
    assert "[/bold] T [red]x[/red]" in r.out


def test_markup_in_names_round_trips_through_json(tmp_path):
    r = gdviz("run", str(_markup_scenario(tmp_path)), "--json")
    assert r.code == 0, r.err
    doc = only_json(r.out)
    assert doc["title"] == "[/bold] T [red]x[/red]"
    assert [run["name"] for run in doc["runs"]] == list(MARKUP_NAMES)


def test_a_path_with_brackets_is_printed_as_it_is(tmp_path):
    path = _markup_scenario(tmp_path, "[b]dir")
    r = gdviz("check", str(path))
    assert r.code == 0, r.err
    assert "[b]dir/[red]s.toml" in r.out


def test_control_characters_in_names_are_refused_and_never_reach_the_terminal(tmp_path):
    path = scenario(tmp_path, 'title = "t\\u001b]0;owned\\u0007"\n[[runs]]\nname = "r\\u001b[2J"\nbatch_size = 1')
    r = gdviz("run", str(path), "--json")
    assert r.code == 2
    assert r.out == ""
    assert "\x1b" not in r.err and "\x07" not in r.err
    assert "title" in r.err and "runs[0].name" in r.err and "U+001B" in r.err


def test_a_missing_file_with_escapes_in_its_name_is_named_with_them_escaped(tmp_path):
    r = gdviz("check", str(tmp_path / "a\x1b[31mb.toml"))
    assert r.code == 2
    assert "\x1b" not in r.err and "\\x1b[31mb.toml" in r.err


# --- 6. output streams -----------------------------------------------------------------------------------
def test_a_reader_that_goes_away_ends_quietly(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1")
    proc = subprocess.Popen([sys.executable, "-m", "gdviz", "run", str(path), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the document is written
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert code in (0, 141)


def test_closed_stdout_is_one_line_on_stderr_and_exit_1():
    r = gdviz("check", "houses", shell_suffix=">&-")
    assert r.code == 1
    assert "cannot write to standard output" in r.err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_line_on_stderr_and_exit_1(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1")
    r = gdviz("run", str(path), "--json", shell_suffix=">/dev/full")
    assert r.code == 1
    assert "No space left on device" in r.err
    assert "Exception ignored" not in r.err


# --- 4. integers out of range ------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["top", "run"])
@pytest.mark.parametrize("value", ["9223372036854775808", "18446744073709551616", str(10**40)])
def test_huge_integers_are_out_of_range_not_a_traceback(tmp_path, where, value):
    head = f"seed = {value}\n" if where == "top" else ""
    path = scenario(tmp_path, head + "[[runs]]\nbatch_size = 1\n" + (f"seed = {value}\n" if where == "run" else ""))
    r = gdviz("check", str(path))
    assert r.code == 2
    assert "expected an integer from 0 to 4294967295" in r.err


def test_every_integer_key_has_a_range(tmp_path):
    big = 2**64
    path = scenario(tmp_path, f"[[runs]]\nbatch_size = {big}\nschedule = 'step'\nstep_size = {big}\n"
                              f"[[runs]]\nbatch_size = 1\nschedule = 'cosine'\nt_max = {big}\nepochs = {big}\n")
    r = gdviz("check", str(path))
    assert r.code == 2
    for key in ("runs[0].batch_size", "runs[0].step_size", "runs[1].t_max", "runs[1].epochs"):
        assert key in r.err
    assert r.err.count("expected an integer from 1 to 100000") == 3


# --- 9. messages -------------------------------------------------------------------------------------------------
def test_a_byte_order_mark_before_valid_toml_is_accepted(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    r = gdviz("check", str(path))
    assert r.code == 0, r.err


def test_runs_inheriting_a_bad_train_value_are_still_checked(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nname = ''\nbatch_size = 1\n[[runs]]\nname = '   '\nbatch_size = 0",
                    runs='[data]\nsource = "houses"\n[train]\noptimizer = "adamm"\nlearning_rate = 0.1\n')
    r = gdviz("check", str(path))
    assert r.code == 2
    assert "train.optimizer" in r.err and 'did you mean "adam"' in r.err
    assert 'runs[0].name: got ""' in r.err
    assert 'runs[1].name: got "   "' in r.err
    assert "runs[1].batch_size" in r.err


# --- 3. CSV rows and values ---------------------------------------------------------------------------------
def _csv_scenario(tmp_path: Path, csv_text: str, extra: str = "", features: str = "['a', 'b']") -> Path:
    (tmp_path / "d.csv").write_text(csv_text)
    return scenario(tmp_path, "[[runs]]\nbatch_size = 1",
                    runs=f"[data]\nsource = 'csv'\npath = 'd.csv'\nfeatures = {features}\ntarget = 'y'\n{extra}"
                         "[train]\nepochs = 1\nlearning_rate = 0.01\n")


@pytest.mark.parametrize(("rows", "said"), [
    ("1,234,2,3\n1,2,3\n", "line 2: 4 cells, but the header has 3 columns (an unquoted thousands separator"),
    ("1,2,3\n1,2\n", "line 3: 2 cells, but the header has 3 columns"),
    ('"1",2,3\n4,"5,6",7,8\n', "line 3: 4 cells"),
])
def test_rows_with_the_wrong_number_of_cells_are_refused_by_line(tmp_path, rows, said):
    r = gdviz("run", str(_csv_scenario(tmp_path, "a,b,y\n" + rows + "5,6,7\n")), "--json")
    assert r.code == 2 and r.out == ""
    assert said in r.err


@pytest.mark.parametrize("standardize", ["true", "false"])
def test_values_whose_squares_overflow_are_refused(tmp_path, standardize):
    path = _csv_scenario(tmp_path, "a,b,y\n1,2,3\n1e300,2,4\n5,6,7\n", extra=f"standardize = {standardize}\n")
    r = gdviz("run", str(path), "--json")
    assert r.code == 2 and r.out == ""
    assert 'line 3: column "a" has 1e+300, too large to train on' in r.err


def test_float32_runs_lower_the_largest_value_allowed(tmp_path):
    path = _csv_scenario(tmp_path, "a,b,y\n1,2,3\n1e25,2,4\n5,6,7\n", extra="standardize = false\n")
    path.write_text(path.read_text().replace("epochs = 1", "epochs = 1\ndtype = 'float32'"))
    r = gdviz("check", str(path))
    assert r.code == 2 and "overflows float32" in r.err


# --- 7. extreme data: said before training, nothing but JSON on stdout ------------------------------------------
def test_the_largest_doubles_are_refused_before_lapack_sees_them(tmp_path):
    path = _csv_scenario(tmp_path, "a,b,y\n1.7e308,2,3\n-1.7e308,2,4\n5,6,7\n", extra="standardize = false\n")
    r = gdviz("run", str(path), "--json")
    assert r.code == 2 and r.out == ""
    assert "DLASCL" not in r.err and "too large to train on" in r.err


@pytest.mark.parametrize("source", ["linear", "houses", "classes"])
def test_a_huge_noise_level_is_named_as_the_cause(tmp_path, source):
    kind = "logistic" if source == "classes" else "linear"
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1",
                    runs=SMALL_NOISE.replace("'linear'", f"'{source}'") + f"[model]\nkind = '{kind}'\n")
    r = gdviz("run", str(path), "--json")
    assert r.code == 2 and r.out == ""
    assert "data.noise" in r.err and "RuntimeWarning" not in r.err


SMALL_NOISE = "[data]\nsource = 'linear'\nn = 32\nnoise = 1e308\n[train]\nepochs = 1\nlearning_rate = 0.1\n"


def test_what_native_code_prints_during_training_goes_to_stderr(capfd):
    from gdviz.streams import stdout_fd_to_stderr

    with stdout_fd_to_stderr():
        os.write(1, b"** On entry to DLASCL parameter number 4 had an illegal value\n")
    os.write(1, b"{}\n")
    out, err = capfd.readouterr()
    assert out == "{}\n" and "DLASCL" in err


# --- 8. structure limits ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", ["a = " + "[" * 600 + "]" * 600, "a = " + "{b=" * 400 + "1" + "}" * 400])
def test_deeply_nested_toml_is_a_scenario_error(tmp_path, doc):
    path = tmp_path / "deep.toml"
    path.write_text(doc)
    r = gdviz("check", str(path))
    assert r.code == 2


@pytest.mark.parametrize("how", ["argument", "data.path"])
def test_devices_are_refused_not_read(tmp_path, how):
    if how == "argument":
        target = "/dev/zero"
    else:
        data = "[data]\nsource = 'csv'\npath = '/dev/zero'\nfeatures = ['a']\ntarget = 'y'\n[train]\nlearning_rate = 0.1\n"
        target = str(scenario(tmp_path, "[[runs]]\nbatch_size = 1", runs=data))
    r = gdviz("run", target, "--json", timeout=30)
    assert r.code == 2 and r.out == ""
    assert "is a character device" in r.err and "must be a regular file" in r.err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_with_no_writer_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "s.toml")
    r = gdviz("check", str(tmp_path / "s.toml"), timeout=30)
    assert r.code == 2 and "named pipe" in r.err


def test_an_oversized_scenario_file_is_refused(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (2 << 20))
    r = gdviz("check", str(path))
    assert r.code == 2 and "more than the 1 MiB a scenario file may have" in r.err


def test_a_200000_character_header_cell_is_read_and_cut_short_in_messages(tmp_path):
    long = "h" * 200_000
    path = _csv_scenario(tmp_path, f"a,b,{long}\n1,2,3\n", features="['a', 'b']")
    r = gdviz("check", str(path))
    assert r.code == 2
    assert "no column named \"y\"" in r.err and "(200,000 characters)" in r.err and len(r.err) < 2000


# --- 5. Numba's cache ------------------------------------------------------------------------------------------
def test_a_read_only_install_gets_a_per_user_cache_folder(monkeypatch, tmp_path):
    """Neither the package's __pycache__ nor the home is writable: a per-user temp folder."""
    from gdviz import numba_cache

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(numba_cache, "_writable", lambda folder: str(folder).startswith(str(tmp_path / "tmp")))
    chosen = numba_cache.choose_cache_dir()
    assert chosen is not None and chosen.startswith(str(tmp_path / "tmp" / "gdviz-numba-"))
    assert os.environ["NUMBA_CACHE_DIR"] == chosen


def test_a_cache_folder_the_user_chose_is_kept(monkeypatch, tmp_path):
    from gdviz import numba_cache

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert numba_cache.choose_cache_dir() is None and os.environ["NUMBA_CACHE_DIR"] == str(tmp_path)


_CACHED_MODULE = """
from numba import njit

@njit(cache=True)
def twice(x):
    return 2.0 * x
"""

_CALL = """
import sys
sys.path.insert(0, {folder!r})
from gdviz import numba_cache
numba_cache.guard_against_damage()
import cached_mod
assert cached_mod.twice(21.0) == 42.0
print("NOTES:", numba_cache.notes)
"""


def test_a_damaged_cache_is_compiled_afresh_and_said_once(tmp_path):
    """A truncated index or data file of Numba's cache is a cache miss: the function is compiled
    afresh and the note says so once (a small cached function stands in for the kernels, whose
    cold compile would take minutes; the guard is the same code for every cached function)."""
    (tmp_path / "cached_mod.py").write_text(_CACHED_MODULE)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    call = [sys.executable, "-c", _CALL.format(folder=str(tmp_path))]
    first = subprocess.run(call, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "NOTES: []" in first.stdout
    damaged = sorted((tmp_path / "cache").rglob("*.nbi")) + sorted((tmp_path / "cache").rglob("*.nbc"))
    assert damaged
    for f in damaged:
        f.write_bytes(f.read_bytes()[:20])
    second = subprocess.run(call, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert second.stdout.count("damaged file") == 1 and "compiled afresh" in second.stdout
    third = subprocess.run(call, env=env, capture_output=True, text=True, timeout=120)
    assert "NOTES: []" in third.stdout  # cached again, whole


# --- exports: whole or not at all ------------------------------------------------------------------------------
def test_json_file_writes_the_json_document_to_a_file_and_nothing_to_stdout(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nname = '[red]x[/]'\nbatch_size = 1")
    out = tmp_path / "result.json"
    r = gdviz("run", str(path), "--json-file", str(out))
    assert r.code == 0 and r.out == ""
    assert only_json(out.read_text())["runs"][0]["name"] == "[red]x[/]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json", "s.toml"]


def test_json_file_in_a_missing_folder_is_refused_before_training(tmp_path):
    path = scenario(tmp_path, "[[runs]]\nbatch_size = 1")
    r = gdviz("run", str(path), "--json-file", str(tmp_path / "no" / "r.json"))
    assert r.code == 2 and "--json-file" in r.err and "not a folder" in r.err


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from gdviz.safeio import atomic_write

    target = tmp_path / "export.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]


@pytest.mark.parametrize("args", [["run", "houses", "--fps", str(10**22)], ["bench", "--n", str(10**20)],
                                  ["bench", "--d", str(10**20)], ["bench", "--runs", str(10**20)]])
def test_huge_integer_options_are_bad_arguments(args):
    r = gdviz(*args)
    assert r.code == 2 and "bad arguments" in r.err


def test_huge_keys_and_lists_are_named_briefly_and_quickly(tmp_path):
    features = ", ".join(f'"f{i}"' for i in range(20_000))
    path = scenario(tmp_path, "k" * 200_000 + " = 1\n[[runs]]\nbatch_size = 1",
                    runs=f'[data]\nsource = "houses"\nfeatures = [{features}]\n[train]\nlearning_rate = 0.1\n')
    r = gdviz("check", str(path), timeout=20)
    assert r.code == 2 and len(r.err) < 2000
    assert "(200,000 characters): unknown key" in r.err and "and 19992 more" in r.err
