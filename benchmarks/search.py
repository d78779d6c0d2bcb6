"""Rows: the machine's limits, and the lecture's random strategies on 49,000 x 3073, as
configs/cifar10-random-search.yaml and configs/cifar10-random-local-search.yaml set them.

Random search is judged against the lecture's loop, one candidate at a time at the same
threads (``W = randn * 1e-4; loss = L(X, y, W)``), drawing from the same random stream, so
the same candidate must come out best. Achieved GFLOP/s count ``2 N D C`` per candidate;
"GB/s of X scored" counts the N x D float32 matrix once per candidate (a pass that scores
many candidates at once reads it once for all of them, hence above the copy bandwidth).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import (
    Context,
    Row,
    StepClock,
    Target,
    config,
    dlcli_default_threads,
    dlcli_steps,
    dlcli_threads,
    plural,
    with_sizes,
)
from benchmarks.machine import copy_gbs, matmul_gflops
from benchmarks.training import data
from dlcli.config import read_yaml_mapping
from dlcli.models import build_model
from dlcli.runtime.blas import limit_blas
from dlcli.train import streams, train

ROOT = Path(__file__).resolve().parents[1]


def peak(ctx: Context, threads: int) -> tuple[float, float]:
    """(np.matmul GFLOP/s, copy GB/s) of this machine on ``threads`` threads (measured once)."""
    s = ctx.sizes
    return ctx.once(f"peak-{threads}", lambda: (matmul_gflops(s.peak_n, threads),
                                                 copy_gbs(s.copy_mb, threads)))


def peaks(ctx: Context) -> list[Row]:
    rows = []
    for n in sorted({dlcli_default_threads(), 1}, reverse=True):
        gflops, gbs = peak(ctx, n)
        rows.append(Row("the machine's limits",
                        f"np.matmul {ctx.sizes.peak_n}² float32, BLAS {plural(n, 'thread')}; "
                        f"copy of {ctx.sizes.copy_mb} MB in {plural(n, 'slice')}",
                        f"{gflops:,.1f} GFLOP/s; {gbs:,.1f} GB/s (read + write)"))
    return rows


def shipped(name: str, ctx: Context) -> dict[str, Any]:
    """configs/<name>.yaml's seed, model and strategy, on the CIFAR-shaped data."""
    raw = read_yaml_mapping(ROOT / "configs" / f"{name}.yaml")
    return with_sizes({k: raw[k] for k in ("seed", "model", "strategy") if k in raw}, ctx.sizes)


def lecture_svm_loss(X: np.ndarray, y: np.ndarray, W: np.ndarray) -> float:
    """The lecture's vectorized multiclass SVM loss (reg 0, as the config), float32."""
    scores = X.dot(W)
    rows = np.arange(X.shape[0])
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    return float(margins.sum() / X.shape[0])


def lecture_search(X: np.ndarray, y: np.ndarray, rng: np.random.Generator, k: int,
                   scale: float, n_classes: int) -> tuple[float, int, float]:
    """The lecture's loop over ``k`` candidates: (seconds, best index 1..k, its loss)."""
    bestloss, best = float("inf"), 0
    t = time.perf_counter()
    for i in range(1, k + 1):
        W = rng.standard_normal((X.shape[1], n_classes), dtype=np.float32)
        W *= scale
        loss = lecture_svm_loss(X, y, W)
        if loss < bestloss:
            bestloss, best = loss, i
    return time.perf_counter() - t, best, bestloss


def _dlcli_search(ctx: Context, raw: dict[str, Any]) -> tuple[float, StepClock, float,
                                                              np.ndarray]:
    """dlcli's whole random search (seconds), its steps, the loss of the weights it starts
    from and those weights."""
    d = data(ctx)
    cfg = config(raw, ctx.sizes.candidates)
    model = build_model(cfg.model, d)
    clock = StepClock()
    with dlcli_threads(None):
        start = model.init_params(d.n_features, d.n_outputs, streams(cfg.seed)[0])
        start_loss = model.loss(start, d.X_train, d.y_train)
        t = time.perf_counter()
        outcome = train(cfg, d, model, [clock])
        seconds = time.perf_counter() - t
    if outcome.status != "completed":
        raise RuntimeError(f"dlcli's random search ended early: {outcome.status}")
    return seconds, clock, start_loss, start["W"]


