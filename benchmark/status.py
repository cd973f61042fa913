"""What a suite's results store holds and what is left to run: per experiment and variant, the seeds stored,
running (as far as a live `suite run` has got with them) and missing, and the time the rest will take, judged
from how long the stored trials took (or, before any is stored, from the running trials' pace).

A suite is run in chunks (a session's end, a 10-minute device command): this is what tells the next chunk
where it stands and whether the rest fits, without starting Ray (only a search's stored samples are read
whole, to find its best one).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from statistics import median

from . import forks
from .checkpoint import saved_progress
from .config import RunConfig
from .environment import same_machine
from .search import remaining
from .selection import select, select_searches, seed_ranges, trial_variant
from .store import ResultsStore, reusable, unfinished
from .suites import Suite

LABEL = re.compile(r"^(?P<task>\S+) (?P<variant>.+) s(?P<seed>\d+)$")


def labels_by_task(labels: list[str]) -> str:
    """Trial labels grouped by task, for a line a reader can take in: 'mnist1: 20 trials of 4 variants, s0-s4',
    naming the variants where there are at most three."""
    groups: dict[str, dict] = {}
    loose = 0
    for label in labels:
        m = LABEL.match(label)
        if not m:  # a search's sample ('search: ...'), which has no seed in its label
            loose += 1
            continue
        group = groups.setdefault(m["task"], {"n": 0, "variants": {}, "seeds": set()})
        group["n"] += 1
        group["variants"][m["variant"]] = None  # in the suite's order
        group["seeds"].add(int(m["seed"]))
    parts = []
    for task, g in groups.items():
        variants = list(g["variants"])
        which = ", ".join(variants) if len(variants) <= 3 else f"{len(variants)} variants"
        parts.append(f"{task}: {g['n']} trial{'s' * (g['n'] != 1)} of {which}, {seed_ranges(g['seeds'])}")
    if loose:
        parts.append(f"{loose} of a search")
    return "; ".join(parts)


def _training(config: RunConfig) -> str:
    """What a trial trains, whatever its forecaster and seed: forks.prefix_key at seed 0."""
    return forks.prefix_key(replace(config, seed=0))


def _stored_training(config: dict) -> str | None:
    """_training of a stored trial's config; None for one this version cannot read."""
    stored = RunConfig.from_stored(config)  # an old row it cannot read only helps no estimate
    return None if stored is None else _training(stored)


RECENT = 10  # how many of a group's newest stored trials tell its next trial's time


def _left(each: float | None, missing: float) -> float | None:
    """The time ``missing`` trials of ``each`` seconds take on one worker (a running trial counts as the share
    of it still to go); None when nothing tells ``each``."""
    if not missing:
        return 0.0
    return None if each is None else each * missing


