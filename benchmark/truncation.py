"""A shorter run read off a longer one. When nothing in a run's training depends on its budget (its task, optimizer,
learning-rate schedule, data and evaluation grid are those of the longer run), its first S steps are exactly the
run with budget S: `suite run --reuse` copies them, cut at S and scored afresh, rather than train them again."""
from __future__ import annotations

import dataclasses
from dataclasses import replace

import torch

from .config import RunConfig
from .scoring import infer_eval_every, score_run, whole_trial_seconds


def as_budget(stored: RunConfig, trial: RunConfig) -> RunConfig:
    """The stored run had it been given ``trial``'s budget and target (a target changes no step of training unless
    the run stops there, and a run that stops there is never cut)."""
    return replace(stored, steps=trial.steps, target=trial.target)


def why_not_prefix(short: RunConfig, long: RunConfig) -> str | None:
    """None when ``short`` trains exactly ``long``'s first steps; else why not, in a few words."""
    from .run import plan

    if short.stop_at_target or long.stop_at_target:
        return "a run that stops at its target ends where its target says, not at a budget"
    if as_budget(long, short).key() != short.key():
        return "another run config"
    s, l = plan(short)[0], plan(long)[0]
    if s.steps > l.steps:
        return f"the stored run is shorter ({l.steps} steps against {s.steps})"
    if s.steps % s.eval_every:
        return f"{s.steps} steps end off the evaluation grid of every {s.eval_every}, where the longer run has no point"
    differ = [f.name for f in dataclasses.fields(s) if f.name != "steps" and not callable(getattr(s, f.name))
              and getattr(s, f.name) != getattr(l, f.name)]
    if differ:
        return f"the task's {', '.join(differ)} depend on its budget"
    if _learning_rates(s, s.steps) != _learning_rates(l, s.steps):
        return "the learning-rate schedule depends on the budget"
    return None


def _learning_rates(task, steps: int) -> list:
    """The optimizer's settings at step 0, then each step's learning rates, as the task's schedule makes them."""
    import warnings

    weight = torch.zeros(1, requires_grad=True)
    optimizer = task.optimizer([weight])
    schedule = task.schedule(optimizer) if task.schedule else None
    first = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    if schedule is None:
        return [first]
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no gradient: the optimizer step is a no-op the schedule expects first
        for _ in range(steps):
            rates.append(tuple(g["lr"] for g in optimizer.param_groups))
            optimizer.step()
            schedule.step()
    return [first, rates]


def from_longer(rows: list[dict], trials) -> dict[str, dict]:
    """key -> the row, cut to the trial's budget, of each of ``trials`` that one of ``rows`` (stored trials that
    ran to their end) trains the first steps of."""
    configs = {t.key: t.config for t in trials}
    return {key: {**cut(row, as_budget(stored, configs[key])), "key": key}
            for key, (row, stored) in longer_runs(rows, trials).items()}


def longer_runs(rows: list[dict], trials) -> dict[str, tuple[dict, RunConfig]]:
    """key -> (the row, its run config) of each of ``trials`` that one of ``rows`` trains the first steps of: the
    same run, or a longer one whose training does not depend on its budget (why_not_prefix)."""
    from . import forks

    wanted = {(t.config.steps, t.config.target) for t in trials}
    longer: dict[str, tuple[dict, RunConfig]] = {}
    for row in rows:
        stored = RunConfig.from_stored(row["config"])
        if stored is None or stored.stop_at_target:  # an old row, or one that ended at its target
            continue
        for steps, target in wanted:
            longer.setdefault(replace(stored, steps=steps, target=target).key(), (row, stored))
    checked: dict[tuple[str, str], str | None] = {}  # one check per training, whatever the seed and forecaster
    out = {}
    for t in trials:
        if t.key not in longer:  # a trial that stops at its target never matches: its key says so
            continue
        row, stored = longer[t.key]
        training = (forks.prefix_key(replace(t.config, seed=0)), forks.prefix_key(replace(stored, seed=0)))
        if training not in checked:
            checked[training] = why_not_prefix(t.config, stored)
        if checked[training] is None:
            out[t.key] = (row, stored)
    return out


def cut(row: dict, config: RunConfig) -> dict:
    """A stored trial's row as the shorter run it began with (``config``): its curve and jumps up to that run's
    budget, scored against that run's target, its seconds the share of its whole time (at its last attempt's
    pace)."""
    from .run import plan

    task, _, _, target = plan(config)
    steps = task.steps
    summary = dict(row["summary"] or {})
    long = summary.get("steps") or max(int(p["step"]) for p in row["curve"])
    curve = [p for p in row["curve"] if int(p["step"]) <= steps]
    events = [e for e in row["events"] or [] if int(e["step"]) <= steps]
    whole = whole_trial_seconds(row["seconds"], summary.pop("resumed_from", None),
                                summary.pop("seconds_before_resume", None), long)
    share = steps / long
    eval_every = summary.get("eval_every") or infer_eval_every(row["curve"])
    summary.update(score_run(curve, target=target, eval_every=eval_every, steps=steps))
    for k in ("wall_clock", "eval_seconds"):
        if summary.get(k) is not None:
            summary[k] *= share
    summary["status"] = "diverged" if any(p.get("phase") == "diverged" for p in curve) else "finished"
    if long > steps:  # else the same run, only scored against this one's target
        summary["truncated_from"] = long
    return {**row, "config": config.to_dict(), "summary": summary, "curve": curve, "events": events,
            "status": summary["status"], "seconds": None if whole is None else whole * share}