def random_search(ctx: Context) -> list[Row]:
    s, d = ctx.sizes, data(ctx)
    raw = shipped("cifar10-random-search", ctx)
    k, n = min(s.lecture_candidates, s.candidates), dlcli_default_threads()
    ctx.log(f"random search: dlcli, {s.candidates} candidates")
    seconds, clock, start_loss, W0 = _dlcli_search(ctx, raw)
    best, chosen = start_loss, 0  # dlcli's choice among the first k candidates
    for rec in clock.records[:k]:
        if rec.loss < best:
            best, chosen = rec.loss, rec.iteration
    ctx.log(f"random search: the lecture's loop, {k} candidates, BLAS {n} threads")
    with limit_blas(n):
        lec_s, lec_i, lec_loss = lecture_search(
            d.X_train, d.y_train, streams(int(raw.get("seed", 0)))[1], k,
            float(raw["model"]["init_scale"]), d.n_outputs)
        lec_start = lecture_svm_loss(d.X_train, d.y_train, W0)
    if lec_loss >= lec_start:  # dlcli starts from the run's initial weights (#0): so here
        lec_i, lec_loss = 0, lec_start
    lecture_total = lec_s * s.candidates / k
    flop = 2 * d.X_train.shape[0] * d.X_train.shape[1] * d.n_outputs
    gflops, gbs = peak(ctx, n)
    ours_gflops = s.candidates * flop / seconds / 1e9
    same = chosen == lec_i and abs(best - lec_loss) <= 1e-5 * abs(lec_loss)
    what = f"random search, {s.candidates:,} candidates on {d.X_train.shape[0]:,} × " \
           f"{d.X_train.shape[1]:,} (same threads)"
    return [
        Row("random strategies", f"{what}: dlcli vs the lecture's loop",
            f"{seconds:.1f} s ({clock.threads})",
            f"lecture loop ≈ {lecture_total:.1f} s (timed on {k} candidates: {lec_s:.2f} s, "
            f"extrapolated; BLAS {plural(n, 'thread')})", f"{lecture_total / seconds:.1f}×",
            Target(">=", 5.0, "≥ 5× the lecture's loop"), lecture_total / seconds),
        Row("random strategies", f"random search: the candidate chosen among the first {k} "
            f"(#0: the run's initial weights, which both start from)",
            f"#{chosen}, loss {best:.6g}", f"lecture loop: #{lec_i}, loss {lec_loss:.6g}",
            "same" if same else "different",
            Target(">=", 1.0, "the same candidate, losses within float32 rounding"),
            1.0 if same else 0.0),
        Row("random strategies", "random search: achieved rate",
            f"{ours_gflops:,.1f} GFLOP/s; {s.candidates * d.X_train.nbytes / seconds / 1e9:,.1f}"
            f" GB/s of X scored",
            f"lecture loop {k * flop / lec_s / 1e9:,.1f} GFLOP/s; machine: np.matmul "
            f"{gflops:,.1f} GFLOP/s, copy {gbs:,.1f} GB/s ({plural(n, 'thread')})",
            f"{ours_gflops / gflops:.0%} of np.matmul's peak"),
    ]


def local_search(ctx: Context) -> list[Row]:
    s, d = ctx.sizes, data(ctx)
    raw = shipped("cifar10-random-local-search", ctx)
    n = dlcli_default_threads()
    ctx.log(f"random local search: {s.local_steps} timed steps")
    seconds, steps, clock = dlcli_steps(raw, d, None, s, steps=s.local_steps)
    rate = steps / seconds
    W = np.random.default_rng(3).standard_normal((d.X_train.shape[1], d.n_outputs),
                                                 dtype=np.float32)
    out = np.empty((d.X_train.shape[0], d.n_outputs), np.float32)
    with limit_blas(n):
        np.matmul(d.X_train, W, out=out)
        t = time.perf_counter()
        for _ in range(max(3, s.local_steps // 3)):
            np.matmul(d.X_train, W, out=out)
        alone = max(3, s.local_steps // 3) / (time.perf_counter() - t)
    _, gbs = peak(ctx, n)
    return [Row("random strategies",
                f"random local search, {d.X_train.shape[0]:,} × {d.X_train.shape[1]:,}: "
                f"steps/s ({s.local_steps} steps timed after {s.warmup})",
                f"{rate:,.1f} steps/s = {rate * d.X_train.nbytes / 1e9:,.1f} GB/s of X "
                f"({clock.threads})",
                f"np.matmul X @ W alone: {alone:,.1f}/s = {alone * d.X_train.nbytes / 1e9:,.1f}"
                f" GB/s (BLAS {plural(n, 'thread')}); copy {gbs:,.1f} GB/s",
                f"{rate / alone:.0%} of the product alone")]
