"""Running a suite under Ray Tune: every trial one Tune trial, each finished trial written to the store once.

The suite decides the trials (so a resumed suite sees exactly the same ones); Ray Tune schedules and runs
them (locally with N workers, or on a cluster by address; fractional GPUs per trial), retries failures that
retrying can help (FailureConfig), and a driver-side callback writes each trial to the store the moment it
ends. A suite whose target is ``baseline_max`` runs in two phases: the baselines first, then, once every
baseline seed of an experiment has a result, the target is resolved once (scoring.baseline_max), written
into the baselines' stored rows and W&B runs, and given to the rest of the experiment's trials.

Nothing fails silently: causes that would fail every trial are found before Ray starts (preflight), Ray's
own console output goes to RESULTS/ray.log, and the console shows one live display.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

from ray.tune import Callback
from ray.tune.search import Searcher
from ray.tune.stopper import Stopper

from . import scoring
from .checkpoint import CHECKPOINT_EVERY, Checkpoint, TrialCut, checkpoint_path, checkpointed
from .errors import IntrobenchError
from .selection import select, select_searches, select_seeds, select_variants
from .store import ResultsStore, driver_id, reusable, unfinished
from .suites import Suite, Trial


@dataclass(frozen=True)
class SweepOptions:
    results: str = "results"
    workers: int = 2
    gpus_per_trial: float = 0.0
    cpus_per_trial: int = 1  # a trial's threads and, for a streamed dataset, its DataLoader workers
    address: str | None = None
    resume: bool = False
    wandb: str = "auto"
    retries: int = 1
    progress: bool = True
    plugins: tuple[str, ...] = ()  # imported in every trial too, so plugin tasks and forecasters run on workers
    data_dir: str | None = None
    device: str = "auto"  # auto: cuda for trials given a GPU share, else cpu
    storage: str | None = None  # Ray Tune's storage_path: a folder or a URI (s3://...); default RESULTS/ray
    ship_plugins: bool = True  # file plugins travel with the Ray job (False: a Ray someone else started)
    tasks: tuple[str, ...] = ()  # run only these tasks' trials now (a later run, or --resume, does the rest)
    only: tuple[str, ...] = ()  # and only these variants' (names or globs), with their experiments' baselines
    seeds: tuple[int, ...] = ()  # and only these seeds'
    bank: str | None = None  # every trial records its weight trajectory into this trajectory bank folder
    reuse: tuple[str, ...] = ()  # results folders whose trials of the same key are copied in, not run again
    time_budget: float | None = None  # seconds: start no trial that would not end by then (TimeBudget)
    checkpoint_every: float = CHECKPOINT_EVERY  # seconds between a grid trial's checkpoints (0: none)
    redo: bool = False  # run the selected stored trials again, their old rows kept in the store's `replaced` table


def format_error(exc: BaseException) -> str:
    """A trial's whole error: "Type: message" first (what a report shows), then the traceback."""
    return f"{type(exc).__name__}: {exc}\n\n{''.join(traceback.format_exception(exc))}"


def trial_fn(config: dict) -> None:
    """Runs inside a Ray worker: one training run that reports every evaluation to Tune and to its W&B run as
    it happens."""
    import ray
    import torch
    from ray import tune

    from .config import RunConfig
    from .plugins import load_plugins
    from .run import resolved_config, run
    from .search import sample_summary
    from .search import score as search_score
    from .tracking import TrialRun, pack

    from .environment import available_cpus

    # a reused worker (tune_config): the last trial's cycles go before this one's model is built, not when the
    # collector next happens to run
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    torch.set_num_threads(available_cpus())  # the CPUs Ray gave this trial (--cpus-per-trial), no more
    case = config["case"]
    started = time.time()
    trial = trial_of(config, tune.get_context().get_trial_id())
    # On another node than the driver's, the run is written to this node's disk and shipped back at the end.
    away = case.get("driver_node") not in (None, ray.get_runtime_context().get_node_id())
    local = tempfile.mkdtemp(prefix="introbench-wandb-") if away and case["wandb_mode"] != "disabled" else None
    live = TrialRun(trial, trial["run"], case["wandb_mode"], _attempt(), folder=local)  # first: the trial's clock
    try:
        load_plugins(case["plugins"])
        run_config = RunConfig.from_dict(trial["run"])
        resolved = resolved_config(run_config)
        # A baseline_max baseline's target is known only once every baseline seed is done (the driver then
        # writes it into this run): until then the run names no target, not the task's default one.
        pending = target_pending(trial)
        live.configure({**resolved, "target": None} if pending else resolved)

        seen = []
        objective = case["search"]["objective"] if "search" in case else None

        def on_eval(point):
            live.evaluation(point)
            seen.append(point)
            report = {"step": point["step"], "accuracy": point["accuracy"], "phase": point["phase"],
                      "started": started,  # a sample the scheduler stops still says how long it ran
                      "restored": bool(point.get("restored"))}  # replayed from a checkpoint or a fork
            if objective:  # what a searcher and a scheduler act on, as it stands so far
                report["score"] = search_score(seen, objective=objective, target=resolved["target"],
                                               eval_every=resolved["eval_every"], steps=resolved["steps"])
            tune.report(report)

        # a grid trial cut short (a killed command, a lost node) resumes from its checkpoint on its next attempt
        saves = case.get("checkpoint_every") and "search" not in case
        result = run(run_config, progress=False, on_eval=on_eval, on_jump=live.jump,
                     checkpoint=checkpoint_path(case["results"], trial["key"]) if saves else None,
                     checkpoint_every=case.get("checkpoint_every") or CHECKPOINT_EVERY,
                     deadline=case.get("deadline") if saves else None, stop=case.get("stop") if saves else None,
                     # a baseline writes forks for the jumped trials of its seed; they start from them (on the
                     # driver's node: the one whose disk the suite run cleans up)
                     forks=case["results"] if saves and not away else None,
                     fork_points=dict(case.get("fork_points") or []))
    except TrialCut as cut:  # the time budget's end, or an interrupt: saved, and not a result
        live.finish(summary={"status": "cut", "stopped_at": cut.step})
        tune.report({"cut": cut.step, "started": started, "ended": time.time()})
        return
    except Exception as exc:
        error = format_error(exc)
        live.finish(error=error)
        tune.report({"error": error, "started": started})
        if isinstance(exc, IntrobenchError):  # bad input or data: the same on every attempt, so not retried
            return
        raise
    payload = {"summary": result.summary, "curve": result.curve, "events": result.events}
    final = {}
    if objective:
        final["score"] = search_score(result.curve, objective=objective, target=resolved["target"],
                                      eval_every=resolved["eval_every"], steps=resolved["steps"])
        payload["summary"] = sample_summary(result.summary, trial["sampled"], final["score"], objective)
    wandb_dir = live.finish(summary={**result.summary, "target": None, "steps_to_target": None,
                                     "stopped_at": None} if pending else result.summary)
    if local and wandb_dir:
        final["wandb_files"] = pack(wandb_dir)
        shutil.rmtree(local, ignore_errors=True)
    tune.report({"payload": json.dumps(payload), "node": ray.get_runtime_context().get_node_id(),
                 "wandb_dir": wandb_dir or "", "started": started, "ended": time.time(),
                 "status": result.summary["status"], **final,
                 # a scheduler checks its metric in every result, this last one too
                 "step": result.curve[-1]["step"], "accuracy": result.curve[-1]["accuracy"], "phase": "final"})


