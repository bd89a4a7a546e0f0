"""CUDA twins of :mod:`.losses`: batch sums of loss and gradient, by a block or by the grid.

Both shapes of work reach the model only through :mod:`.models` (the dispatch the CPU loops
use, compiled here into device code): :func:`.models.describe` of the run's ``hpi`` row,
then :func:`.models.row_loss_grad` per row. Both accumulate in float64 whatever the dtype
of ``X``.

- :func:`block_mean` (a device function): the threads of one block take the rows of a batch in
  turn (thread ``t`` takes rows ``start + t``, ``start + t + T``, ...), each adding into its
  own float64 sums in shared (or global) memory; then thread ``j`` adds column ``j`` over the threads in
  order. A batch of at most ``T`` rows is therefore summed in data order, exactly as on the
  CPU.
- :data:`grid_partials` (a kernel): the same over a grid of blocks, grid-stride, each block
  writing its column sums to ``partials[block]``; :func:`reduce_partials` (device) adds the
  blocks in order in a second pass. Memory-bandwidth bound: each element of ``X`` is read
  once.

Shared memory (float64, dynamic) is laid out as ``theta[p] | mean[p + 1] | part[T, p + 1] |
work[T, w]``: ``theta`` the parameters the batch is taken at, ``mean`` the batch's mean
gradient then mean loss, ``part[t]`` thread ``t``'s running sums (gradient, then the loss in
column ``p``) and ``work[t]`` its scratch space for the model (``w`` =
:func:`.models.work_size`, 0 for the linear family). :func:`shared_bytes` gives its size.

Shared or global memory (:func:`block_plan`)
--------------------------------------------
That layout grows with ``T * (p + w)``, so 48 KiB hold 4 threads for the 601 parameters of an
MLP and none beyond about 3,000. The rule: a block keeps it in **shared memory** when at least
``min(want, config.MIN_SHARED_THREADS)`` threads fit (32 by default: a warp; fewer would
leave most of each warp idle and the batch's rows crawling through a handful of threads),
taking the most threads that fit; **else** the same layout, unchanged, lives in a **global**
float64 device array, one row of :func:`shared_floats` per block (``R`` or ``G`` rows,
allocated once per device state and reused by every launch), with the full ``want`` threads.
The kernels only ever see a 1-d float64 array ``sh`` (a shared array or that row), so both
variants run the same code, add the same numbers in the same order, and give bit-identical
results. Global memory is slower per access (cached in L1/L2; ``part[t]`` rows are not
coalesced across threads) but keeps every thread busy; not yet timed on a GPU. The only
limit left is device memory: ``R * shared_floats(p, T, w)`` floats that do not fit make the
allocation fail, which the engine reports and continues on the CPU.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from . import config
from .models import describe, n_params, row_loss_grad, work_floats, work_size


def shared_floats(p: int, T: int, w: int = 0) -> int:
    """Float64 slots of a block's dynamic shared memory: ``p`` parameters, ``T`` threads and
    ``w`` floats of model scratch space per thread (see the module doc)."""
    return p + (p + 1) + (p + 1) * T + w * T


def shared_bytes(p: int, T: int, w: int = 0) -> int:
    """Bytes of dynamic shared memory for ``p`` parameters, ``T`` threads per block and ``w``
    scratch floats per thread."""
    return 8 * shared_floats(p, T, w)


def block_plan(p: int, want: int, w: int = 0) -> tuple[int, bool]:
    """``(T, in_global)``: threads per block and where the block's sums live (see module doc).

    ``T`` is a power of two ``<= want``. Shared memory (``in_global`` false) when at least
    ``min(want, config.MIN_SHARED_THREADS)`` threads fit ``config.SHARED_BYTES``, with the most
    that fit; else global memory with the full power of two ``<= want``. Read at call time.
    """
    top = 1
    while top * 2 <= want:
        top *= 2
    T = top
    while T > 1 and shared_bytes(p, T, w) > config.SHARED_BYTES:
        T //= 2
    if shared_bytes(p, T, w) <= config.SHARED_BYTES and T >= min(top, config.MIN_SHARED_THREADS):
        return T, False
    return top, True


def global_bytes(R: int, p: int, hpi, d: int) -> int:  # type: ignore[no-untyped-def]
    """Device bytes of the global-memory block layouts of ``R`` runs of the model in ``hpi``
    (0 when :func:`block_plan` keeps them in shared memory), for the engine's memory check."""
    w = int(work_floats(describe(hpi), d))
    T, in_global = block_plan(p, config.THREADS_PER_RUN, w)
    return R * (2 * p + 1 + T * (p + 1 + w)) * 8 if in_global else 0


def launch_shared_bytes(p: int, T: int, w: int, in_global: bool) -> int:
    """Dynamic shared memory to launch with: :func:`shared_bytes`, or 0 when the block's
    layout is in global memory."""
    return 0 if in_global else shared_bytes(p, T, w)


