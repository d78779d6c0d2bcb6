"""The search section: distributions, drawing up front, labels, validation before anything runs,
the --sample/--trials shortcuts, coarse-to-fine ranges (no runs here: see test_search_cli.py)."""

import math
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcli.errors import ConfigError, DlcliError, UsageError
from dlcli.sweeps.files import load_plan
from dlcli.sweeps.plan import Plan
from dlcli.sweeps.refine import narrow
from dlcli.sweeps.search import Dist, parse_dist
from tests.conftest import small_raw

LR = {"loguniform": [1.0e-9, 1.0e-5]}
REG = {"loguniform": [1.0e+2, 1.0e+5]}


def _search(write_config, name="s.yaml", **search):
    write_config(small_raw(), "base.yaml")
    spec = {"base": "base.yaml", "search": {"trials": 5, "params": {"strategy.lr": LR,
                                                                    "model.reg": REG},
                                            **search}}
    return write_config(yaml.safe_dump(spec, sort_keys=False), name)


def test_random_trials_are_drawn_up_front_frozen_and_named_by_their_values(write_config):
    plan = load_plan(_search(write_config, seed=3))
    assert len(plan.variants) == 5 and plan.grid_keys == ["strategy.lr", "model.reg"]
    again = load_plan(_search(write_config, seed=3))
    assert [v.grid for v in again.variants] == [v.grid for v in plan.variants]  # same file
    for v in plan.variants:
        lr, reg = v.grid["strategy.lr"], v.grid["model.reg"]
        assert 1e-9 <= lr <= 1e-5 and 1e2 <= reg <= 1e5
        assert v.label == f"small lr={lr:.2g} reg={reg:.2g}"  # e.g. lr=3.2e-07 reg=1.1e+04
        assert "e-0" not in v.folder.split("reg")[1]  # 1.1e+04 is named 1.1e04, not 1.1e-04
    assert Plan.from_json(plan.to_json()) == plan
    other = load_plan(_search(write_config, seed=4))
    assert [v.grid for v in other.variants] != [v.grid for v in plan.variants]


def test_more_trials_keep_the_first_ones_and_a_new_key_leaves_the_others(write_config):
    path = _search(write_config)
    five = [v.grid for v in load_plan(path).variants]
    assert [v.grid for v in load_plan(path, trials=8).variants][:5] == five
    wider = load_plan(path, samples=["strategy.batch_size=int:16,64,log"]).variants
    assert [{k: v.grid[k] for k in five[0]} for v in wider] == five
    assert all(16 <= v.grid["strategy.batch_size"] <= 64 for v in wider)


def test_search_seed_defaults_to_the_base_config_seed(write_config):
    raw = small_raw()
    raw["seed"] = 7
    write_config(raw, "base.yaml")
    path = write_config({"base": "base.yaml", "search": {"trials": 2, "params": {
        "strategy.lr": LR}}}, "s.yaml")
    assert load_plan(path).search.seed == 7


@pytest.mark.parametrize(("spec", "u", "expected"), [
    ({"uniform": [0.5, 0.9]}, 0.5, 0.7),
    ({"loguniform": [1e-8, 1e-4]}, 0.5, 1e-6),
    ({"int": [0, 100], "step": 25}, 0.99, 100),
    ({"int": [0, 100], "step": 25}, 0.0, 0),
    ({"int": [32, 512], "log": True}, 0.0, 32),
    ({"int": [32, 512], "log": True}, 0.999999, 512),
    ({"choice": [[128], [256], [512]]}, 0.5, [256]),
])
def test_each_distribution_maps_a_uniform_draw(spec, u, expected):
    value = parse_dist("strategy.rho" if "uniform" in spec else "model.hidden", spec, "f")
    got = value.draw(u)
    assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected


@pytest.mark.parametrize(("params", "extra", "expected"), [
    ({"strategy.lr": {"lognormal": [1, 2]}}, {},
     "search.params.strategy.lr: unknown distribution 'lognormal' (did you mean 'loguniform'?)"),
    ({"strategy.lr": {"loguniform": [1e-5, 1e-9]}}, {}, "low must be below high"),
    ({"strategy.lr": {"loguniform": [0, 1e-5]}}, {}, "a log scale needs low > 0, got 0.0"),
    ({"strategy.lrr": LR}, {}, "search.params.strategy.lrr: not a config key (did you mean "
                               "'strategy.lr'?)"),
    ({"strategy.lr": LR}, {"trials": 0}, "search.trials: must be greater than 0, got 0"),
    ({"strategy.rho": {"uniform": [0.5, 1.5]}}, {},
     "search.params.strategy.rho (uniform value 1.5): strategy.rho: must be less than 1"),
    ({"strategy.lr": {"uniform": [1e-9, 1e-5], "log": True}}, {}, "log applies to int only"),
    ({"strategy.batch_size": {"int": [1.5, 8]}}, {}, "bounds must be whole numbers, got 1.5"),
    ({"model.hidden": {"choice": []}}, {}, "choice: expected a non-empty list"),
    ({"seed": {"int": [0, 9]}}, {}, "search.params.seed: seed is repeated over with seeds:"),
    ({"strategy.lr": LR}, {"sampler": "grid"}, "search.sampler: unknown name 'grid'"),
    ({"strategy.lr": LR}, {"pruner": "medain"}, "(did you mean 'median'?)"),
    ({"strategy.lr": LR}, {"trails": 3}, "search.trails: unknown key (did you mean 'trials'?)"),
])
def test_bad_search_sections_are_one_line_errors(write_config, params, extra, expected):
    write_config(small_raw(), "base.yaml")
    path = write_config({"base": "base.yaml", "search": {"trials": 3, "params": params,
                                                         **extra}}, "s.yaml")
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert expected in str(info.value) and "s.yaml" in str(info.value)
    assert "\n" not in str(info.value)


