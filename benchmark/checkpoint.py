"""Trial checkpoints: a run killed halfway (a session's end, a preempted node, a 10-minute device command)
resumes from its last checkpoint instead of from step 0, and ends exactly as the uninterrupted run would.

At a grid evaluation, once ``every`` seconds have passed since the last save, the loop writes everything its
future depends on: the model, optimizer and scheduler states, the step, the curve so far, the batch stream's
place and the random generators' states, and each hook's state (the jump engine's snapshots and pending guard
decision, the recorders' rows). One file per run, replaced atomically, deleted by whoever stores the result.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from .config import CHECKPOINT_EVERY

FORMAT = 1


class TrialCut(Exception):
    """A run stopped at its deadline (a suite's time budget) or when asked to (an interrupted suite run), its
    state saved for the next attempt."""

    def __init__(self, step: int):
        super().__init__(f"cut at step {step} (its deadline, or an interrupt); its checkpoint resumes it")
        self.step = step


class Checkpoint:
    """Where one run's checkpoint lives, when the next is due, and when the run must stop: at ``deadline``
    (wall-clock seconds since the epoch: it crosses processes), or once the file ``stop`` exists (an interrupted
    suite run asks its trials, in their own processes, to save and stop). ``key``: the run's config key, so a
    file left by another configuration is never resumed from."""

    def __init__(self, path: str | os.PathLike, key: str, every: float = CHECKPOINT_EVERY, clock=time.monotonic,
                 deadline: float | None = None, start=None, stop: str | os.PathLike | None = None,
                 platform: dict | None = None):
        self.path, self.key, self.every, self.clock = Path(path), key, float(every), clock
        self.deadline = deadline
        self.stop = Path(stop) if stop else None
        # every machine the run has trained on, in order (environment.platform_of): a run cut on one and
        # resumed on another holds the steps of both, and its summary should say so
        self.platforms: list[dict] = [platform] if platform else []
        self.last = clock()
        self.note: str | None = None  # why a file found there was not resumed from
        # with no file of its own: () -> a state to start from (a fork of the baseline), or None
        self.start = start
        self.started_from: int | None = None  # the step of the state ``start`` gave

    def due(self) -> bool:
        return self.clock() - self.last >= self.every

    def past_deadline(self) -> bool:
        """Must the run stop now (checked at its grid evaluations: one stat of a file each)?"""
        return (self.deadline is not None and time.time() >= self.deadline) or (
            self.stop is not None and self.stop.exists())

    def load(self) -> dict | None:
        """The saved state, or None when there is none to resume (a file of another run or format is set aside
        with a note, never resumed from)."""
        if not self.path.is_file():
            state = self.start() if self.start is not None else None
            if state is not None:
                self.started_from = state["step"]
            return state
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: start afresh, and say so
            self.note = f"checkpoint {self.path} unreadable ({type(exc).__name__}: {exc}); starting from step 0"
            return None
        if state.get("format") != FORMAT or state.get("key") != self.key:
            self.note = (f"checkpoint {self.path} is of another run (key {state.get('key')}, format "
                         f"{state.get('format')}); starting from step 0")
            return None
        here = self.platforms[-1:]
        before = state.get("platforms") or []
        self.platforms = before + [p for p in here if not before or before[-1] != p]
        return state

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({"format": FORMAT, "key": self.key, **state, "platforms": self.platforms}, tmp)
        os.replace(tmp, self.path)  # a kill mid-write leaves the previous checkpoint whole
        # how far it stands, for `suite status` (which should not read a model to learn it)
        where = progress_path(self.path)
        tmp = where.with_name(where.name + ".tmp")
        tmp.write_text(json.dumps({"step": state["step"], "steps": state["steps"]}))
        os.replace(tmp, where)
        self.last = self.clock()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        progress_path(self.path).unlink(missing_ok=True)


PROGRESS = ".progress.json"


def progress_path(path: Path) -> Path:
    """The small file beside a checkpoint that says how far it stands: <name>.progress.json."""
    return path.with_name(path.stem + PROGRESS)


def saved_progress(folder: str | os.PathLike) -> dict[str, dict]:
    """Suite trial key -> {"step", "steps"} of each checkpoint in a results folder."""
    out = {}
    for p in sorted((Path(folder) / "checkpoints").glob("*" + PROGRESS)):
        try:
            out[p.name[:-len(PROGRESS)]] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue  # being replaced, or torn: the checkpoint itself is what resumes
    return out


def checkpoint_path(folder: str | os.PathLike, key: str) -> Path:
    """A suite trial's checkpoint file in its results folder."""
    return Path(folder) / "checkpoints" / f"{key}.pt"


def checkpointed(folder: str | os.PathLike, keys) -> set[str]:
    """The suite trial keys among ``keys`` with a checkpoint of their own in a results folder: they resume from it
    (never from a fork). The checkpoint file decides, not the progress file beside it, which a kill between their
    two writes may leave missing."""
    return {k for k in keys if checkpoint_path(folder, k).is_file()}


def rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
