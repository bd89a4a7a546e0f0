"""A monotonic clock readable inside jitted code: each run of a batch times itself.

When one kernel call advances many runs (in parallel over runs), the wall time of the call
says nothing about one run; so the epoch loop reads ``CLOCK_MONOTONIC`` itself around each
run's chunk. Numba has no clock in nopython mode and ctypes pointers would defeat its
on-disk cache, so :func:`now_ns` is an intrinsic that calls libc's ``clock_gettime`` by
name (resolved when the code is linked; a vDSO call of ~20 ns, made twice per run per
chunk). Written by hand because no library provides it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: ``CLOCK_MONOTONIC`` on Linux and macOS.
_CLOCK_MONOTONIC = 1 if __import__("sys").platform.startswith("linux") else 6


@intrinsic
def now_ns(typingctx):  # type: ignore[no-untyped-def]
    """Nanoseconds of ``CLOCK_MONOTONIC`` (int64), from jitted code."""
    sig = types.int64()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        ts_t = ir.LiteralStructType([i64, i64])
        ts = cgutils.alloca_once(builder, ts_t)
        fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32), ts_t.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        builder.call(fn, [ir.Constant(ir.IntType(32), _CLOCK_MONOTONIC), ts])
        sec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)

    return sig, codegen
