"""Weights & Biases: one W&B run per trial, grouped by suite. Offline by default, online with an API key.

Every W&B file (runs, cache, config, artifacts) stays under the results folder. Online mode with no API key,
or with no route to the server, falls back to offline with a one-line note: it never hangs.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path
from urllib.parse import urlparse

from .environment import scoped_env

MODES = ("auto", "online", "offline", "disabled")
PROJECT = "introbench"


def wandb_env(results_dir: str | Path, mode: str | None = None) -> dict[str, str]:
    """W&B's variables for runs under ``results_dir``; with ``mode`` (resolved), WANDB_MODE says it too: the
    mode each run is opened with wins anyway, but W&B refuses every run when the caller's WANDB_MODE is not one
    it knows (a blank one included)."""
    base = Path(results_dir).resolve() / "wandb"
    env = {"WANDB_DIR": str(base), "WANDB_CACHE_DIR": str(base / ".cache"), "WANDB_CONFIG_DIR": str(base / ".config"),
           "WANDB_DATA_DIR": str(base / ".data"), "WANDB_ARTIFACT_DIR": str(base / ".artifacts"),
           "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}
    return env if mode is None else {**env, "WANDB_MODE": mode}


def wandb_environment(results_dir: str | Path, mode: str | None = None):
    """W&B's folders under the results folder for the duration, then the caller's environment as it was."""
    return scoped_env(wandb_env(results_dir, mode))


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


SUMMARY_KEYS = ("status", "steps_to_target", "max_accuracy", "max_accuracy_step", "final_accuracy", "target",
                "wall_clock", "forecast_seconds", "stopped_at")


def open_run(mode: str, group: str, folder: str | None = None, **kw):
    """A W&B run of the introbench project, in the suite's group, under ``folder`` (default $WANDB_DIR): no
    console capture, no system stats, never joining another run of this process."""
    import wandb

    return wandb.init(project=PROJECT, group=group, mode=mode, dir=folder or os.environ.get("WANDB_DIR"),
                      reinit="create_new", settings=wandb.Settings(console="off", x_disable_stats=True), **kw)


class TrialRun:
    """One trial attempt's W&B run, written from inside the trial as it trains: opened before any data is
    read (so ``_runtime`` is the trial's own), each evaluation and each jump logged as it happens, the summary
    at the end. A retried attempt is a run of its own, named and configured as "attempt N"."""

    def __init__(self, trial: dict, config: dict, mode: str, attempt: int = 1, folder: str | None = None):
        self.run = None
        if mode == "disabled":
            return
        name = trial["label"] + (f" (attempt {attempt})" if attempt > 1 else "")
        # The id carries the trial key: a later segment (a resolved baseline_max target) finds the run by it.
        run_id = f"{trial['key']}x{attempt}x{secrets.token_hex(3)}"
        self.run = open_run(mode, trial["suite"], folder, name=name, job_type=config["task"], id=run_id,
                            config={**config, "suite": trial["suite"], "trial_key": trial["key"],
                                    "attempt": attempt, "target_mode": trial.get("target_mode", "fixed")})

    def configure(self, config: dict) -> None:
        """The config as resolved (task defaults filled in), once the trial knows it."""
        if self.run is not None:
            self.run.config.update(config, allow_val_change=True)

    def evaluation(self, point: dict) -> None:
        if self.run is None:
            return
        key = "accuracy_before_jump" if point["phase"] == "pre_jump" else "accuracy"
        row = {key: point["accuracy"]}
        if point.get("loss") is not None:
            row["loss"] = point["loss"]
        self.run.log(row, step=int(point["step"]))  # rows of one step (pre-, post-jump) merge

    def jump(self, event: dict) -> None:
        if self.run is not None:
            self.run.log({"jump": 1, "jump_mean_abs_change": event["mean_abs_change"],
                          "jump_seconds": event["seconds"]}, step=int(event["step"]))

    def finish(self, summary: dict | None = None, error: str | None = None) -> str | None:
        """The summary (or the error) and the run's folder; None when W&B is disabled."""
        if self.run is None:
            return None
        try:
            if summary is not None:
                self.run.summary.update({k: summary.get(k) for k in SUMMARY_KEYS})
            else:
                self.run.summary.update({"status": "failed", "error": error})
            folder = Path(self.run.dir).parent  # <WANDB_DIR>/wandb/<offline-run-...>
        finally:
            self.run.finish(exit_code=0 if error is None else 1)
            self._flush()
        return str(folder)

    @staticmethod
    def _flush() -> None:
        """Wait for W&B's service to write the run out and exit. finish() can return before the service has
        flushed the run's file; a Ray worker is killed right after its trial, and its service with it, which
        left a run file of 7 bytes (its header) under load."""
        import wandb

        wandb.teardown()


def pack(folder: str) -> str:
    """A run's folder as text (a base64 tar.gz of a few kB): how a run written on another node reaches the
    driver, which unpacks it beside the store."""
    import base64
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        # W&B's debug logs are links into the node's own temp folders: not part of the run
        tar.add(folder, arcname=Path(folder).name, filter=lambda info: None if info.issym() or info.islnk() else info)
    return base64.b64encode(buffer.getvalue()).decode()


def unpack(text: str, into: str | Path) -> str:
    """The packed run unpacked under ``into`` (the results folder's W&B runs); returns its folder."""
    import base64
    import io
    import tarfile

    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(text)), mode="r:gz") as tar:
        name = tar.getnames()[0].split("/")[0]
        tar.extractall(into, filter="data")
    return str(into / name)


