"""Every shipped config x data source x model passes ``api.gradcheck``; an injected bug fails.

The matrix: each configs/*.yaml that is not a sweep, with its data source swapped for each
synthetic one (cifar10 -> cifar10-synthetic, houses -> houses-synthetic, data.path dropped,
40 training rows) and every model that fits that source, keeping the config's own model
keys (reg, init_scale, hidden): quickstart's ``init_scale: 1e-4`` on an mlp-regression is the
issue's case of correct gradients of order 1e-8. Landscapes as they are. Duplicates (same
data, model, seed and h) are checked once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dlcli import api
from dlcli.config import SWEEP_KEYS, validate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CLASSIFIERS = [("svm", None), ("softmax", None), ("mlp", "softmax"), ("mlp", "svm")]
REGRESSORS = [("linear-regression", None), ("mlp-regression", None)]
SYNTHETIC = {"cifar10": "cifar10-synthetic", "cifar10-synthetic": "cifar10-synthetic",
             "houses": "houses-synthetic", "houses-synthetic": "houses-synthetic"}
SIZES = {"num_train": 40, "num_val": 10, "num_test": 10}
SAMPLES, COORDS = 4, 8  # rows and coordinates per tensor: enough to see, fast to run
BUG_COORDS = 4  # a bug shows on every coordinate it touches; every one is rechecked


def _variant(raw: dict[str, Any], source: str, model: str, head: str | None) -> dict[str, Any]:
    r = copy.deepcopy(raw)
    data = raw["data"]
    own = SYNTHETIC[data["source"]] == source  # same family: keep its preprocessing keys
    r["data"] = {**({k: v for k, v in data.items() if k != "path"} if own else {}),
                 "source": source, **SIZES}
    h = (raw.get("strategy") or {}).get("h")
    r["strategy"] = {"name": "gd", **({"h": h} if h else {})}  # only h matters to a check
    r["model"] = {k: v for k, v in (raw.get("model") or {}).items() if k != "head"}
    r["model"]["name"] = model
    if head:
        r["model"]["head"] = head
    return r


def _cases() -> list[tuple[str, dict[str, Any]]]:
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if any(k in raw for k in SWEEP_KEYS):  # sweep files: their bases are configs here
            continue
        if raw["data"]["source"] == "landscape":
            seen.setdefault(yaml.safe_dump(raw["data"]), (path.stem, raw))
            continue
        for source in ("cifar10-synthetic", "houses-synthetic"):
            for model, head in CLASSIFIERS if source.startswith("cifar") else REGRESSORS:
                r = _variant(raw, source, model, head)
                key = yaml.safe_dump({k: r.get(k) for k in ("data", "model", "seed")}
                                     | {"h": r["strategy"].get("h", 1e-5)})
                kind = model + (f"-{head}" if head else "")
                seen.setdefault(key, (f"{path.stem}:{source}:{kind}", r))
    return list(seen.values())


CASES = _cases()


def _representatives() -> list[tuple[str, dict[str, Any]]]:
    """For the bugs: one case per model kind and data source (the first in file order), and
    the issue's case, whose gradients are mostly under the floor."""
    first: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, raw in CASES:
        first.setdefault(name.split(":", 1)[-1] if ":" in name else "landscape", (name, raw))
    issue = "quickstart:houses-synthetic:mlp-regression"
    return list(first.values()) + [(name, raw) for name, raw in CASES if name == issue]


def test_the_matrix_covers_every_model_and_source():
    kinds = {name.split(":", 1)[1] for name, _ in CASES if ":" in name}
    assert {"cifar10-synthetic:svm", "cifar10-synthetic:softmax", "cifar10-synthetic:mlp-softmax",
            "cifar10-synthetic:mlp-svm", "houses-synthetic:linear-regression",
            "houses-synthetic:mlp-regression"} <= kinds
    assert "quickstart:houses-synthetic:mlp-regression" in {name for name, _ in CASES}
    assert sum(":" not in name for name, _ in CASES) >= 3  # the landscapes


@pytest.mark.parametrize("raw", [raw for _, raw in CASES], ids=[name for name, _ in CASES])
def test_a_correct_model_passes(raw):
    report = api.gradcheck(validate(raw), samples=SAMPLES, coords=COORDS)
    assert report.passed, [(t.name, t.max_error, t.verdict, t.floored) for t in report.tensors]


# --------------------------------------------------------------------------- injected bugs

Bug = Callable[[Any, dict[str, np.ndarray], dict[str, np.ndarray]], None]


def _scaled(model, params, grads):
    for g in grads.values():
        g *= 1.01  # every gradient 1% too large


def _sign(model, params, grads):
    name = max(grads, key=lambda k: float(np.abs(grads[k]).max()))
    grads[name] *= -1  # one tensor backwards: the one with the largest entry


def _no_reg(model, params, grads):
    for name in params:
        if name[0] in "W":  # the penalized weights (biases are not)
            grads[name] -= 2 * model.reg * params[name]


BUGS: dict[str, Bug] = {"scaled by 1.01": _scaled, "one tensor's sign": _sign,
                        "no L2 term": _no_reg}


def _reg_matters(model, params, grads) -> bool:
    """Whether the L2 term is a visible part of the gradient: over 1e-3 of it (10x the
    tolerance) on half the coordinates of some weight tensor, so that any sample of
    coordinates sees it. Below that, leaving it out changes no checked coordinate by more
    than the check can be asked to see."""
    for name in params:
        if name[0] == "W" and getattr(model, "reg", 0):
            share = np.abs(2 * model.reg * params[name]) / np.maximum(np.abs(grads[name]), 1e-300)
            if np.median(share) > 1e-3:
                return True
    return False


@pytest.mark.parametrize("bug", list(BUGS))
@pytest.mark.parametrize("raw", [raw for _, raw in _representatives()],
                         ids=[name for name, _ in _representatives()])
def test_an_injected_bug_fails(raw, bug, monkeypatch):
    cfg = validate(raw)
    data, model = api.build(cfg)
    if bug == "no L2 term":
        params = {k: v.astype(np.float64) for k, v in model.init_params(
            data.n_features, data.n_outputs, np.random.default_rng(cfg.seed)).items()}
        _, grads = model.loss_and_grad(params, data.X_train[:SAMPLES].astype(np.float64),
                                       data.y_train[:SAMPLES])
        if not _reg_matters(model, params, grads):
            pytest.skip("the L2 term is under 1e-3 of most gradient coordinates here")
    real = type(model).loss_and_grad

    def broken(self, params, X, y):
        loss, grads = real(self, params, X, y)
        BUGS[bug](self, params, grads)
        return loss, grads

    monkeypatch.setattr(type(model), "loss_and_grad", broken)
    report = api.gradcheck(cfg, samples=SAMPLES, coords=BUG_COORDS)
    assert not report.passed, [(t.name, t.max_error, t.floored) for t in report.tensors]
