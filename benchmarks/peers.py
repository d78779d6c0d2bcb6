"""What people would pick instead of dlcli, on the same data: PyTorch CPU (the ``bench``
extra) and scikit-learn, each timed the way its users train, with random minibatches.

Every function returns samples per second of one timed block, after untimed warm-up steps.
PyTorch's threads: ``torch.set_num_threads(n)``; None leaves its default (every core).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from benchmarks.harness import Sizes, timed_block

_TORCH_DEFAULT: list[int] = []  # torch's own thread count, read once before we change it


def torch_or_none() -> Any:
    """The torch module, or None when the ``bench`` extra is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if not _TORCH_DEFAULT:
        _TORCH_DEFAULT.append(torch.get_num_threads())
    return torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """PyTorch on ``n`` threads (None: its default) inside; restored after."""
    torch = torch_or_none()
    before = torch.get_num_threads()
    torch.set_num_threads(n if n is not None else _TORCH_DEFAULT[0])
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _torch_net(torch: Any, kind: str, d: int, c: int, hidden: int) -> tuple[Any, Any]:
    nn = torch.nn
    if kind == "mlp":
        return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, c)), \
            nn.CrossEntropyLoss()
    loss = nn.CrossEntropyLoss() if kind == "softmax" else nn.MultiMarginLoss()
    return nn.Linear(d, c, bias=False), loss


def torch_rate(kind: str, X: np.ndarray, y: np.ndarray, *, threads: int | None, batch: int,
               block: Sizes, lr: float, reg: float, hidden: int = 512) -> float:
    """Samples/s of ``torch.optim.SGD(momentum=0.9)`` on ``kind`` (softmax: Linear +
    CrossEntropyLoss; svm: Linear + MultiMarginLoss; mlp: Linear, ReLU, Linear). The L2
    penalty on the weights (not the biases) as ``weight_decay = 2 reg``, like dlcli's
    ``reg * sum(W * W)``. Each step reads its loss (``.item()``), as dlcli's loop does."""
    torch = torch_or_none()
    with torch_threads(threads):
        torch.manual_seed(0)
        net, loss_fn = _torch_net(torch, kind, X.shape[1], int(y.max()) + 1, hidden)
        weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
        groups = [{"params": weights, "weight_decay": 2 * reg}]
        groups += [{"params": biases, "weight_decay": 0.0}] if biases else []
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(0)

        def step() -> None:
            idx = torch.randint(0, Xt.shape[0], (batch,), generator=gen)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            loss.item()

        steps, seconds = timed_block(step, block)
        return steps * batch / seconds


def _rows(X: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(1).integers(0, X.shape[0], size=n)
    return X[idx], y[idx]


def sklearn_mlp_rate(X: np.ndarray, y: np.ndarray, *, batch: int, batches: int, lr: float,
                     reg: float, hidden: int = 512) -> float:
    """Samples/s of ``MLPClassifier(solver="sgd", momentum=0.9)``'s ``partial_fit`` (one
    epoch in minibatches of ``batch``) over ``batches * batch`` random rows; its threads are
    numpy's BLAS default. Plain momentum, like dlcli and PyTorch (no Nesterov)."""
    from sklearn.neural_network import MLPClassifier

    Xc, yc = _rows(X, y, batches * batch)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), solver="sgd", momentum=0.9,
                        nesterovs_momentum=False, batch_size=batch, learning_rate_init=lr,
                        alpha=reg, random_state=0)
    clf.partial_fit(Xc[:batch], yc[:batch], classes=np.arange(int(y.max()) + 1))  # warm-up
    t = time.perf_counter()
    clf.partial_fit(Xc, yc)
    return len(Xc) / (time.perf_counter() - t)


def sgdclassifier_rate(loss: str, X: np.ndarray, y: np.ndarray, *, rows: int,
                       reg: float) -> float:
    """Samples/s of ``SGDClassifier(loss=...)``'s ``partial_fit`` over ``rows`` random rows:
    one sample per update, one-vs-rest over the classes, float64 (its own conversion of the
    float32 rows is part of the time, as its users pay it)."""
    from sklearn.linear_model import SGDClassifier

    Xc, yc = _rows(X, y, rows)
    clf = SGDClassifier(loss=loss, alpha=reg, random_state=0)
    clf.partial_fit(Xc[:64], yc[:64], classes=np.arange(int(y.max()) + 1))  # warm-up
    t = time.perf_counter()
    clf.partial_fit(Xc, yc)
    return len(Xc) / (time.perf_counter() - t)
