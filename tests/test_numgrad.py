import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcli.data.landscape import LANDSCAPES
from dlcli.gradcheck import numerical_gradient, relative_error
from dlcli.models.landscape import LandscapeModel
from dlcli.models.linear import LinearModel, linear_regression, softmax, svm
from dlcli.models.losses import softmax_loss
from dlcli.numgrad import (
    LinearProbe,
    LoopProbe,
    estimate_seconds,
    human_seconds,
    numerical_gradient_fast,
    probe,
)


def _problem(seed=0, n=60, d=23, c=5, scale=40.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=scale, size=(n, d))
    X[:, -1] = 1.0
    y = rng.integers(0, c, size=n)
    return X, y, {"W": rng.normal(scale=1e-3, size=(d, c))}


@pytest.mark.parametrize("build", [softmax, svm])
@pytest.mark.parametrize("jobs", [1, 2])
def test_linear_fast_path_equals_the_lecture_loop(build, jobs):
    # The same centred differences, taken from the scores instead of 2 losses per coordinate.
    X, y, params = _problem()
    model = build(reg=0.3, init_scale=1e-4)
    ref = numerical_gradient(lambda: model.loss(params, X, y), params, h=1e-5)["W"]
    pr = probe(model, params, X, y, 1e-5, jobs=jobs)
    assert isinstance(pr, LinearProbe)
    fast = numerical_gradient_fast(model, params, X, y, 1e-5, jobs=jobs)["W"]
    assert relative_error(ref, fast).max() < 1e-7


@pytest.mark.parametrize("build", [softmax, svm])
def test_fast_path_matches_the_analytic_gradient(build):
    X, y, params = _problem(1, scale=5.0)
    model = build(reg=0.1, init_scale=1e-4)
    _, grads = model.loss_and_grad(params, X, y)
    fast = numerical_gradient_fast(model, params, X, y, h=1e-6)["W"]
    assert relative_error(grads["W"], fast).max() < 1e-6


def test_a_class_missing_from_the_batch_and_float32_data():
    X, y, params = _problem(2, n=12)
    y[:] = np.where(y == 3, 0, y)  # no sample of class 3
    model = softmax(reg=0.0, init_scale=1e-4)
    fast = numerical_gradient_fast(model, params, X.astype(np.float32), y, 1e-5)["W"]
    ref = numerical_gradient(lambda: model.loss(params, X.astype(np.float32), y), params,
                             1e-5)["W"]
    assert fast.dtype == np.float64 and relative_error(ref, fast).max() < 1e-6


def test_selected_coordinates_only():
    X, y, params = _problem(3)
    model = svm(reg=0.1, init_scale=1e-4)
    full = numerical_gradient_fast(model, params, X, y)["W"].reshape(-1)
    flat = np.array([7, 0, 112, 7, 51])
    assert np.allclose(probe(model, params, X, y).partials("W", flat), full[flat])


def test_other_models_use_the_loop():
    land = LandscapeModel(LANDSCAPES["rosenbrock"], (-1.5, 2.0))
    params = {"w": np.array([-1.5, 2.0])}
    pr = probe(land, params, np.zeros((1, 2)), np.zeros(1))
    assert isinstance(pr, LoopProbe)
    g = numerical_gradient_fast(land, params, np.zeros((1, 2)), np.zeros(1), h=1e-6)["w"]
    assert relative_error(land.landscape.grad(params["w"]), g).max() < 1e-8
    assert np.array_equal(params["w"], [-1.5, 2.0])  # restored


def test_an_unknown_loss_falls_back_to_the_loop():
    def my_loss(scores, y, *, grad=True):
        return softmax_loss(scores, y, grad=grad)

    X, y, params = _problem(4, n=10, d=4, c=3)
    model = LinearModel(my_loss, 0.0, 1e-4)
    assert isinstance(probe(model, params, X, y), LoopProbe)


def test_estimate_is_positive_and_finite():
    X, y, params = _problem()
    s = estimate_seconds(softmax(0.0, 1e-4), params, X, y)
    assert 0 < s < 10


def test_human_seconds():
    assert human_seconds(42) == "42 s" and human_seconds(600) == "10.0 min"
    assert human_seconds(7200) == "2.0 h" and human_seconds(float("inf")) == "forever"