def _attempt() -> int:
    """Which attempt of this trial this is (1, then 2, ... on Tune's retries): counted in the trial's folder."""
    from ray import tune

    try:
        marker = Path(tune.get_context().get_trial_dir()) / "attempts"
    except Exception:  # noqa: BLE001 - outside a Tune trial
        return 1
    attempt = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(attempt))
    return attempt


def trial_of(tune_config: dict, trial_id: str) -> dict:
    """The trial a Tune trial runs: a grid trial as the suite gave it, or a search's sample."""
    case = tune_config["case"]
    if "search" not in case:
        return effective_trial(case)
    from .search import sampled_of, search_trial

    return search_trial(case, sampled_of(tune_config), trial_id)


def effective_trial(case: dict) -> dict:
    """The trial as it really runs: its resolved target and data folder filled in, on the GPU if given one."""
    trial = case["trial"]
    run_cfg = dict(trial["run"])
    if case.get("target") is not None:
        run_cfg["target"] = case["target"]
    if case.get("data_dir"):
        run_cfg["data_dir"] = case["data_dir"]
    if case.get("bank"):
        run_cfg["bank"] = case["bank"]
    device = case.get("device", "auto")
    run_cfg["device"] = ("cuda" if case.get("gpus", 0) > 0 else "cpu") if device == "auto" else device
    return {**trial, "run": run_cfg}


def _store_row(trial: dict, *, status: str, payload: dict | None, error: str | None, node: str | None,
               wandb_dir: str | None, started: float | None, ended: float | None = None) -> dict:
    run_cfg = trial["run"]
    now = ended or time.time()  # the worker's own clock when it says: the trial, not the report's journey
    return {"suite": trial["suite"], "suite_path": trial["suite_path"], "key": trial["key"], "label": trial["label"],
            "experiment": trial["experiment"], "task": run_cfg["task"], "forecaster": run_cfg["forecaster"],
            "seed": run_cfg["seed"], "status": status, "error": error, "config": run_cfg,
            "summary": payload["summary"] if payload else None, "curve": payload["curve"] if payload else None,
            "events": payload["events"] if payload else None, "node": node, "wandb_dir": wandb_dir,
            "started": started, "finished": now, "seconds": _took(started, now, payload)}


def target_pending(trial: dict) -> bool:
    """A baseline_max baseline before every baseline seed is done: its run names the task's default target,
    which is not the experiment's."""
    return trial.get("target_mode") == "baseline_max" and trial["run"].get("target") is None


def outcome_line(status: str, payload: dict | None, error: str | None, pending: bool = False) -> str:
    """How a trial ended, in one line for the console or a run's log: a long unattended run is read there.
    ``pending``: its target is the baselines' max, not known yet (target_pending)."""
    if status == "failed":
        return f"failed: {scoring.first_line(error) or 'no error recorded'}"
    summary = (payload or {}).get("summary") or {}
    reached, top = summary.get("steps_to_target"), summary.get("max_accuracy")
    parts = [status]
    if pending:
        parts.append("target: the baselines' max, once every seed is done")
    elif summary.get("target") is not None:
        parts.append(f"target reached at step {reached}" if reached is not None else "target never reached")
    if top is not None:
        parts.append(f"max accuracy {top:.2%}")
    return ", ".join(parts)


def _took(started: float | None, ended: float | None, payload: dict | None) -> float | None:
    """A trial's time: this attempt's, and, for one resumed from its checkpoint, the time its steps before the
    checkpoint took (so a resumed trial counts as a whole one in `suite status` and the time budget)."""
    if not (started and ended):
        return None
    before = (payload or {}).get("summary", {}).get("seconds_before_resume") or 0.0
    return ended - started + before


class LiveDisplay:
    """One live view of a suite: trials done/running/failed, each running trial's step and accuracy, an ETA."""

    def __init__(self, total: int, skipped: int, budgets: dict[str, int], stream, enabled: bool):
        self.total, self.skipped, self.budgets, self.stream = total, skipped, budgets, stream
        self.done = self.failed = 0
        self.running: dict[str, dict] = {}
        self.aside_runs: dict[str, dict] = {}  # no trial's (a baseline again for its forks): not in the ETA
        self.finished_steps = 0  # the steps the ended trials trained in this run
        self.restored_steps = 0  # the steps the ended trials did not train here (resumed or forked past them)
        self.start = time.time()
        self.live = None
        if enabled:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(file=stream), refresh_per_second=2, transient=False)
            self.live.start()

    def say(self, line: str) -> None:
        """A line for the user, on the real console (stderr is Ray's log while a phase runs)."""
        if self.live:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)  # a log is grepped by line
        else:
            print(line, file=self.stream, flush=True)

    def started(self, trial_id: str, key: str, label: str) -> None:
        # step: None until its first report; base: the step it resumed from (its last restored evaluation)
        self.running[trial_id] = {"label": label, "key": key, "step": None, "base": 0, "accuracy": None}
        self._refresh()

    def progress(self, trial_id: str, step: int, accuracy: float, restored: bool = False) -> None:
        """A trial's evaluation; ``restored``: replayed from the checkpoint or the fork it resumed from."""
        if trial_id in self.running:
            self.running[trial_id].update(step=step, accuracy=accuracy)
            if restored:
                self.running[trial_id]["base"] = step
            self._refresh()

    def ended(self, trial_id: str, failed: bool, done: bool = True, outcome: str | None = None) -> None:
        """A trial's end: done (its result stored), failed, or neither (cut at the time budget, to resume).
        ``outcome``: one line kept above the live view (and in a log) saying how it ended."""
        info = self.running.pop(trial_id, None)
        if info and done:  # a search sample: as far as it got
            self.finished_steps += self.budgets.get(info["key"], info["step"] or 0) - info["base"]
            self.restored_steps += info["base"]
        self.failed += failed
        self.done += done and not failed
        if outcome:
            self.say(f"{info['label'] if info else trial_id}: {outcome} "
                     f"({self.skipped + self.done} of {self.total} stored, {self.failed} failed)")
        self._refresh()

    def aside(self, key: str, label: str, steps: int) -> None:
        """Show a run that is no trial of the suite (a stored baseline again for its forks) until aside_end."""
        self.aside_runs[key] = {"label": label, "step": 0, "steps": steps}
        self._refresh()

    def aside_step(self, key: str, step: int) -> None:
        if key in self.aside_runs:
            self.aside_runs[key]["step"] = step
            self._refresh()

    def aside_end(self, key: str) -> None:
        self.aside_runs.pop(key, None)
        self._refresh()

    def eta(self) -> str:
        # a trial resumed at 26,000 trains only the rest: the steps before count as neither done nor to do
        total = sum(self.budgets.values()) - self.restored_steps - sum(r["base"] for r in self.running.values())
        done = self.finished_steps + sum((r["step"] or 0) - r["base"] for r in self.running.values())
        if not done or total <= done:
            return "-"
        left = (time.time() - self.start) * (total - done) / done
        return time.strftime("%H:%M:%S", time.gmtime(left))

    def _render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        head = Text(f"trials: {self.skipped + self.done}/{self.total} done, {len(self.running)} running, "
                    f"{self.failed} failed; ETA {self.eta()}")
        if not self.running and not self.aside_runs:
            return head
        table = Table(show_edge=False)
        for col in ("running trial", "step", "accuracy"):
            table.add_column(col)
        for r in self.running.values():
            budget = self.budgets.get(r["key"])
            step = "starting" if r["step"] is None else str(r["step"])
            table.add_row(r["label"], f"{step}/{budget}" if budget else step,
                          "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}")
        for r in self.aside_runs.values():
            table.add_row(r["label"], f"{r['step']}/{r['steps']}", "-")
        return Group(head, table)

    def _refresh(self) -> None:
        if self.live:
            self.live.update(self._render())

    def close(self) -> None:
        if self.live:
            self.live.update(self._render())
            self.live.stop()


