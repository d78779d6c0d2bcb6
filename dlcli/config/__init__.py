"""The config: what a user writes, validated once, at the edge.

:mod:`~dlcli.config.schema` (the sections and their keys), :mod:`~dlcli.config.data` (the data
section of each source), :mod:`~dlcli.config.loading` (YAML, ``--set``, validation),
:mod:`~dlcli.config.messages` (one-line error text), :mod:`~dlcli.config.yaml_input` (YAML a
user hands us, bounded by its size). The names used elsewhere are re-exported here.
"""

from dlcli.config.data import (
    FILE_SOURCES,
    IMAGE_SOURCES,
    SECTIONS,
    TABLE_SOURCES,
    AnyData,
    DataConfig,
    DataSource,
    Float,
    Int,
    LandscapeName,
    data_path,
)
from dlcli.config.loading import (
    SWEEP_KEYS,
    apply_sets,
    load_config,
    parse_set,
    read_yaml_mapping,
    set_path,
    to_yaml,
    validate,
)
from dlcli.config.messages import describe_error, did_you_mean
from dlcli.config.schema import (
    CLASSIFIERS,
    GRADIENT_STRATEGIES,
    REGRESSORS,
    Config,
    EarlyStopping,
    ModelConfig,
    ModelName,
    ScheduleName,
    StrategyConfig,
    StrategyName,
    UpdateName,
)

__all__ = [
    "FILE_SOURCES", "IMAGE_SOURCES", "SECTIONS", "TABLE_SOURCES", "AnyData", "DataConfig",
    "DataSource", "Float", "Int", "LandscapeName", "data_path", "SWEEP_KEYS", "apply_sets",
    "load_config", "parse_set", "read_yaml_mapping", "set_path", "to_yaml", "validate",
    "describe_error", "did_you_mean", "CLASSIFIERS", "GRADIENT_STRATEGIES", "REGRESSORS",
    "Config", "EarlyStopping", "ModelConfig", "ModelName", "ScheduleName", "StrategyConfig",
    "StrategyName", "UpdateName",
]