def test_linear_regression_and_mlp_match_the_lecture_loop():
    from dlcli.models.linear import linear_regression
    from dlcli.models.losses import softmax_loss
    from dlcli.models.mlp import MLP

    rng = np.random.default_rng(5)
    X = rng.normal(size=(15, 6))
    target = rng.normal(size=15)
    reg = linear_regression(0.2, 1e-2)
    params = reg.init_params(6, 1, rng)
    params = {"W": params["W"].astype(np.float64)}
    assert isinstance(probe(reg, params, X, target), LinearProbe)
    ref = numerical_gradient(lambda: reg.loss(params, X, target), params, 1e-5)["W"]
    fast = numerical_gradient_fast(reg, params, X, target, 1e-5)["W"]
    assert relative_error(ref, fast).max() < 1e-7
    mlp = MLP((7,), softmax_loss, 0.1)
    labels = rng.integers(0, 3, size=15)
    p = {k: v.astype(np.float64) for k, v in mlp.init_params(6, 3, rng).items()}
    assert isinstance(probe(mlp, p, X, labels), LoopProbe)
    ref = numerical_gradient(lambda: mlp.loss(p, X, labels), p, 1e-5)
    fast = numerical_gradient_fast(mlp, p, X, labels, 1e-5)
    assert all(np.array_equal(ref[k], fast[k]) for k in p)


# --------------------------------------------------------------------------- every h

EPS = np.finfo(np.float64).eps
LINEAR = {"softmax": softmax, "svm": svm, "linear-regression": linear_regression}


@st.composite
def _linear_problems(draw):
    """A small float64 problem for a linear model and a step h, log-uniform in [1e-12, 1]:
    |d| = h·|x| spans 1e-14 to ~3000, through every branch of the softmax kernel."""
    kind = draw(st.sampled_from(sorted(LINEAR)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, d = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    c = 1 if kind == "linear-regression" else draw(st.integers(2, 5))
    X = rng.normal(scale=10 ** draw(st.floats(-2, 3)), size=(n, d))
    y = rng.normal(size=n) if c == 1 else rng.integers(0, c, size=n)
    W = rng.normal(scale=10 ** draw(st.floats(-4, 1)), size=(d, c))
    model = LINEAR[kind](draw(st.sampled_from([0.0, 0.1])), 1e-4)
    return model, X, y, {"W": W}, 10 ** draw(st.floats(-12, 0))


def _loop_noise(model, X, y, W, h, losses):
    """What rounding can cost the loop: ``eps * M / h``, with M the size of the numbers a loss
    evaluation adds up (the loss itself, the scores |X|·(|W| + h), and for squared error the
    residuals times the targets). The measured worst over 3,000 random problems is 1.3·eps·M/h."""
    L = max(abs(v) for v in losses)
    A = np.abs(X) @ (np.abs(W) + h)
    if model.data_loss.__name__ == "mse_loss":
        M = L + 2 * np.sqrt(L) * (A.max() + np.abs(y).max())
    else:
        M = L + A.sum(axis=1).mean()
    return EPS * M / h


@settings(max_examples=150, deadline=None)
@given(_linear_problems())
def test_fast_path_equals_the_loop_for_every_h(problem):
    # The same two loss values per coordinate, so the same number: to 1e-9 relative, or within
    # the loop's own rounding (eps·M/h, tiny at large h, where cancellation dominates at small h).
    model, X, y, params, h = problem
    losses: list[float] = []

    def loss():
        losses.append(model.loss(params, X, y))
        return losses[-1]

    ref = numerical_gradient(loss, params, h)["W"]
    assert isinstance(probe(model, params, X, y, h), LinearProbe)
    fast = numerical_gradient_fast(model, params, X, y, h, jobs=1)["W"]
    assert np.isfinite(fast).all()
    slack = 1e-9 * np.abs(ref) + 16 * _loop_noise(model, X, y, params["W"], h, losses)
    assert (np.abs(fast - ref) <= slack).all(), (h, fast, ref)


@pytest.mark.parametrize("h", [0.28, 1.0, 30.0])
def test_softmax_with_a_large_step_stays_exact(h):
    # The case: h = 0.28 with |x| up to 139 (the synthetic data's largest input), so
    # expm1(-h·x) rounds to -1 (from about -37) and the old ratio form took log1p(-1) = -inf.
    rng = np.random.default_rng(6)
    X = rng.uniform(-139, 139, size=(40, 12))
    y = rng.integers(0, 10, size=40)
    params = {"W": rng.normal(scale=0.1, size=(12, 10))}  # confident rows too (p > 1/2)
    model = softmax(reg=2.5e-4, init_scale=1e-4)
    ref = numerical_gradient(lambda: model.loss(params, X, y), params, h)["W"]
    assert isinstance(probe(model, params, X, y, h), LinearProbe)
    fast = numerical_gradient_fast(model, params, X, y, h, jobs=1)["W"]
    assert np.isfinite(fast).all() and np.allclose(fast, ref, rtol=1e-10, atol=1e-12)
