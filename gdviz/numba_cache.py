"""Numba's on-disk cache, made safe to lose: a read-only install and a damaged cache.

- :func:`choose_cache_dir` (called when :mod:`gdviz` is imported, before anything imports
  Numba): the kernels are ``@njit(cache=True)``, and Numba refuses to even define them
  (``RuntimeError: cannot cache function ...: no locator available``) when neither the
  installed package's ``__pycache__`` nor the user's home is writable (installed by root,
  run by another user). Then ``NUMBA_CACHE_DIR`` is pointed at a per-user folder that is
  writable: ``$XDG_CACHE_HOME/gdviz/numba``, ``~/.cache/gdviz/numba`` or one in the temp
  folder. A ``NUMBA_CACHE_DIR`` the user set is left alone.
- :func:`guard_against_damage` (called by :mod:`gdviz.engine`): a truncated or garbled
  ``.nbi``/``.nbc`` file made Numba raise ``UnpicklingError`` at the first call of a kernel.
  A cache entry that cannot be loaded is now a cache miss: the kernel is compiled afresh
  and the entry rewritten; :data:`notes` says so once, for the CLI to print.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

#: One-line notes for the user (a moved or damaged cache); the CLI prints and clears them.
notes: list[str] = []


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists (or can be made) and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)  # False on a read-only file system too


def _kernels_dir() -> Path | None:
    try:
        spec = find_spec("gdviz.kernels")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def choose_cache_dir() -> str | None:
    """Set ``NUMBA_CACHE_DIR`` when Numba's own places are not writable; the folder, or None."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    kernels = _kernels_dir()
    if kernels is not None and _writable(kernels / "__pycache__"):
        return None  # Numba's first choice works: keep it
    import tempfile  # only here: it costs ~10 ms, and `gdviz check` starts in well under 100

    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates = [Path(xdg) / "gdviz" / "numba"] if xdg else []
    candidates.append(Path.home() / ".cache" / "gdviz" / "numba")
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    candidates.append(Path(tempfile.gettempdir()) / f"gdviz-numba-{uid}")
    for folder in candidates:
        if _writable(folder):
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
            return str(folder)
    folder = Path(tempfile.mkdtemp(prefix="gdviz-numba-"))  # last resort: a cache for this run only
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    notes.append(f"no writable folder for Numba's cache; the kernels are compiled on every start (using {folder})")
    return str(folder)


def guard_against_damage() -> None:
    """Make a damaged cache entry a cache miss (compiled afresh, then saved again)."""
    from numba.core import caching

    cls = caching.IndexDataCacheFile
    if getattr(cls, "_gdviz_guarded", False):
        return
    load_index = cls._load_index
    load = cls.load

    def _damaged(path: str, exc: BaseException) -> None:
        if not notes or "damaged" not in notes[-1]:
            notes.append(f"Numba's cache had a damaged file ({Path(path).name}: {type(exc).__name__}); "
                         "the kernels were compiled afresh and cached again")

    def safe_load_index(self):  # type: ignore[no-untyped-def]
        try:
            return load_index(self)
        except Exception as exc:  # noqa: BLE001 - any unreadable index is a miss
            _damaged(self._index_path, exc)
            return {}

    def safe_load(self, key):  # type: ignore[no-untyped-def]
        try:
            return load(self, key)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss
            _damaged(self._index_path, exc)
            return None

    cls._load_index = safe_load_index
    cls.load = safe_load
    cls._gdviz_guarded = True
