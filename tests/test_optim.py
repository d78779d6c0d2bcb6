import numpy as np

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


def test_registry_names():
    assert set(optim.UPDATES) >= {"sgd", "momentum"}