class TimeBudget:
    """`suite run --time-budget`: a walltime (a 10-minute device command, a cluster job's limit). A trial that
    can resume from a checkpoint starts while any time is left, and one still running at the end stops at its
    next evaluation, saved for `--resume` (``wall_deadline`` tells it when; ``cut`` names it). Any other trial (a
    streamed dataset's, or with checkpoints off) starts only if it will end: if the time left holds the median
    time this run's finished trials of its experiment took (before one has finished: while any time is left).
    The phases and searches after the budget is spent do not start. Nothing is lost: what did not start stays
    for `--resume`, and what was cut resumes where it stopped."""

    def __init__(self, seconds: float | None, clock=time.monotonic, stop_file: Path | None = None):
        self.clock = clock
        self.deadline = None if seconds is None else clock() + seconds
        self.wall_deadline = None if seconds is None else time.time() + seconds  # for the trials' own clocks
        self.took: dict[int, list[float]] = {}  # experiment -> this run's finished trials' seconds
        self.spent = False  # something was not started, or was cut, for want of time
        self.cut: dict[str, str] = {}  # key -> label of each trial stopped at the deadline
        self.started = 0  # trials and fork runs this run began: none, and a spent budget ran nothing at all
        # the running trials, each in its own process, stop at their next evaluation once this file exists
        self.stop_file = stop_file
        self.interrupted = False

    def interrupt(self) -> None:
        """Ctrl-C: the budget ends now. Nothing more starts, and the running trials save and stop at their next
        evaluation (as at a deadline), so `--resume` loses none of their steps."""
        self.interrupted = True
        self.deadline = self.clock()
        if self.stop_file is not None:
            self.stop_file.parent.mkdir(parents=True, exist_ok=True)
            self.stop_file.touch()

    @property
    def stop(self) -> str | None:
        """The stop file's path, as a trial's case carries it."""
        return str(self.stop_file) if self.stop_file else None

    @property
    def reason(self) -> str:
        return "interrupt" if self.interrupted else "time budget"

    def finished(self, experiment: int, seconds: float) -> None:
        self.took.setdefault(experiment, []).append(seconds)

    def allows(self, experiment: int | None = None, resumable: bool = False) -> bool:
        if not self.interrupted and self.stop_file is not None and self.stop_file.exists():
            self.interrupted = True  # touched from outside (the running trials stop at it): nothing new starts
            self.deadline = self.clock()
        if self.deadline is None:
            return True
        took = [] if resumable else self.took.get(experiment)  # a resumable trial may be cut: any time will do
        now = self.clock()
        fits = now < self.deadline and now + (median(took) if took else 0.0) <= self.deadline
        self.spent |= not fits
        return fits


class StoreCallback(Callback):
    """In the driver: each trial is written to the store as soon as it ends, whatever happens after."""

    def __init__(self, store: ResultsStore, display: LiveDisplay, budget: TimeBudget | None = None):
        self.store, self.display = store, display
        self.budget = budget or TimeBudget(None)
        self.seen: dict[str, list[dict]] = {}  # trial id -> its evaluations so far (a stopped sample keeps them)
        # trials that failed in a row with one and the same error: the machine, not a trial, is broken (a lost
        # working directory, a missing package), and the suite stops rather than fail every trial left
        self.streak: tuple[str | None, int] = (None, 0)
        self.abort: str | None = None
        self.trials: dict[str, dict] = {}  # trial id -> the trial it runs (a search sample's is planned once)
        self.driver = driver_id()
        self.reported: dict[str, float] = {}  # trial id -> when its progress was last written to the store

    def _trial(self, trial) -> dict:
        if trial.trial_id not in self.trials:
            self.trials[trial.trial_id] = trial_of(trial.config, trial.trial_id)
        return self.trials[trial.trial_id]

    def __getstate__(self):  # Tune pickles its callbacks with the experiment: the console is not for that
        return {}

    def on_trial_start(self, iteration, trials, trial, **info):
        t = self._trial(trial)
        self.display.started(trial.trial_id, t["key"], t["label"])
        self.budget.started += 1
        # `suite status` (another process) reads what runs now, and a second `suite run --resume` leaves it alone
        self.store.start_trial(t["suite"], t["key"], t["label"], self.display.budgets.get(t["key"]), self.driver)
        self.reported[trial.trial_id] = time.time()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "step" in result and result.get("phase") != "final":
            restored = bool(result.get("restored"))
            self.display.progress(trial.trial_id, result["step"], result["accuracy"], restored=restored)
            if time.time() - self.reported.get(trial.trial_id, 0.0) >= PROGRESS_EVERY:
                t = self._trial(trial)
                self.store.progress(t["suite"], t["key"], result["step"], result["accuracy"], trained=not restored)
                self.reported[trial.trial_id] = time.time()
            self.seen.setdefault(trial.trial_id, []).append(
                {"step": result["step"], "accuracy": result["accuracy"], "phase": result["phase"], "loss": None})

    def on_trial_complete(self, iteration, trials, trial, **info):
        res = trial.last_result or {}
        t = self._trial(trial)
        if "cut" in res:  # stopped at the time budget's end (or an interrupt): its checkpoint resumes it
            self.budget.cut[t["key"]] = t["label"]
            self.budget.spent = True
            self.store.release(t["suite"], t["key"])
            self.display.say(f"{t['label']}: stopped at step {res['cut']} ("
                             + ("interrupted" if self.budget.interrupted else "the time budget's end")
                             + "); `--resume` goes on from its checkpoint")
            self.display.ended(trial.trial_id, failed=False, done=False)
            return
        payload = json.loads(res["payload"]) if "payload" in res else None
        status = payload["summary"]["status"] if payload else "failed"
        error = None if payload else res.get("error") or "the trial ended without a result"
        wandb_dir = res.get("wandb_dir") or None
        if res.get("wandb_files"):  # written on another node: unpacked beside the store
            from .tracking import unpack

            try:
                wandb_dir = unpack(res["wandb_files"], Path(self.store.folder) / "wandb" / "wandb")
            except Exception as exc:  # noqa: BLE001 - the trial's result matters more than its W&B copy
                self.display.say(f"W&B: the run of {t['label']} could not be unpacked here ({exc}); it stays on "
                                 f"its node")
        if payload is None and t.get("role") == "search" and "error" not in res:
            payload, status, error = self._stopped(t, trial.trial_id), "stopped", None
        if payload and payload["summary"].get("checkpoint_note"):
            self.display.say(f"{t['label']}: {payload['summary']['checkpoint_note']}")
        if status == "finished" and res.get("started") and res.get("ended"):
            self.budget.finished(t.get("experiment"), _took(res["started"], res["ended"], payload))
        self._write(t, _store_row(t, status=status, payload=payload, error=error, node=res.get("node"),
                                  wandb_dir=wandb_dir, started=res.get("started"),
                                  ended=res.get("ended") or (res.get("timestamp") if status == "stopped" else None)))
        outcome = outcome_line(status, payload, error, target_pending(t))
        self.display.ended(trial.trial_id, failed=status == "failed", outcome=outcome)

    def on_trial_error(self, iteration, trials, trial, **info):
        res = trial.last_result or {}
        t = self._trial(trial)
        error = res.get("error") or _error_file_text(trial)
        self._write(t, _store_row(t, status="failed", payload=None, error=error, node=res.get("node"),
                                  wandb_dir=None, started=res.get("started")))
        self.display.ended(trial.trial_id, failed=True, outcome=outcome_line("failed", None, error))

    def _stopped(self, t: dict, trial_id: str) -> dict:
        """A sample the scheduler stopped because it was clearly behind: its curve so far, scored as it stood."""
        from .search import sample_summary, score

        run = t["run"]
        target, steps, eval_every = run["target"], run["steps"], run["eval_every"]
        curve = self.seen.get(trial_id, [])
        summary = {"status": "stopped", **scoring.score_run(curve, target=target, eval_every=eval_every, steps=steps),
                   "stopped_at": curve[-1]["step"] if curve else 0}
        value = score(curve, objective=t["objective"], target=target, eval_every=eval_every, steps=steps)
        return {"summary": sample_summary(summary, t["sampled"], value, t["objective"]), "curve": curve, "events": []}

    def _write(self, t: dict, row: dict) -> None:
        if t.get("role") == "search":
            if row["summary"] is None:  # a failed sample still used up one of the search's samples
                from .search import sample_summary

                row["summary"] = sample_summary(None, t["sampled"], None, t["objective"])
            self.store.add_expected(t["suite"], [(t["key"], t["label"], t["experiment"], "search")])
        self.store.write(row)
        self._count(row)

    def _count(self, row: dict) -> None:
        if row["status"] != "failed":
            self.streak = (None, 0)
            return
        error = scoring.first_line(row["error"])
        count = self.streak[1] + 1 if error == self.streak[0] else 1
        self.streak = (error, count)
        if count >= FAILURE_STREAK and self.abort is None:
            self.abort = (f"suite stopped: {count} trials in a row failed with the same error ({error}); "
                          f"fix its cause, then `--resume` reruns them and runs the rest")


