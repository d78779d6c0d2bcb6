"""Matrix products on every core whose bits do not depend on how many threads compute them.

A float32 matmul's last bits depend on how BLAS splits the work: OpenBLAS on 1 thread and on 2
threads give different numbers for the same product. So dlcli pins BLAS to one thread and
splits the big products itself, by rows of the output, into blocks that depend only on the
shapes and on the machine (its number of cores), never on the number of threads used. Each
block is one single-threaded BLAS call; the blocks run in a pool of ``threads()`` threads
(BLAS releases the GIL), or one after the other. The same run therefore gives the same bits
with 1 thread, with all cores, in a ``--jobs`` worker and in ``dlcli train`` (on one machine).

Shapes: ``a (M, K)``, ``b (K, N)``, the product ``(M, N)``. Split along M or N, never K, so
that no block sums over a part of K: every output element is computed by one BLAS call, whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

CORES = os.cpu_count() or 1  # a property of the machine, not of the run's settings
MIN_ROWS = 64  # rows of a block: below this, sgemm kernels lose efficiency
MIN_FLOPS = 4_000_000  # smaller products are not worth a thread hand-off: one block

T = TypeVar("T")
_state = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _forget_pools() -> None:
    """A forked child has none of its parent's threads: a pool inherited from it would take
    work and never do it. Start afresh (and with a fresh lock: it may have been held)."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def set_threads(n: int | None) -> None:
    """Threads for the products made from this thread on (None: every core)."""
    _state.threads = max(1, n) if n is not None else CORES


def threads() -> int:
    """The threads products use here: 1 unless :func:`set_threads` said otherwise."""
    return int(getattr(_state, "threads", 1))


def split(m: int, k: int, n: int) -> tuple[int, list[tuple[int, int]]]:
    """How a product of these shapes is cut: ``(axis, ranges)``, axis 0 for rows of the output
    (each block packs its rows of ``a`` and all of ``b``), 1 for columns (its columns of ``b``,
    all of ``a``) — whichever copies less, i.e. along the larger operand. At most one block per
    core of the machine, each at least MIN_ROWS wide; one block for a small product. A function
    of the shapes and the machine only: never of the threads in use."""
    axis = 0 if m * k >= k * n else 1
    size = (m, n)[axis]
    parts = 1 if 2 * m * k * n < MIN_FLOPS else max(1, min(CORES, size // MIN_ROWS))
    edges = [size * i // parts for i in range(parts + 1)]
    return axis, list(zip(edges[:-1], edges[1:], strict=True))


def pool(n: int) -> ThreadPoolExecutor:
    """The process's pool of ``n`` threads (made once): for work that splits like a product."""
    return _pool(n)


def _pool(n: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="dlcli-matmul")
        return pool


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` into ``out`` (allocated when None), block by block (see :func:`split`)."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=np.result_type(a, b))
    axis, parts = split(m, k, n)
    if len(parts) == 1:
        return np.matmul(a, b, out=out)

    err = np.geterr()  # the caller's floating-point error handling, for the pool threads too

    def one(part: tuple[int, int]) -> None:
        lo, hi = part
        with np.errstate(**err):
            if axis == 0:
                np.matmul(a[lo:hi], b, out=out[lo:hi])
            else:
                np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])

    workers = min(threads(), len(parts))
    if workers == 1:
        for part in parts:
            one(part)
        return out
    # The calling thread computes a block too: one hand-off fewer per product, and it does not
    # sit waiting (a thread's wake-up costs tens of microseconds: a linear model's step is ~1 ms)
    rest = [_pool(workers - 1).submit(one, p) for p in parts[1:]]
    one(parts[0])
    for future in rest:
        future.result()
    return out


MIN_PART_ROWS = 64  # rows of a part of a training step: fewer are not worth a thread


def row_parts(n: int) -> list[tuple[int, int]]:
    """How a step over ``n`` rows is cut into parts, one per thread at most: at most one per
    core of the machine, each at least MIN_PART_ROWS rows. A function of ``n`` and the machine
    only, so the parts (and the order they are added in) never depend on the threads in use."""
    parts = max(1, min(CORES, n // MIN_PART_ROWS))
    edges = [n * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def each(fn: Callable[[int, int], T], parts: Sequence[tuple[int, int]]) -> list[T]:
    """``[fn(lo, hi) for (lo, hi) in parts]``, the parts on up to :func:`threads` threads (this
    thread takes the first), results in the order of ``parts``."""
    workers = min(threads(), len(parts))
    if workers <= 1:
        return [fn(lo, hi) for lo, hi in parts]
    err = np.geterr()

    def run(part: tuple[int, int]) -> T:
        with np.errstate(**err):
            return fn(*part)

    rest = [_pool(workers - 1).submit(run, p) for p in parts[1:]]
    return [fn(*parts[0]), *(f.result() for f in rest)]


ELEMENTWISE_MIN = 1 << 18  # values: smaller arrays are updated in one piece


def elementwise_parts(arr: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges to update a big array in, one per thread at most (elementwise operations
    give the same bits whichever way they are cut); one range for a small array."""
    if arr.ndim == 0 or arr.size < ELEMENTWISE_MIN:
        return [(0, arr.shape[0] if arr.ndim else 1)]
    return row_parts(arr.shape[0])
