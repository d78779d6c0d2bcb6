"""The machine and the versions a report was measured with, and the machine's measured limits:
``np.matmul`` GFLOP/s on a big square float32 product and memory bandwidth of a large copy."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

from dlcli.runtime.blas import limit_blas

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def blas_pools() -> list[str]:
    """Every BLAS and OpenMP pool loaded now: library, version, kernel, default threads."""
    from threadpoolctl import threadpool_info

    out = []
    for p in threadpool_info():
        lib = Path(p.get("filepath", "")).name
        where = "numpy" if "numpy" in p.get("filepath", "") else \
            "scipy" if "scipy" in p.get("filepath", "") else \
            "torch" if "torch" in p.get("filepath", "") else \
            "sklearn" if "sklearn" in p.get("filepath", "") else lib
        arch = f", {p['architecture']} kernels" if p.get("architecture") else ""
        out.append(f"{p['internal_api']} {p.get('version') or ''} ({where}{arch}, "
                   f"{p['num_threads']} threads)".replace("  ", " "))
    return out


def git_state() -> str:
    """``abc1234`` and whether dlcli/ has uncommitted changes (the code measured)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dlcli"], cwd=ROOT,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in dlcli/" if dirty else "")


def load_average() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return " / ".join(f"{x:.2f}" for x in load) + " (1 / 5 / 15 min)"


def busy(facts: dict[str, str]) -> bool:
    """Was the 1-minute load average above half the cores at the start or the end?"""
    loads = [float(facts[k].split(" / ")[0]) for k in facts if k.startswith("load average")]
    return any(x > 0.5 * (os.cpu_count() or 1) for x in loads)


def describe() -> dict[str, str]:
    """The facts the report's header shows."""
    return {
        "CPU": f"{cpu_model()}, {os.cpu_count()} cores (logical CPUs), "
               f"RAM {ram_gib():.1f} GiB, {platform.system()} {platform.machine()}",
        "load average at the start": load_average(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{d} {version(d)}" for d in
                              ("dlcli", "numpy", "torch", "scikit-learn", "threadpoolctl")),
        "dlcli code": git_state(),
    }


def matmul_gflops(n: int, threads: int | None, repeats: int = 3) -> float:
    """GFLOP/s of ``np.matmul`` on two ``(n, n)`` float32 matrices (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    times = []
    with limit_blas(threads):
        np.matmul(a, b, out=out)  # warm-up: threads started, pages touched
        for _ in range(repeats):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9


def copy_gbs(mb: int, threads: int, repeats: int = 3) -> float:
    """GB/s (bytes read + written) of copying an ``mb`` MB float32 array, in ``threads``
    slices at once (numpy releases the GIL while copying)."""
    src = np.ones(mb * 2**20 // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    edges = [len(src) * i // threads for i in range(threads + 1)]
    parts = list(zip(edges[:-1], edges[1:], strict=True))

    def one(part: tuple[int, int]) -> None:
        np.copyto(dst[part[0]:part[1]], src[part[0]:part[1]])

    times = []
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, parts))  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            list(pool.map(one, parts))
            times.append(time.perf_counter() - t)
    return 2 * src.nbytes / sorted(times)[len(times) // 2] / 1e9