FAILURE_STREAK = 3
PROGRESS_EVERY = 10.0  # seconds between a running trial's progress writes to the store (its evaluations come faster)


class StreakStopper(Stopper):
    """Ends the whole phase once the callback has seen a failure streak."""

    def __init__(self, callback: StoreCallback):
        self.callback = callback

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.callback.abort is not None


def _error_file_text(trial) -> str:
    """Ray's record of an error the trial could not report itself (a worker that died, say)."""
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        text = Path(path).read_text().strip()
        lines = [l for l in text.splitlines() if l.strip()]
        return (lines[-1] + "\n\n" + text) if lines else "the trial failed (empty error file)"
    return "the trial failed (Ray left no error file)"


@contextlib.contextmanager
def _console_to(log_path: Path):
    """Ray's own console output (its processes inherit these file descriptors) goes to ``log_path``; yields a
    stream on the real console for the live display."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved[1]), "w")
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        console.close()


def reuse_stored(store: ResultsStore, suite: Suite, todo: list[Trial], sources: tuple[str, ...],
                 wandb_mode: str = "disabled") -> list[Trial]:
    """Copy into ``store`` each trial of ``todo`` that a ``sources`` store holds under the same key (the same
    run config and seed: the same experiment, whichever suite ran it) and that ran to its end; the trials left
    to run. A copy keeps its curve, events, node and times, names its source in its summary (``copied_from``)
    and gets a W&B run of its own here, replayed from its curve. A trial that stops at its target is never
    copied: a baseline_max target is this suite's, and the source's curve ends at the source's."""
    from .tracking import log_copy, wandb_environment

    if not sources:
        return todo
    found = reusable(store, todo, sources)
    if found and wandb_mode != "disabled":
        print(f"reuse: writing the W&B runs of {len(found)} copied trial(s)", file=sys.stderr)
    with wandb_environment(store.folder, wandb_mode):
        for t in (t for t in todo if t.key in found):
            row, path = found[t.key]
            copy = {**row, "suite": suite.name, "suite_path": suite.path, "label": t.label,
                    "experiment": t.experiment, "summary": {**(row["summary"] or {}), "copied_from": str(path)}}
            try:
                copy["wandb_dir"] = log_copy(t.to_dict(), copy, wandb_mode)
            except Exception as exc:  # noqa: BLE001 - the copy matters more than its W&B run
                copy["wandb_dir"] = None
                print(f"reuse: W&B: the run of {t.label} could not be written ({exc}); the copy is stored without "
                      f"one", file=sys.stderr)
            store.write(copy)
    if found:
        cut = sum("truncated_from" in (row["summary"] or {}) for row, _ in found.values())
        print(f"reuse: {len(found)} trial(s) copied from {', '.join(sorted({str(p) for _, p in found.values()}))} "
              f"(the same run config and seed" + (f"; {cut} of them the first steps of a longer run, cut at their "
                                                  f"budget" if cut else "") + "), not run again", file=sys.stderr)
    return [t for t in todo if t.key not in found]


def resolve_targets(store: ResultsStore, suite: Suite, trials: list[Trial], wandb_mode: str) -> dict[int, float]:
    """For each baseline_max experiment whose every baseline seed has a result: its target, resolved once and
    written into the baselines' rows (and logged with their W&B runs). Idempotent, so a resume can call it."""
    from .tracking import log_resolution

    by_key = {r["key"]: r for r in store.rows(suite.name)}
    targets: dict[int, float] = {}
    for experiment in sorted({t.experiment for t in trials if t.target_mode == "baseline_max"}):
        bases = [by_key.get(t.key) for t in trials if t.experiment == experiment and t.config.forecaster == "none"]
        if not bases or any(r is None or r["status"] == "failed" or not r["curve"] for r in bases):
            continue
        target = scoring.baseline_max([scoring.rescore(r, None)["max_accuracy"] for r in bases])
        targets[experiment] = target
        updates = []
        # a trial copied from another store (--reuse) was scored against that suite's target: this one's now
        copies = [by_key[t.key] for t in trials if t.experiment == experiment and t.config.forecaster != "none"
                  and t.key in by_key and "copied_from" in (by_key[t.key]["summary"] or {})]
        for r in bases + copies:
            if r["config"].get("target") == target:  # resolved (and logged) by an earlier run of the suite
                continue
            config = {**r["config"], "target": target}
            summary = scoring.rescore(r, target)
            trial = next(t for t in trials if t.key == r["key"]).to_dict()
            log_resolution(r["wandb_dir"], trial, config, summary, wandb_mode)  # W&B: the same run, resumed
            updates.append({"key": r["key"], "config": config, "summary": summary})
        store.resolve(suite.name, updates)
    return targets


