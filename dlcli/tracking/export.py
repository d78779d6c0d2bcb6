"""Logging run folders to MLflow (the ``mlflow`` extra), where its users already look.

One dlcli run becomes one MLflow run in the experiment named like its config:

- params: the resolved config flattened to dotted keys (``strategy.lr``);
- metrics: ``loss`` per iteration (at most 10,000 points, evenly sampled), the training and
  validation metric per evaluation as ``eval/train_accuracy``, ``eval/val_accuracy`` with the
  iteration as their step, and result.json's final metrics under their own names
  (``val_accuracy``, ``test_accuracy``, ``final_loss``, ..., the kept weights') at the last step;
- tags: ``dlcli.status``, ``dlcli.run_id``, ``dlcli.seed``, ``dlcli.tags`` (comma-separated),
  each dlcli tag as a tag of its own (value ``true``), and the note (``mlflow.note.content``,
  MLflow's run description);
- artifacts: the run folder's files.

A comparison becomes a parent run (its summaries and plots) with one nested run per variant.
mlflow is imported in the functions that need it. The HTTP client's retries are bounded (it
otherwise retries for minutes) and an ``http(s)://`` server is probed with a short timeout
first: the ``try_*`` functions, used at the end of a training, never raise, they warn.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlcli.errors import DlcliError, EnvironmentFailure, UsageError
from dlcli.events import Callback, Outcome
from dlcli.tracking import records

EXTRA = "pip install 'dlcli[mlflow]'"
PROBE_S = 3.0
# Unless the user set them: one retry, 20 s per request (MLflow's defaults: 7 and 120 s, with
# backoff, minutes before a dead server is given up on); a local folder store allowed (the user
# named one); no "View run at" lines on stdout.
BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
          "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_ALLOW_FILE_STORE": "true",
          "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # our stdout is for our results


class TrackingError(EnvironmentFailure):
    """The tracking store refused or could not be reached (exit 3)."""


def require() -> Any:
    """The mlflow module, or one line naming the extra (exit 2)."""
    try:
        import mlflow
    except ImportError:
        raise UsageError(f"--mlflow needs MLflow: {EXTRA}") from None
    return mlflow


def export_run(run_dir: str | Path, uri: str, *, experiment: str | None = None,
               parent_run_id: str | None = None, tags: Mapping[str, str] | None = None) -> str:
    """Log one run folder to the tracking store ``uri``; the new MLflow run's id.
    ``experiment`` defaults to the config's name."""
    from dlcli.runs import read_run

    info = read_run(Path(run_dir))
    with session(uri) as client:
        exp = records.experiment_id(client, experiment or records.experiment_name(info))
        return records.log_run(client, exp, info, parent_run_id, tags or {})


def export_compare(compare_dir: str | Path, uri: str) -> str:
    """Log a comparison: a parent run named after its folder (its summaries and plots) in the
    experiment named like the comparison, one nested run per variant; the parent's id."""
    from dlcli.runs import read_run

    info = read_run(Path(compare_dir))
    if info.kind != "compare":
        raise UsageError(f"{compare_dir}: not a compare folder (no sweep.json)")
    sweep, summary = info.sweep or {}, info.summary or {}
    with session(uri) as client:
        exp = records.experiment_id(client, records.experiment_name(info))
        chosen: dict[str, Any] = summary.get("chosen") or {}
        parent = client.create_run(exp, run_name=info.path.name, start_time=records.ms(
            None, info.path), tags={"dlcli.run_id": info.path.name, "dlcli.kind": "compare",
                                    "dlcli.chosen": str(chosen.get("label", "")),
                                    "dlcli.ended_at": records.ended_at(info)})
        pid = parent.info.run_id
        try:
            labels = {v.get("folder"): v.get("label") for v in sweep.get("variants") or []
                      if isinstance(v, dict)}
            for child in info.children:
                records.log_run(client, exp, child, pid, {"dlcli.variant": str(labels.get(
                    child.path.name, child.path.name))})
            records.log_compare_facts(client, pid, info, chosen)
        except Exception:
            client.set_terminated(pid, "FAILED")
            raise
        done = all((c.result or {}).get("status") == "completed" for c in info.children)
        client.set_terminated(pid, "FINISHED" if done else "FAILED")
    return str(pid)


