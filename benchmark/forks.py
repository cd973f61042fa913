"""Forked trials: until its first jump, a jumped trial trains exactly as its baseline does (the same seed, batches
and random draws; the jump engine only reads the weights), so it can start from the baseline's state at the last
grid evaluation before that jump instead of from step 0, and end bit for bit as if it had trained those steps.

A baseline given a fork plan writes, under ``<results>/checkpoints/forks/<prefix key>/``, the trainable weights at
every step a dependent's forecaster will read (``w-<step>.pt``) and its whole loop state at each fork point
(``state-<step>.pt``). A dependent starts from them when all its files are there and their prefix key is its own;
otherwise it trains from step 0 as before. So a fork can save time and never changes a result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .checkpoint import checkpointed
from .config import RunConfig
from .jumps import snapshot_step

FORMAT = 1
# What a jumped trial sets and its baseline does not; everything else must match for the two to train alike.
JUMP_SETTINGS = {"forecaster": "none", "forecaster_params": {}, "jumps": None, "reset_optimizer": False,
                 "guard": False, "settle_steps": None, "gate": None}


# The store's running mark (ResultsStore.claim) of a stored baseline training again for its forks: RUNNING + its key
RUNNING = "forks:"


def prefix_key(config: RunConfig) -> str:
    """The key of what ``config`` trains up to its first jump: the same run without jumps, and without its target
    unless it stops there (a baseline_max target is filled into the jumped trials only, and changes no step)."""
    return replace(config, **JUMP_SETTINGS, **({} if config.stop_at_target else {"target": None})).key()


def forks_folder(results: str | os.PathLike) -> Path:
    return Path(results) / "checkpoints" / "forks"


@dataclass(frozen=True)
class ForkSource:
    """Where a jumped trial may start: its prefix's folder, the fork point, the snapshot steps it reads up to it."""

    folder: str
    prefix: str
    step: int
    steps: tuple[int, ...]
    budget: int  # the trial's steps: it trains budget - step of them itself


def source_for(config: RunConfig, results: str | os.PathLike) -> ForkSource | None:
    """The fork a trial may start from; None when it cannot fork: it does not jump, its first jump comes before
    the first grid evaluation after step 0, or it records its trajectory from step 0 on (a history, a bank)."""
    from .run import plan

    if config.record_every or config.bank:
        return None
    task, forecaster, jumps, _ = plan(config)
    return source_of(config, task, forecaster, jumps, results)


def source_of(config: RunConfig, task, forecaster, jumps, results: str | os.PathLike) -> ForkSource | None:
    """source_for, given the run's plan (benchmark.run.plan) already made."""
    if config.record_every or config.bank or not jumps:
        return None
    step = (jumps[0] - 1) // task.eval_every * task.eval_every  # the last grid evaluation before the first jump
    if step <= 0:
        return None
    steps = sorted({s for t in jumps for f in forecaster.fractions if (s := snapshot_step(f, t)) <= step})
    prefix = prefix_key(config)
    return ForkSource(str(forks_folder(results) / prefix), prefix, step, tuple(steps), task.steps)


def suite_plan(trials, unstored: set[str], results: str | os.PathLike) -> tuple[dict, dict]:
    """For a suite's trials: baseline key -> {fork point: snapshot steps up to it} for the dependents still to run
    (``unstored``), and dependent key -> its ForkSource (for each jumped trial whose baseline is in the suite)."""
    baselines = {prefix_key(t.config): t.key for t in trials if t.config.forecaster == "none"}
    points: dict[str, dict[int, set[int]]] = {}
    sources = {}
    for t in trials:
        source = source_for(t.config, results) if t.config.forecaster != "none" else None
        if source is None or source.prefix not in baselines:
            continue
        sources[t.key] = source
        if t.key in unstored:
            points.setdefault(baselines[source.prefix], {}).setdefault(source.step, set()).update(source.steps)
    return {k: {f: sorted(s) for f, s in p.items()} for k, p in points.items()}, sources


def _save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a dependent never reads half a file


class ForksWritten(Exception):
    """A run that trains only to write forks (a stored baseline's prefix) has written its last one."""


