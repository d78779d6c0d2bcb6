"""What a search must satisfy before anything runs, and its command-line shortcuts
(``--sample KEY=DIST:LOW,HIGH``, ``--trials N``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dlcli.config import did_you_mean, validate
from dlcli.config import yaml_input as safe_yaml
from dlcli.errors import ConfigError, UsageError
from dlcli.sweeps.search import EXTRA, KINDS

if TYPE_CHECKING:
    from dlcli.sweeps.plan import Plan
from dlcli.sweeps.variants import VariantSpec, make_variant, resolve_raw, shower

MAX_RUNS = 10_000


def check_search(plan: Plan, where: str) -> None:
    """Every bound (and every choice) of every key, in every variant, is a valid value of its
    key; a search asked of Optuna has Optuna and one seed per trial."""
    search, recipe = plan.search, plan.recipe or {}
    if search is None:
        return
    specs: list[VariantSpec | None] = [
        VariantSpec.model_validate(v) for v in recipe.get("variants") or []] or [None]
    seeds = recipe.get("seeds") or [None]
    total = search.trials * len(specs) * len(seeds)
    if total > MAX_RUNS:
        raise ConfigError(f"{where}: the search makes {total} runs (at most {MAX_RUNS}); "
                          f"lower search.trials")
    if search.needs_study:
        what = (f"search.sampler {search.sampler}" if search.sampler != "random"
                else f"search.pruner {search.pruner}")
        if len(seeds) > 1:
            raise ConfigError(f"{where}: seeds: with {what} a trial is one run (its validation "
                              f"metric steers the search), so seeds may list one seed, got "
                              f"{len(seeds)}; repeat the chosen trial over seeds afterwards, or "
                              f"use sampler: random without a pruner")
        require_optuna(f"{where}: {what}")
    for vspec in specs:
        named = f", variant {vspec.name}" if vspec is not None else ""
        for key in search.keys:
            dist = search.params[key]
            for value in dist.probes():
                raw = resolve_raw(recipe["base"], vspec, {key: value}, seeds[0], where)
                validate(raw, f"{where}: search.params.{key} ({dist.kind} value {value!r}"
                              f"{named})")


def require_optuna(what: str) -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} needs Optuna: {EXTRA}") from None


def parse_sample(item: str) -> tuple[str, dict[str, Any]]:
    """``strategy.lr=loguniform:1e-8,1e-5`` -> ``("strategy.lr", {"loguniform": [1e-8, 1e-5]})``;
    ``int:32,512,log``, ``int:0,100,step=10``, ``choice:128,256`` or ``choice:[[128],[256]]``."""
    key, sep, text = item.partition("=")
    kind, colon, rest = text.partition(":")
    key, kind, rest = key.strip(), kind.strip(), rest.strip()
    usage = (f"--sample {item!r}: expected KEY=DIST:LOW,HIGH, e.g. "
             f"strategy.lr=loguniform:1e-8,1e-5 (DIST: {', '.join(KINDS)})")
    if not sep or not colon or not key or not rest:
        raise UsageError(usage)
    if kind not in KINDS:
        raise UsageError(f"--sample {item!r}: unknown distribution {kind!r}"
                         f"{did_you_mean(kind, KINDS)}; expected one of: {', '.join(KINDS)}")
    where = f"--sample {item!r}"
    if kind == "choice":
        values = safe_yaml.load(rest, where) if rest.startswith("[") else [
            safe_yaml.load(part, where) for part in rest.split(",")]
        return key, {"choice": values}
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) < 2:
        raise UsageError(usage)
    spec: dict[str, Any] = {kind: parts[:2]}
    for extra in parts[2:]:
        if kind == "int" and extra == "log":
            spec["log"] = True
        elif kind == "int" and extra.startswith("step=") and extra[5:].isdigit():
            spec["step"] = int(extra[5:])
        else:
            raise UsageError(f"{usage}; int may end with ,log or ,step=N")
    return key, spec


def with_shortcuts(section: Any, samples: Sequence[str], trials: int | None) -> Any:
    """``--sample`` (a random search on a plain config, or more keys for a file's search) and
    ``--trials`` on top of the file's ``search:`` section (None: no search)."""
    if section is None and not samples:
        if trials is not None:
            raise UsageError("--trials: give --sample KEY=DIST:LOW,HIGH, or a sweep file with a "
                             "search: section")
        return None
    if not samples and trials is None:
        return section
    out = dict(section) if isinstance(section, Mapping) else {}
    if samples:
        params = out.get("params")
        params = dict(params) if isinstance(params, Mapping) else {}
        params.update(parse_sample(item) for item in samples)
        out["params"] = params
        if trials is None and "trials" not in out:
            raise UsageError("--sample: say how many trials to draw with --trials N")
    if trials is not None:
        out["trials"] = trials
    return out


def probe_config(plan: Plan, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A resolved config of the plan with every searched key at its first bound (or choice):
    what a search's task, metric and pruner rungs are read from before any trial exists."""
    if plan.variants:
        return plan.variants[0].config
    search, recipe = plan.search, plan.recipe or {}
    point = {k: search.params[k].probes()[0] for k in search.keys} if search else {}
    seed = (recipe.get("seeds") or [None])[0]
    return make_variant(0, recipe.get("base") or {}, spec, point, seed, plan.source, 2,
                        shower(search)).config