def export_folder(folder: str | Path, uri: str) -> tuple[str, bool]:
    """``dlcli runs export``: a run or compare folder, unless it is logged already (an MLflow
    run with its ``dlcli.run_id`` and ``dlcli.ended_at``): (MLflow run id, newly logged)."""
    from dlcli.runs import read_run

    info = read_run(Path(folder))
    with session(uri) as client:
        exp = records.experiment_id(client, records.experiment_name(info))
        found = records.logged_run(client, exp, info)
    if found is not None:
        return found, False
    logged = export_compare(folder, uri) if info.kind == "compare" else export_run(folder, uri)
    return logged, True


# --------------------------------------------------------------------------- the connection


@contextmanager
def session(uri: str) -> Iterator[Any]:
    """An MlflowClient for ``uri`` with bounded HTTP retries and MLflow's own log lines and
    warnings kept off the terminal; a server that does not answer, or any refusal of the store,
    is one TrackingError line."""
    require()
    probe(uri)
    saved = {k: os.environ.get(k) for k in BOUNDS}
    os.environ.update({k: v for k, v in BOUNDS.items() if not saved[k]})  # empty is unset
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.tracking import MlflowClient

            try:
                yield MlflowClient(tracking_uri=uri)
            except DlcliError:
                raise
            except Exception as exc:  # MLflow's and its HTTP client's: one line, not a trace
                raise TrackingError(f"MLflow at {uri}: {_one_line(exc)}") from None
    finally:
        logger.setLevel(level)
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def probe(uri: str, timeout: float = PROBE_S) -> None:
    """For an ``http(s)://`` tracking server: one request with a short timeout, so that a
    server that is down costs seconds, not MLflow's minutes of retries. Any HTTP answer counts
    (a 404 or 401 still means someone is there)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()  # noqa: S310
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"MLflow at {uri}: cannot reach the tracking server "
                            f"({_one_line(reason)})") from None


def _one_line(exc: Any) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------- after a run


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def try_export_run(run_dir: Path, uri: str) -> str | None:
    """:func:`export_run`, with any failure a warning line: a training never fails for it."""
    try:
        return export_run(run_dir, uri)
    except Exception as exc:  # the run is complete on disk whatever MLflow says
        _not_logged(Path(run_dir), uri, exc)
        return None


def try_export_compare(compare_dir: Path, uri: str) -> str | None:
    """:func:`export_compare`, with any failure a warning line (for ``dlcli compare``)."""
    try:
        return export_compare(compare_dir, uri)
    except Exception as exc:
        _not_logged(Path(compare_dir), uri, exc)
        return None


def _not_logged(folder: Path, uri: str, exc: BaseException) -> None:
    """One line: what was not logged, why, and the command that logs it later."""
    why = str(exc) if isinstance(exc, (TrackingError, UsageError)) else \
        f"MLflow at {uri}: {type(exc).__name__}: {_one_line(exc)}"
    warn(f"{folder} not logged to MLflow ({why}); its folder is complete: log it later with "
         f"dlcli runs export --mlflow {shlex.quote(uri)} {shlex.quote(str(folder))}")


class MlflowExport(Callback):
    """Logs the run folder to MLflow when the run ends: wired after RunFolder (result.json
    written) and LossPlot (loss.png drawn). A store that is missing, refuses or cannot be
    reached is one warning line on stderr; the run's status and exit code do not change."""

    def __init__(self, path: Path, uri: str) -> None:
        self.path = Path(path)
        self.uri = uri
        self.mlflow_run_id: str | None = None

    def on_end(self, outcome: Outcome) -> None:
        self.mlflow_run_id = try_export_run(self.path, self.uri)