def test_search_and_sweep_do_not_mix_and_tpe_takes_one_seed(write_config):
    with pytest.raises(ConfigError, match="a grid or a search, not both"):
        load_plan(_search(write_config), grid=["model.reg=1,2"])
    path = _search(write_config, sampler="tpe")
    spec = yaml.safe_load(path.read_text())
    spec["seeds"] = [0, 1]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="seeds may list one seed, got 2"):
        load_plan(path)


def test_an_adaptive_search_starts_empty_with_its_bounds_checked(write_config):
    plan = load_plan(_search(write_config, sampler="tpe", pruner="halving"))
    assert plan.variants == [] and plan.total == 5 and plan.needs_study
    assert Plan.from_json(plan.to_json()) == plan


def test_without_optuna_a_tpe_search_names_the_extra(write_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the extra was not installed
    with pytest.raises(UsageError, match=r"search.sampler tpe needs Optuna: pip install "
                                         r"'dlcli\[search\]'"):
        load_plan(_search(write_config, sampler="tpe"))
    with pytest.raises(UsageError, match="search.pruner median needs Optuna"):
        load_plan(_search(write_config, pruner="median"))
    assert len(load_plan(_search(write_config)).variants) == 5  # random: no Optuna needed


def test_sample_shortcut_on_a_plain_config(write_config):
    plain = write_config(small_raw(), "plain.yaml")
    plan = load_plan(plain, samples=["strategy.lr=loguniform:1e-8,1e-5",
                                     "model.hidden=choice:[[8],[16]]",
                                     "strategy.batch_size=int:16,64,step=16"], trials=4)
    assert len(plan.variants) == 4 and plan.search.params["model.hidden"].choices == ([8],
                                                                                       [16])
    assert all(v.grid["strategy.batch_size"] in (16, 32, 48, 64) for v in plan.variants)
    for samples, trials, expected in [
        (["strategy.lr=loguniform:1e-8"], 2, "expected KEY=DIST:LOW,HIGH"),
        (["strategy.lr=lognormal:1,2"], 2, "unknown distribution 'lognormal'"),
        (["strategy.lr=loguniform:1e-8,1e-5"], None, "--trials N"),
        ([], 3, "--trials: give --sample"),
    ]:
        with pytest.raises(UsageError, match=expected):
            load_plan(plain, samples=samples, trials=trials)
    with pytest.raises(UsageError, match="--storage: only a search"):
        load_plan(plain, storage="x.journal")
    with pytest.raises(UsageError, match="a random search without a pruner needs no study"):
        load_plan(plain, samples=["strategy.lr=loguniform:1e-8,1e-5"], trials=2,
                  storage="x.journal")


def test_refined_ranges_span_the_best_values_widened():
    log = narrow(Dist("loguniform", 1e-9, 1e-5), [1e-7, 1e-6])
    assert log.low == pytest.approx(1e-7 / 10 ** 0.30103) and log.high == pytest.approx(2e-6)
    lin = narrow(Dist("uniform", 0.5, 0.99), [0.9, 0.98])
    assert lin.low == pytest.approx(0.88) and lin.high == 0.99  # inside the old bounds
    one = narrow(Dist("int", 32, 512, log=True), [64])
    assert (one.low, one.high, one.log) == (32, 128, True)
    steps = narrow(Dist("int", 0, 100, step=25), [50])
    assert (steps.low, steps.high, steps.step) == (25, 75, 25)
    assert narrow(Dist("choice", choices=([8], [16], [32])), [[16]]).choices == ([16],)
    assert math.isclose(narrow(Dist("loguniform", 1, 10), [2, 2]).high, 4)


SECTIONS = st.fixed_dictionaries({}, optional={
    "trials": st.one_of(st.integers(-2, 12), st.text(max_size=3), st.none()),
    "sampler": st.sampled_from(["random", "tpe", "grid", 3]),
    "seed": st.one_of(st.integers(-1, 5), st.booleans()),
    "pruner": st.sampled_from([None, "median", "halving", "hyperband", "x"]),
    "params": st.dictionaries(
        st.sampled_from(["strategy.lr", "model.reg", "strategy.rho", "model.hidden", "x.y",
                         "strategy", "seed", "strategy.batch_size"]),
        st.one_of(st.dictionaries(st.sampled_from(["uniform", "loguniform", "int", "choice",
                                                   "log", "step", "beta"]),
                                  st.one_of(st.lists(st.one_of(
                                      st.integers(-3, 600), st.floats(-1, 2e5),
                                      st.text(max_size=4)), max_size=3),
                                      st.booleans(), st.integers(-1, 4)), max_size=2),
                  st.integers(), st.text(max_size=3)), max_size=3)})


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(section=st.one_of(SECTIONS, st.integers(), st.text(max_size=5)))
def test_any_search_section_gives_a_plan_or_one_line_exit_2(write_config, section):
    write_config(small_raw(), "base.yaml")
    path = write_config(yaml.safe_dump({"base": "base.yaml", "search": section}), "f.yaml")
    try:
        plan = load_plan(path)
    except DlcliError as exc:
        assert exc.exit_code == 2 and "\n" not in str(exc) and str(exc)
    else:
        assert plan.search is not None and len(plan.variants) in (0, plan.search.trials)


def test_every_source_s_data_keys_can_be_searched():
    from dlcli.sweeps.search import config_keys

    keys = config_keys()
    assert {"data.noise", "data.log_target", "data.normalize", "strategy.lr"} <= set(keys)
