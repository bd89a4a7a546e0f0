"""The machinery the schema is declared with: value checks and key declarations.

Each check (``_Int``, ``_Float``, ``_Choice``, ...) converts one TOML value or raises
:class:`_Bad`; its ``expected`` says what would be valid, for messages. :func:`_key` attaches
a :class:`_Key` (check, default, the settings it belongs to) to a dataclass field, and
:func:`_schema` reads a section's keys back in declaration order. Knows no key names: those
are in :mod:`gdviz.scenario.spec`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gdviz.text import control_characters


# =========================================================================================
# Value checks: each converts a TOML value or raises _Bad; ``expected`` says what is valid.
# =========================================================================================


class _Bad(Exception):
    """A value that does not pass a check; ``hint`` is appended to the problem."""

    def __init__(self, hint: str = "") -> None:
        super().__init__(hint)
        self.hint = hint


def _show(value: Any) -> str:
    """A value as it would be written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if len(value) > 8:
            return "[" + ", ".join(_show(v) for v in value[:8]) + ", ...]"
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return f"a {type(value).__name__} ({value!s})"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _quoted(options: Iterable[str]) -> str:
    return ", ".join(json.dumps(o) for o in options)


def _one_of(options: Iterable[str]) -> str:
    options = list(options)
    if len(options) == 1:
        return json.dumps(options[0])
    return " or ".join([", ".join(json.dumps(o) for o in options[:-1]), json.dumps(options[-1])])


