"""The engine's CUDA target: how much device memory it needs, one launch per group per chunk,
and the fall-back to the CPU on any CUDA failure. A mixin of :class:`gdviz.engine.Engine`,
kept apart so that the engine's own file says how runs are grouped and advanced, and this one
what the GPU adds to that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdviz import kernels as K
from gdviz.kernels import layout as L
from gdviz.runs import Group


class CudaTarget:
    """The GPU side of the engine (needs the engine's ``runs``, ``_groups``, ``data``, ``n``,
    ``d``, ``p``, ``target`` and ``target_note``)."""

    runs: list[Any]
    _groups: list[Group]
    _gpu_data: dict[type, tuple]
    n: int
    d: int
    p: int
    target: str
    target_note: str
    data: Any  # Engine.data(dtype) -> (X, y)

    def _device_bytes(self) -> int:
        """Device memory the GPU target would take: X and y per dtype, each run's order, and
        the blocks' sums where they live in global memory (large models; ``gpu_losses.block_plan``)."""
        dtypes = {run.params.dtype for run in self.runs}
        data = sum(self.n * (self.d + 1) * np.dtype(dt).itemsize for dt in dtypes)
        try:  # the blocks' sums of a large model live in global memory
            from gdviz.kernels.gpu_losses import global_bytes

            scratch = global_bytes(len(self.runs), self.p, self.runs[0].hpi, self.d) if self.runs else 0
        except Exception:  # noqa: BLE001 - no CUDA support to ask: the estimate without it
            scratch = 0
        return int(data + 8 * self.n * len(self.runs) + scratch + (1 << 20))

    def _gpu_advance(self, group: Group, n_up: np.ndarray, cap: int) -> K.Chunk | None:
        """Advance ``group`` on the GPU (one launch for all its runs); None after falling back
        to the CPU (a CUDA error: driver, out of memory). The group's state stays on the device
        between chunks; parameters, buffers and counters come back each chunk, the
        permutation never (it is a pure function of (seed, epoch), remade on fallback)."""
        try:
            from gdviz.kernels import gpu_descent as G

            if group.device is None:
                if group.dtype not in self._gpu_data:
                    X, y = self.data(group.dtype)
                    G.warm_up(X.dtype, **self.model.kernel_settings())
                    self._gpu_data[group.dtype] = (G.cuda.to_device(X), G.cuda.to_device(y))
                Xd, yd = self._gpu_data[group.dtype]
                group.device = G.device_runs(Xd, yd, group.state)
            chunk = group.device.advance(n_up, cap)
            pulled = L.RunBatch(*(np.empty_like(a) for a in group.state))
            group.device.pull(pulled, perm=False)  # the order is remade from (seed, epoch) on fallback
        except Exception as exc:  # noqa: BLE001 - any CUDA failure: say so, go on on the CPU
            self._fall_back(exc)
            return None
        for name in ("params", "opt_state", "istate", "fstate"):
            getattr(group.state, name)[...] = getattr(pulled, name)
        return chunk

    def _fall_back(self, exc: BaseException) -> None:
        """Continue every run on the CPU from its last completed chunk."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        self.target = "cpu"
        self.target_note = f"CUDA failed at run time ({type(exc).__name__}: {first}); continued on the CPU"
        self._release_device()
        self._gpu_data.clear()

    def _release_device(self) -> None:
        """Drop the groups' device states, the host's state made whole again (the order of
        each run's epoch, which stays on the device, remade from (seed, epoch)): before the
        groups are restacked (a fork), or on a fall-back to the CPU."""
        for group in self._groups:
            self._release(group)

    def _release(self, group: Group) -> None:
        """Drop ``group``'s device copy (it is made again from the host state when needed),
        first remaking on the host each run's order, which only the device held."""
        if group.device is None:
            return
        for run in group.runs:
            e = int(run.istate[L.S_PERM_EPOCH])
            if e >= 0:
                if run.hpi[L.I_SHUFFLE] and run.batch < self.n:  # a full batch: data order
                    K.permutation(int(run.hpi[L.I_SEED]), e, self.n, run.perm)
                else:
                    run.perm[:] = np.arange(self.n)
        group.device = None
