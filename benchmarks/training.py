"""Rows: the training step. dlcli's own loop (``dlcli.train.train``, as `dlcli train` runs
it) against PyTorch CPU and scikit-learn on the CIFAR-10 shapes (49,000 x 3073 float32,
batch 256), at each library's default threads and at one thread each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.datasets import cifar_shaped, normalized
from benchmarks.harness import (
    Context,
    Rate,
    Row,
    Sizes,
    Target,
    dlcli_default_threads,
    dlcli_steps,
    interleave,
    median,
    plural,
    spread,
    timed_block,
    with_sizes,
)
from dlcli.data import Dataset
from dlcli.runtime.blas import limit_blas

LINEAR_LR, LINEAR_REG = 1e-7, 2.5e-4  # pixel-scale features, as configs/quickstart.yaml
MLP_LR, MLP_REG, HIDDEN = 1e-2, 1e-4, 512  # configs/cifar10-mlp-momentum.yaml
SKLEARN_LOSS = {"softmax": "log_loss", "svm": "hinge"}
NO_TORCH = "PyTorch not installed (pip install -e '.[bench]')"


def torch_wanted(ctx: Context) -> bool:
    return ctx.use_torch and peers.torch_or_none() is not None


def no_torch(ctx: Context) -> str:
    return NO_TORCH if ctx.use_torch else "PyTorch left out (--no-torch)"


def data(ctx: Context) -> Dataset:
    s = ctx.sizes
    return ctx.once("data", lambda: cifar_shaped(s.n_train, s.n_val, s.n_test, 0))


def unit_data(ctx: Context) -> Dataset:
    return ctx.once("unit_data", lambda: normalized(data(ctx)))


def linear_raw(kind: str, ctx: Context) -> dict[str, Any]:
    return with_sizes({"seed": 0, "model": {"name": kind, "reg": LINEAR_REG, "init_scale": 1e-4},
                       "strategy": {"name": "momentum", "lr": LINEAR_LR, "rho": 0.9,
                                    "batch_size": ctx.sizes.batch}}, ctx.sizes)


def mlp_raw(ctx: Context) -> dict[str, Any]:
    return with_sizes({"seed": 0, "data": {"normalize": True},
                       "model": {"name": "mlp", "hidden": [HIDDEN], "head": "softmax",
                                 "reg": MLP_REG, "init_scale": None},
                       "strategy": {"name": "momentum", "lr": MLP_LR, "rho": 0.9,
                                    "batch_size": ctx.sizes.batch}}, ctx.sizes)


def dlcli_rate(ctx: Context, raw: dict[str, Any], d: Dataset, threads: int | None,
               seen: dict[str, str]) -> Rate:
    def rate() -> float:
        seconds, steps, clock = dlcli_steps(raw, d, threads, ctx.sizes)
        seen["dlcli"] = clock.threads
        return steps * ctx.sizes.batch / seconds
    return rate


def torch_rate(ctx: Context, kind: str, d: Dataset, threads: int | None, lr: float,
               reg: float, seen: dict[str, str]) -> Rate:
    def rate() -> float:
        r = peers.torch_rate(kind, d.X_train, d.y_train, threads=threads,
                             batch=ctx.sizes.batch, block=ctx.sizes, lr=lr, reg=reg,
                             hidden=HIDDEN)
        with peers.torch_threads(threads) as n:
            seen["torch"] = plural(n, "thread")
        return r
    return rate


def sgdclassifier(ctx: Context, loss: str, d: Dataset) -> Rate:
    return lambda: peers.sgdclassifier_rate(loss, d.X_train, d.y_train,
                                            rows=ctx.sizes.sgdclassifier_rows, reg=LINEAR_REG)


def _pair(ctx: Context, what: str, rates: dict[str, list[float]], seen: dict[str, str],
          peer: str, target: Target | None, unit: str = "samples/s") -> Row:
    ours, theirs = median(rates["dlcli"]), median(rates.get(peer, []))
    label = {"torch": "PyTorch"}.get(peer, peer)
    return Row("training step", what, f"{ours:,.0f} {unit} ({seen.get('dlcli', '')})",
               f"{label} {theirs:,.0f} {unit} ({seen.get(peer, '')})",
               f"{ours / theirs:.2f}×", target, ours / theirs,
               f"rates over repeats — dlcli {spread(rates['dlcli'])}; "
               f"{label} {spread(rates.get(peer, []))}")


def linear(ctx: Context, kind: str) -> list[Row]:
    """softmax or svm SGD+momentum: dlcli vs PyTorch at defaults and at one thread; vs
    scikit-learn's SGDClassifier (per-sample SGD) at defaults."""
    s, d, raw = ctx.sizes, data(ctx), linear_raw(kind, ctx)
    rows: list[Row] = []
    use_torch = ctx.use_torch and peers.torch_or_none() is not None
    for threads, label in ((None, "default threads"), (1, "1 thread each")):
        seen: dict[str, str] = {}
        contenders = {"dlcli": dlcli_rate(ctx, raw, d, threads, seen)}
        if use_torch:
            contenders["torch"] = torch_rate(ctx, kind, d, threads, LINEAR_LR, LINEAR_REG, seen)
        if threads is None:
            loss = SKLEARN_LOSS[kind]
            contenders[f"SGDClassifier({loss})"] = sgdclassifier(ctx, loss, d)
            seen[f"SGDClassifier({loss})"] = "1 thread, batch 1, float64"
        ctx.log(f"{kind} SGD+momentum, {label}: {', '.join(contenders)}")
        rates = interleave(contenders, ctx.repeats, s.pause_s)
        what = f"{kind} SGD+momentum, batch {s.batch}, {label}"
        if use_torch:
            target = Target(">=", 1.8, "≥ 1.8× PyTorch") if threads is None else None
            rows.append(_pair(ctx, f"{what}: dlcli vs PyTorch", rates, seen, "torch", target))
        else:
            rows.append(Row("training step", f"{what}: dlcli vs PyTorch",
                            f"{median(rates['dlcli']):,.0f} samples/s ({seen['dlcli']})",
                            no_torch(ctx)))
        if threads is None:
            rows.append(_pair(ctx, f"{what}: dlcli vs scikit-learn SGDClassifier", rates,
                              seen, f"SGDClassifier({SKLEARN_LOSS[kind]})", None))
    return rows


