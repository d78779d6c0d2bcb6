"""``dlcli compare`` searches end to end: random and TPE trials, pruning, resume without repeats,
reuse of completed runs, coarse to fine, the study's storage. Tiny runs: a few seconds in all."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.strategies import STRATEGIES
from dlcli.sweeps.study import _STUDIES
from tests.conftest import small_raw

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"
SEARCH = {"strategy.lr": {"loguniform": [1.0e-8, 1.0e-5]},
          "model.reg": {"loguniform": [1.0e-4, 1.0]}}


def _no_plots(monkeypatch) -> None:
    """No PNGs (matplotlib is most of a tiny run's time) where a test does not look at them."""
    from dlcli.train import Callback

    monkeypatch.setattr("dlcli.sweeps.run._plots", lambda summary, plan: None)
    monkeypatch.setattr("dlcli.runner.LossPlot", lambda path: Callback())


@pytest.fixture
def quick(monkeypatch):
    _no_plots(monkeypatch)


def _run(*args: str):
    return runner.invoke(app, ["compare", *args])


def _file(tmp_path: Path, iterations: int = 10, **search) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(small_raw(iterations=iterations)))
    spec = {"name": "demo", "base": "base.yaml",
            "search": {"trials": 4, "seed": 1, "params": SEARCH, **search}}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _folders(out: Path, name: str = "demo") -> list[Path]:
    return sorted(out.glob(f"compare-*-{name}-*"))


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _interrupt_on(monkeypatch, nth: int):
    """sgd's ``nth`` run (counting from 1) is interrupted as by Ctrl-C at its start; returns
    what puts sgd back."""
    real, calls = STRATEGIES["sgd"], []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == nth:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setitem(STRATEGIES, "sgd", flaky)
    return lambda: monkeypatch.setitem(STRATEGIES, "sgd", real)


def _study_trials(folder: Path) -> list:
    import optuna

    from dlcli.sweeps.study import open_storage

    storage = open_storage(str(folder / "study.journal"))
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage).trials


