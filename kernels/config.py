"""Tunables of the CUDA kernels, in one place so that tests can patch them small.

Read at launch time (never captured at import), so ``monkeypatch.setattr(config, NAME, v)``
takes effect on the next launch. Block sizes must be powers of two.
"""

from __future__ import annotations

#: Threads per block when each block advances one run (many runs at once). Threads take
#: a batch's rows in turn; a batch of at most this many rows is summed in data order, so
#: its gradient is bit-identical to the CPU kernel's.
THREADS_PER_RUN = 128

#: Threads per block of the grid-wide reduction (one run, a large batch).
GRID_THREADS = 256

#: Most blocks of the grid-wide reduction; more rows than threads are taken grid-stride.
#: 0 picks 8 blocks per multiprocessor of the current device.
GRID_BLOCKS = 0

#: A run whose batch has at least this many rows uses the grid-wide reduction (``GpuRun``:
#: two launches per update, for that run alone) instead of one block of ``THREADS_PER_RUN``
#: threads in the many-runs launch; ``device_runs`` splits a batch of runs accordingly.
GRID_MIN_BATCH = 1 << 16

#: Bytes of shared memory a block may use (the portable CUDA limit).
SHARED_BYTES = 48 * 1024

#: A block keeps its parameters and per-thread sums in shared memory when at least this many
#: threads (or all it wants, if fewer) fit ``SHARED_BYTES``; else they go to global memory
#: and the block gets its full ``THREADS_PER_RUN`` (``GRID_THREADS``) threads. 32, a warp:
#: fewer threads would leave most of each warp idle, which costs more than the slower memory
#: (see :func:`.gpu_losses.block_plan`). At 48 KiB, 32 threads' 2p + 1 + 32 (p + 1 + w)
#: float64 fit up to 179 parameters of a linear model (w = 0), fewer for an MLP (w > 0).
MIN_SHARED_THREADS = 32
