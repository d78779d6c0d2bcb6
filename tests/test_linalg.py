"""Products that do not depend on the thread count, and training steps that reuse their arrays
yet give the straightforward numbers bit for bit (issue 10)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dlcli.models.losses import l2_penalty, softmax_loss, svm_loss
from dlcli.models.mlp import MLP
from dlcli.runtime import linalg
from dlcli.runtime.blas import limit_blas


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with limit_blas(1):
        yield
    linalg.set_threads(1)


@pytest.mark.parametrize("shape", [(256, 3073, 96), (3073, 256, 64), (50, 30, 10),
                                   (1000, 300, 10), (256, 3073, 512), (64, 300, 2000)])
def test_the_same_bits_for_any_thread_count(shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = {}
    for t in (1, 2, 3, 8):
        linalg.set_threads(t)
        out[t] = linalg.matmul(a, b)
    assert all(np.array_equal(out[1], o) for o in out.values())
    np.testing.assert_allclose(out[1], a @ b, rtol=1e-4, atol=1e-3)
    t_view = linalg.matmul(a.T.copy().T, b)  # a strided operand gives the same bits too
    assert np.array_equal(t_view, out[1])


def test_blocks_depend_on_shapes_only():
    assert linalg.split(10, 10, 10) == (0, [(0, 10)])
    axis, big = linalg.split(256, 3073, 512)  # b (6 MB) is the bigger operand: its columns
    assert axis == 1 and big[0][0] == 0 and big[-1][1] == 512
    assert len(big) <= max(1, linalg.CORES)
    assert all(stop - start >= linalg.MIN_ROWS for start, stop in big)
    assert linalg.split(3073, 256, 512)[0] == 0  # a (3 MB) is the bigger one: its rows


def test_a_forked_child_can_still_multiply():
    linalg.set_threads(2)
    a = np.ones((512, 2000), np.float32)
    linalg.matmul(a, a.T[:, :64].copy())  # the parent's pool now has threads
    code = ("import numpy as np; from dlcli.runtime import linalg; linalg.set_threads(2); "
            "a = np.ones((512, 2000), np.float32); print(linalg.matmul(a, a.T[:, :64].copy())"
            "[0, 0])")
    pid = os.fork()
    if pid == 0:  # the child: the inherited pool has no threads; a product must not hang
        try:
            linalg.matmul(a, a.T[:, :64].copy())
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "2000.0"


class _Plain:
    """The straightforward MLP step: new arrays for everything, the same operations."""

    def __init__(self, model: MLP) -> None:
        self.m = model

    def loss_and_grad(self, params, X, y):
        m = self.m
        inputs, h = [X], X
        for k in range(1, m.n_layers):
            h = linalg.matmul(h, params[f"W{k}"])
            h += params[f"b{k}"]
            h = np.maximum(h, 0)
            inputs.append(h)
        last = m.n_layers
        scores = linalg.matmul(h, params[f"W{last}"]) + params[f"b{last}"]
        loss, dout = m.data_loss(scores, y)
        grads = {}
        for k in range(last, 0, -1):
            dW = linalg.matmul(inputs[k - 1].T, dout)
            if m.reg:
                dW = dW + (2 * m.reg) * params[f"W{k}"]
            grads[f"W{k}"], grads[f"b{k}"] = dW, dout.sum(axis=0)
            if k > 1:
                dout = linalg.matmul(dout, params[f"W{k}"].T) * (inputs[k - 1] > 0)
        return loss + l2_penalty(params, m.reg, m._weights()), grads


@pytest.mark.parametrize("head", [softmax_loss, svm_loss])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_reusing_mlp_step_equals_the_straightforward_one(head, threads):
    linalg.set_threads(threads)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 200), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    model = MLP((64, 32), head, 1e-3)
    params = model.init_params(200, 10, rng)
    plain_params = {k: v.copy() for k, v in params.items()}
    grads: dict = {}
    for step in range(3):
        idx = rng.integers(0, 300, 128 if step < 2 else 44)  # a smaller last batch too
        loss, g = model.loss_and_grad(params, X[idx], y[idx], out=grads)
        ref_loss, ref = _Plain(model).loss_and_grad(plain_params, X[idx], y[idx])
        assert loss == ref_loss and g is grads
        for k in params:
            assert np.array_equal(g[k], ref[k]), (step, k)
            params[k] -= 0.01 * g[k]
            plain_params[k] -= 0.01 * ref[k]


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_a_linear_step_in_parts_is_the_same_for_any_thread_count(loss):
    from dlcli.models import linear

    rng = np.random.default_rng(2)
    X = rng.standard_normal((1000, 300), dtype=np.float32)
    y = rng.integers(0, 10, 1000)
    model = getattr(linear, loss)(1e-2, 1e-3)
    params = model.init_params(300, 10, rng)
    rows = rng.integers(0, 1000, 256)
    got = {}
    for t in (1, 2, 3):
        linalg.set_threads(t)
        loss_value, grads = model.loss_and_grad(params, X, y, rows=rows)
        got[t] = (loss_value, grads["W"].copy())
    assert all(got[t][0] == got[1][0] and np.array_equal(got[t][1], got[1][1]) for t in got)
    gathered_loss, gathered = model.loss_and_grad(params, X[rows], y[rows])  # gathered first
    assert gathered_loss == got[1][0] and np.array_equal(gathered["W"], got[1][1])
    plain_scores = X[rows] @ params["W"]  # one block, no parts: the same numbers up to rounding
    data_loss, dS = model.data_loss(plain_scores, y[rows])
    plain = X[rows].T @ dS + 2e-2 * params["W"]
    np.testing.assert_allclose(got[1][1], plain, rtol=1e-4, atol=1e-6)
    assert got[1][0] == pytest.approx(data_loss + 1e-2 * float(np.vdot(params["W"],
                                                                           params["W"])))


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_a_big_tensor_updated_in_ranges_gets_the_same_bits(name):
    from dlcli import optim

    linalg.set_threads(2)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3073, 128), dtype=np.float32)  # over ELEMENTWISE_MIN values
    assert len(linalg.elementwise_parts(w)) == min(2, linalg.CORES)
    whole, cut = w.copy(), w.copy()
    s_whole: dict = {}
    s_cut: dict = {}
    hyper = {"lr": 1e-2, "rho": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7,
             "decay_rate": 0.99}
    for _ in range(3):
        dw = rng.standard_normal(w.shape, dtype=np.float32)
        s_whole = optim.UPDATES[name](whole, dw, s_whole, **hyper)
        s_cut = optim.apply(name, cut, dw, s_cut, **hyper)
    assert np.array_equal(whole, cut)
    assert set(s_whole) == set(s_cut)
    for key, value in s_whole.items():
        assert np.array_equal(value, s_cut[key]), key
