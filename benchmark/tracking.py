"""Weights & Biases: one W&B run per trial, grouped by suite. Offline by default, online with an API key.

Every W&B file (runs, cache, config, artifacts) stays under the results folder. Online mode with no API key,
or with no route to the server, falls back to offline with a one-line note: it never hangs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from .environment import scoped_env

MODES = ("auto", "online", "offline", "disabled")
PROJECT = "introbench"


def wandb_env(results_dir: str | Path) -> dict[str, str]:
    base = Path(results_dir).resolve() / "wandb"
    return {"WANDB_DIR": str(base), "WANDB_CACHE_DIR": str(base / ".cache"), "WANDB_CONFIG_DIR": str(base / ".config"),
            "WANDB_DATA_DIR": str(base / ".data"), "WANDB_ARTIFACT_DIR": str(base / ".artifacts"),
            "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}


def wandb_environment(results_dir: str | Path):
    """W&B's folders under the results folder for the duration, then the caller's environment as it was."""
    return scoped_env(wandb_env(results_dir))


def _reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(requested: str) -> tuple[str, str | None]:
    """(mode to use, a one-line note for the user or None)."""
    if requested not in MODES:
        from .errors import ConfigError

        raise ConfigError("wandb", f"must be one of {', '.join(MODES)}, got {requested!r}")
    if requested in ("offline", "disabled"):
        return requested, None
    has_key = bool(os.environ.get("WANDB_API_KEY"))
    if requested == "auto" and not has_key:
        return "offline", None
    if not has_key:
        return "offline", "W&B: no WANDB_API_KEY, so runs stay offline (sync later with `wandb sync`)"
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    if not _reachable(host):
        return "offline", f"W&B: {host} is not reachable, so runs stay offline (sync later with `wandb sync`)"
    return "online", None


def log_trial(trial: dict, result: dict | None, error: str | None, mode: str) -> str | None:
    """Write one trial as one W&B run: config, curves, jump markers, summary. Returns the run's folder."""
    if mode == "disabled":
        return None
    import wandb

    run_cfg = trial["run"]
    run = wandb.init(project=PROJECT, group=trial["suite"], name=trial["label"], job_type=run_cfg["task"],
                     config={**run_cfg, "suite": trial["suite"], "trial_key": trial["key"]}, mode=mode,
                     dir=os.environ.get("WANDB_DIR"), reinit="create_new",
                     settings=wandb.Settings(console="off", x_disable_stats=True))
    try:
        if result is not None:
            for step, row in _history(result["curve"], result["events"]):
                run.log(row, step=step)
            summary = result["summary"]
            run.summary.update({k: summary.get(k) for k in ("status", "steps_to_target", "max_accuracy",
                                                             "max_accuracy_step", "final_accuracy", "target",
                                                             "wall_clock", "forecast_seconds", "stopped_at")})
        else:
            run.summary.update({"status": "failed", "error": error})
        folder = run.dir  # <WANDB_DIR>/wandb/<offline-run-...>/files
    finally:
        run.finish(exit_code=0 if result is not None else 1)
    return str(Path(folder).parent)


def _history(curve: list[dict], events: list[dict]) -> list[tuple[int, dict]]:
    """One W&B row per step: pre- and post-jump evaluations share their step, so they merge with a jump marker."""
    rows: dict[int, dict] = {}
    for p in curve:
        row = rows.setdefault(int(p["step"]), {})
        if p["phase"] == "pre_jump":
            row["accuracy_before_jump"] = p["accuracy"]
        else:
            row["accuracy"] = p["accuracy"]
        if p.get("loss") is not None:
            row["loss"] = p["loss"]
    for e in events:
        rows.setdefault(int(e["step"]), {}).update({"jump": 1, "jump_mean_abs_change": e["mean_abs_change"],
                                                   "jump_seconds": e["seconds"]})
    return sorted(rows.items())
