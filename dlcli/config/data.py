"""The ``data:`` section of a config: one section per ``data.source``, each with its own keys.

A union tagged by ``data.source`` (pydantic's discriminated union): a resolved config.yaml lists
the keys that apply to its source and nothing else, and a key of another source is an error
that names the source it belongs to (``data.function applies to data.source landscape``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

DataSource = Literal["cifar10-synthetic", "cifar10", "houses", "houses-synthetic", "landscape"]
LandscapeName = Literal["ill-conditioned", "saddle", "rosenbrock"]
IMAGE_SOURCES = ("cifar10-synthetic", "cifar10")
TABLE_SOURCES = ("houses", "houses-synthetic")
FILE_SOURCES = ("cifar10", "houses")
DEFAULT_SOURCE = "cifar10-synthetic"
# Split sizes when the config leaves them out, per source. Counts, or fractions of the table.
SPLIT_DEFAULTS: dict[str, tuple[int | float, int | float, int | float]] = {
    "cifar10-synthetic": (5000, 500, 1000),
    "cifar10": (49000, 1000, 1000),  # CS231n: the next 1000 training images are validation
    "houses": (0.7, 0.15, 0.15),
    "houses-synthetic": (7000, 1500, 1500),
}
SPLITS = ("num_train", "num_val", "num_test")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def not_a_bool(kind: str) -> BeforeValidator:
    """YAML reads yes/no/on/off/true/false as booleans, and pydantic would take True for 1:
    ``--set seed=true`` must be an error, not seed 1. Numbers written as strings (YAML 1.1
    reads ``1e-3`` as one) still go through pydantic's conversion."""
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError("bool_not_number", f"must be {kind}, not a boolean")
        return value

    return BeforeValidator(check)


Int = Annotated[int, not_a_bool("a whole number")]
Float = Annotated[float, not_a_bool("a number")]
SplitSize = Annotated[int | float, not_a_bool("a count or a fraction")]


class _Split(Section):
    """The three splits of a data set: counts, or (house tables) fractions of the rows."""

    num_train: SplitSize = Field(None, validate_default=False)  # type: ignore[assignment]
    num_val: SplitSize = Field(None, validate_default=False)  # type: ignore[assignment]
    num_test: SplitSize = Field(None, validate_default=False)  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _default_split(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        source = raw.get("source", DEFAULT_SOURCE)
        filled = dict(zip(SPLITS, SPLIT_DEFAULTS[source], strict=True))
        for key, default in filled.items():
            if key in raw and raw[key] is None:  # never a silent "back to the default"
                raise ValueError(f"data.{key}: null is not a size; give a count (or leave the "
                                 f"key out for the default, {default} for {source})")
        return {**filled, **raw}

    @model_validator(mode="after")
    def _sizes(self) -> _Split:
        table = getattr(self, "source", None) in TABLE_SOURCES
        for key in SPLITS:
            value = getattr(self, key)
            least = 1 if key == "num_train" else 0
            if isinstance(value, float) and not table:
                raise ValueError(f"data.{key} must be a whole count for "
                                 f"{getattr(self, 'source', '')}, got {value!r}")
            if isinstance(value, float) and not 0 < value <= 1:
                raise ValueError(f"data.{key} must be a count or a fraction in (0, 1], "
                                 f"got {value!r}")
            if isinstance(value, int) and value < least:
                raise ValueError(f"data.{key} must be >= {least}, got {value!r}")
        return self


class CifarSyntheticData(_Split):
    """The built-in CIFAR-style images, generated from the seed."""

    source: Literal["cifar10-synthetic"] = "cifar10-synthetic"
    # divide the mean-subtracted pixels by their training std (for He-initialized MLPs)
    normalize: bool = False


class CifarData(_Split):
    """The official CIFAR-10 files, in any of their four forms."""

    source: Literal["cifar10"] = "cifar10"
    path: str  # a folder or archive (relative paths are from the working directory)
    cache_dir: str | None = None  # the decoded cache (default $DLCLI_CACHE_DIR, XDG, ~/.cache)
    normalize: bool = False


class _Table(_Split):
    log_target: bool = False
    features: list[str] | None = None
    zipcode: Literal["onehot", "drop"] = "onehot"
    date: Literal["year-month", "days"] = "year-month"


class HousesData(_Table):
    """Kaggle's King County house-price CSV."""

    source: Literal["houses"] = "houses"
    path: str  # the CSV (relative paths are from the working directory)
    drop_invalid: bool = False  # drop rows with a missing or invalid value instead of failing


class HousesSyntheticData(_Table):
    """The built-in house table with the CSV's columns."""

    source: Literal["houses-synthetic"] = "houses-synthetic"


class LandscapeData(Section):
    """A 2-D function whose point is the parameters: where to start, gradient noise."""

    source: Literal["landscape"] = "landscape"
    function: LandscapeName = "ill-conditioned"
    start: tuple[Float, Float] | None = None  # None: the function's usual start
    noise: Float = Field(0.0, ge=0)  # sigma of Gaussian noise added to every gradient


SECTIONS: dict[str, type[Section]] = {
    "cifar10-synthetic": CifarSyntheticData, "cifar10": CifarData, "houses": HousesData,
    "houses-synthetic": HousesSyntheticData, "landscape": LandscapeData,
}
DataConfig = Annotated[
    CifarSyntheticData | CifarData | HousesData | HousesSyntheticData | LandscapeData,
    Field(discriminator="source"),
]
AnyData = CifarSyntheticData | CifarData | HousesData | HousesSyntheticData | LandscapeData


def with_source(raw: Any) -> Any:
    """A data section without ``source`` is the built-in images (the tag must be there)."""
    if raw is None:
        return {"source": DEFAULT_SOURCE}
    if isinstance(raw, dict) and "source" not in raw:
        return {"source": DEFAULT_SOURCE, **raw}
    return raw


def sources_with(key: str) -> list[str]:
    """The sources whose section has ``key``: what an error about a stray key names."""
    return [name for name, cls in SECTIONS.items() if key in cls.model_fields]


def data_path(data: AnyData) -> str | None:
    """The file or folder a data section reads, if it reads one."""
    return getattr(data, "path", None)
