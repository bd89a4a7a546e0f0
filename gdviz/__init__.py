"""gdviz: see how batch size shapes gradient descent."""

from gdviz.numba_cache import choose_cache_dir as _choose_cache_dir

__version__ = "0.1.0"

# Before anything imports Numba: a read-only install still gets a writable kernel cache.
_choose_cache_dir()