def run_id_of(folder: str | Path) -> str:
    """The W&B run id from its folder name: ``[offline-]run-<date>_<time>-<id>``, and ``-1``, ``-2`` ... after
    it when another folder of the run was made in the same second. Our ids have no dashes."""
    found = re.match(r"(?:offline-)?run-\d{8}_\d{6}-([^-]+)", Path(folder).name)
    return found.group(1) if found else Path(folder).name


def log_copy(trial: dict, row: dict, mode: str) -> str | None:
    """A trial copied in from another results store (`suite run --reuse`) gets its own W&B run in this suite's
    group, replayed from the stored curve and jumps in the order they happened, so that the suite's W&B group
    holds every trial; its config names the source. Returns the run's folder (None when W&B is disabled)."""
    if mode == "disabled":
        return None
    live = TrialRun(trial, {**row["config"], "copied_from": row["summary"]["copied_from"]}, mode)
    from .loop import logged_order

    for kind, item in logged_order(row["curve"] or [], row["events"] or []):
        (live.jump if kind == "jump" else live.evaluation)(item)
    return live.finish(summary=row["summary"])


def log_resolution(folder: str, trial: dict, config: dict, summary: dict, mode: str) -> str | None:
    """A baseline_max baseline learns its target only after every baseline seed has run: this writes the
    resolved target and the summary scored against it into the same W&B run (resumed by id; offline, a second
    segment beside the first, which `wandb sync` merges into one run). Returns the segment's folder."""
    if mode == "disabled" or not folder:
        return None
    run = open_run(mode, trial["suite"], id=run_id_of(folder), resume="allow")
    try:
        run.config.update({"target": config["target"]}, allow_val_change=True)
        run.summary.update({k: summary.get(k) for k in SUMMARY_KEYS})
        segment = Path(run.dir).parent
    finally:
        run.finish()
    return str(segment)


def segments(folder: str | Path) -> list[Path]:
    """Every folder of the run that ``folder`` belongs to, oldest first: the last one has its final word."""
    folder = Path(folder)
    run_id = run_id_of(folder)
    return sorted(p for p in folder.parent.glob(f"*-{run_id}*") if run_id_of(p) == run_id)
