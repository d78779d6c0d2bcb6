"""Smoke tests of the `make bench` harness (benchmarks/) on tiny sizes; timings are never
asserted, only that every row is measured and reported."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchmarks import processes, run
from benchmarks.harness import QUICK, Target, interleave


def test_help_prints_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(["--help"])
    assert exc.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_list_names_every_row_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in run.BENCHES)


def test_quick_run_writes_every_requested_row(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLCLI_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.md"
    only = ["peak", "svm", "mlp", "random-search", "random-local-search", "numgrad", "help"]
    assert run.main(["--quick", "--no-torch", "--out", str(out),
                     *[a for name in only for a in ("--only", name)]]) == 0
    text = out.read_text()
    for expected in ("## Machine", "--quick", "GFLOP/s", "svm SGD+momentum",
                     "SGDClassifier(hinge)", "MLPClassifier", "np.matmul products alone",
                     "lecture loop", "random local search", "per-coordinate loop",
                     "dlcli --help", "PyTorch left out", "(quick run: not judged)"):
        assert expected in text, expected


def test_interleave_alternates_the_order() -> None:
    calls: list[str] = []

    def contender(name: str, rate: float) -> Callable[[], float]:
        def run() -> float:
            calls.append(name)
            return rate
        return run

    rates = interleave({"a": contender("a", 1.0), "b": contender("b", 2.0)}, repeats=3,
                       pause=0)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert rates == {"a": [1.0] * 3, "b": [2.0] * 3}


def test_targets() -> None:
    assert Target(">=", 1.8, "").check(1.8) is True
    assert Target("<", 0.2, "").check(0.2) is False
    assert Target("<=", 1.5, "").check(None) is None


def test_a_child_process_peak_memory_is_its_own() -> None:
    m = processes.run_measured([sys.executable, "-c",
                                "import sys; b = b'x' * 60_000_000; sys.exit(3)"])
    assert m.returncode == 3
    assert 60e6 <= m.max_rss < 200e6  # not this (larger) process's pages


def test_pytorch_peer_on_tiny_data() -> None:
    pytest.importorskip("torch")
    from benchmarks import peers

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 20), dtype=np.float32), np.arange(64) % 4
    for kind in ("softmax", "svm", "mlp"):
        rate = peers.torch_rate(kind, X, y, threads=1, batch=16, block=QUICK, lr=1e-3,
                                reg=1e-4, hidden=8)
        assert rate > 0


def test_a_failing_row_group_is_reported_and_the_rest_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: object) -> list[object]:
        raise ValueError("boom")

    monkeypatch.setitem(run.BENCHES, "memory", (broken, "broken on purpose"))
    out = tmp_path / "bench.md"
    assert run.main(["--quick", "--no-torch", "--out", str(out), "--only", "memory",
                     "--only", "help"]) == 1
    text = out.read_text()
    assert "failed: ValueError: boom" in text and "dlcli --help" in text


def test_the_checkpoint_work_of_a_run_is_timed_inside_its_process(tmp_path: Path) -> None:
    import json

    import yaml

    from tests.conftest import small_raw

    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump({**small_raw(iterations=10), "checkpoint_every": 5}))
    facts = tmp_path / "facts.json"
    m = processes.run_measured([sys.executable, "-c", processes._TIMED_TRAIN, str(facts),
                                "train", str(cfg), "--out", str(tmp_path / "runs"), "-q"])
    assert m.returncode == 0, m.stderr
    spent = json.loads(facts.read_text())
    assert spent["written"] == 2 and 0 < spent["seconds"] < m.seconds  # at 5 and at 10
    assert len(list((tmp_path / "runs").glob("*/checkpoint.npz"))) == 1


@pytest.mark.parametrize("kind", ["mlp", "svm"])
def test_the_step_profile_times_its_parts_and_leaves_dlcli_as_it_was(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import profile_step
    from dlcli import optim
    from dlcli.models import linear, mlp

    monkeypatch.setenv("DLCLI_BENCH_CACHE", str(tmp_path))
    before = (optim.apply, mlp.matmul, mlp.MLP.__dict__["_add_penalty"], linear.linalg)
    per_step, parts = profile_step.profile(kind, threads=2, steps=3, batch=16, rows=300)
    assert (optim.apply, mlp.matmul, mlp.MLP.__dict__["_add_penalty"], linear.linalg) == before
    assert per_step > 0 and parts["update rule (momentum: v, W)"] > 0
    text = profile_step.report(kind, 2, per_step, parts, batch=16)
    assert "ms per step" in text and "rest:" in text
    if kind == "mlp":
        assert "product (16 x 3073) @ (3073 x 512)" in text and "L2 gradient" in text
    else:
        assert profile_step.WHOLE in text and "on the threads" in text
