"""Property-based fault tests for what users type (issue 9.6): random YAML documents, random
config-shaped mappings and random ``--set`` strings give a valid Config or one line of
ConfigError/UsageError, never another exception."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcli.config import apply_sets, load_config, validate
from dlcli.errors import DlcliError
from dlcli.sweeps.files import load_plan
from tests.conftest import small_raw

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["sgd", "svm", "mlp", "best",
                                                           "landscape", "1e-3", "houses"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "seed", "data", "model", "strategy", "eval_every", "early_stopping", "keep",
        "source", "num_train", "num_val", "lr", "iterations", "hidden", "function", "start",
        "features", "path", "base", "sweep", "variants", "seeds"]
sections = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
configs = st.dictionaries(st.sampled_from(KEYS), st.one_of(values, sections), max_size=8)


def _one_line(exc: DlcliError) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text


def _load(path, sets=()):
    try:
        return load_config(path, list(sets))
    except DlcliError as exc:
        _one_line(exc)
        assert exc.exit_code == 2
        return None


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_a_config(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_bytes(data)
    _load(path)


@FUZZ
@given(st.text(alphabet=string.printable + "&*!|>-:[]{}#%@`'\"", max_size=200))
def test_random_yaml_text_as_a_config(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text)
    _load(path)


@FUZZ
@given(configs)
def test_random_config_shaped_mappings(raw):
    try:
        validate(raw, "c.yaml")
    except DlcliError as exc:
        _one_line(exc)


@FUZZ
@given(st.lists(st.text(alphabet=string.printable, max_size=40), max_size=4))
def test_random_set_strings(tmp_path_factory, sets):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(yaml.safe_dump(small_raw()))
    _load(path, sets)


@FUZZ
@given(st.sampled_from(["seed", "strategy.lr", "data.num_train", "model.hidden", "keep",
                        "strategy.name", "data.start", "early_stopping", "strategy",
                        "strategy.lr.x", "data.source"]), values)
def test_random_values_for_real_keys(key, value):
    try:
        validate(apply_sets(small_raw(), [f"{key}={yaml.safe_dump(value).strip()}"
                                          .replace("\n", " ")]), "c.yaml")
    except DlcliError as exc:
        _one_line(exc)


@FUZZ
@given(configs)
def test_random_sweep_files(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "base.yaml").write_text(yaml.safe_dump(small_raw()))
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **raw}))
    try:
        load_plan(path)
    except DlcliError as exc:
        _one_line(exc)
        assert exc.exit_code == 2
