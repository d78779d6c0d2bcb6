"""Error text: a pydantic error as one line naming the key, the value and what is expected,
with a "did you mean" where a name was misspelt (``strategy.lrr: unknown key (did you mean
'lr'?)``)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from dlcli.config.data import SECTIONS, sources_with


def describe_error(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """One pydantic error as ``key.path: what is wrong, got VALUE (did you mean X?)``."""
    loc = [_printable(str(p)) for p in err.get("loc", ()) if not isinstance(p, int)]
    tag = loc[1] if loc[:1] == ["data"] and len(loc) > 1 and loc[1] in SECTIONS else None
    if tag is not None:  # the union's tag (data.source) is not a key: data.cifar10.x -> data.x
        loc = [loc[0], *loc[2:]]
    key = ".".join(loc) or "config"
    kind = err.get("type", "")
    value = err.get("input")
    data_error = _data_error(kind, loc, tag, err)
    if data_error is not None:
        return data_error
    if kind == "extra_forbidden":
        section = _section_model(loc[:-1])
        valid = list(section.model_fields) if section else []
        hint = did_you_mean(loc[-1], valid)
        return f"{key}: unknown key{hint}; valid keys here: {', '.join(valid)}"
    if kind == "literal_error":
        allowed = _literal_choices(err)
        hint = did_you_mean(str(value), allowed)
        return f"{key}: unknown name {value!r}{hint}; expected one of: {', '.join(allowed)}"
    if kind == "value_error":  # our own cross-field checks: their text names the keys
        return str(err.get("msg", "")).removeprefix("Value error, ")
    msg = _lower_first(str(err.get("msg", "invalid value")))
    if kind in {"model_type", "dict_type"}:
        return f"{key}: expected a section (a mapping of keys), got {_show(value)}"
    return f"{key}: {msg}, got {_show(value)}"


def _data_error(kind: str, loc: list[str], tag: str | None, err: Mapping[str, Any]
                ) -> str | None:
    """What the tagged data section says in its own words: a key of another source names
    that source; an unknown source lists the sources; a missing path says how to give it."""
    if kind == "union_tag_invalid":
        found = str((err.get("ctx") or {}).get("tag", ""))
        return (f"data.source: unknown name {found!r}{did_you_mean(found, list(SECTIONS))}; "
                f"expected one of: {', '.join(SECTIONS)}")
    if tag is None or len(loc) != 2:
        return None
    if kind == "extra_forbidden":
        owners = sources_with(loc[1])
        valid = ", ".join(SECTIONS[tag].model_fields)
        if owners:
            return (f"data.{loc[1]} applies to data.source {' or '.join(owners)}, not to "
                    f"{tag}; keys for {tag}: {valid}")
        hint = did_you_mean(loc[1], list(SECTIONS[tag].model_fields))
        return f"data.{loc[1]}: unknown key{hint}; keys for {tag}: {valid}"
    if kind == "missing" and loc[1] == "path":
        example = "~/data/cifar-10-batches-py" if tag == "cifar10" else "kc_house_data.csv"
        return (f"data.path is required for data.source {tag} (e.g. --set "
                f"data.path={example})")
    return None


def _section_model(loc: Sequence[str]) -> type[BaseModel] | None:
    from dlcli.config.schema import Config

    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _literal_choices(err: Mapping[str, Any]) -> list[str]:
    expected = str((err.get("ctx") or {}).get("expected", ""))
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lower_first(text: str) -> str:
    text = text.replace("Input should be", "must be").replace("input should be", "must be")
    return text[:1].lower() + text[1:]


def _printable(text: str) -> str:
    """A key as typed, or its repr when it holds a newline or another control character."""
    return text if text.isprintable() else repr(text)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
