"""The full numerical gradient of the linear svm and softmax on 49,000 x 3073 synthetic
CIFAR rows: the fast path (dlcli.numgrad) against the lecture's per-coordinate loop.

    OPENBLAS_NUM_THREADS=2 python -m benchmarks.numerical_gradient [--rows 49000] [--h 1e-7]

``rows`` gives ``make bench`` (benchmarks.run) its rows: the timings alone, at h = 1e-5.

The loop is timed on a random subset of coordinates and extrapolated to all 30,730 x 2 loss
evaluations. Accuracy: the relative error |a - n| / max(|a|, |n|) (dlcli.gradcheck) of the fast
numerical gradient against the analytic one, both in float64, at the lecture's starting point
W = 1e-4 * randn. For the hinge, coordinates whose ±h interval crosses a kink of some row
(where the analytic gradient is only a subgradient) are counted and reported apart.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numpy as np

from benchmarks.harness import Context, Row, Target, dlcli_threads
from dlcli.data.cifar import synthetic_dataset
from dlcli.gradcheck import numerical_gradient, relative_error
from dlcli.models.linear import LinearModel, softmax, svm
from dlcli.numgrad import human_seconds, numerical_gradient_fast

BENCH_H = 1e-5  # strategy.h's default: what numerical-gd differentiates with


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=49_000)
    ap.add_argument("--h", type=float, default=1e-10)  # no row's kink within reach: exact svm
    ap.add_argument("--loop-coords", type=int, default=10, help="coordinates the loop times")
    ap.add_argument("--repeat", type=int, default=2, help="fast runs per model (best kept)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="threads of the fast path (default: every core, as dlcli train)")
    args = ap.parse_args()
    from dlcli.runtime.linalg import CORES

    args.jobs = args.jobs or CORES
    print(machine(args.jobs))
    t0 = time.perf_counter()
    data = synthetic_dataset(args.rows, 0, 1, seed=0)
    X, y = data.X_train, data.y_train
    print(f"data: {X.shape[0]:,} x {X.shape[1]:,} float32 in {time.perf_counter() - t0:.1f}s")
    X64 = X.astype(np.float64)  # for the analytic gradient and the loop
    rows = []
    for name, build in (("svm", svm), ("softmax", softmax)):
        model = build(2.5e-4, 1e-4)
        rng = np.random.default_rng(0)
        W = {"W": model.init_params(X.shape[1], 10, rng)["W"].astype(np.float64)}
        rows.append(measure(name, model, W, X, X64, y, args))
    print()
    print("| model | fast full gradient | per-coordinate loop (extrapolated) | speed-up "
          "| max rel. error | mean rel. error | kink-crossing coords | max rel. error elsewhere |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['fast_s']:.1f} s | {r['loop_s'] / 3600:.1f} h "
              f"({r['loop_per_coord_s']:.2f} s per coordinate) | {r['loop_s'] / r['fast_s']:,.0f}x "
              f"| {r['max_err']:.1e} | {r['mean_err']:.1e} | {r['kinks']:,} "
              f"| {r['max_err_smooth']:.1e} |")


def measure(name: str, model: LinearModel, W: dict[str, np.ndarray], X: np.ndarray,
            X64: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    best, num = float("inf"), None
    for _ in range(args.repeat):
        t = time.perf_counter()
        num = numerical_gradient_fast(model, W, X, y, args.h, jobs=args.jobs)["W"]
        best = min(best, time.perf_counter() - t)
    assert num is not None
    print(f"{name}: fast full gradient {best:.1f}s (best of {args.repeat})", flush=True)
    _, grads = model.loss_and_grad(W, X64, y)
    err = relative_error(grads["W"], num)
    kinks = kink_crossings(model, W["W"], X64, y, args.h) if name == "svm" else None
    smooth = err if kinks is None else err[~kinks]
    per_coord = loop_seconds(model, W, X64, y, args.h, args.loop_coords)
    print(f"{name}: per-coordinate loop {per_coord:.2f}s per coordinate", flush=True)
    return {"model": name, "fast_s": best, "loop_per_coord_s": per_coord,
            "loop_s": per_coord * W["W"].size, "max_err": float(err.max()),
            "mean_err": float(err.mean()), "kinks": 0 if kinks is None else int(kinks.sum()),
            "max_err_smooth": float(smooth.max(initial=0.0))}


def loop_seconds(model: LinearModel, W: dict[str, np.ndarray], X64: np.ndarray,
                 y: np.ndarray, h: float, n: int) -> float:
    """Seconds per coordinate of the lecture's loop (``dlcli.gradcheck.numerical_gradient``:
    two full losses per coordinate), timed on the first ``n`` coordinates of ``W``."""
    subset = {"W": W["W"].reshape(-1)[:n]}  # a view: perturbing it perturbs W itself
    t = time.perf_counter()
    numerical_gradient(lambda: model.loss(W, X64, y), subset, h)
    return (time.perf_counter() - t) / n


def rows(ctx: Context) -> list[Row]:
    """``make bench``: the fast full gradient of svm and softmax (float64 W on the float32
    rows, as numerical-gd takes it) vs the per-coordinate loop on float64 rows (its best case:
    no conversion per loss), timed on a few coordinates and extrapolated."""
    from benchmarks.training import data

    d = data(ctx)
    X, y, k = d.X_train, d.y_train, ctx.sizes.loop_coords
    X64 = X.astype(np.float64)
    out = []
    for name, build in (("svm", svm), ("softmax", softmax)):
        model = build(2.5e-4, 1e-4)
        W = {"W": model.init_params(X.shape[1], d.n_outputs, np.random.default_rng(0))["W"]
             .astype(np.float64)}
        ctx.log(f"numerical gradient, {name}: fast path, then the loop on {k} coordinates")
        with dlcli_threads(None):
            t = time.perf_counter()
            numerical_gradient_fast(model, W, X, y, BENCH_H)
            fast = time.perf_counter() - t
            per = loop_seconds(model, W, X64, y, BENCH_H, k)
        total = per * W["W"].size
        out.append(Row(
            "numerical gradient",
            f"{name}: the full numerical gradient ({W['W'].size:,} coordinates, h = {BENCH_H:g})"
            f" on {X.shape[0]:,} × {X.shape[1]:,}: dlcli.numgrad vs the per-coordinate loop",
            f"{fast:.1f} s", f"loop ≈ {human_seconds(total)} (timed on {k} coordinates, "
            f"{per:.2f} s each, extrapolated)", f"{total / fast:,.0f}×",
            Target("<", 60.0, "fast path < 60 s"), fast))
    return out


def kink_crossings(model: LinearModel, W: np.ndarray, X64: np.ndarray, y: np.ndarray,
                   h: float) -> np.ndarray:
    """``(D, C)`` bool: does moving ``W[i, j]`` by ±h move some hinge margin across 0?

    Row n's margins that move with column j: ``m_nj`` if ``y_n != j``, every other margin if
    ``y_n = j``; they move by ``h |x_ni|``. A crossing: ``h |x_ni| > distance to 0``.
    """
    S = X64 @ W
    n = np.arange(len(y))
    M = np.abs(S - S[n, y][:, None] + 1)
    M[n, y] = np.inf
    dist = M.copy()  # per row and moved column: the nearest margin to a kink
    dist[n, y] = M.min(axis=1)
    out = np.zeros(W.shape, dtype=bool)
    for i0 in range(0, X64.shape[1], 256):
        A = h * np.abs(X64[:, i0:i0 + 256])
        for j in range(W.shape[1]):
            out[i0:i0 + 256, j] = (A > dist[:, j, None]).any(axis=0)
    return out


def machine(jobs: int) -> str:
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    return (f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas}; "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
            f"threads for the fast path: {jobs}")


if __name__ == "__main__":
    main()