class ForkWriter:
    """A baseline's loop hook: writes the weights at the snapshot steps and, through ``at_grid``, the loop state at
    the fork points. It keeps nothing in memory, so it is not part of the baseline's own checkpoint; ``fresh``:
    the run starts at step 0 (a resumed one must not write its restored weights as step 0's); ``only``: the run
    is there for its forks, and stops (ForksWritten) once the last is written."""

    checkpointed = False

    def __init__(self, folder: str | os.PathLike, prefix: str, points: dict[int, list[int]], fresh: bool,
                 only: bool = False):
        self.folder, self.prefix, self.fresh, self.only = Path(folder), prefix, fresh, only
        self.points = {int(f): [int(s) for s in steps] for f, steps in points.items()}
        self.steps = {s for steps in self.points.values() for s in steps}
        self.params: list[torch.Tensor] = []

    def _weights(self, step: int) -> None:
        _save({"format": FORMAT, "prefix": self.prefix, "step": step, "weights": [p.detach() for p in self.params]},
              self.folder / f"w-{step}.pt")

    def on_start(self, model, optimizer) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]  # the jump engine's order
        if self.fresh and 0 in self.steps:
            self._weights(0)

    def on_step(self, step: int, model, optimizer, evaluate) -> None:
        if step in self.steps:
            self._weights(step)

    def at_grid(self, step: int, state) -> None:
        if step in self.points:
            _save({"format": FORMAT, "prefix": self.prefix, **state(), "hooks": []}, self.folder / f"state-{step}.pt")
            if self.only and step == max(self.points):
                raise ForksWritten

    def summary(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def fork_files(points: dict[int, list[int]]) -> list[str]:
    """The files a baseline's forks for these points are: the weights at each snapshot step, then the loop state
    at each fork point."""
    return ([f"w-{s}.pt" for s in sorted({s for steps in points.values() for s in steps})]
            + [f"state-{f}.pt" for f in sorted(points)])


def written(folder: str | os.PathLike, points: dict[int, list[int]]) -> bool:
    """Whether a baseline's forks for these points are all on disk."""
    return all((Path(folder) / name).is_file() for name in fork_files(points))


def missing(trials, points: dict, sources: dict, todo: set[str], results: str | os.PathLike,
            unstored: set[str] = frozenset()) -> dict:
    """Stored baselines (neither in ``todo`` nor ``unstored``) that jumped trials about to run (in ``todo``) would
    fork from, but whose forks are not all written: baseline key -> (its trial, the fork points to write). Only
    the points those trials fork at: a run narrowed by --only (paper-cifar's Sets 1 and 3, at 11500) does not
    train a stored baseline on to the points of trials it leaves for later (Set 2's 14500), on a machine that
    a later session may not have. A trial in ``todo`` with a checkpoint of its own resumes from it, so it needs
    no fork (decided here, once, for `suite run` and `suite status` alike)."""
    todo = set(todo) - checkpointed(results, todo)
    by_key = {t.key: t for t in trials}
    wanted: dict[str, set[int]] = {}
    for k, s in sources.items():
        if k in todo:
            wanted.setdefault(s.prefix, set()).add(s.step)
    out = {}
    for key, pts in points.items():
        prefix = prefix_key(by_key[key].config)
        stored = key not in todo and key not in unstored
        needed = {f: steps for f, steps in pts.items() if f in wanted.get(prefix, ())}
        if stored and needed and not written(forks_folder(results) / prefix, needed):
            out[key] = (by_key[key], needed)
    return out


def batches(ordered: list, needs, size: int, first=None) -> list[list]:
    """``ordered`` (trials in their run order) cut into consecutive batches, each needing at most ``size``
    stored baselines to train again for its forks (``needs(trial)``: the baseline key it waits on, or None). Each
    batch's baselines train again just before it runs, ``size`` at a time (one a worker), so a run cut by its
    time budget has trained again only the baselines of the seeds it reached. Within a batch, the trials that
    wait on nothing (a checkpoint of their own, forks on disk, a baseline of this run) form a batch of their own
    ahead of it when they fill every worker: a chunked run spends its first hours on trials, not on training
    baselines again. Fewer run with the batch, after its baselines: alone, they would leave a worker idle that
    could train one. The trials ``first(trial)`` names run before all of these, in a batch of their own however
    few (under a time budget, those resuming a checkpoint of their own: their steps are paid for, and behind
    baselines training again the budget could end before they start)."""
    if first is not None:
        lead = [t for t in ordered if first(t)]
        rest = batches([t for t in ordered if not first(t)], needs, size)
        return [lead] + rest if lead else rest
    out: list[list] = [[]]
    waits: set = set()
    for t in ordered:
        key = needs(t)
        if key is not None and key not in waits and len(waits) == max(size, 1):
            out.append([])
            waits = set()
        out[-1].append((t, key))
        if key is not None:
            waits.add(key)
    split = []
    for b in out:
        free = [t for t, k in b if k is None]
        split += [free, [t for t, k in b if k is not None]] if len(free) >= max(size, 1) else [[t for t, _ in b]]
    return [b for b in split if b]


def write_prefix(run_config: dict, results: str, points: list, deadline: float | None, evaluations=None,
                 name: str = "", stop: str | None = None) -> str:
    """Train a stored baseline again, from step 0 (or where an earlier attempt was cut), only up to its last fork
    point, writing its forks; a deadline (or the file ``stop``, an interrupt) cuts it, saved in its fork folder
    for the next attempt. Each evaluation's step goes to the ``evaluations`` queue as (name, step). What became
    of it, in words."""
    from .checkpoint import Checkpoint, TrialCut
    from .run import run

    config = RunConfig.from_dict(run_config)
    saved = forks_folder(results) / prefix_key(config) / "run.pt"
    try:
        report = (lambda point: evaluations.put((name, point["step"]))) if evaluations is not None else None
        run(config, progress=False, on_eval=report, checkpoint=saved, forks=results, fork_points=dict(points),
            deadline=deadline, forks_only=True, stop=stop)
    except ForksWritten:
        Checkpoint(saved, config.key()).discard()
        return f"forks written to step {max(dict(points))}"
    except TrialCut as cut:
        return f"cut at step {cut.step} by the time budget or an interrupt (resumes)"
    return "ended before its last fork point: no fork there"


def borrowable(jobs: dict, reuse) -> dict[str, Path]:
    """Of ``jobs`` (missing()'s stored baselines to train again for their forks), those whose forks a ``reuse``
    results folder (`suite run --reuse`) already holds: its baseline of the same training (the same run, or a
    longer one whose first steps it is: benchmark.truncation) wrote every file they need. Baseline key -> that
    folder. The files are what the baseline would write (the same steps, bit for bit on the same machine)."""
    from .store import ResultsStore
    from .truncation import longer_runs

    found: dict[str, Path] = {}
    for source in reuse:
        rest = [trial for key, (trial, _) in jobs.items() if key not in found]
        if not rest:
            break
        for key, (_, stored) in longer_runs(ResultsStore(source).ended(), rest).items():
            folder = forks_folder(source) / prefix_key(stored)
            if written(folder, jobs[key][1]):
                found[key] = folder
    return found


def borrow(jobs: dict, found: dict[str, Path], results: str | os.PathLike) -> list[str]:
    """Copy each borrowable() baseline's fork files into this results folder, under its own prefix (a dependent
    starts only from files that name its prefix: the longer run's differs only by its budget). A file that is not
    its folder's (another prefix, another format) stops that baseline's copy, and it trains again instead (over
    what was copied). The baseline keys copied."""
    done = []
    for key, folder in found.items():
        trial, points = jobs[key]
        prefix = prefix_key(trial.config)
        for name in fork_files(points):  # one at a time: a big model's are big
            try:
                saved = torch.load(folder / name, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError):
                break
            if saved.get("format") != FORMAT or saved.get("prefix") != folder.name:
                break
            _save({**saved, "prefix": prefix}, forks_folder(results) / prefix / name)
        else:
            done.append(key)
    return done


def load(source: ForkSource) -> tuple[dict, dict[int, list[torch.Tensor]]] | None:
    """The loop state at the fork point and the snapshots up to it, or None when any file is missing or is not
    of this prefix (the trial then trains from step 0)."""
    folder = Path(source.folder)
    try:
        state = torch.load(folder / f"state-{source.step}.pt", map_location="cpu", weights_only=True)
        snapshots = {}
        for s in source.steps:
            saved = torch.load(folder / f"w-{s}.pt", map_location="cpu", weights_only=True)
            if saved.get("format") != FORMAT or saved.get("prefix") != source.prefix:
                return None
            snapshots[s] = saved["weights"]
    except (OSError, RuntimeError, EOFError):
        return None
    if state.get("format") != FORMAT or state.get("prefix") != source.prefix or state.get("step") != source.step:
        return None
    return state, snapshots


def prune(results: str | os.PathLike, sources: dict, unstored: set[str]) -> int:
    """Remove the fork folders of a suite (``sources``: dependent key -> ForkSource) that no unstored dependent
    needs any more; another suite's in the same store are left alone. Returns how many were removed."""
    needed = {s.prefix for key, s in sources.items() if key in unstored}
    gone = 0
    for prefix in sorted({s.prefix for s in sources.values()} - needed):
        folder = forks_folder(results) / prefix
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
    with contextlib.suppress(OSError):  # the forks folder itself, once empty
        forks_folder(results).rmdir()
    return gone
