"""Where one training step's time goes: the profile behind the gap notes of docs/benchmarks.md.

    python -m benchmarks.profile_step mlp            # MLP 3073-512-10, the default threads
    python -m benchmarks.profile_step svm --threads 1
    python -m benchmarks.profile_step softmax --steps 3000

It drives the momentum strategy dlcli trains with (``dlcli.strategies``) on the benchmark's
data (49,000 x 3073 CIFAR-shaped float32 rows, batch 256, the same settings as the rows of
``make bench``), with timers wrapped around the parts of the step: the matrix products (by
shape), the L2 gradient, the update rule, the loss, and for a linear model the threaded part
(gather, products and loss on every thread). What no timer covers (the gather of an MLP's
minibatch, ReLU, biases, sums, the loop) is reported as the rest. The wrappers cost about a
microsecond per call, noise next to the parts they time.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks.datasets import cifar_shaped, normalized
from benchmarks.training import HIDDEN, LINEAR_LR, LINEAR_REG, MLP_LR, MLP_REG
from dlcli import optim, strategies
from dlcli.config import validate
from dlcli.models import build_model
from dlcli.models import linear as linear_module
from dlcli.models import mlp as mlp_module
from dlcli.runtime import linalg
from dlcli.runtime.blas import limit_blas

Spent = dict[str, float]
WHOLE = "loss_and_grad, all of it (holds the next line)"


def timed(spent: Spent, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t
    return wrapper


def products_by_shape(spent: Spent, fn: Callable[..., Any]) -> Callable[..., Any]:
    def product(a: np.ndarray, b: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        label = f"product ({a.shape[0]} x {a.shape[1]}) @ ({b.shape[0]} x {b.shape[1]})"
        return timed(spent, label, fn)(a, b, *args, **kwargs)
    return product


def config(kind: str, batch: int) -> dict[str, Any]:
    model: dict[str, Any] = {"name": kind, "reg": LINEAR_REG, "init_scale": 1e-4}
    lr = LINEAR_LR
    if kind == "mlp":
        model = {"name": "mlp", "hidden": [HIDDEN], "head": "softmax", "reg": MLP_REG,
                 "init_scale": None}
        lr = MLP_LR
    return {"name": f"profile-{kind}", "seed": 0,
            "data": {"source": "cifar10-synthetic", "num_train": 10, "num_val": 1,
                     "num_test": 1},  # the shapes only: the data is the benchmark's
            "model": model,
            "strategy": {"name": "momentum", "lr": lr, "rho": 0.9, "batch_size": batch,
                         "iterations": 10**9}}


def profile(kind: str, threads: int, steps: int, batch: int = 256, rows: int = 49_000
            ) -> tuple[float, Spent]:
    """Seconds per step and the seconds of each timed part per step, over ``steps`` steps
    (after 20 untimed ones) on ``rows`` training rows. dlcli's modules are patched while it
    runs and restored after."""
    data = cifar_shaped(rows, 1_000, 1_000, 0)
    if kind == "mlp":
        data = normalized(data)
    cfg = validate(config(kind, batch))
    model = build_model(cfg.model, data)
    spent: Spent = {}
    patched: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        patched.append((owner, name, owner.__dict__[name] if isinstance(owner, type)
                        else getattr(owner, name)))
        setattr(owner, name, value)

    if kind == "mlp":
        patch(mlp_module, "matmul", products_by_shape(spent, mlp_module.matmul))
        patch(mlp_module.MLP, "_add_penalty", timed(spent, "L2 gradient (dW += 2 reg W)",
                                                    mlp_module.MLP._add_penalty))
        object.__setattr__(model, "data_loss", timed(  # this model only
            spent, "the loss and its gradient (scores)", model.data_loss))
    else:  # a linear model's loss runs on the threads, inside linalg.each
        # the linear module's view of linalg, with each timed (the update rule's stays as is)
        patch(linear_module, "linalg", SimpleNamespace(**{**vars(linalg), "each": timed(
            spent, "on the threads: gather, X_b @ W, loss, dscores.T @ X_b", linalg.each)}))
        object.__setattr__(model, "loss_and_grad", timed(spent, WHOLE, model.loss_and_grad))
    patch(optim, "apply", timed(spent, "update rule (momentum: v, W)", optim.apply))
    params = model.init_params(data.n_features, data.n_outputs, np.random.default_rng(1))
    before = linalg.threads()
    linalg.set_threads(threads)
    try:
        with limit_blas(1):
            loop = strategies.STRATEGIES["momentum"](model, data, cfg.strategy, params,
                                                     np.random.default_rng(2))
            for _ in itertools.islice(loop, 20):
                pass
            spent.clear()
            t = time.perf_counter()
            for _ in itertools.islice(loop, steps):
                pass
            total = time.perf_counter() - t
    finally:
        linalg.set_threads(before)
        for owner, name, old in reversed(patched):
            setattr(owner, name, old)
    return total / steps, {k: v / steps for k, v in spent.items()}


def report(kind: str, threads: int, per_step: float, parts: Spent, batch: int = 256) -> str:
    lines = [f"{kind}, batch {batch}, products on {threads} thread(s), BLAS 1: "
             f"{per_step * 1e3:.3f} ms per step, {batch / per_step:,.0f} samples/s"]
    nested = "on the threads: gather, X_b @ W, loss, dscores.T @ X_b"  # inside WHOLE
    covered = sum(v for k, v in parts.items() if k != nested)
    for label, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:58} {seconds * 1e3:7.3f} ms  {seconds / per_step:6.1%}")
    rest = per_step - covered
    what = ("the minibatch gather, ReLU, biases, sums, the loop" if kind == "mlp" else
            "the random rows drawn, the loop")
    lines.append(f"  {'rest: ' + what:58} {rest * 1e3:7.3f} ms  {rest / per_step:6.1%}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=("mlp", "svm", "softmax"))
    ap.add_argument("--threads", type=int, default=linalg.CORES,
                    help="threads of the products (default: every core, as dlcli train)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps (default 300 for the MLP, 3000 for a linear model)")
    args = ap.parse_args()
    steps = args.steps or (300 if args.model == "mlp" else 3000)
    per_step, parts = profile(args.model, args.threads, steps)
    print(report(args.model, args.threads, per_step, parts))


if __name__ == "__main__":
    main()