@dataclass(frozen=True)
class _Int:
    lo: int | None = None
    hi: int | None = None

    @property
    def expected(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"an integer from {self.lo} to {self.hi}"
        if self.lo is not None:
            return f"an integer >= {self.lo}"
        return "an integer"

    def __call__(self, v: Any) -> int:
        if _is_int(v):
            if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
                raise _Bad()
            return int(v)
        if isinstance(v, float) and v.is_integer():
            raise _Bad(f"write {int(v)} without the decimal point")
        raise _Bad()


@dataclass(frozen=True)
class _Float:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    @property
    def expected(self) -> str:
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None:
            left = "(" if self.lo_open else "["
            right = ")" if self.hi_open else "]"
            return f"a number in {left}{lo:g}, {hi:g}{right}"
        if lo is not None:
            return f"a finite number {'>' if self.lo_open else '>='} {lo:g}"
        if hi is not None:
            return f"a finite number {'<' if self.hi_open else '<='} {hi:g}"
        return "a finite number"

    def __call__(self, v: Any) -> float:
        if not _is_number(v):
            if isinstance(v, str):
                try:
                    float(v)
                except ValueError:
                    raise _Bad() from None
                raise _Bad("write the number without quotes")
            raise _Bad()
        x = float(v)
        if not math.isfinite(x):
            raise _Bad()
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            raise _Bad()
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            raise _Bad()
        return x


@dataclass(frozen=True)
class _Bool:
    expected: str = "true or false"

    def __call__(self, v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            raise _Bad(f"write {v.lower()} without quotes")
        raise _Bad()


@dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]

    @property
    def expected(self) -> str:
        return "one of " + _quoted(self.options)

    def __call__(self, v: Any) -> str:
        if isinstance(v, str):
            if v in self.options:
                return v
            near = difflib.get_close_matches(v.lower(), self.options, n=1, cutoff=0.6)
            raise _Bad(f"did you mean {json.dumps(near[0])}?" if near else "")
        raise _Bad()


def _no_controls(v: str, allow: str = "") -> str:
    """``v`` if it holds no control characters (they would drive the terminal when shown)."""
    bad = control_characters(v, allow)
    if bad:
        raise _Bad(f"it contains the control character{'s' if len(bad) > 1 else ''} {', '.join(bad)}, "
                   "which a terminal would obey instead of showing; remove it")
    return v


@dataclass(frozen=True)
class _Str:
    expected: str = "a string"
    allow: str = ""
    """Control characters allowed (``"\\n\\t"`` for a multi-line description)."""

    def __call__(self, v: Any) -> str:
        if isinstance(v, str):
            return _no_controls(v, self.allow)
        raise _Bad()


@dataclass(frozen=True)
class _StrList:
    expected: str = "a non-empty list of distinct strings"

    def __call__(self, v: Any) -> tuple[str, ...]:
        if isinstance(v, str):
            raise _Bad(f"write a list: [{json.dumps(v)}]")
        if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
            raise _Bad()
        for s in v:
            _no_controls(s)
        dup = sorted(s for s, k in Counter(v).items() if k > 1)  # linear: a list may be long
        if dup:
            raise _Bad(f"{_quoted(dup)} listed twice")
        return tuple(v)


@dataclass(frozen=True)
class _FloatList:
    each: _Float = _Float()
    length: int | None = None

    @property
    def expected(self) -> str:
        n = f"{self.length} " if self.length is not None else ""
        each = self.each.expected.removeprefix("a ")
        return f"a list of {n}numbers, each {each}" if each != "finite number" else f"a list of {n}finite numbers"

    def __call__(self, v: Any) -> tuple[float, ...]:
        if not isinstance(v, list):
            raise _Bad()
        if self.length is not None and len(v) != self.length:
            raise _Bad(f"it has {len(v)}")
        return tuple(self.each(x) for x in v)


@dataclass(frozen=True)
class _IntList:
    each: _Int = _Int()
    min_len: int = 1
    max_len: int | None = None

    @property
    def expected(self) -> str:
        n = f"{self.min_len} to {self.max_len} " if self.max_len is not None else ""
        return f"a list of {n}integers, each {self.each.expected.removeprefix('an integer ')}"

    def __call__(self, v: Any) -> tuple[int, ...]:
        if _is_int(v):
            raise _Bad(f"write a list: [{v}]")
        if not isinstance(v, list):
            raise _Bad()
        if len(v) < self.min_len or (self.max_len is not None and len(v) > self.max_len):
            raise _Bad(f"it has {len(v)}")
        return tuple(self.each(x) for x in v)


@dataclass(frozen=True)
class _BatchSize:
    hi: int

    expected: str = '"full" or an integer >= 1'

    def __call__(self, v: Any) -> int | None:
        if v == "full" and isinstance(v, str):
            return None
        if _is_int(v) and v > self.hi:
            raise _Bad(f"at most {self.hi}, the most samples a dataset may have")
        if _is_int(v) and v >= 1:
            return int(v)
        if isinstance(v, str):
            if v.strip().lower() in ("full", "full-batch", "all", "n"):
                raise _Bad('write "full"')
            if v.strip().isdigit():
                raise _Bad("write the number without quotes")
        if isinstance(v, float) and v.is_integer() and v >= 1:
            raise _Bad(f"write {int(v)} without the decimal point")
        raise _Bad()


# =========================================================================================
# Keys: a check, a default, and the choice of source, optimizer or schedule it belongs to.
# =========================================================================================

_Check = _Int | _Float | _Bool | _Choice | _Str | _StrList | _FloatList | _IntList | _BatchSize

_REQUIRED = object()
"""Default marker: the key must be given (or, for ``required_when``, given in that case)."""


@dataclass(frozen=True)
class _Key:
    """Schema of one key: its check, its default and the settings it belongs to."""

    check: _Check
    default: Any = _REQUIRED
    """A value, a callable ``(resolved_so_far: dict) -> value``, or _REQUIRED."""
    applies: tuple[str, tuple[str, ...]] | None = None
    """``(selector, values)``: the key is meaningful only when ``selector`` is one of ``values``."""
    required_when: tuple[str, tuple[str, ...]] | None = None
    doc: str = ""


def _key(
    check: _Check,
    default: Any = _REQUIRED,
    *,
    applies: tuple[str, tuple[str, ...]] | None = None,
    required_when: tuple[str, tuple[str, ...]] | None = None,
    doc: str = "",
) -> Any:
    return field(metadata={"key": _Key(check, default, applies, required_when, doc)})


def _schema(cls: type) -> dict[str, _Key]:
    """The keys of a section, in declaration order (defaults may use earlier keys)."""
    return {f.name: f.metadata["key"] for f in dataclasses.fields(cls) if "key" in f.metadata}
