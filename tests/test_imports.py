"""What each part imports: the core and the kernels without the terminal UI (DESIGN.md: one
direction), and the schema, ``gdviz check`` and ``gdviz list`` without Numba or Textual.

Each check runs in a fresh interpreter, so that what other tests imported does not count.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("numba", "textual")
"""Never loaded to validate or list scenarios: Numba costs 0.2 s and a writable cache."""


def _loaded_after(statements: str) -> tuple[int, set[str], str]:
    """Run ``statements`` in a fresh interpreter; its exit code (``exit_code`` if they set
    it), the top-level packages it loaded (``gdviz.kernels`` named in full) and its stderr."""
    code = (
        f"{statements}\n"
        "import json, sys\n"
        "names = {m.split('.')[0] for m in sys.modules}\n"
        "names |= {'gdviz.kernels'} & set(sys.modules)\n"
        "print('\\nLOADED ' + json.dumps(sorted(names)))\n"
        "sys.exit(globals().get('exit_code', 0))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = result.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("LOADED "), result.stdout[-2000:] + result.stderr[-4000:]
    return result.returncode, set(json.loads(last.removeprefix("LOADED "))), result.stderr


@pytest.mark.parametrize("modules", ["gdviz.scenario", "gdviz.codes, gdviz.runfacts"])
def test_the_schema_loads_neither_numba_nor_textual_nor_the_kernels(modules):
    rc, loaded, err = _loaded_after(f"import {modules}")
    assert rc == 0, err
    assert not loaded & {*HEAVY, "gdviz.kernels", "numpy"}, sorted(loaded)


@pytest.mark.parametrize("argv", [["check", "houses"], ["list"]])
def test_check_and_list_load_neither_numba_nor_textual(argv):
    rc, loaded, err = _loaded_after(f"from gdviz.cli import main\nexit_code = main({argv!r})")
    assert rc == 0, err
    assert not loaded & {*HEAVY, "gdviz.kernels"}, sorted(loaded)


def test_the_kernels_and_the_engine_do_not_import_textual():
    rc, loaded, err = _loaded_after("import gdviz.kernels, gdviz.engine")
    assert rc == 0, err
    assert "textual" not in loaded


def test_core_and_kernels_do_not_import_textual():
    code = (
        "import sys, gdviz.kernels, gdviz.engine, gdviz.scenario, gdviz.data, gdviz.report, gdviz.cli;"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_bare_kernels_or_tui_module_on_the_path():
    """kernels/ and tui/ install as gdviz.kernels and gdviz.tui, never as top-level names."""
    code = "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; " \
           "print(importlib.util.find_spec('kernels'), importlib.util.find_spec('tui'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.stdout.strip() == "None None", result.stdout + result.stderr