@cuda.jit(device=True)
def thread_sums(X, y, rows, use_rows, first, end, stride, hpi, sh, tid, T):
    """This thread's sums over rows ``k = first, first + stride, ... < end``, into ``part[tid]``.

    Row ``k`` is ``rows[k]`` (or ``k`` when ``use_rows`` is false). ``sh[0:p]`` must hold the
    parameters (float64). The model is read once from the run's ``hpi`` row
    (:func:`.models.describe`); each row then goes through :func:`.models.row_loss_grad`:
    its gradient is added into ``part[tid, 0:p]``, its loss into ``part[tid, p]`` (both
    zeroed first), in the order the rows come.
    """
    d = X.shape[1]
    p = n_params(hpi, d)
    w = work_size(hpi, d)
    m = describe(hpi)
    part = 2 * p + 1 + tid * (p + 1)
    scratch = 2 * p + 1 + T * (p + 1) + tid * w
    for j in range(p + 1):
        sh[part + j] = 0.0
    theta = sh[0:p]
    g = sh[part : part + p]
    work = sh[scratch : scratch + w]
    for k in range(first, end, stride):
        i = rows[k] if use_rows else k
        loss = row_loss_grad(X, y, i, theta, m, g, work)
        sh[part + p] += loss


@cuda.jit(device=True)
def column_sum(sh, p, j, T):
    """``part[0, j] + part[1, j] + ... + part[T - 1, j]``, threads added in order (float64)."""
    base = 2 * p + 1
    s = 0.0
    for t in range(T):
        s += sh[base + t * (p + 1) + j]
    return s


@cuda.jit(device=True)
def block_mean(X, y, rows, use_rows, start, end, hpi, sh, tid, T):
    """Mean gradient and loss over rows ``rows[start:end]`` (or ``start:end``) by one block.

    ``sh[0:p]`` must hold the parameters (float64) and be visible to every thread. Writes the
    mean gradient to ``sh[p : 2p]`` and the mean loss to ``sh[2p]``. Every thread of the
    block must call it (it synchronises the block).
    """
    p = n_params(hpi, X.shape[1])
    thread_sums(X, y, rows, use_rows, start + tid, end, T, hpi, sh, tid, T)
    cuda.syncthreads()
    inv_B = 1.0 / (end - start)
    for j in range(tid, p + 1, T):
        sh[p + j] = column_sum(sh, p, j, T) * inv_B
    cuda.syncthreads()


@cuda.jit
def grid_partials(X, y, rows, use_rows, params, hpi, start_from, B, stop, partials, scratch, in_global):
    """Per-block sums of loss and gradient over one batch, grid-stride (first pass).

    The batch is ``rows[pos : min(pos + B, n)]`` (or those row numbers when ``use_rows`` is
    0), with ``pos = start_from[0]`` read on the device (the run's ``istate[S_POS]``, so
    launches queue without a host round trip). ``params`` (dtype[p]) holds the run's
    parameters and ``hpi`` (int64[HPI_SIZE]) its integer hyperparameters (the model).
    Block ``b`` writes its (unscaled) sums to ``partials[b, :]``: the gradient in columns
    ``0..p-1``, the loss in column ``p``. Nothing is done when ``stop[0] != 0`` (the run
    stopped earlier in the queue). With ``in_global`` non-zero, block ``b`` keeps its layout in
    ``scratch[b]`` (float64[G, shared_floats]) instead of shared memory.
    """
    if stop[0] != 0:
        return
    tid = cuda.threadIdx.x
    T = cuda.blockDim.x
    G = cuda.gridDim.x
    b = cuda.blockIdx.x
    n = X.shape[0]
    p = params.shape[0]
    sh = cuda.shared.array(0, float64)
    if in_global != 0:
        sh = scratch[b]
    for j in range(tid, p, T):
        sh[j] = float(params[j])
    cuda.syncthreads()
    start = start_from[0]
    end = min(start + B, n)
    thread_sums(X, y, rows, use_rows, start + b * T + tid, end, G * T, hpi, sh, tid, T)
    cuda.syncthreads()
    for j in range(tid, p + 1, T):
        partials[b, j] = column_sum(sh, p, j, T)


@cuda.jit(device=True)
def reduce_partials(partials, count, sh, tid, T):
    """Second pass: ``sh[p + j] = sum_b partials[b, j] / count``, blocks added in order.

    With ``p + 1`` columns in ``partials``, this leaves the mean gradient in ``sh[p : 2p]``
    and the mean loss in ``sh[2p]``, as :func:`block_mean` does. Synchronises the block.
    """
    p = partials.shape[1] - 1
    inv_B = 1.0 / count
    for j in range(tid, p + 1, T):
        s = 0.0
        for b in range(partials.shape[0]):
            s += partials[b, j]
        sh[p + j] = s * inv_B
    cuda.syncthreads()


def grid_blocks(rows: int, T: int) -> int:
    """Blocks of the grid-wide reduction for ``rows`` rows: enough to cover them, at most
    ``config.GRID_BLOCKS`` (0: 8 per multiprocessor of the current device)."""
    most = config.GRID_BLOCKS
    if most <= 0:
        try:
            most = 8 * int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
        except Exception:  # noqa: BLE001 - the simulator has no device attributes
            most = 8
    return max(1, min(most, math.ceil(rows / T)))
