"""Shared fixtures. Every test builds its data from a fixed seed.

The CUDA kernels run under Numba's CUDA simulator in the normal ``pytest`` run: it must be
switched on before numba is first imported, hence the lines below before any import.
``GDVIZ_REAL_CUDA=1 pytest`` runs the same tests on a real GPU instead.
"""

from __future__ import annotations

import os

if os.environ.get("GDVIZ_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import asyncio
import inspect
from pathlib import Path

import pytest

from gdviz.data import build_dataset
from gdviz.engine import Engine
from gdviz.scenario import parse_scenario


def make_engine(text: str, tmp_path: Path | None = None, **kwargs) -> Engine:
    """An engine for a scenario written inline (``tmp_path`` holds any CSV it names)."""
    base = tmp_path if tmp_path is not None else Path(".")
    scenario = parse_scenario(text, "inline.toml", base)
    return Engine(scenario, build_dataset(scenario), **kwargs)


@pytest.fixture
def engine_factory(tmp_path):
    return lambda text, **kw: make_engine(text, tmp_path, **kw)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (the Textual Pilot tests) with ``asyncio.run``: no
    pytest-asyncio plugin needed, and one place instead of a wrapper in every test module."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True