def suite_status(suite: Suite, store: ResultsStore, tasks: tuple[str, ...] = (), only: tuple[str, ...] = (),
                 reuse: tuple[str, ...] = (), machine: dict | None = None, seeds: tuple[int, ...] = ()) -> dict:
    """Every selected variant's stored and missing seeds, and an estimate of the missing trials' time on one
    worker: the median time of the variant's newest stored trials, else of its experiment's, else of its task's in
    this suite, else of the same training (task, budget and settings, any forecaster) in the ``reuse`` stores;
    None where nothing comparable has run yet (counted in ``unestimated``). Given ``machine`` (platform_of where
    the trials will run), trials stored on a machine like it are asked first, at every one of those levels, and
    a row says whether its estimate came from them (``timed_here``): a store made on several machines otherwise
    mixes their speeds. The trials that `suite run --reuse` would copy from those stores are counted apart
    (``copied``), not as still to run."""
    trials = suite.trials()
    selected = select(trials, tasks, only, seeds)
    statuses = store.statuses(suite.name)
    seconds = store.seconds(suite.name)
    here = ({k for k, p in store.platforms(suite.name).items() if same_machine(p, machine)} if machine
            else set())
    seconds_here = {k: v for k, v in seconds.items() if k in here}
    running = store.running(suite.name)
    saved = saved_progress(store.folder)  # trials cut short, resumable from their checkpoints
    now = time.time()
    # a running trial's whole time, from its pace so far: what a task that has stored nothing yet goes by. Only
    # the steps between its first and latest reports count: one resumed from a checkpoint or a fork at 12,000
    # trained none of the steps before, and its start (data, workers) is no part of its pace
    pace = {k: (r["updated"] - r["first_at"]) * r["steps"] / (r["step"] - r["first"]) for k, r in running.items()
            if r["steps"] and r["first"] is not None and r["step"] > r["first"]}
    # a jumped trial still to run starts from its baseline's fork, and a stored baseline whose forks are not
    # written trains again up to its last fork point first (benchmark.forks)
    unstored = {t.key for t in unfinished(statuses, trials)}
    copied = reusable(store, [t for t in selected if t.key in unstored and t.key not in running], reuse)
    unstored -= copied.keys()
    points, sources = forks.suite_plan(trials, unstored, store.folder)
    # the stored baselines that train again for the selected trials' forks (not for those --only leaves out, nor
    # for a trial cut short: it resumes from its own checkpoint, as `suite run` knows)
    todo = unstored & {t.key for t in selected}
    rewrite = forks.missing(trials, points, sources, todo, store.folder, unstored)
    lent = forks.borrowable(rewrite, reuse)  # `suite run --reuse` copies these rather than train them
    rewrite = {k: v for k, v in rewrite.items() if k not in lent}

    def typical(keys, of=seconds) -> float | None:
        """The median of ``of`` (stored times oldest first, or running trials' paces) over the last ``RECENT`` of
        ``keys`` it has: the code gets faster, and a trial stored months ago says little of the next one's time."""
        keys = set(keys)
        took = [v for k, v in of.items() if k in keys][-RECENT:]
        return median(took) if took else None

    # the same training's times in the reuse stores, oldest first: all of them, and those made on this machine
    elsewhere: dict[str, list[float]] = {}
    elsewhere_here: dict[str, list[float]] = {}
    for source in reuse:
        for config, took, platform in ResultsStore(source).timings():
            shape = _stored_training(config)
            if shape:
                elsewhere.setdefault(shape, []).append(took)
                if machine and same_machine(platform, machine):
                    elsewhere_here.setdefault(shape, []).append(took)

    def estimate(config, *groups) -> tuple[float | None, bool]:
        """A trial's time, and whether trials on this machine told it: this machine's stored times, then any
        machine's, then running trials' paces, then the reuse stores' (this machine's first); the narrowest group
        of keys first within each. A machine's speed is the larger factor: an AVX2 core against an AVX-512 one is
        2-3x, one forecaster against another of a task far less."""
        for of in (seconds_here, seconds, pace):
            for g in groups:
                v = typical(g, of)
                if v:  # a running trial's pace is a live run's, on this machine or one it drives
                    return v, of is not seconds
        shape = _training(config) if elsewhere else None  # hashed only when --reuse gave times to match
        for times in (elsewhere_here, elsewhere):
            took = times.get(shape, [])[-RECENT:]
            if took:
                return median(took), times is elsewhere_here
        return None, False

    # every seed's trials time a variant, not only those --seeds chose
    by_variant: dict[tuple[int, str], list] = {}
    by_experiment: dict[int, list] = {}
    by_task: dict[str, list] = {}
    for t in trials:
        by_variant.setdefault((t.experiment, trial_variant(t)), []).append(t.key)
        by_experiment.setdefault(t.experiment, []).append(t.key)
        by_task.setdefault(t.config.task, []).append(t.key)
    rows: dict[tuple[int, str], dict] = {}
    for t in selected:
        row = rows.setdefault((t.experiment, trial_variant(t)), {
            "experiment": t.experiment, "task": t.config.task, "variant": trial_variant(t), "keys": [],
            "finished": 0, "diverged": 0, "failed": 0, "missing_seeds": [], "running": [], "resumable": [],
            "forked": [], "prefix_seeds": [], "lent_seeds": [], "share": 0.0, "copied": [], "config": t.config})
        row["keys"].append(t.key)
        status = statuses.get(t.key, (None,))[0]
        if status in ("finished", "diverged"):
            row[status] += 1
        elif t.key in running:
            r = running[t.key]
            row["running"].append({"seed": t.config.seed, "step": r["step"], "steps": r["steps"],
                                   "heard": r["first"] is not None or r["step"] > 0, "accuracy": r["accuracy"],
                                   "seconds": now - r["started"], "driver": r["driver"]})
        elif t.key in copied:
            row["copied"].append(t.config.seed)
        else:  # a failed trial is run again by --resume: it is still to do
            row["failed"] += status == "failed"
            row["missing_seeds"].append(t.config.seed)
            if t.key in saved:
                row["resumable"].append({"seed": t.config.seed, **saved[t.key]})
            elif t.key in sources:  # the steps before its fork point are its baseline's
                row["forked"].append({"seed": t.config.seed, "step": sources[t.key].step})
                row["share"] -= sources[t.key].step / sources[t.key].budget
        if t.key in lent:
            row["lent_seeds"].append(t.config.seed)
        if t.key in rewrite:
            fork_steps = max(rewrite[t.key][1])
            at = (running.get(forks.RUNNING + t.key) or {}).get("step")  # a live `suite run` trains it again now
            row["prefix_seeds"].append({"seed": t.config.seed, "step": fork_steps, "at": at})
            prefix = forks.prefix_key(t.config)
            row["share"] += (fork_steps - (at or 0)) / next(x.budget for x in sources.values() if x.prefix == prefix)
    out = []
    for (index, variant), row in sorted(rows.items(), key=lambda kv: kv[0][0]):
        keys = row.pop("keys")
        config = row.pop("config")
        each, timed_here = estimate(config, by_variant[index, variant], by_experiment[index], by_task[row["task"]])
        left = len(row["missing_seeds"])
        # what the running trials still have to go, by the share of their budget they have done
        going = sum(1 - r["step"] / r["steps"] for r in row["running"] if r["steps"])
        done = sum(r["step"] / r["steps"] for r in row["resumable"])  # a checkpoint's share needs no rerun
        share = row.pop("share")  # forked trials' shares not trained, baselines' prefixes trained again
        out.append({**row, "trials": len(keys), "missing": left, "trial_seconds": each, "timed_here": timed_here,
                    "left_seconds": _left(each, left + going - done + share)})
    for x in select_searches(suite.searches(), tasks, only, seeds):  # as `suite run` takes them
        left = remaining(store, x)
        each, timed_here = estimate(x.base, by_experiment.get(x.experiment, []), by_task.get(x.base.task, []))
        out.append({"experiment": x.experiment, "task": x.base.task, "variant": f"search {x.name}",
                    "trials": x.trials, "finished": None, "diverged": None, "failed": None,
                    "missing_seeds": None, "running": [], "resumable": [], "forked": [], "prefix_seeds": [],
                    "lent_seeds": [], "copied": [], "missing": left,
                    "trial_seconds": each, "timed_here": timed_here, "left_seconds": _left(each, left)})
    return {
        "suite": suite.name, "store": str(store.path), "store_exists": store.path.exists(), "rows": out,
        "machine": machine,
        "trials": sum(r["trials"] for r in out), "missing": sum(r["missing"] for r in out),
        "copied": sum(len(r["copied"]) for r in out),
        "running": sum(len(r["running"]) for r in out),
        "drivers": sorted({x["driver"] for r in out for x in r["running"]}),
        "failed": sum(r["failed"] or 0 for r in out),
        "left_seconds": sum(r["left_seconds"] or 0.0 for r in out),
        "unestimated": sum(r["missing"] for r in out if r["left_seconds"] is None),
    }
