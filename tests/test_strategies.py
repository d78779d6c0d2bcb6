import numpy as np
import pytest

from dlcli.config import validate
from dlcli.data.sources import load_dataset
from dlcli.models import MODELS, build_model
from dlcli.strategies import STRATEGIES
from dlcli.train import train
from tests.conftest import small_raw

SETTINGS = {
    "random-search": {"iterations": 30},
    "random-local-search": {"iterations": 30, "step_size": 1e-4},
    "numerical-gd": {"iterations": 2, "eval_batch": 5, "lr": 1e-6},
    "gd": {"iterations": 10, "lr": 1e-6},
    "sgd": {"iterations": 30, "lr": 1e-6},
    "momentum": {"iterations": 30, "lr": 1e-6},
}


def test_registries_match_the_schema():
    from typing import get_args

    from dlcli.config import ModelName, StrategyName

    assert set(STRATEGIES) == set(get_args(StrategyName))
    assert set(MODELS) == set(get_args(ModelName))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("model", ["softmax", "svm"])
def test_every_strategy_lowers_the_loss(name, model):
    raw = small_raw(name=name, **SETTINGS[name])
    raw["model"]["name"] = model
    cfg = validate(raw)
    data = load_dataset(cfg.data, cfg.seed)
    out = train(cfg, data, build_model(cfg.model))
    assert out.status == "completed" and out.iterations == cfg.strategy.iterations
    first, last = out.records[0].loss, out.records[-1].loss
    if name == "numerical-gd":
        # It optimizes its fixed subset; check the loss on the subset it sees went down.
        assert last < first
    else:
        assert out.records[-1].best_loss < first


def test_numerical_gd_matches_analytic_gd_on_the_same_rows():
    # The two ways of following the slope take the same step (float64 centred differences).
    raw = small_raw(name="numerical-gd", iterations=1, eval_batch=None, lr=1e-6)
    raw["data"]["num_train"] = 5
    cfg = validate(raw)
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model)
    num = train(cfg, data, model)
    ana = train(validate({**raw, "strategy": {**raw["strategy"], "name": "gd"}}), data, model)
    assert np.allclose(num.params["W"], ana.params["W"], rtol=1e-4, atol=1e-9)


def test_same_seed_same_numbers_and_other_seed_differs():
    cfg = validate(small_raw(name="momentum"))
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model)
    a, b = train(cfg, data, model), train(cfg, data, model)
    assert a.metrics == b.metrics and np.array_equal(a.params["W"], b.params["W"])
    c = train(validate({**small_raw(name="momentum"), "seed": 1}), data, model)
    assert not np.array_equal(a.params["W"], c.params["W"])


def test_random_search_keeps_the_best_weights():
    cfg = validate(small_raw(name="random-search", iterations=25))
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model)
    out = train(cfg, data, model)
    losses = [r.loss for r in out.records]
    assert losses == sorted(losses, reverse=True)  # the kept loss never goes up
    assert model.loss(out.params, data.X_train, data.y_train) == pytest.approx(losses[-1])


def _regression_raw(model: str, strategy: str):
    raw = small_raw(name=strategy, **SETTINGS[strategy])
    raw["data"] = {"source": "houses-synthetic", "num_train": 200, "num_val": 50,
                   "num_test": 50, "log_target": True}
    raw["model"] = {"name": model, "reg": 1e-4, "hidden": [8]}
    if model == "linear-regression":
        raw["model"]["init_scale"] = 1e-2
    raw["strategy"]["lr"] = 1e-3 if strategy in ("numerical-gd", "gd") else 1e-2
    raw["strategy"]["step_size"] = 1e-2
    return raw


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("model", ["mlp", "linear-regression", "mlp-regression"])
def test_every_strategy_works_with_every_model(name, model):
    if model == "mlp":
        raw = small_raw(name=name, **SETTINGS[name])
        raw["model"] = {"name": "mlp", "hidden": [8], "reg": 1e-4}
        raw["data"]["normalize"] = True
        raw["strategy"]["lr"] = 1e-2
        raw["strategy"]["step_size"] = 1e-2
        if name == "numerical-gd":  # one loss per weight and direction: keep the net tiny
            raw["strategy"].update(eval_batch=3, lr=1e-3)
            raw["model"]["hidden"] = [2]
    else:
        raw = _regression_raw(model, name)
    cfg = validate(raw)
    data = load_dataset(cfg.data, cfg.seed)
    out = train(cfg, data, build_model(cfg.model))
    assert out.status == "completed", out.error
    assert out.records[-1].best_loss < out.records[0].loss
    key = "test_accuracy" if model == "mlp" else "test_r2"
    assert out.metrics[key] is not None


def _lecture_random_search(model, data, cfg, rng, n):
    """The lecture's loop, one candidate at a time: the reference for the batched one."""
    from dlcli.strategies import _eval_rows, _rows

    X, y = _rows(data, _eval_rows(data, cfg.strategy, rng))
    losses = []
    for _ in range(n):
        W = model.init_params(data.n_features, data.n_outputs, rng)
        losses.append(model.loss(W, X, y))
    return np.array(losses)


@pytest.mark.parametrize("model_name", ["softmax", "svm"])
def test_batched_random_search_chooses_as_the_one_at_a_time_loop(model_name):
    from dlcli.strategies import CANDIDATES_PER_PASS, random_search
    from dlcli.train import streams

    raw = small_raw(name="random-search", iterations=150)
    raw["model"]["name"] = model_name
    raw["model"]["init_scale"] = 1e-3
    cfg = validate(raw)
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model)
    init, rng = streams(cfg.seed)
    params = model.init_params(data.n_features, data.n_outputs, init)
    n = 150
    steps = random_search(model, data, cfg.strategy, params, rng)
    seen = [next(steps) for _ in range(n)]
    _, ref_rng = streams(cfg.seed)
    ref = _lecture_random_search(model, data, cfg, ref_rng, n)
    best = int(np.argmin(ref))
    chosen = next(s for s in seen if s.params is seen[-1].params)  # the step that found it
    assert chosen.iteration == best + 1 and n > 2 * CANDIDATES_PER_PASS
    assert seen[-1].loss == pytest.approx(ref[best], rel=1e-5)  # float32 rounding apart
    bests = np.minimum.accumulate(np.minimum(ref, model.loss(params, *(data.X_train,
                                                                      data.y_train))))
    np.testing.assert_allclose([s.loss for s in seen], bests, rtol=1e-5)
