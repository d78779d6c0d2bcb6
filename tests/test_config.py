import pytest
import yaml

from dlcli.config import apply_sets, load_config, to_yaml, validate
from dlcli.errors import ConfigError
from tests.conftest import small_raw


def _error(write_config, raw, sets=()):
    path = write_config(raw)
    with pytest.raises(ConfigError) as info:
        load_config(path, sets)
    return str(info.value)


def test_defaults_fill_in_and_resolve_to_yaml():
    cfg = validate({"name": "x"})
    text = to_yaml(cfg)
    assert "strategy:" in text and "batch_size: 256" in text and cfg.model.name == "softmax"


def test_misspelt_key_names_file_path_and_suggestion(write_config):
    raw = small_raw()
    raw["strategy"]["lrr"] = 0.1
    msg = _error(write_config, raw)
    assert "cfg.yaml" in msg and "strategy.lrr: unknown key" in msg and "did you mean 'lr'" in msg


def test_misspelt_name_gets_a_suggestion(write_config):
    raw = small_raw()
    raw["strategy"]["name"] = "momentun"
    msg = _error(write_config, raw)
    assert "strategy.name" in msg and "'momentun'" in msg and "did you mean 'momentum'" in msg


def test_bad_value_names_key_value_and_expectation(write_config):
    msg = _error(write_config, small_raw(lr=-0.1))
    assert "strategy.lr" in msg and "greater than 0" in msg and "-0.1" in msg


def test_wrong_type(write_config):
    msg = _error(write_config, small_raw(iterations="many"))
    assert "strategy.iterations" in msg and "'many'" in msg


def test_missing_file_not_yaml_and_not_a_mapping(tmp_path, write_config):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    assert "not valid YAML (line" in _error(write_config, "a: [1, 2\nb: 3\n")
    assert "expected a mapping" in _error(write_config, "- 1\n- 2\n")


def test_set_overrides_parse_yaml_and_validate(write_config):
    path = write_config(small_raw())
    cfg = load_config(path, ["strategy.lr=1e-3", "model.name=svm", "strategy.eval_batch=null"])
    assert cfg.strategy.lr == 1e-3 and cfg.model.name == "svm"
    with pytest.raises(ConfigError, match=r"with --set\): strategy.lr"):
        load_config(path, ["strategy.lr=0"])
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load_config(path, ["strategy.lr"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path, ["strategy.nope=1"])


def test_set_cannot_descend_into_a_value():
    with pytest.raises(ConfigError, match="seed is a value"):
        apply_sets({"seed": 1}, ["seed.x=2"])


def test_cross_field_check(write_config):
    msg = _error(write_config, small_raw(eval_batch=10_000))
    assert "eval_batch" in msg and "num_train" in msg


def test_extra_top_level_key(write_config):
    raw = small_raw()
    raw["sead"] = 1
    assert "did you mean 'seed'" in _error(write_config, raw)


@pytest.mark.parametrize("raw", [
    small_raw(),
    {"data": {"source": "houses-synthetic", "log_target": True},
     "model": {"name": "mlp-regression"}},
    {"data": {"source": "landscape", "function": "saddle", "noise": 0.1}},
    {"data": {"source": "cifar10", "path": "x", "normalize": True}, "model": {"name": "mlp"}},
])
def test_a_resolved_config_validates_again_unchanged(raw):
    # A run folder's config.yaml (every key written out) can be trained again as it is.
    import yaml

    cfg = validate(raw)
    again = validate(yaml.safe_load(to_yaml(cfg)))
    assert again == cfg


def test_each_source_has_its_own_keys_and_a_stray_one_names_its_source():
    with pytest.raises(ConfigError, match="data.log_target applies to data.source houses or "
                                          "houses-synthetic, not to cifar10-synthetic"):
        validate({"data": {"source": "cifar10-synthetic", "log_target": False}})
    with pytest.raises(ConfigError, match="data.noise applies to data.source landscape, not to "
                                          "cifar10-synthetic; keys for cifar10-synthetic: "):
        validate({"data": {"source": "cifar10-synthetic", "noise": 0.5}})
    with pytest.raises(ConfigError, match=r"data.sorce: unknown key \(did you mean 'source'"):
        validate({"data": {"sorce": "x"}})
    with pytest.raises(ConfigError, match="data.source: unknown name 'cifar' .*expected one of"):
        validate({"data": {"source": "cifar"}})
    resolved = to_yaml(validate({"data": {"source": "cifar10", "path": "d"}}))
    assert "function" not in resolved and "log_target" not in resolved  # only its own keys
    assert validate(yaml.safe_load(resolved)).data.path == "d"  # and it validates again


