"""Running a suite under Ray Tune: every trial one Tune trial, each finished trial written to the store once.

The suite decides the trials (so a resumed suite sees exactly the same ones); Ray Tune schedules and runs
them (locally with N workers, or on a cluster by address; fractional GPUs per trial), retries failures
(FailureConfig), and a driver-side callback writes each trial to the store the moment it ends. A suite
whose target is ``baseline_max`` runs in two phases: the baselines first, then the rest with the target
their results fix.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import IntrobenchError
from .store import ResultsStore
from .suites import Suite, Trial


@dataclass(frozen=True)
class SweepOptions:
    results: str = "results"
    workers: int = 2
    gpus_per_trial: float = 0.0
    address: str | None = None
    resume: bool = False
    wandb: str = "auto"
    retries: int = 1
    progress: bool = True
    plugins: tuple[str, ...] = ()  # imported in every trial too, so plugin tasks and forecasters run on workers


def trial_fn(config: dict) -> None:
    """Runs inside a Ray worker: one training run, one W&B run, one report back to the driver."""
    import ray
    import torch
    from ray import tune

    from .config import RunConfig
    from .plugins import load_plugins
    from .run import run
    from .tracking import log_trial

    torch.set_num_threads(1)
    case = config["case"]
    load_plugins(case["plugins"])
    trial = effective_trial(case)
    run_config = RunConfig.from_dict(trial["run"])
    started = time.time()
    try:
        result = run(run_config, progress=False)
    except Exception as exc:
        log_trial(trial, None, f"{type(exc).__name__}: {exc}", case["wandb_mode"])
        raise
    payload = {"summary": result.summary, "curve": result.curve, "events": result.events}
    wandb_dir = log_trial(trial, payload, None, case["wandb_mode"])
    tune.report({"payload": json.dumps(payload), "node": ray.get_runtime_context().get_node_id(),
                 "wandb_dir": wandb_dir or "", "started": started, "status": result.summary["status"]})


def effective_trial(case: dict) -> dict:
    """The trial as it really runs: the baseline_max target filled in, on the GPU when it was given one."""
    trial = case["trial"]
    run_cfg = dict(trial["run"])
    if case.get("target") is not None:
        run_cfg["target"] = case["target"]
    if case.get("gpus", 0) > 0:
        run_cfg["device"] = "cuda"
    return {**trial, "run": run_cfg}


def _store_row(trial: dict, *, status: str, payload: dict | None, error: str | None, node: str | None,
               wandb_dir: str | None, started: float | None) -> dict:
    run_cfg = trial["run"]
    now = time.time()
    return {"suite": trial["suite"], "suite_path": trial["suite_path"], "key": trial["key"], "label": trial["label"],
            "experiment": trial["experiment"], "task": run_cfg["task"], "forecaster": run_cfg["forecaster"], "seed": run_cfg["seed"], "status": status,
            "error": error, "config": run_cfg, "summary": payload["summary"] if payload else None,
            "curve": payload["curve"] if payload else None, "events": payload["events"] if payload else None,
            "node": node, "wandb_dir": wandb_dir, "started": started, "finished": now,
            "seconds": (now - started) if started else None}


def _make_callback(store: ResultsStore, progress):
    from ray.tune import Callback

    class StoreCallback(Callback):
        """In the driver: each trial is written to the store as soon as it ends, whatever happens after."""

        def __init__(self):
            self.running = self.done = self.failed = 0

        def on_trial_start(self, iteration, trials, trial, **info):
            self.running += 1
            progress.update(self)

        def on_trial_complete(self, iteration, trials, trial, **info):
            res = trial.last_result or {}
            payload = json.loads(res["payload"]) if "payload" in res else None
            status = payload["summary"]["status"] if payload else "failed"
            store.write(_store_row(effective_trial(trial.config["case"]), status=status, payload=payload,
                                   error=None if payload else "trial ended without a result",
                                   node=res.get("node"), wandb_dir=res.get("wandb_dir") or None,
                                   started=res.get("started")))
            self.running -= 1
            self.done += 1
            progress.update(self)

        def on_trial_error(self, iteration, trials, trial, **info):
            store.write(_store_row(effective_trial(trial.config["case"]), status="failed", payload=None, error=_error_text(trial),
                                   node=None, wandb_dir=None, started=None))
            self.running -= 1
            self.failed += 1
            progress.update(self)

    return StoreCallback()


def _error_text(trial) -> str:
    try:
        path = trial.error_file
        if path and os.path.exists(path):
            text = Path(path).read_text()
            # the last line of the worker's traceback is the exception itself
            lines = [l for l in text.strip().splitlines() if l.strip()]
            return lines[-1][:2000] if lines else text[:2000]
    except Exception:
        pass
    return "trial failed (no error file)"


class _Progress:
    def __init__(self, total: int, skipped: int, enabled: bool):
        from tqdm import tqdm

        self.skipped = skipped
        self.bar = tqdm(total=total, initial=skipped, desc="trials", disable=not enabled, dynamic_ncols=True)

    def update(self, cb) -> None:
        self.bar.n = self.skipped + cb.done + cb.failed
        self.bar.set_postfix(running=cb.running, failed=cb.failed)
        self.bar.refresh()

    def close(self):
        self.bar.close()


def _baseline_target(store: ResultsStore, suite: Suite, experiment: int) -> float | None:
    from .metrics import median

    maxima = [r["summary"]["max_accuracy"] for r in store.rows(suite.name)
              if r["experiment"] == experiment and r["forecaster"] == "none" and r["summary"]
              and r["status"] == "finished"]
    return median(maxima)


def run_suite(suite: Suite, opts: SweepOptions) -> dict:
    import ray

    from .tracking import resolve_mode, wandb_env

    results = Path(opts.results).resolve()
    store = ResultsStore(results)
    trials = suite.trials()
    done = store.keys(suite.name)
    if done and not opts.resume:
        raise IntrobenchError(f"{store.path} already holds {len(done & {t.key for t in trials})} trial(s) of suite "
                              f"'{suite.name}': add --resume to finish only what is missing, or choose another --results")
    todo = [t for t in trials if t.key not in done]
    store.register_suite(suite.name, suite.path, [(t.key, t.label) for t in trials])
    mode, note = resolve_mode(opts.wandb)
    if note:
        print(note, file=sys.stderr)
    summary = {"suite": suite.name, "trials": len(trials), "skipped": len(trials) - len(todo), "store": str(store.path)}
    if not todo:
        return {**summary, **_counts(store, suite)}

    env = {**wandb_env(results), "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    for k in ("INTROBENCH_DATA", "INTROBENCH_CACHE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    started_ray = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
        if opts.address:
            ray.init(address=opts.address, **kwargs)
        else:
            import torch

            from .environment import scoped_env

            gpus = torch.cuda.device_count() if opts.gpus_per_trial > 0 else 0
            # A local instance of ours needs no token (Ray's token auth otherwise leaves its workers waiting).
            with scoped_env({"RAY_AUTH_MODE": env["RAY_AUTH_MODE"]}):
                ray.init(num_cpus=opts.workers, num_gpus=gpus, **kwargs)
        started_ray = True
    progress = _Progress(len(trials), len(trials) - len(todo), opts.progress)
    callback = _make_callback(store, progress)
    try:
        phases = [[t for t in todo if not (t.target_mode == "baseline_max" and t.config.forecaster != "none")],
                  [t for t in todo if t.target_mode == "baseline_max" and t.config.forecaster != "none"]]
        for number, phase in enumerate(phases):
            if phase:
                _fit(suite, phase, number, opts, mode, results, callback, store)
                if not {t.key for t in phase} <= store.keys(suite.name):
                    break  # interrupted: the next phase needs this one whole; --resume picks up from here
    finally:
        progress.close()
        if started_ray:
            ray.shutdown()
    return {**summary, **_counts(store, suite)}


def _fit(suite, phase: list[Trial], number: int, opts: SweepOptions, mode: str, results: Path, callback, store):
    from ray import tune

    targets = {e: _baseline_target(store, suite, e) for e in {t.experiment for t in phase
                                                               if t.target_mode == "baseline_max"}}
    plugins = [str(Path(p).resolve()) if Path(p).exists() else p for p in opts.plugins]  # workers' cwd differs
    space = [{"trial": t.to_dict(), "target": targets.get(t.experiment), "gpus": opts.gpus_per_trial,
              "wandb_mode": mode, "plugins": plugins} for t in phase]
    trainable = tune.with_resources(trial_fn, {"cpu": 1, "gpu": opts.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space={"case": tune.grid_search(space)},
        tune_config=tune.TuneConfig(max_concurrent_trials=opts.workers, reuse_actors=False),
        run_config=tune.RunConfig(
            name=f"{suite.name}-phase{number}-{int(time.time())}", storage_path=str(results / "ray"), verbose=0,
            failure_config=tune.FailureConfig(max_failures=opts.retries), callbacks=[callback],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    tuner.fit()


def _counts(store: ResultsStore, suite: Suite) -> dict:
    rows = store.rows(suite.name)
    out = {"finished": 0, "diverged": 0, "failed": 0}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    out["stored"] = len(rows)
    return out
