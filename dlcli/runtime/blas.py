"""Pinning the BLAS thread pool: a float32 matrix product's last bits depend on how many
threads split it, so every run pins the count to get the same numbers everywhere."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


def limit_blas(threads: int | None) -> AbstractContextManager[Any]:
    """A context in which BLAS uses ``threads`` threads (None: leave it as it is)."""
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits  # imported late: `dlcli --help` stays fast

    return threadpool_limits(limits=threads, user_api="blas")


def pin_blas_for_good(threads: int) -> None:
    """Set BLAS to ``threads`` threads for the rest of the process (workers of a sweep)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def blas_info() -> dict[str, object]:
    """The BLAS numpy uses, as result.json records it: library, version, CPU kernel."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {"library": pool.get("internal_api"), "version": pool.get("version"),
                    "architecture": pool.get("architecture")}
    return {"library": None, "version": None, "architecture": None}
