"""A search whose trials go through an Optuna study: asked one at a time (``sampler: tpe``) or
drawn up front and only pruned (``sampler: random`` with a pruner), run by the comparison's
executor, and told to the study as they end.

This process alone asks and tells, so it alone keeps the trial budget, the trial -> run folder
map and the compare folder's files; the workers (joblib, Dask) only report each evaluation's
validation metric to their trial and ask the pruner, through the same storage. Several
machines share one study by each running ``dlcli compare FILE --storage URL``; a machine asks
while the study has fewer than ``trials`` trials (as Optuna's MaxTrialsCallback does, two
machines asking at once may overshoot by one).

On ``--resume``, the trials of this folder still marked running (the process was killed, or
Ctrl-C) are finished, never asked again: told from their run folder if the run had ended,
continued from its checkpoint if it has one, else run again from the start into the same trial.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from dlcli.errors import DlcliError
from dlcli.runs import read_json, write_json
from dlcli.sweeps import reuse
from dlcli.sweeps import study as st
from dlcli.sweeps.compare import Rows, clear, resumable, survive, task
from dlcli.sweeps.executors import Runner, Task
from dlcli.sweeps.plan import Plan, Variant, config_hash
from dlcli.sweeps.search_check import probe_config
from dlcli.sweeps.summary import make_row
from dlcli.sweeps.variants import make_variant, shower


def run_study(plan: Plan, folder: Path, runner: Runner, done: Mapping[int, dict[str, Any]],
              rows: Rows, command: str) -> None:
    """Run the search's trials not in ``done`` (rows of ended trials), telling each to its
    study; rows go to ``rows`` as trials end."""
    driver = Driver(plan, folder, command)
    redo = driver.reconcile(done)
    if driver.drain(rows):
        return
    with closing(runner(driver.tasks(redo))) as outcomes:
        for index, result in survive(outcomes, rows.summary):
            if driver.drain(rows):
                return
            row = make_row(driver.variants[index], result)
            driver.tell(index, row)
            if result.get("search_note"):
                rows.summary.notes.append(f"{row['label']}: {result['search_note']}")
            if rows.add(row):
                return
    if not driver.drain(rows):
        driver.settle_total(rows)


class Driver:
    """One study per variant of the plan (the same search for each), named after the plan and
    a hash of what it searches, so that the same file finds the same study in a shared
    storage (``trials`` left out of the hash: raising it continues the study)."""

    def __init__(self, plan: Plan, folder: Path, command: str) -> None:
        assert plan.search is not None and plan.recipe is not None  # a study needs a search
        self.plan, self.folder, self.command = plan, folder, command
        self.search, self.recipe = plan.search, plan.recipe
        self.url = st.storage_url(self.search, folder)
        self.specs: list[dict[str, Any] | None] = list(self.recipe.get("variants") or [None])
        self.seed = (self.recipe.get("seeds") or [None])[0]
        self.variants = {v.index: v for v in plan.variants}
        self.trial_of: dict[int, tuple[Any, int, int]] = {}  # index -> (study, id, number)
        self.lock = threading.RLock()  # joblib asks for tasks from a thread of its own
        self.ready: list[dict[str, Any]] = []  # rows made without running (reused runs)
        self.done: set[int] = set()  # variants that ended before (resume)
        self.found: dict[str, Path] | None = None  # completed runs under --out, by hash
        self.skipped: list[str] = []  # trials whose drawn config was invalid: told failed
        self.width = max(2, len(str(plan.total)))
        self.studies = [self._study(spec) for spec in self.specs]

    def _study(self, spec: Mapping[str, Any] | None) -> dict[str, Any]:
        cfg = probe_config(replace(self.plan, variants=[]), spec)
        metric, way, mode = st.direction(cfg)
        what = {**self.search.to_json(), "trials": None, "storage": None}
        name = "-".join([self.plan.name, *([spec["name"]] if spec else []),
                         config_hash({"search": what, "base": self.recipe["base"],
                                      "spec": spec})[:8]])
        pruner = st.pruner_spec(self.search, cfg)
        study = st.load_study(self.url, name, pruner, create=self.search, direction_=way)
        st.reseed(study, self.search, self.folder.name if self.search.storage else "")
        return {"study": study, "spec": spec, "metric": metric, "mode": mode, "pruner": pruner,
                "dists": st.distributions(self.search) if self.plan.adaptive else {}}

    # ------------------------------------------------------------------ resuming

    def reconcile(self, done: Mapping[int, dict[str, Any]]) -> list[Task]:
        """This folder's trials still marked running: told from their run when it ended, else
        the tasks that finish them (from the checkpoint when there is one)."""
        redo = []
        self.done = set(done)
        for s in self.studies:
            running = s["study"].get_trials(deepcopy=False, states=(_state("RUNNING"),))
            for t in running:
                if t.user_attrs.get(st.OWNER) != self.folder.name:
                    continue
                index = int(t.user_attrs[st.INDEX])
                v = self.variants.get(index) or self._variant(s, index, t.params)
                self.trial_of[index] = (s, t._trial_id, t.number)  # noqa: SLF001 - its id
                if index in done:
                    self.tell(index, done[index])
                    continue
                again = resumable(self.folder / v.folder, v)
                if not again:
                    clear(self.folder / v.folder)
                redo.append(self._task(v, again))
        return redo

    # ------------------------------------------------------------------ asking

    def tasks(self, redo: list[Task]) -> Iterator[Task]:
        yield from redo
        for s in self.studies:
            while True:
                with self.lock:
                    item = self._next(s)
                if item is None:
                    break
                if item:  # an empty task: the trial reused a run, nothing to send
                    yield item

    def _next(self, s: dict[str, Any]) -> Task | None:
        study = s["study"]
        if self.plan.adaptive:
            if len(study.get_trials(deepcopy=False)) >= self.search.trials:
                return None
            trial = study.ask(s["dists"])
            try:
                v = self._variant(s, self._next_index(), trial.params)
            except DlcliError as exc:  # bounds were checked; keys that must agree may not
                study.tell(trial, state=_state("FAIL"))
                self.skipped.append(f"trial {trial.number} not run: {exc}")
                return {}
        else:
            waiting = [v for v in self.plan.variants if v.index not in self.trial_of
                       and v.index not in self.done and self._of(v, s)]
            if not waiting:
                return None
            v, trial = waiting[0], study.ask()
        for key, value in ((st.OWNER, self.folder.name), (st.INDEX, v.index),
                           (st.RUN, f"{self.folder.name}/{v.folder}")):
            trial.set_user_attr(key, value)
        self.trial_of[v.index] = (s, trial._trial_id, trial.number)  # noqa: SLF001
        if self.plan.reuse:
            if self.found is None:
                self.found = reuse.completed_runs(self.folder.parent, self.folder)
            if v.hash in self.found:
                reuse.link(self.folder, v, self.found[v.hash])
                row = reuse.reused_row(self.folder, v, self.found[v.hash])
                self.tell(v.index, row)  # now: the sampler's next ask knows it
                self.ready.append(row)
                return {}
        clear(self.folder / v.folder)
        return self._task(v, False)

    def _of(self, v: Variant, s: dict[str, Any]) -> bool:
        return s["spec"] is None or v.name == s["spec"]["name"]

    def _next_index(self) -> int:
        return max(self.variants, default=0) + 1

    def _variant(self, s: dict[str, Any], index: int, params: Mapping[str, Any]) -> Variant:
        """A trial as a variant, added to the plan and to sweep.json (the record of what ran)."""
        point = st.decode(self.search, params)
        v = make_variant(index, self.recipe["base"], s["spec"], point, self.seed,
                         self.plan.source, self.width, shower(self.search))
        self.variants[index] = v
        self.plan.variants.append(v)
        path = self.folder / "sweep.json"
        frozen = read_json(path)
        frozen["variants"] = [asdict(x) for x in sorted(self.plan.variants,
                                                        key=lambda x: x.index)]
        write_json(path, frozen)
        return v

    def _task(self, v: Variant, again: bool) -> Task:
        out = task(self.folder, v, self.command, again)
        s, trial_id, _ = self.trial_of[v.index]
        if s["pruner"] is not None:
            out["study"] = {"storage": self.url, "name": s["study"].study_name,
                            "trial": trial_id, "pruner": s["pruner"], "mode": s["mode"],
                            "metric": s["metric"]}
        return out

    # ------------------------------------------------------------------ telling

    def tell(self, index: int, row: Mapping[str, Any]) -> None:
        """Completed: its validation metric; pruned: pruned; failed or diverged: failed;
        interrupted: left running, for ``--resume`` to finish."""
        if index not in self.trial_of or row["status"] == "interrupted":
            return
        s, _, number = self.trial_of[index]
        value = (row.get("metrics") or {}).get(s["metric"])
        with self.lock:
            try:
                if row["status"] == "completed" and isinstance(value, (int, float)):
                    s["study"].tell(number, float(value))
                elif row["status"] == "pruned":
                    s["study"].tell(number, state=_state("PRUNED"))
                else:
                    s["study"].tell(number, state=_state("FAIL"))
            except (RuntimeError, ValueError, DlcliError):
                pass  # told already (a resumed folder's trial ended twice): keep the first

    def drain(self, rows: Rows) -> bool:
        """Rows of trials that reused a run, into the summaries; True to stop."""
        while self.ready:
            if rows.add(self.ready.pop(0)):
                return True
        return False

    def settle_total(self, rows: Rows) -> None:
        """With a shared storage, other machines ran some of the trials: the summary counts
        the ones that ran here (and not the trials whose drawn config was invalid)."""
        summary = rows.summary
        summary.notes += self.skipped
        summary.total -= len(self.skipped)
        if self.search.storage and self.plan.adaptive and len(summary.rows) < summary.total:
            summary.notes.append(f"{summary.total - len(summary.rows)} of the study's trials "
                                 f"ran elsewhere (--storage {self.search.storage})")
            summary.total = len(summary.rows)


def _state(name: str) -> Any:
    return getattr(st.optuna().trial.TrialState, name)