def matmul_rate(X: np.ndarray, threads: int, sizes: Sizes) -> Rate:
    """Samples/s the MLP step's two big products alone allow: ``Xb @ W1`` (batch x 3073 @
    3073 x 512) and ``Xb.T @ dH1`` (3073 x batch @ batch x 512), np.matmul into preallocated
    arrays, BLAS on ``threads`` threads."""
    rng = np.random.default_rng(2)
    Xb = X[rng.integers(0, X.shape[0], size=sizes.batch)]
    W1 = rng.standard_normal((X.shape[1], HIDDEN), dtype=np.float32)
    dH = rng.standard_normal((sizes.batch, HIDDEN), dtype=np.float32)
    H, dW = np.empty((sizes.batch, HIDDEN), np.float32), np.empty_like(W1)

    def step() -> None:
        np.matmul(Xb, W1, out=H)
        np.matmul(Xb.T, dH, out=dW)

    def rate() -> float:
        with limit_blas(threads):
            steps, seconds = timed_block(step, sizes)
        return steps * sizes.batch / seconds
    return rate


def mlp(ctx: Context) -> list[Row]:
    """MLP 3073 -> 512 -> 10: dlcli vs PyTorch (defaults, one thread), vs sklearn's
    MLPClassifier, and vs the rate of the step's two big matrix products alone."""
    s, d, raw = ctx.sizes, unit_data(ctx), mlp_raw(ctx)
    use_torch = torch_wanted(ctx)
    rows: list[Row] = []
    for threads, label in ((None, "default threads"), (1, "1 thread each")):
        seen: dict[str, str] = {}
        n = dlcli_default_threads() if threads is None else threads
        contenders = {"dlcli": dlcli_rate(ctx, raw, d, threads, seen)}
        if use_torch:
            contenders["torch"] = torch_rate(ctx, "mlp", d, threads, MLP_LR, MLP_REG, seen)
        contenders["matmul"] = matmul_rate(d.X_train, n, s)
        seen["matmul"] = f"np.matmul, BLAS {plural(n, 'thread')}"
        if threads is None:
            contenders["MLPClassifier"] = lambda: peers.sklearn_mlp_rate(
                d.X_train, d.y_train, batch=s.batch, batches=s.sklearn_mlp_batches,
                lr=MLP_LR, reg=MLP_REG, hidden=HIDDEN)
            seen["MLPClassifier"] = "numpy's BLAS default"
        ctx.log(f"MLP 3073-{HIDDEN}-10, {label}: {', '.join(contenders)}")
        rates = interleave(contenders, ctx.repeats, s.pause_s)
        what = f"MLP 3073→{HIDDEN}→10 SGD+momentum, batch {s.batch}, {label}"
        if use_torch:
            rows.append(_pair(ctx, f"{what}: dlcli vs PyTorch", rates, seen, "torch",
                              Target(">=", 1.3, "≥ 1.3× PyTorch")))
        else:
            rows.append(Row("training step", f"{what}: dlcli vs PyTorch",
                            f"{median(rates['dlcli']):,.0f} samples/s ({seen['dlcli']})",
                            no_torch(ctx)))
        if threads is None:
            rows.append(_pair(ctx, f"{what}: dlcli vs scikit-learn MLPClassifier", rates,
                              seen, "MLPClassifier", Target(">=", 2.0, "≥ 2× MLPClassifier")))
        row = _pair(ctx, f"{what}: dlcli's step vs its two big np.matmul products alone",
                    rates, seen, "matmul", Target(">=", 0.9, "≥ 90% of the matmul-only rate"))
        row.ratio = f"{row.value:.0%}" if row.value is not None else "—"
        rows.append(row)
    return rows
