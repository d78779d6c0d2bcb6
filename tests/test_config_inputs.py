"""Inputs that cost more than they are worth, and values that must not be guessed (issue 9.4):
YAML alias bombs and deep nesting, booleans where numbers belong, ``--set KEY=`` with no value,
``keep: best`` / early stopping without a validation split."""

import time

import pytest

from dlcli.config import load_config, read_yaml_mapping, validate
from dlcli.errors import ConfigError
from tests.conftest import small_raw


def _laughs(levels: int = 9, width: int = 10) -> str:
    """The "billion laughs": each level lists the previous one ``width`` times, by alias."""
    lines = ["a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width))
                     + "}")
    lines.append(f"strategy: {{lr: *a{levels - 1}}}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_as_one_line(tmp_path):
    text = _laughs()
    assert len(text) < 1000  # a file of under 1 KB that expands to 10^9 nodes
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.process_time()
    with pytest.raises(ConfigError) as info:
        load_config(path, ["seed=1"])  # --set copies the document: the old code expanded it
    # CPU seconds, generous, only to stop the test from hanging: not a timing assertion
    assert time.process_time() - start < 30
    where, _, msg = str(info.value).partition("bomb.yaml: ")
    assert where and "\n" not in msg and "aliases" in msg


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\nstrategy: {lr: *a}\n")
    with pytest.raises(ConfigError, match="loop.yaml: .*refers to itself"):
        load_config(path)


def test_deep_nesting_is_refused_as_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="deep.yaml: .*nested"):
        read_yaml_mapping(path)


def test_a_huge_config_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ConfigError, match="big.yaml: .*too large"):
        read_yaml_mapping(path)


def test_aliases_of_plain_values_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: ok\nx: &lr 1.0e-6\nstrategy: {name: sgd, lr: *lr}\n")
    raw = read_yaml_mapping(path)
    raw.pop("x")
    assert validate(raw).strategy.lr == 1e-6


@pytest.mark.parametrize("item", ["seed=true", "strategy.iterations=yes", "strategy.lr=false",
                                  "data.num_train=true", "eval_every=on"])
def test_a_boolean_is_not_a_number(write_config, item):
    with pytest.raises(ConfigError, match=r"must be a (number|whole number|count)"):
        load_config(write_config(small_raw()), [item])


def test_a_boolean_in_the_file_is_not_a_number(write_config):
    raw = small_raw()
    raw["seed"] = True
    with pytest.raises(ConfigError, match="seed"):
        load_config(write_config(raw))


@pytest.mark.parametrize("item", ["data.num_train=", "strategy.lr=", "seed=  "])
def test_set_without_a_value_is_an_error(write_config, item):
    with pytest.raises(ConfigError, match="no value after '='"):
        load_config(write_config(small_raw()), [item])


def test_an_explicit_null_split_is_an_error_not_the_default(write_config):
    with pytest.raises(ConfigError, match="data.num_train"):
        load_config(write_config(small_raw()), ["data.num_train=null"])


def test_numbers_written_as_yaml_strings_still_parse(write_config):
    # YAML 1.1 reads 1e-3 (no dot) as a string: a number is still what the user meant
    cfg = load_config(write_config(small_raw()), ["strategy.lr=1e-3"])
    assert cfg.strategy.lr == 1e-3


@pytest.mark.parametrize("extra", [{"keep": "best"}, {"early_stopping": {"patience": 2}}])
def test_choosing_on_validation_needs_a_validation_split(extra):
    raw = {**small_raw(), **extra}
    raw["data"] = {**raw["data"], "num_val": 0}
    with pytest.raises(ConfigError) as info:
        validate(raw, "c.yaml")
    msg = str(info.value)
    assert "data.num_val" in msg and next(iter(extra)) in msg


def test_keep_best_on_a_landscape_needs_no_split():
    validate({"data": {"source": "landscape"}, "strategy": {"name": "gd"}, "keep": "best"})


def test_a_sweep_file_given_as_a_config_says_to_use_compare(write_config):
    path = write_config({"base": "x.yaml", "sweep": {"strategy.lr": [1, 2]}})
    with pytest.raises(ConfigError, match="this is a sweep file .* dlcli compare"):
        load_config(path)


def test_data_path_on_built_in_data_is_an_error(write_config):
    with pytest.raises(ConfigError, match="data.path applies to data.source cifar10 or houses"):
        load_config(write_config(small_raw()), ["data.path=somewhere"])