def run_suite(suite: Suite, opts: SweepOptions) -> dict:
    from .preflight import absolute_env_paths, check_results_folder
    from .tracking import resolve_mode, wandb_env, wandb_environment

    results = Path(opts.results).resolve()
    # from the command's start: Ray's and the data's too
    budget = TimeBudget(opts.time_budget, stop_file=results / f".interrupt-{os.getpid()}")
    check_results_folder(results)
    store = ResultsStore(results)
    trials = suite.trials()
    wanted = {t.key for t in trials} | {k for k, _, _, role in store.expected(suite.name) or [] if role != "grid"}
    stored = store.statuses(suite.name)
    if stored and not (opts.resume or opts.redo):
        raise IntrobenchError(f"{store.path} already holds {len(stored.keys() & wanted)} trial(s) of suite "
                              f"'{suite.name}': add --resume to finish only what is missing, or choose another --results")
    selected = select(trials, opts.tasks, opts.only, opts.seeds)
    if opts.reuse and opts.bank:
        raise IntrobenchError("--reuse copies trials without running them, so --bank would miss their trajectories: "
                              "give one of the two")
    if store.path.exists():
        store.forget_running()  # the marks of runs that were killed without a word
    elsewhere = store.running(suite.name)  # another live `suite run` of this store has these in hand
    checked: set = set()  # the datasets the preflight has read: a redo's, then the run's, each read once
    if opts.redo:
        stored = redo(store, suite, selected, stored, opts, set(elsewhere), checked)
    todo = unfinished(stored, selected)
    busy = [t for t in todo if t.key in elsewhere]
    todo = [t for t in todo if t.key not in elsewhere]
    mode, note = resolve_mode(opts.wandb)
    if note:
        print(note, file=sys.stderr)
    before = len(todo)
    todo = reuse_stored(store, suite, todo, opts.reuse, mode)
    copied = before - len(todo)
    rerun = sum(stored.get(t.key, ("",))[0] == "failed" for t in todo)
    stale = sorted(label for key, (_, label) in stored.items() if key not in wanted)
    if opts.resume and stored:
        print(f"resume: {len(selected) - len(todo) - len(busy)} of {len(selected)} trials stored; rerunning {rerun} "
              f"failed and {len(todo) - rerun} missing", file=sys.stderr)
    if busy:
        drivers = sorted({elsewhere[t.key]["driver"] for t in busy})
        print(f"resume: {len(busy)} trial(s) are running under another `suite run` ({', '.join(drivers)}) and are "
              f"left to it", file=sys.stderr)
    if stale:
        print(f"resume: {len(stale)} stored trial(s) are no longer in the suite and are left out of its report: "
              + "; ".join(stale[:10]) + (" ..." if len(stale) > 10 else ""), file=sys.stderr)
    data_dir = preflight(todo, opts, checked)
    store.register_suite(suite.name, suite.path, [(t.key, t.label, t.experiment) for t in trials])
    summary = {"suite": suite.name, "trials": len(trials), "selected": len(selected),
               "skipped": len(selected) - len(todo), "copied": copied, "rerun_failed": rerun, "store": str(store.path)}
    with wandb_environment(results, mode):
        resolve_targets(store, suite, trials, mode)  # a resumed suite may have finished its baselines already
    from .search import pending

    chosen = select_searches(suite.searches(), opts.tasks, opts.only, opts.seeds)
    searches = [x for x in chosen if pending(store, x)]
    if not todo and not searches:
        return {**summary, **_counts(store, suite.name, selected, searches), "time_budget_spent": budget.spent,
                "cut_at_budget": 0, "started": 0}

    env = {**wandb_env(results, mode), **absolute_env_paths(), "OMP_NUM_THREADS": "1",
           "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    for k in ("WANDB_API_KEY", "WANDB_BASE_URL"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    from .run import plan

    budgets = {t.key: plan(t.config)[0].steps for t in todo}
    for x in searches:  # a search's samples and its best one's seeds, at most
        steps = plan(x.base)[0].steps
        budgets.update({f"{x.name}#{i}": steps for i in range(x.trials)})
    from . import forks

    # Forks need checkpoints, and a banked trial records its trajectory from step 0; on a cluster only the
    # driver's node's trials use them, so no stored baseline trains again for them there.
    forking = bool(opts.checkpoint_every) and not opts.bank
    unstored = {t.key for t in unfinished(store.statuses(suite.name), trials)}  # a failed one runs again
    fork_points, fork_sources = forks.suite_plan(trials, unstored, results) if forking else ({}, {})

    reforks = Reforks(store, suite.name, trials, unstored, fork_points, fork_sources, results, opts, data_dir, budget,
                      enabled=forking and not opts.address)
    reforks.borrow(todo)
    with _console_to(results / "ray.log") as console:
        # counted over what this run was asked for (--tasks, --only, --seeds), not the whole suite: 'k of n stored'
        total = len(selected) + sum(x.trials for x in chosen)
        display = LiveDisplay(total, total - len(todo) - len(busy) - sum(x.trials for x in searches),
                              budgets, console, opts.progress)
        try:
            with saving_on_interrupt(budget, display):
                _run_phases(suite, todo, trials, searches, opts, mode, results, store, display, env, data_dir,
                            budget, reforks)
        finally:
            display.close()
            store.forget_running(driver_id())  # trials cut short (an interrupt, an error) run no more
            # the forks of trials now stored are spent (a cut or failed one's wait for --resume)
            forks.prune(results, fork_sources, {t.key for t in unfinished(store.statuses(suite.name), trials)})
    return {**summary, **_counts(store, suite.name, selected, searches), "time_budget_spent": budget.spent,
            "cut_at_budget": len(budget.cut), "started": budget.started, "interrupted": budget.interrupted}


def preflight(trials: list[Trial], opts: SweepOptions, checked: set | None = None) -> str | None:
    """What would fail every one of ``trials`` fails here, in one line, before anything is written or started;
    the data folder they read (absolute), if one is given. ``checked``: the datasets an earlier preflight of
    this run read (check_data's ``seen``)."""
    from .preflight import check_data, check_gpus

    data_dir = str(Path(opts.data_dir).expanduser().resolve()) if opts.data_dir else None
    if trials:
        if not opts.address:
            check_gpus(opts.gpus_per_trial, None)
        check_data((replace(t.config, data_dir=data_dir or t.config.data_dir) for t in trials), opts.progress,
                   checked)
    return data_dir


def redo(store: ResultsStore, suite: Suite, selected: list[Trial], stored: dict, opts: SweepOptions,
         busy: set[str], checked: set) -> dict:
    """`suite run --redo`: the stored trials of the selection (--only's own variants, not the baselines it brings
    along) move to the store's `replaced` table, with any checkpoint of theirs (a redo trains from step 0, or
    from its baseline's fork, on this machine); ``stored`` (the suite's statuses) without them. A trial another
    live run has in hand is left to it."""
    if not opts.tasks and not opts.only and not opts.seeds:
        raise IntrobenchError("--redo needs --tasks, --only or --seeds: which stored trials to run again (a whole "
                              "suite again is a new --results)")
    again = select_seeds(select_variants(selected, opts.only, baselines=False), opts.seeds, baselines=False)
    moving = [t for t in again if stored.get(t.key, ("failed",))[0] != "failed" and t.key not in busy]
    preflight(moving, opts, checked)  # before any row moves
    for t in moving:
        Checkpoint(checkpoint_path(opts.results, t.key), t.key).discard()
    moved = store.set_aside(suite.name, [t.key for t in moving], f"suite run --redo by {driver_id()}")
    left = sum(t.key in busy for t in again)
    print(f"redo: {moved} stored trial(s) set aside in the store's `replaced` table, to run again"
          + (f"; {left} running under another `suite run` are left to it" if left else ""), file=sys.stderr)
    gone = {t.key for t in moving}
    return {k: v for k, v in stored.items() if k not in gone}


@contextlib.contextmanager
def saving_on_interrupt(budget: TimeBudget, display: LiveDisplay):
    """The first Ctrl-C (SIGINT) ends the run as a time budget does: nothing more starts, and the running trials
    (and baselines training again for forks) save at their next evaluation and stop, so `--resume` goes on from
    there. Tune's own handler would stop them where they stand, losing their steps since their last checkpoint
    (up to --checkpoint-every); a second Ctrl-C still does that. Ray's processes never see the signal."""
    import signal
    import threading

    from .environment import scoped_env

    if threading.current_thread() is not threading.main_thread():  # only the main thread may take signals
        yield
        return

    def first(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        budget.interrupt()
        display.say("interrupt: nothing more starts, and the running trials save at their next evaluation and "
                    "stop; `--resume` goes on from there (Ctrl-C again stops them at once, losing their steps since "
                    "their last checkpoint)")

    previous = signal.signal(signal.SIGINT, first)
    try:
        with scoped_env({"TUNE_DISABLE_SIGINT_HANDLER": "1"}):
            yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if budget.stop_file is not None:
            budget.stop_file.unlink(missing_ok=True)


@contextlib.contextmanager
def tune_takes_interrupts():
    """Within saving_on_interrupt, a span where Ctrl-C goes to Tune's own handler, as it would without ours: a
    search's samples keep no checkpoints, so Tune stops them where they stand (unstored, `--resume` draws
    them again). Tune leaves its handler in place after fit(): ours comes back here."""
    import signal
    import threading

    from .environment import scoped_env

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        with scoped_env({"TUNE_DISABLE_SIGINT_HANDLER": "0"}):
            yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    """A helper process's start: a terminal's Ctrl-C reaches the whole process group, and the driver, not each
    helper, decides what it means (saving_on_interrupt)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Ray's raylet starts its trial workers at this niceness (RAY_worker_niceness); a fork's training is the same work
# and yields the CPU the same way, so that the driver's display and the machine's other work keep their share
WORKER_NICENESS = 15


def _start_fork_worker() -> None:
    """A fork-writing worker's start: a helper (_ignore_interrupts) that trains as Ray's trial workers do, niced."""
    _ignore_interrupts()
    os.nice(WORKER_NICENESS)


def write_forks(jobs: dict, opts: SweepOptions, data_dir, budget: TimeBudget, display: LiveDisplay,
                store: ResultsStore, suite: str) -> None:
    """Stored baselines train again up to their last fork point, so that the jumped trials about to run start
    there: each costs its prefix once and saves it on every jumped trial of its seed. One process per worker,
    each shown in the live display with its step (its evaluations come back through a queue), and held in the
    store as running (forks.RUNNING) so that another `suite run` of the store does not train it too; one that
    another run holds is waited for (await_forks_elsewhere)."""
    from .forks import RUNNING

    driver = driver_id()
    taken, elsewhere = {}, {}
    for key, (trial, points) in jobs.items():
        why = store.claim(suite, RUNNING + key, f"{trial.label}, again for its forks", max(points), driver)
        if why is None:
            taken[key] = (trial, points)
        else:
            elsewhere[key] = (trial, points)
            display.say(f"forks: {trial.label}: another `suite run` of this store ({why}) trains it again; this "
                        f"run waits for it, and its jumped trials start from the forks it writes")
    if taken:
        _write_own_forks(taken, opts, data_dir, budget, display, store, suite)
    await_forks_elsewhere(elsewhere, budget, display, store, suite)


def await_forks_elsewhere(elsewhere: dict, budget: TimeBudget, display: LiveDisplay, store: ResultsStore,
                          suite: str, poll: float = 2.0) -> None:
    """Wait while another `suite run` of the store trains ``elsewhere``'s baselines again for their forks (shown
    in the live display with its step): until it lets each go (written, cut, or that run gone), or this run's
    time budget ends or Ctrl-C. Training their seeds' jumped trials from step 0 instead would repeat the prefix
    that run is training, taking no less time than the wait."""
    from .forks import RUNNING

    for key, (trial, points) in elsewhere.items():
        display.aside(key, f"{trial.label}, again for its forks (another run)", max(points))
    try:
        while elsewhere and budget.allows(resumable=True):
            running = store.running(suite)
            for key in list(elsewhere):
                if RUNNING + key in running:
                    display.aside_step(key, running[RUNNING + key]["step"] or 0)
                    continue
                display.aside_end(key)
                display.say(f"forks: {elsewhere.pop(key)[0].label}: the other run let it go; its jumped trials "
                            f"start from the forks it wrote, if it wrote them")
            if elsewhere:
                time.sleep(poll)
    finally:
        for key in elsewhere:
            display.aside_end(key)


def _write_own_forks(taken: dict, opts: SweepOptions, data_dir, budget: TimeBudget, display: LiveDisplay,
                     store: ResultsStore, suite: str) -> None:
    """write_forks' part: the baselines this run claimed, one process per worker."""
    from .forks import RUNNING, write_prefix

    budget.started += len(taken)
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing.managers import SyncManager
    from queue import Empty

    most = max(max(points) for _, points in taken.values())
    display.say(f"forks: {len(taken)} stored baseline(s) train again, to step {most} at most, so that their seeds' "
                f"jumped trials start there")
    context = multiprocessing.get_context("spawn")
    try:
        manager = SyncManager(ctx=context)
        manager.start(_ignore_interrupts)
        with manager, ProcessPoolExecutor(min(opts.workers, len(taken)), mp_context=context,
                                          initializer=_start_fork_worker) as pool:
            evaluations = manager.Queue()
            futures = {}
            for key, (trial, points) in taken.items():
                case = {"trial": trial.to_dict(), "data_dir": data_dir, "device": opts.device,
                        "gpus": opts.gpus_per_trial}
                config = {**effective_trial(case)["run"], "threads": opts.cpus_per_trial}
                display.aside(key, f"{trial.label}, again for its forks", max(points))
                futures[pool.submit(write_prefix, config, str(Path(opts.results).resolve()), sorted(points.items()),
                                    budget.wall_deadline, evaluations, key, budget.stop)] = (key, trial.label)
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    while True:
                        try:
                            key, step = evaluations.get_nowait()
                        except Empty:
                            break
                        display.aside_step(key, step)
                        store.progress(suite, RUNNING + key, step, None)  # heard of: not taken for a lost run
                    for future in done:
                        key, name = futures[future]
                        display.aside_end(key)
                        store.release(suite, RUNNING + key)
                        try:
                            display.say(f"forks: {name}: {future.result()}")
                        except Exception as exc:  # noqa: BLE001 - a fork saves time, no result depends on it
                            display.say(f"forks: {name}: failed ({type(exc).__name__}: {exc}); its jumped trials "
                                        f"train from step 0")
            except KeyboardInterrupt:  # the second Ctrl-C: stop them where they stand, as Tune does its trials
                _terminate_workers(pool)
                raise
    finally:
        for key in taken:  # an interrupt: nothing holds them any more
            store.release(suite, RUNNING + key)


def _terminate_workers(pool) -> None:
    """Kill a process pool's workers at once (their tasks fail; the pool's exit no longer waits for them).
    ProcessPoolExecutor has a public way only from Python 3.14."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((pool._processes or {}).values()):
        process.terminate()


class Reforks:
    """A suite run's forks: which baselines write them (``points``), and the stored baselines that train again for
    them, no sooner than just before the jumped trials that use them: after the baselines still to run, and a
    workers' worth of seeds at a time (a run its time budget cuts has lost no more to forks it never used:
    forks stay on the machine, and the next session's machine is a new one)."""

    def __init__(self, store: ResultsStore, suite: str, trials, unstored: set[str], points: dict, sources: dict,
                 results: Path, opts: SweepOptions, data_dir, budget: TimeBudget, enabled: bool = True):
        # unstored: when the run began; a baseline this run trains writes its own forks
        self.store, self.suite, self.trials, self.unstored = store, suite, trials, unstored
        self.points, self.sources, self.results = points, sources, results
        self.opts, self.data_dir, self.budget, self.enabled = opts, data_dir, budget, enabled

    def resuming(self, part) -> set[str]:
        """The trials of ``part`` with a checkpoint of their own: they resume from it, never from a fork (the file
        is named by the trial's key, so it is this trial's)."""
        return checkpointed(self.results, {t.key for t in part})

    def missing(self, part) -> dict:
        from .forks import missing

        if not self.enabled:
            return {}
        return missing(self.trials, self.points, self.sources, {t.key for t in part}, self.results, self.unstored)

    def borrow(self, todo: list[Trial]) -> None:
        """Copy in the forks that a --reuse folder already holds for ``todo``'s stored baselines (forks.borrowable):
        those baselines need not train again."""
        from .forks import borrow, borrowable

        if not self.opts.reuse:
            return
        jobs = self.missing(todo)
        found = borrowable(jobs, self.opts.reuse)
        done = borrow(jobs, found, self.results)
        if done:
            print(f"reuse: the forks of {len(done)} stored baseline(s) copied from "
                  f"{', '.join(sorted({str(found[k].parents[2]) for k in done}))} rather than trained again: "
                  + "; ".join(jobs[k][0].label for k in done), file=sys.stderr)

    def batches(self, phase: list[Trial]) -> list[list[Trial]]:
        """The phase in its run order (seed_major), cut where the next seed's baselines would train again."""
        from .forks import batches, prefix_key

        # the baselines the whole phase waits on, once; a trial waits on the one its fork's prefix names
        waiting = {prefix_key(trial.config): key for key, (trial, _) in self.missing(phase).items()}
        resuming = self.resuming(phase)
        ordered = seed_major(phase, lead=self.opts.workers - 1, leaders=set(self.points))
        # under a time budget a checkpointed trial runs first, even with a worker idle: it may be steps from done
        first = (lambda t: t.key in resuming) if self.opts.time_budget is not None else None
        return batches(ordered, lambda t: waiting.get(self.sources[t.key].prefix)
                       if t.key in self.sources and t.key not in resuming else None, self.opts.workers, first)

    def write(self, part: list[Trial], display: LiveDisplay) -> None:
        # what another `suite run` of this store stored since this one planned its batches needs no fork: its
        # baseline would train again for nothing (and its forks may be gone, pruned by that run)
        write_forks(self.missing(unfinished(self.store.statuses(self.suite), part)), self.opts, self.data_dir,
                    self.budget, display, self.store, self.suite)


def _run_phases(suite, todo, trials, searches, opts, mode, results, store, display, env, data_dir,
                budget: TimeBudget, reforks: Reforks) -> None:
    import ray

    from .preflight import check_gpus
    from .tracking import wandb_environment

    started_ray = False
    if not ray.is_initialized():
        runtime_env = {"env_vars": env}
        modules = job_plugin_package(opts, results)
        if modules:
            runtime_env["py_modules"] = modules
        kwargs = dict(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        if opts.address:
            ray.init(address=opts.address, **kwargs)
        else:
            import torch

            from .environment import scoped_env

            gpus = torch.cuda.device_count() if opts.gpus_per_trial > 0 else 0
            # A local instance of ours needs no token (Ray's token auth otherwise leaves its workers waiting).
            # address="local": with no address Ray joins the newest cluster it finds on this machine (another
            # suite's, a test's), which then refuses num_cpus; a suite without --address always runs its own.
            with scoped_env({"RAY_AUTH_MODE": env["RAY_AUTH_MODE"]}):
                ray.init(address="local", num_cpus=opts.workers * opts.cpus_per_trial, num_gpus=gpus, **kwargs)
        started_ray = True
    else:
        opts = replace(opts, ship_plugins=False)
    try:
        check_gpus(opts.gpus_per_trial, opts.address)
        callback = StoreCallback(store, display, budget)
        first = [t for t in todo if not (t.target_mode == "baseline_max" and t.config.forecaster != "none")]
        if first:
            _fit_forked(suite.name, first, 0, {}, opts, mode, results, callback, data_dir, reforks)
        with wandb_environment(results, mode):
            targets = resolve_targets(store, suite, trials, mode)
        second = [t for t in todo if t.target_mode == "baseline_max" and t.config.forecaster != "none"
                  and t.experiment in targets]
        if second:
            _fit_forked(suite.name, second, 1, targets, opts, mode, results, callback, data_dir, reforks)
        from .search import run_search

        for search in searches:
            if not callback.budget.allows():
                break
            if search.target_mode == "fixed" or search.experiment in targets:
                run_search(search, targets.get(search.experiment, search.base.target), opts, mode, results, store,
                           callback, data_dir)
    finally:
        if started_ray:
            ray.shutdown()


JOB_PLUGINS = "introbench_job_plugins"


def driver_node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def worker_plugins(opts: SweepOptions) -> list[str]:
    """What a worker imports: a file plugin as a module of the job's plugin package (it travels with the job,
    see job_plugin_package), a module plugin by its name."""
    from .plugins import is_file_plugin, module_name

    if not opts.ship_plugins:  # by path: this machine's files (workers' cwd differs, so absolute)
        return [str(Path(p).resolve()) if Path(p).exists() else p for p in opts.plugins]
    return [f"{JOB_PLUGINS}.{module_name(Path(p))}" if is_file_plugin(p) else p for p in opts.plugins]


def job_plugin_package(opts: SweepOptions, results: Path) -> list[str]:
    """The file plugins as one package for Ray's runtime_env py_modules: uploaded with the job, so a worker on
    another machine imports them with no shared filesystem, and from the text the driver loaded (the file
    may have changed or gone since)."""
    import hashlib

    from .plugins import is_file_plugin, module_name, plugin_source

    files = {module_name(Path(p)): plugin_source(p) for p in opts.plugins if is_file_plugin(p)}
    if not files:
        return []
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
    package = results / ".plugins" / digest / JOB_PLUGINS
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for name, source in files.items():
        (package / f"{name}.py").write_text(source)
    return [str(package)]


def tune_run_config(name: str, opts: SweepOptions, results: Path, callback):
    from ray import tune

    return tune.RunConfig(name=f"{name}-{int(time.time())}", storage_path=opts.storage or str(results / "ray"),
                          verbose=0, stop=StreakStopper(callback),
                          failure_config=tune.FailureConfig(max_failures=opts.retries), callbacks=[callback],
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


def tune_config(searcher, opts: SweepOptions, samples: int, scheduler=None):
    """How both Tuners (a suite's phases, a search) draw and place trials: at most ``opts.workers`` at once, and
    each worker runs trial after trial (reuse_actors), sparing each trial a new Python, torch and W&B. Nothing
    leaks from one to the next: a run seeds torch, sets its threads and cudnn flags, scopes the environment
    variables it sets, and trial_fn collects the last trial's garbage first."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    return tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=opts.workers), scheduler=scheduler,
                           num_samples=samples, reuse_actors=True)


def trial_case(opts: SweepOptions, mode: str, data_dir, target: float | None, **what) -> dict:
    """What a Tune trial is given: what it runs (``trial=`` a grid trial, or ``search=`` a search) and how."""
    return {"target": target, "gpus": opts.gpus_per_trial, "wandb_mode": mode, "plugins": worker_plugins(opts),
            "data_dir": data_dir, "device": opts.device, "driver_node": driver_node(), "bank": opts.bank,
            "results": str(Path(opts.results).resolve()), "checkpoint_every": opts.checkpoint_every, **what}


def trainable(opts: SweepOptions):
    """trial_fn with the resources Ray gives each trial: its CPUs and the GPU share asked for."""
    from ray import tune

    return tune.with_resources(trial_fn, {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial})


def _fit_forked(suite: str, phase: list[Trial], number, targets: dict, opts: SweepOptions, mode: str,
                results: Path, callback, data_dir, reforks: Reforks) -> None:
    """A phase, batch by batch (Reforks.batches): each batch's stored baselines train again for its forks, then
    it runs; once the time budget is spent, what is left runs as one batch (which starts nothing, and says so)."""
    parts = reforks.batches(phase)
    for i, part in enumerate(parts):
        if not callback.budget.allows(resumable=True):
            _fit(suite, [t for p in parts[i:] for t in p], number, targets, opts, mode, results, callback, data_dir,
                 reforks.points, part=i)
            return
        reforks.write(part, callback.display)
        _fit(suite, part, number, targets, opts, mode, results, callback, data_dir, reforks.points, part=i)


def _fit(suite: str, phase: list[Trial], number, targets: dict, opts: SweepOptions, mode: str, results: Path,
         callback, data_dir, fork_points: dict | None = None, part: int = 0):
    from ray import tune

    # Seed-major: a suite stopped partway (a session's end, a 10-minute device command) then holds whole
    # paired seeds (every method of seed 0, then of seed 1, ...) rather than every seed of the first method.
    # Baselines that write forks run workers - 1 seeds ahead, so a seed's jumped trials find them written.
    fork_points = fork_points or {}
    phase = seed_major(phase, lead=opts.workers - 1, leaders=set(fork_points))
    space = [trial_case(opts, mode, data_dir, targets.get(t.experiment), trial=t.to_dict(),
                        deadline=callback.budget.wall_deadline, stop=callback.budget.stop,
                        **({"fork_points": sorted(fork_points[t.key].items())} if t.key in fork_points else {}))
             for t in phase]
    queue = TrialQueue(suite, phase, space, callback.store, callback.display.budgets, callback.budget,
                       resumable=resumable_trials(phase, opts))
    tuner = tune.Tuner(
        trainable(opts),
        tune_config=tune_config(queue, opts, len(phase)),
        run_config=tune_run_config(f"{suite}-phase{number}" + (f"-{part}" if part else ""), opts, results, callback),
    )
    tuner.fit()
    if callback.abort:
        raise IntrobenchError(callback.abort)
    others = {key: why for key, why in queue.left.items() if why != TIME}
    if others:
        drivers = sorted({why for why in others.values() if why != "stored"})
        callback.display.say(f"{len(others)} trial(s) of phase {number} were left to another `suite run` of "
                             f"this store ({', '.join(drivers) or 'which stored them first'})")
    if len(others) < len(queue.left):
        callback.display.say(f"{callback.budget.reason}: {len(queue.left) - len(others)} trial(s) of phase "
                             f"{number} not started" + ("" if callback.budget.interrupted else
                                                        " (they would not have ended in time)")
                             + "; `--resume` runs them")
    stopped_early(callback.store, suite, {t.key for t in phase} - queue.left.keys() - callback.budget.cut.keys())


class TrialQueue(Searcher):
    """Hands Tune a phase's trials in order, each as a worker comes free for it, and only if it can be taken
    then (ResultsStore.claim): not stored meanwhile, not in the hands of another live `suite run` of the store.
    So two runs of one store, started at different times, share what is left rather than both run it."""

    def __init__(self, suite: str, phase: list[Trial], cases: list[dict], store: ResultsStore, budgets: dict,
                 time_budget: TimeBudget | None = None, resumable: set[str] = frozenset()):
        super().__init__()
        self.suite, self.store, self.budgets, self.driver = suite, store, budgets, driver_id()
        self.time_budget = time_budget or TimeBudget(None)
        self.resumable = resumable  # keys of trials that keep checkpoints: the budget may cut them
        self.queue = list(zip(phase, cases))
        self.left: dict[str, str] = {}  # key -> why not taken: 'stored', the driver that has it, or TIME

    def suggest(self, trial_id: str):
        while self.queue:
            trial, case = self.queue.pop(0)
            if not self.time_budget.allows(trial.experiment, resumable=trial.key in self.resumable):
                self.left[trial.key] = TIME
                continue
            why = self.store.claim(self.suite, trial.key, trial.label, self.budgets.get(trial.key), self.driver)
            if why is None:
                return {"case": case}
            self.left[trial.key] = why
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        pass  # the store callback writes the result


TIME = "time budget"  # TrialQueue.left: not started, for want of time


def resumable_trials(phase: list[Trial], opts: SweepOptions) -> set[str]:
    """The keys of the trials that keep checkpoints: every one of an in-memory dataset, unless checkpoints are
    off (a streamed dataset cannot resume mid-epoch)."""
    if not opts.checkpoint_every:
        return set()
    from .data import dataset_spec
    from .run import plan

    return {t.key for t in phase if dataset_spec(plan(t.config)[0].dataset).in_memory}


def seed_major(trials: list[Trial], lead: int = 0, leaders: set[str] = frozenset()) -> list[Trial]:
    """The run order: by experiment, then seed, keeping the suite's order of methods within a seed; the
    ``leaders`` (baselines writing forks) ``lead`` seeds earlier."""
    return sorted(trials, key=lambda t: (t.experiment, t.config.seed - (lead if t.key in leaders else 0)))


def stopped_early(store: ResultsStore, suite: str, keys: set[str]) -> None:
    """Tune ends fit() quietly on Ctrl-C: a phase that stored less than it ran was interrupted, and nothing
    after it may run (a later phase would build on a part)."""
    if not keys <= store.keys(suite):
        raise KeyboardInterrupt


def _counts(store: ResultsStore, suite: str, selected: list[Trial], searches=()) -> dict:
    """Stored outcomes of the selected trials, and how many of them (and of the searches' trials) are still
    missing."""
    from .search import remaining

    wanted = {t.key for t in selected}
    out = {"finished": 0, "diverged": 0, "failed": 0}
    statuses = store.statuses(suite)
    for status, _ in (v for k, v in statuses.items() if k in wanted):
        out[status] = out.get(status, 0) + 1
    out["stored"] = sum(out.values())
    # left to another live `suite run` of the same store: not this run's to finish
    out["running_elsewhere"] = len((wanted - statuses.keys()) & store.running(suite).keys())
    out["missing"] = (len(wanted) - out["stored"] - out["running_elsewhere"]
                      + sum(remaining(store, x) for x in searches))
    return out
