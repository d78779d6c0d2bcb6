"""Sweep files: parsing, expansion into frozen variants, validation before anything runs."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcli import api
from dlcli.config import apply_sets, validate
from dlcli.data.sources import load_dataset
from dlcli.errors import ConfigError, UsageError
from dlcli.models import build_model
from dlcli.sweeps.files import Plan, config_hash, is_sweep_file, load_plan, parse_grid
from dlcli.train import streams
from tests.conftest import small_raw

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _sweep(write_config, **spec):
    write_config(small_raw(), "base.yaml")
    return write_config(yaml.safe_dump({"base": "base.yaml", **spec}, sort_keys=False),
                        "sweep.yaml")


def test_variants_times_grid_times_seeds_in_order_with_labels(write_config):
    path = _sweep(write_config, sweep={"strategy.lr": ["1e-7", 1e-6], "model.reg": [0, 0.1]},
                  variants=[{"name": "sgd"}, {"name": "mom", "strategy": {"name": "momentum"}}],
                  seeds=[3, 4])
    plan = load_plan(path)
    assert plan.name == "sweep" and plan.grid_keys == ["strategy.lr", "model.reg"]
    assert len(plan.variants) == 2 * 4 * 2
    first, last = plan.variants[0], plan.variants[-1]
    assert first.label == "sgd lr=1e-07 reg=0 seed=3"
    assert first.folder == "01-sgd-lr1e-07-reg0-seed3"
    assert last.label == "mom lr=1e-06 reg=0.1 seed=4" and last.index == 16
    assert [v.seed for v in plan.variants[:4]] == [3, 4, 3, 4]  # seeds vary fastest
    assert first.grid == {"strategy.lr": 1e-7, "model.reg": 0.0}  # resolved values
    assert last.config["strategy"]["name"] == "momentum" and last.config["name"] == "mom"
    assert len({v.hash for v in plan.variants}) == 16
    assert first.hash == config_hash(first.config)


def test_precedence_base_set_variant_grid_seed(write_config):
    path = _sweep(write_config, sweep={"strategy.iterations": [7]},
                  variants=[{"name": "a", "strategy.iterations": 5, "strategy.lr": 2e-6,
                             "seed": 9}], seeds=[1])
    (v,) = load_plan(path, sets=["strategy.lr=3e-6", "strategy.batch_size=32"]).variants
    s = v.config["strategy"]
    assert (s["iterations"], s["lr"], s["batch_size"], v.seed) == (7, 2e-6, 32, 1)


def test_without_seeds_each_config_keeps_its_own_seed(write_config):
    path = _sweep(write_config, variants=[{"name": "a"}, {"name": "b", "seed": 5}])
    plan = load_plan(path)
    assert [v.seed for v in plan.variants] == [0, 5]
    assert [v.label for v in plan.variants] == ["a", "b"]


def test_inline_base_and_a_plain_config_with_shortcuts(write_config):
    inline = write_config({"name": "inl", "base": small_raw(), "seeds": [0]}, "inline.yaml")
    assert load_plan(inline).variants[0].config["data"]["num_train"] == 200
    plain = write_config(small_raw(), "plain.yaml")
    plan = load_plan(plain, strategies=["sgd", "gd"], grid=["strategy.lr=1e-6,1e-5"], seeds=[0, 1])
    assert plan.name == "small" and len(plan.variants) == 8
    assert {v.config["strategy"]["name"] for v in plan.variants} == {"sgd", "gd"}
    assert len(load_plan(plain).variants) == 1  # a plain config alone: one variant


def test_relative_data_paths_are_frozen_as_absolute(write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = small_raw()
    raw["data"] = {"source": "houses", "path": "kc.csv", "num_train": 0.5}
    raw["model"] = {"name": "linear-regression"}
    (v,) = load_plan(write_config(raw, "h.yaml")).variants
    assert v.config["data"]["path"] == str(tmp_path / "kc.csv") == v.raw["data"]["path"]


def test_a_base_completed_by_its_variants_is_fine(write_config):
    base = small_raw()
    base["data"] = {"source": "houses-synthetic", "num_train": 50, "num_val": 10, "num_test": 10}
    path = write_config({"base": base, "variants": [  # softmax on a regression table: invalid
        {"name": "lin", "model.name": "linear-regression"},
        {"name": "mlp", "model": {"name": "mlp-regression", "hidden": [4]}}]}, "s.yaml")
    assert [v.config["model"]["name"] for v in load_plan(path).variants] == [
        "linear-regression", "mlp-regression"]
    with pytest.raises(ConfigError, match=r"s.yaml \(with --set\) \(variant lin\)"):
        load_plan(path, sets=["strategy.lr=-1"])


def test_plan_round_trips_through_json(write_config):
    plan = load_plan(_sweep(write_config, seeds=[0, 1]))
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(("spec", "expected"), [
    ({"sweeep": {}}, "sweeep: unknown key (did you mean 'sweep'?)"),
    ({"sweep": {"strategy.lr": []}}, "sweep.strategy.lr"),
    ({"sweep": {"strategy.lr": 0.1}}, "sweep.strategy.lr: must be a valid list"),
    ({"seeds": [-1]}, "seeds"),
    ({"variants": [{"strategy": {"name": "sgd"}}]}, "variants.name"),
    ({"variants": [{"name": "a"}, {"name": "a"}]}, "the name 'a' is used twice"),
    ({"variants": [{"name": "a"}, {"name": "b", "strategy": {"lr": -1}}]},
     "(variant b): strategy.lr: must be greater than 0, got -1"),
    ({"sweep": {"strategy.lrr": [1]}}, "strategy.lrr: unknown key (did you mean 'lr'?)"),
    ({"sweep": {"strategy.lr.x": [1]}}, "strategy.lr is a value, not a section"),
    ({"sweep": {"seed": [0, 0]}}, "resolve to the same config"),
])
def test_invalid_sweeps_are_one_line_errors_naming_the_file(write_config, spec, expected):
    with pytest.raises(ConfigError) as info:
        load_plan(_sweep(write_config, **spec))
    msg = str(info.value)
    assert "sweep.yaml" in msg and expected in msg and "\n" not in msg


def test_missing_base_and_bad_base_type(write_config):
    with pytest.raises(ConfigError, match="nope.yaml: no such file"):
        load_plan(write_config({"base": "nope.yaml"}, "s.yaml"))
    with pytest.raises(ConfigError, match="base: expected a config path or an inline config"):
        load_plan(write_config({"base": 3}, "s.yaml"))
    with pytest.raises(ConfigError, match="base: expected a config path .*, got nothing"):
        load_plan(write_config({"seeds": [1]}, "s.yaml"))


def test_strategy_shortcut_conflicts_with_listed_variants(write_config):
    with pytest.raises(UsageError, match="already lists variants"):
        load_plan(_sweep(write_config, variants=[{"name": "a"}]), strategies=["sgd"])


@pytest.mark.parametrize(("item", "key", "values"), [
    ("strategy.lr=1e-3,1e-2", "strategy.lr", ["1e-3", "1e-2"]),
    ("model.name=[svm, softmax]", "model.name", ["svm", "softmax"]),
    ("seed=1", "seed", [1]),
])
def test_parse_grid(item, key, values):
    assert parse_grid(item) == (key, values)


@pytest.mark.parametrize("item", ["strategy.lr", "=1,2", "strategy.lr=", "a..b=1"])
def test_parse_grid_rejects(item):
    with pytest.raises(UsageError, match="--grid"):
        parse_grid(item)


def test_same_seed_same_split_and_same_start_whatever_the_strategy(write_config):
    # Fairness: the data and the initial weights come from the seed alone.
    path = _sweep(write_config, variants=[{"name": "rs", "strategy.name": "random-search"},
                                          {"name": "mom", "strategy.name": "momentum"}],
                  seeds=[0, 1])
    starts = {}
    for v in load_plan(path).variants:
        cfg = validate(v.raw)
        data = load_dataset(cfg.data, cfg.seed)
        init = build_model(cfg.model).init_params(data.n_features, data.n_outputs,
                                                  streams(cfg.seed)[0])
        starts[(v.name, v.seed)] = (data.X_train, data.y_test, init["W"])
    for seed in (0, 1):
        for a, b in zip(starts[("rs", seed)], starts[("mom", seed)], strict=True):
            assert np.array_equal(a, b)
    assert not np.array_equal(starts[("rs", 0)][2], starts[("rs", 1)][2])


def test_shipped_strategies_sweep_compares_six_strategies_from_one_start():
    plan = load_plan(CONFIGS / "strategies.yaml")
    strategies = [v.config["strategy"]["name"] for v in plan.variants]
    assert sorted(strategies) == sorted(["random-search", "random-local-search", "numerical-gd",
                                         "gd", "sgd", "momentum"])
    same = [{k: v.config[k] for k in ("seed", "data", "model")} for v in plan.variants]
    assert all(s == same[0] for s in same)


SWEEPS = [p for p in sorted(CONFIGS.glob("*.yaml")) if is_sweep_file(p)]


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_shipped_sweep_runs_shrunk(path, tmp_path):
    plan = load_plan(path)
    for v in plan.variants[:6]:  # a search's or a big grid's first few stand for the rest
        sets = ["data.num_train=60", "data.num_val=10", "data.num_test=10", "eval_every=1",
                f"strategy.iterations={min(v.config['strategy']['iterations'], 2)}"]
        if v.config["strategy"]["eval_batch"] is not None:
            sets.append("strategy.eval_batch=2")
        result = api.train(validate(apply_sets(v.raw, sets)), out=tmp_path)
        assert result["status"] == "completed", (v.label, result["error"])
