"""Problem collection, and the steps every table of a scenario goes through.

:class:`_Problems` gathers one line per problem, in the order found, so that the validator
reports *all* of them in one :class:`~gdviz.errors.ScenarioError` (:func:`_raise`). The
helpers below check a table's keys against a section's schema (unknown keys get the nearest
valid key, or the section they belong in), fill in defaults, and say when a key does not
belong to the chosen optimizer, schedule or source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from gdviz.errors import ScenarioError
from gdviz.scenario.fields import _REQUIRED, _Bad, _Check, _Key, _one_of, _schema, _show
from gdviz.scenario.spec import _RUN_KEYS, _SECTIONS, _TOP_KEYS


class _Problems:
    """Problems found so far, one line each, in the order found (duplicates dropped)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, text: str) -> None:
        line = f"{path}: {text}" if path else text
        if line not in self.items:
            self.items.append(line)

    def bad_value(self, path: str, value: Any, check: _Check, hint: str = "") -> None:
        text = f"got {_show(value)}, expected {check.expected}"
        self.add(path, f"{text}; {hint}" if hint else text)


def _section_name(prefix: str) -> str:
    return "[[runs]]" if prefix.startswith("runs[") else f"[{prefix}]" if prefix else "the top level"


def _unknown_key(problems: _Problems, prefix: str, key: str, valid: Iterable[str]) -> None:
    if len(key) > 60:  # a 200,000-character key is named, not printed whole
        shown = f"{key[:60]}... ({len(key):,} characters)"
        problems.add(f"{prefix}.{shown}" if prefix else shown, "unknown key (and far longer than any valid key)")
        return
    path = f"{prefix}.{key}" if prefix else key
    valid = list(valid)
    here = _section_name(prefix)
    elsewhere = [
        f"[{name}]" for name, cls in _SECTIONS.items() if key in _schema(cls) and f"[{name}]" != here
    ]
    if key in _RUN_KEYS and here != "[[runs]]":
        elsewhere.append("[[runs]]")
    if key in _TOP_KEYS and prefix:
        elsewhere.insert(0, "the top level")
    if elsewhere:
        problems.add(path, f"unknown key in {here}; {key} belongs in {' or '.join(elsewhere)}")
        return
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if near:
        problems.add(path, f"unknown key; did you mean {near[0]}?")
    else:
        problems.add(path, f"unknown key; valid keys in {here}: {', '.join(valid)}")


def _check_keys(raw: Mapping[str, Any], schema: Mapping[str, _Key], prefix: str, problems: _Problems) -> dict[str, Any]:
    """Type- and range-check every key of ``raw``; return the valid ones, converted."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else key
        spec = schema.get(key)
        if spec is None:
            _unknown_key(problems, prefix, key, schema)
            continue
        try:
            out[key] = spec.check(value)
        except _Bad as bad:
            problems.bad_value(path, value, spec.check, bad.hint)
    return out


def _applies(spec: _Key, resolved: Mapping[str, Any]) -> bool | None:
    """Whether a key belongs to the resolved settings (None: the selector itself is invalid)."""
    if spec.applies is None:
        return True
    selector, values = spec.applies
    if selector not in resolved:
        return None
    return resolved[selector] in values


def _resolve(
    schema: Mapping[str, _Key], given: Mapping[str, Any], context: Mapping[str, Any], skip: Iterable[str] = ()
) -> dict[str, Any]:
    """Fill defaults in declaration order; keys without a value, or in ``skip`` (their value
    was already reported as invalid), are left out so that no check runs on a guess."""
    r: dict[str, Any] = dict(context)
    skip = set(skip)
    for key, spec in schema.items():
        if key in skip:
            continue
        if key in given:
            r[key] = given[key]
        elif spec.default is _REQUIRED:
            continue
        elif callable(spec.default):
            r[key] = spec.default(r)
        else:
            r[key] = spec.default
    return {k: v for k, v in r.items() if k in schema}


def _not_for(key: str, spec: _Key, resolved: Mapping[str, Any], who: str) -> str:
    selector, values = spec.applies  # type: ignore[misc]
    return (
        f"only for {selector} {_one_of(values)}, but {who} {selector} {_show(resolved[selector])}; "
        f"it would be ignored, so remove it or change {selector}"
    )


def _table(
    raw: Mapping[str, Any], key: str, problems: _Problems, *, required: bool, example: str
) -> dict[str, Any] | None:
    if key not in raw:
        if required:
            problems.add(key, f"missing; add a [{key}] table, e.g.\n      {example}")
        return None
    value = raw[key]
    if not isinstance(value, dict):
        problems.add(key, f"got {_show(value)}, expected a table: write [{key}] on its own line, then its keys")
        return None
    return value


def _raise(source: str, problems: list[str]) -> None:
    if len(problems) == 1:
        message = f"{source}: {problems[0]}"
    else:
        lines = "\n".join(f"  - {p}" for p in problems)
        message = f"{source}: {len(problems)} problems:\n{lines}"
    raise ScenarioError(message, problems)