def test_a_random_search_reuses_runs_and_draws_its_plots(tmp_path, monkeypatch):
    path, out = _file(tmp_path), tmp_path / "runs"
    res = _run(str(path), "--out", str(out), "-q")
    assert res.exit_code == 0, res.output
    assert "searching demo: 4 trials (random) serially" in res.output
    (first,) = _folders(out)
    for name in ("search-params.png", "search-scatter.png", "search-progress.png"):
        assert (first / name).read_bytes()[:8] == PNG
    rows = _summary(first)["rows"]
    assert [r["index"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["variant"] == "small" and rows[0]["status"] == "completed"
    # More trials under the same --out: the first four are linked, only two run.
    _no_plots(monkeypatch)
    res = _run(str(path), "--out", str(out), "--trials", "6")
    assert res.exit_code == 0, res.output
    (second,) = set(_folders(out)) - {first}  # (two made in one second sort by their hex)
    rows = _summary(second)["rows"]
    assert [bool(r.get("reused")) for r in rows] == [True] * 4 + [False] * 2
    assert rows[0]["reused"].startswith(first.name) and (second / rows[0]["run_dir"]).is_symlink()
    assert "6 of 6 variants completed, 4 reused" in res.output
    assert res.stdout.rstrip().splitlines()[-1].startswith("chosen on validation: ")
    res = _run(str(path), "--out", str(out), "--rerun", "--trials", "1", "-q")
    (third,) = set(_folders(out)) - {first, second}
    assert res.exit_code == 0 and not any(r.get("reused") for r in _summary(third)["rows"])


def test_a_tpe_search_prunes_and_resume_finishes_it_without_repeats(tmp_path, monkeypatch,
                                                                    quick):
    path, out = _file(tmp_path, iterations=20, trials=6, sampler="tpe", pruner="halving"), \
        tmp_path / "runs"
    fixed = _interrupt_on(monkeypatch, 3)
    res = _run(str(path), "--out", str(out), "-q")
    assert res.exit_code == 130, res.output
    (folder,) = _folders(out)
    assert [r["status"] for r in _summary(folder)["rows"]][-1] == "interrupted"
    fixed()
    _STUDIES.clear()  # --resume is a new process: nothing of the first one's sampler is left
    res = _run("--resume", str(folder))
    assert res.exit_code == 0, res.output
    rows = _summary(folder)["rows"]
    assert [r["index"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert len({(r["strategy.lr"], r["model.reg"]) for r in rows}) == 6  # no trial asked twice
    assert {r["status"] for r in rows} <= {"completed", "pruned"}
    pruned = [r for r in rows if r["status"] == "pruned"]
    assert pruned and pruned[0]["error"].startswith("pruned by halving at iteration ")
    for row in pruned:  # "val_accuracy 0.2 below 0.26, the bar of the best third of ..."
        words = row["error"].split(": ", 1)[1].split()
        value, bar = float(words[1]), float(words[3].rstrip(","))
        assert value < bar and "the best third of the" in row["error"], row["error"]
    result = json.loads((folder / pruned[0]["run_dir"] / "result.json").read_text())
    assert result["status"] == "pruned" and result["iterations"] < 20
    assert (folder / pruned[0]["run_dir"] / "params.npz").is_file()
    trials = _study_trials(folder)
    assert len(trials) == 6 and [t.number for t in trials] == list(range(6))
    assert sorted(t.user_attrs["dlcli_index"] for t in trials) == [1, 2, 3, 4, 5, 6]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    frozen = json.loads((folder / "sweep.json").read_text())
    assert [v["index"] for v in frozen["variants"]] == [1, 2, 3, 4, 5, 6]
    assert "pruned" in res.output and "0 pruned" not in res.output
    # Coarse to fine on it: a new search around the best, its sweep file kept to run again.
    res = _run("--refine", str(folder), "--top", "2", "--trials", "2", "-q")
    assert res.exit_code == 0, res.output
    assert "refining " in res.output and "the best 2 of" in res.output
    (fine,) = _folders(out, "demo-fine")
    spec = yaml.safe_load((fine / "search.yaml").read_text())
    assert spec["search"]["sampler"] == "tpe" and spec["search"]["trials"] == 2
    assert _run(str(fine / "search.yaml"), "--out", str(tmp_path / "again"),
                "-q").exit_code == 0


def test_an_interrupted_random_search_resumes_and_refines(tmp_path, monkeypatch, quick):
    path, out = _file(tmp_path, pruner="median"), tmp_path / "runs"
    fixed = _interrupt_on(monkeypatch, 2)
    assert _run(str(path), "--out", str(out), "-q").exit_code == 130
    (folder,) = _folders(out)
    before = {r["index"]: (folder / r["run_dir"] / "result.json").stat().st_mtime_ns
              for r in _summary(folder)["rows"] if r["status"] == "completed"}
    fixed()
    assert _run("--resume", str(folder), "-q").exit_code == 0
    rows = _summary(folder)["rows"]
    assert [r["index"] for r in rows] == [1, 2, 3, 4]
    assert all((folder / rows[i - 1]["run_dir"] / "result.json").stat().st_mtime_ns == t
               for i, t in before.items())  # what had finished did not run again
    assert len(_study_trials(folder)) == 4
    res = _run("--refine", str(folder), "--top", "2", "--out", str(tmp_path / "fine"), "-q")
    assert res.exit_code == 0, res.output
    (fine,) = _folders(tmp_path / "fine", "demo-fine")
    spec = yaml.safe_load((fine / "search.yaml").read_text())
    lrs = sorted(r["strategy.lr"] for r in rows)
    low, high = spec["search"]["params"]["strategy.lr"]["loguniform"]
    assert low < high and spec["search"]["trials"] == 4 and low >= lrs[0] / 10


def test_a_pruned_tpe_search_with_two_jobs_asks_each_trial_once(tmp_path, quick):
    path, out = _file(tmp_path, iterations=20, sampler="tpe", pruner="median"), tmp_path / "r"
    res = _run(str(path), "--out", str(out), "--jobs", "2", "-q")
    assert res.exit_code == 0, res.output
    (folder,) = _folders(out)
    trials = _study_trials(folder)
    assert sorted(t.user_attrs["dlcli_index"] for t in trials) == [1, 2, 3, 4]
    assert [r["index"] for r in _summary(folder)["rows"]] == [1, 2, 3, 4]


def test_a_tpe_trial_whose_keys_disagree_is_told_failed_and_the_search_goes_on(tmp_path,
                                                                               quick):
    # Each bound is valid alone; strategy.eval_batch > data.num_train only together.
    path = _file(tmp_path, iterations=5, trials=6, sampler="tpe", seed=3, params={
        "strategy.eval_batch": {"int": [1, 200]}, "data.num_train": {"int": [60, 200]}})
    res = _run(str(path), "--out", str(tmp_path / "r"), "-q")
    (folder,) = _folders(tmp_path / "r")
    summary, trials = _summary(folder), _study_trials(folder)
    said = " ".join(res.output.split())  # the notes, unwrapped
    skipped = said.count(" not run: ")
    assert len(trials) == 6 and skipped and "must be <= data.num_train" in said, said
    assert sum(t.state.name == "FAIL" for t in trials) == skipped
    assert len(summary["rows"]) + skipped == 6 and res.exit_code == 0, said


@pytest.mark.parametrize(("args", "expected"), [
    (["--storage", "{tmp}/no/such/dir/s.journal"], "--storage {tmp}/no/such/dir/s.journal: "
                                                   "cannot open it"),
    (["--storage", "nosuchdb://x"], "--storage nosuchdb://x: cannot open it"),
    (["--top", "3"], "--top goes with --refine DIR"),
    (["--refine", "{tmp}"], "give a sweep or config FILE, --resume DIR or --refine DIR"),
])
def test_bad_storage_and_options_are_one_line_and_nothing_runs(tmp_path, args, expected):
    path = _file(tmp_path, sampler="tpe")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = _run(str(path), "--out", str(tmp_path / "runs"), *args)
    assert res.exit_code == 2 and expected.replace("{tmp}", str(tmp_path)) in res.output
    assert len(res.output.strip().splitlines()) <= 2  # the "searching" line, the error
    assert not (tmp_path / "runs").exists()


def test_refine_needs_a_finished_search(tmp_path):
    res = _run("--refine", str(tmp_path))
    assert res.exit_code == 2 and "--refine " in res.output and "no sweep.json" in res.output
