import math

import numpy as np
import pytest

from dlcli.gradcheck import numerical_gradient, relative_error
from dlcli.models.linear import softmax, svm


def _problem(seed: int = 0, n: int = 30, d: int = 12, c: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, -1] = 1.0
    y = rng.integers(0, c, size=n)
    W = rng.normal(scale=0.1, size=(d, c))
    return X, y, {"W": W}


@pytest.mark.parametrize("build", [softmax, svm])
def test_analytic_gradient_matches_centred_differences(build):
    X, y, params = _problem()
    model = build(reg=0.1, init_scale=1e-4)
    _, grads = model.loss_and_grad(params, X, y)
    num = numerical_gradient(lambda: model.loss(params, X, y), params, h=1e-6)
    err = relative_error(grads["W"], num["W"])
    if build is svm:
        # Away from the hinge's kinks the two agree to float64 precision.
        scores = X @ params["W"]
        margins = scores - scores[np.arange(len(y)), y][:, None] + 1
        assert np.min(np.abs(margins)) > 1e-4, "problem sits on a kink; pick another seed"
    assert err.max() < 1e-6


@pytest.mark.parametrize("build", [softmax, svm])
def test_loss_only_path_equals_loss_with_gradient(build):
    X, y, params = _problem(1)
    model = build(reg=0.05, init_scale=1e-4)
    assert model.loss(params, X, y) == pytest.approx(model.loss_and_grad(params, X, y)[0])


def test_starting_losses_are_chance_level():
    rng = np.random.default_rng(0)
    X = rng.normal(scale=50, size=(500, 3073)).astype(np.float32)
    y = rng.integers(0, 10, size=500)
    for build, expected in ((softmax, math.log(10)), (svm, 9.0)):
        model = build(reg=0.0, init_scale=1e-6)
        params = model.init_params(3073, 10, rng)
        assert model.loss(params, X, y) == pytest.approx(expected, rel=0.02)


def test_gradient_is_float32_and_shaped_like_params():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3073)).astype(np.float32)
    y = rng.integers(0, 10, size=8)
    model = softmax(reg=1.0, init_scale=1e-3)
    params = model.init_params(3073, 10, rng)
    _, grads = model.loss_and_grad(params, X, y)
    assert grads["W"].shape == (3073, 10) and grads["W"].dtype == np.float32


def test_predict_takes_the_highest_score():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    W = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    assert softmax(0.0, 1.0).predict({"W": W}, X).tolist() == [1, 0]


def test_can_overfit_twenty_samples():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 50)).astype(np.float32)
    y = np.arange(20) % 10
    model = softmax(reg=0.0, init_scale=1e-3)
    params = model.init_params(50, 10, rng)
    for _ in range(300):
        _, g = model.loss_and_grad(params, X, y)
        params["W"] -= 0.5 * g["W"]
    assert np.mean(model.predict(params, X) == y) == 1.0


def _check_all(model, params, X, y, tol=1e-6):
    _, grads = model.loss_and_grad(params, X, y)
    num = numerical_gradient(lambda: model.loss(params, X, y), params, h=1e-6)
    for k in params:
        assert grads[k].shape == params[k].shape
        assert relative_error(grads[k], num[k]).max() < tol, k


@pytest.mark.parametrize("head", ["softmax", "svm", "mse"])
def test_mlp_gradients_match_centred_differences(head):
    from dlcli.models.losses import mse_loss, softmax_loss, svm_loss
    from dlcli.models.mlp import MLP

    rng = np.random.default_rng(3)
    loss = {"softmax": softmax_loss, "svm": svm_loss, "mse": mse_loss}[head]
    n_out = 1 if head == "mse" else 4
    model = MLP((7, 5), loss, reg=0.05, regression=head == "mse")
    params = {k: v.astype(np.float64) + rng.normal(scale=0.05, size=v.shape)
              for k, v in model.init_params(6, n_out, rng).items()}
    X = rng.normal(size=(12, 6))
    y = rng.normal(size=12) if head == "mse" else rng.integers(0, n_out, size=12)
    # Near a ReLU or hinge kink the two may differ; this seed keeps every unit off its kink.
    _check_all(model, params, X, y, tol=1e-5 if head == "svm" else 1e-6)


def test_linear_regression_gradient_and_prediction():
    from dlcli.models.linear import linear_regression

    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(20, 3)), np.ones((20, 1))])
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    model = linear_regression(reg=0.01, init_scale=0.1)
    params = {"W": rng.normal(size=(4, 1))}
    _check_all(model, params, X, y)
    exact = {"W": np.array([[1.0], [-2.0], [0.5], [3.0]])}
    assert np.allclose(model.predict(exact, X), y)
    assert linear_regression(0.0, 0.1).loss(exact, X, y) == pytest.approx(0.0)


def test_mlp_he_initialization_and_init_scale():
    from dlcli.models.losses import softmax_loss
    from dlcli.models.mlp import MLP

    rng = np.random.default_rng(0)
    he = MLP((256,), softmax_loss, 0.0).init_params(3073, 10, rng)
    assert he["W1"].std() == pytest.approx(np.sqrt(2 / 3073), rel=0.02)
    assert he["W2"].std() == pytest.approx(np.sqrt(2 / 256), rel=0.05)
    assert not he["b1"].any() and he["W1"].dtype == np.float32
    scaled = MLP((256,), softmax_loss, 0.0, init_scale=1e-3).init_params(3073, 10, rng)
    assert scaled["W1"].std() == pytest.approx(1e-3, rel=0.02)


def test_mlp_can_overfit_twenty_samples():
    from dlcli.models.losses import softmax_loss
    from dlcli.models.mlp import MLP

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 30)).astype(np.float32)
    y = np.arange(20) % 10
    model = MLP((50,), softmax_loss, 0.0)
    params = model.init_params(30, 10, rng)
    for _ in range(500):
        _, g = model.loss_and_grad(params, X, y)
        for k in params:
            params[k] -= 0.1 * g[k]
    assert np.mean(model.predict(params, X) == y) == 1.0
