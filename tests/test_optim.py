import numpy as np
import pytest

from dlcli import optim


def test_sgd_one_step_known_answer():
    w = np.array([1.0, -2.0])
    state = optim.sgd(w, np.array([0.5, 1.0]), {}, lr=0.1)
    assert np.allclose(w, [0.95, -2.1]) and state == {}


def test_momentum_two_steps_known_answer():
    w = np.array([1.0])
    state = optim.momentum(w, np.array([1.0]), {}, lr=0.1, rho=0.9)  # v = 1
    assert np.allclose(w, [0.9]) and np.allclose(state["v"], [1.0])
    state = optim.momentum(w, np.array([1.0]), state, lr=0.1, rho=0.9)  # v = 0.9 + 1
    assert np.allclose(w, [0.9 - 0.19]) and np.allclose(state["v"], [1.9])


def test_momentum_lr_in_v_two_steps_known_answer():
    w = np.array([1.0])
    state = optim.momentum_lr_in_v(w, np.array([1.0]), {}, lr=0.1, rho=0.9)  # v = -0.1
    assert np.allclose(w, [0.9]) and np.allclose(state["v"], [-0.1])
    state = optim.momentum_lr_in_v(w, np.array([1.0]), state, lr=0.1, rho=0.9)  # v = -0.19
    assert np.allclose(w, [0.71]) and np.allclose(state["v"], [-0.19])


def test_both_momentum_forms_give_identical_trajectories():
    # On a quadratic bowl f = 0.5 * w^T A w, gradient A w, 50 steps of each form.
    A = np.array([[3.0, 0.5], [0.5, 0.2]])
    a, b = np.array([1.0, -2.0]), np.array([1.0, -2.0])
    sa: optim.State = {}
    sb: optim.State = {}
    for _ in range(50):
        sa = optim.momentum(a, A @ a, sa, lr=0.1, rho=0.9)
        sb = optim.momentum_lr_in_v(b, A @ b, sb, lr=0.1, rho=0.9)
        assert np.allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.allclose(sb["v"], -0.1 * sa["v"])


def test_nesterov_one_step_known_answer():
    # First step: old_v = 0, v = -lr * dx, x += (1 + rho) * v.
    w = np.array([1.0])
    state = optim.nesterov(w, np.array([2.0]), {}, lr=0.1, rho=0.9)
    assert np.allclose(state["v"], [-0.2]) and np.allclose(w, [1.0 - 1.9 * 0.2])
    # Second step: old_v = -0.2, v = 0.9 * -0.2 - 0.1 * 1 = -0.28.
    state = optim.nesterov(w, np.array([1.0]), state, lr=0.1, rho=0.9)
    assert np.allclose(state["v"], [-0.28]) and np.allclose(w, [0.62 + 0.18 - 1.9 * 0.28])


def test_adagrad_one_step_known_answer():
    w = np.array([1.0, 1.0])
    state = optim.adagrad(w, np.array([2.0, -0.5]), {}, lr=0.1, eps=0.0)
    # grad_squared = dx^2, so the first step is lr * sign(dx).
    assert np.allclose(state["grad_squared"], [4.0, 0.25]) and np.allclose(w, [0.9, 1.1])


def test_rmsprop_one_step_known_answer():
    w = np.array([1.0])
    state = optim.rmsprop(w, np.array([2.0]), {}, lr=0.1, decay_rate=0.9, eps=0.0)
    assert np.allclose(state["grad_squared"], [0.4])  # 0.1 * 4
    assert np.allclose(w, [1.0 - 0.1 * 2.0 / np.sqrt(0.4)])


def test_adam_first_step_is_lr_times_sign_and_second_known_answer():
    w = np.array([1.0, 1.0])
    state = optim.adam(w, np.array([3.0, -0.01]), {}, lr=0.1, beta1=0.9, beta2=0.999, eps=0.0)
    assert np.allclose(w, [0.9, 1.1]) and state["t"] == 1  # bias correction: m_hat = dx
    state = optim.adam(w, np.array([1.0, 1.0]), state, lr=0.1, beta1=0.9, beta2=0.999, eps=0.0)
    m = 0.9 * 0.1 * 3.0 + 0.1 * 1.0
    v = 0.999 * 0.001 * 9.0 + 0.001 * 1.0
    step = 0.1 * (m / (1 - 0.81)) / np.sqrt(v / (1 - 0.999**2))
    assert np.isclose(w[0], 0.9 - step) and state["t"] == 2


def test_rules_update_in_place_and_keep_dtype():
    for name, rule in optim.UPDATES.items():
        w = np.ones(3, dtype=np.float32)
        ref = w
        state = rule(w, np.full(3, 0.5, dtype=np.float32), {}, lr=0.1, rho=0.9, beta1=0.9,
                     beta2=0.999, eps=1e-7, decay_rate=0.99)
        assert ref is w and w.dtype == np.float32 and np.all(w < 1), name
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize(
    ("name", "k", "expected"),
    [
        ("constant", 250, 0.1),
        ("step", 99, 0.1),
        ("step", 100, 0.05),
        ("step", 250, 0.025),
        ("exponential", 50, 0.1 * 0.5**0.5),
        ("exponential", 200, 0.025),
        ("cosine", 0, 0.1),
        ("cosine", 500, 0.05),
        ("cosine", 1000, 0.0),
    ],
)
def test_schedules_known_answers(name, k, expected):
    lr = optim.SCHEDULES[name](k, lr=0.1, decay=0.5, every=100, total=1000)
    assert lr == pytest.approx(expected, abs=1e-15)


def test_clip_by_global_norm_keeps_direction():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}  # global norm 5
    assert optim.clip_by_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.allclose(grads["a"], [0.6, 0.0]) and np.allclose(grads["b"], [0.8])
    untouched = {"a": np.array([0.3])}
    optim.clip_by_global_norm(untouched, 1.0)
    optim.clip_by_global_norm(untouched, None)
    assert np.allclose(untouched["a"], [0.3])


def test_decoupled_weight_decay_one_step():
    w = np.array([2.0, -1.0])
    optim.decay_weights([w], lr=0.1, weight_decay=0.5)
    assert np.allclose(w, [1.9, -0.95])


def test_registry_names():
    assert set(optim.UPDATES) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    assert set(optim.SCHEDULES) == {"constant", "step", "exponential", "cosine"}


def test_registries_match_the_schema():
    from typing import get_args

    from dlcli.config import ScheduleName, UpdateName

    assert set(optim.UPDATES) == set(get_args(UpdateName))
    assert set(optim.SCHEDULES) == set(get_args(ScheduleName))
