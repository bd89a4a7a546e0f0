"""Reading scenarios: TOML text, files on disk and the bundled scenarios by name.

Turns what the user points at into text for the validator, and every way that can fail
(missing file, a directory, not UTF-8, not TOML) into a :class:`~gdviz.errors.ScenarioError`
naming the file, line and column; an unknown name lists the bundled scenarios.
"""

from __future__ import annotations

import difflib
import re
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from gdviz.errors import ScenarioError
from gdviz.safeio import MAX_SCENARIO_BYTES, Refused, read_regular
from gdviz.scenario.problems import _raise
from gdviz.scenario.spec import Scenario
from gdviz.scenario.validate import _build, _validate

_BUNDLED_PACKAGE = "gdviz.scenarios"


# =========================================================================================
# TOML text
# =========================================================================================

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _toml_error(source: str, text: str, err: tomllib.TOMLDecodeError) -> ScenarioError:
    msg = str(err)
    m = _TOML_POSITION.search(msg)
    if m is None:
        problem = f"not valid TOML: {msg}"
        return ScenarioError(f"{source}: {problem}", [problem])
    line, col = int(m.group(1)), int(m.group(2))
    what = _TOML_POSITION.sub("", msg).strip()
    problem = f"line {line}, column {col}: not valid TOML: {what}"
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        shown = lines[line - 1].replace("\t", " ")
        problem += f"\n    {line} | {shown}\n    {' ' * len(str(line))} | {' ' * max(col - 1, 0)}^"
    return ScenarioError(f"{source}, {problem}", [problem])


def _parse(text: str, source: str, base_dir: Path, name: str, source_path: Path | None) -> Scenario:
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some editors save UTF-8
    try:
        raw = tomllib.loads(text)
        resolved, problems = _validate(raw, base_dir, default_title=name)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(source, text, err) from None
    except RecursionError:
        problem = (f"tables or arrays nested too deeply (Python's limit is about {sys.getrecursionlimit()} levels); "
                   "a scenario needs 2 levels at most")
        raise ScenarioError(f"{source}: {problem}", [problem]) from None
    if problems:
        _raise(source, problems)
    return _build(resolved, name, source_path)


def parse_scenario(text: str, source: str, base_dir: Path) -> Scenario:
    """Validate a scenario given as TOML text.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Where it came from; names it in messages, and its stem is the scenario's name.
    base_dir : Path
        Directory that a CSV ``data.path`` is relative to.

    Raises
    ------
    ScenarioError
        Not TOML (with line and column), or one or more schema problems, all listed.
    """
    path = Path(source)
    return _parse(text, source, Path(base_dir), path.stem or source, path)


# =========================================================================================
# Files and bundled scenarios
# =========================================================================================


def _bundled_files() -> dict[str, Any]:
    root = resources.files(_BUNDLED_PACKAGE)
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in root.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }


def bundled_scenarios() -> list[tuple[str, str, str]]:
    """``(name, title, description)`` of every bundled scenario, sorted by name."""
    out = []
    for name, entry in sorted(_bundled_files().items()):
        try:
            raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            raw = {}
        title = raw.get("title") if isinstance(raw.get("title"), str) else name
        description = raw.get("description") if isinstance(raw.get("description"), str) else ""
        out.append((name, title, description))
    return out


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text or text.startswith(".")


def _not_found(what: str, reason: str) -> ScenarioError:
    names = sorted(_bundled_files())
    near = difflib.get_close_matches(Path(what).stem, names, n=1, cutoff=0.6)
    problem = f"{reason}; bundled scenarios: {', '.join(names)}"
    if near:
        problem += f" (did you mean {near[0]}?)"
    return ScenarioError(f"{what}: {problem}", [problem])


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load and validate a scenario file, or a bundled scenario by name (``"houses"``).

    Raises
    ------
    ScenarioError
        Missing or unreadable file, unknown bundled name (the message lists the bundled
        ones), TOML syntax errors (file, line, column) or schema problems (all of them).
    """
    if isinstance(path_or_name, str) and not _looks_like_path(path_or_name):
        bundled = _bundled_files()
        if path_or_name in bundled:
            entry = bundled[path_or_name]
            text = entry.read_text(encoding="utf-8")
            path = Path(str(entry)) if isinstance(entry, Path) else None
            source = str(path) if path is not None else f"{path_or_name} (bundled)"
            base = path.parent if path is not None else Path.cwd()
            return _parse(text, source, base, path_or_name, path)
        if not Path(path_or_name).is_file():
            raise _not_found(path_or_name, "no such scenario file, and not the name of a bundled scenario")
    path = Path(path_or_name)
    source = str(path)
    if not path.exists():
        raise _not_found(source, "file not found")
    if path.is_dir():
        problem = "is a directory, expected a .toml scenario file"
        raise ScenarioError(f"{source}: {problem}", [problem])
    try:
        raw = read_regular(path, MAX_SCENARIO_BYTES, "scenario file")
        text = raw.decode("utf-8")
    except Refused as err:
        raise ScenarioError(f"{source}: {err.problem}", [err.problem]) from None
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        problem = f"line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8"
        raise ScenarioError(f"{source}, {problem}", [problem]) from None
    except OSError as err:
        problem = f"cannot be read: {err.strerror or err}"
        raise ScenarioError(f"{source}: {problem}", [problem]) from None
    return _parse(text, source, path.resolve().parent, path.stem, path)
