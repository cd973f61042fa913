"""Searches: a suite experiment's `search` runs as a Ray Tune search (Optuna's TPE, or random) over a jumping
forecaster's schedule and parameters, with an optional ASHA scheduler that stops trials clearly behind; then
the best sample found is re-run on every seed of the experiment.

The store is the source of truth: each sample is stored as it ends (with what was sampled and its score),
and a resumed search hands the stored samples to a new searcher as already evaluated, so it goes on with
what it has learned and runs only the samples still missing.
"""

from __future__ import annotations

import dataclasses

from . import scoring
from .errors import IntrobenchError
from .store import ResultsStore, unfinished
from .suites import Search

ASHA_REDUCTION = 2  # at each rung the lower half stops: a schedule's jumps come late, so rungs must too


def score(curve: list[dict], *, objective: str, target: float | None, eval_every: int, steps: int) -> float:
    """What the search minimises (steps to target; a miss, or a trial stopped before it crossed, scores the
    budget plus one evaluation interval) or maximises (accuracy of the last grid evaluation)."""
    points = scoring.grid_curve(curve, eval_every, steps)
    if objective == "accuracy":
        return points[-1]["accuracy"] if points else 0.0
    reached = scoring.crossing(points, target)
    return float(steps + eval_every if reached is None else reached)


def mode_of(objective: str) -> str:
    return "max" if objective == "accuracy" else "min"


def sampled_of(tune_config: dict) -> dict:
    """The values a searcher chose for this trial (top-level keys beside the fixed case)."""
    return {k: v for k, v in tune_config.items() if k != "case"}


def search_trial(case: dict, sampled: dict, trial_id: str) -> dict:
    """A sample as a trial: its own key (the config's and Tune's trial id: a repeated suggestion is its own
    sample), its target and data folder filled in like every trial's."""
    from .run import plan
    from .sweep import effective_trial

    search = Search.from_dict(case["search"])
    sampled = {k: round(v, 4) if isinstance(v, float) else v for k, v in sampled.items()}  # readable labels
    config = search.config(sampled)
    if search.objective == "steps_to_target":  # its score needs only the crossing: a hit ends there
        config = dataclasses.replace(config, stop_at_target=True)
    trial = search.trial(config, "search", key=f"{config.key()}-{trial_id}").to_dict()
    task, _, _, target = plan(config)
    trial["run"].update(steps=task.steps, eval_every=task.eval_every, target=target)  # what scores it
    return {**effective_trial({**case, "trial": trial}), "role": "search", "sampled": sampled,
            "objective": search.objective}


def confirm_trials(search: Search, best: dict) -> list:
    """The best sample's schedule and parameters on every seed of the experiment."""
    return [search.trial(search.config(best["summary"]["search"]["sample"], seed), "confirm") for seed in search.seeds]


def remaining(store: ResultsStore, search: Search) -> int:
    """How many trials a search still has to run: its missing samples and then its best one's seeds (all of
    them while the samples are not all in), or the best one's seeds not stored yet."""
    done = stored_samples(store, search)
    missing = max(0, search.samples - len(done))
    if missing:
        return missing + len(search.seeds)
    best = best_sample(done, search.objective)
    if best is None:
        return 0
    return len(unfinished(store.statuses(search.suite), confirm_trials(search, best)))


def pending(store: ResultsStore, search: Search) -> bool:
    return remaining(store, search) > 0


def stored_samples(store: ResultsStore, search: Search) -> list[dict]:
    expected = store.expected(search.suite) or []
    keys = {k for k, _, e, role in expected if role == "search" and e == search.experiment}
    return [r for r in store.rows(search.suite) if r["key"] in keys and r["forecaster"] == search.base.forecaster]


def _rank(row: dict, objective: str) -> tuple:
    """Best first; a tie goes to the sample that finished first (the searcher saw it first)."""
    value = row["summary"]["search"]["score"]
    sign = -1 if mode_of(objective) == "max" else 1
    return value is None, sign * (value or 0.0), row["finished"]


def best_sample(rows: list[dict], objective: str) -> dict | None:
    scored = [r for r in rows if r["summary"]["search"]["score"] is not None]
    return min(scored, key=lambda r: _rank(r, objective)) if scored else None


def _distributions(space: dict):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name, dom in space.items():
        kind, args = next(iter(dom.items()))
        out[name] = (IntDistribution(*args) if kind == "int" else CategoricalDistribution(args) if kind == "choice"
                     else FloatDistribution(*args, log=kind == "loguniform"))
    return out


def run_search(search: Search, target: float | None, opts, mode: str, results, store: ResultsStore, callback,
               data_dir) -> None:
    """Run the samples still missing, then the best found on every seed."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    from .run import plan
    from .sweep import _fit, trainable, trial_case, tune_config, tune_run_config, tune_takes_interrupts

    done = stored_samples(store, search)
    to_draw = search.samples - len(done)
    if to_draw > 0:
        task = plan(search.base)[0]
        # Seeded by what is stored: a resumed search draws new points, not the first run's again.
        seed = search.experiment * 100_003 + len(done)
        sampler = (optuna.samplers.TPESampler(seed=seed) if search.algorithm == "tpe"
                   else optuna.samplers.RandomSampler(seed=seed))
        known = [r for r in done if r["summary"]["search"]["score"] is not None]
        searcher = OptunaSearch(space=_distributions(search.space), metric="score", mode=mode_of(search.objective),
                                sampler=sampler, points_to_evaluate=[r["summary"]["search"]["sample"] for r in known] or None,
                                evaluated_rewards=[r["summary"]["search"]["score"] for r in known] or None)
        # max_t past the budget: at max_t ASHA would stop every trial before it could report its final result
        scheduler = (ASHAScheduler(time_attr="step", metric="accuracy", mode="max", max_t=2 * task.steps,
                                   grace_period=max(task.eval_every, task.steps // 4), reduction_factor=ASHA_REDUCTION)
                     if search.scheduler == "asha" else FIFOScheduler())
        tuner = tune.Tuner(
            trainable(opts),
            param_space={"case": trial_case(opts, mode, data_dir, target, trial=None, search=search.to_dict())},
            tune_config=tune_config(searcher, opts, to_draw, scheduler),
            run_config=tune_run_config(f"{search.suite}-search{search.experiment}-{search.base.forecaster}", opts,
                                       results, callback))
        with tune_takes_interrupts():
            tuner.fit()
        if callback.abort:
            raise IntrobenchError(callback.abort)
        if len(stored_samples(store, search)) < search.samples:  # Tune ends fit() quietly on Ctrl-C
            raise KeyboardInterrupt
    best = best_sample(stored_samples(store, search), search.objective)
    if best is None:
        return
    confirm = confirm_trials(search, best)
    store.add_expected(search.suite, [(t.key, t.label, t.experiment, "confirm") for t in confirm])
    todo = unfinished(store.statuses(search.suite), confirm)
    if todo:
        _fit(search.suite, todo, f"confirm{search.experiment}-{search.base.forecaster}", {search.experiment: target},
             opts, mode, results, callback, data_dir)


def sample_summary(summary: dict | None, sampled: dict, value: float | None, objective: str) -> dict:
    """A sample's summary carries what was sampled and its score (None: it failed), for a resumed searcher."""
    return {**(summary or {}), "search": {"sample": sampled, "score": value, "objective": objective}}


def search_outcome(sample_rows: list[dict], variants: list) -> list[dict]:
    """Per searched forecaster of one experiment: its samples ranked by score, the best one found, and the
    best one's seeds beside the suite's own schedule for that forecaster (both scored like every variant)."""
    out = []
    for forecaster in sorted({r["forecaster"] for r in sample_rows}):
        rows = [r for r in sample_rows if r["forecaster"] == forecaster]
        objective = rows[0]["summary"]["search"].get("objective", "steps_to_target")
        ranked = sorted(rows, key=lambda r: _rank(r, objective))
        best = best_sample(rows, objective)
        found = next((v for v in variants if best is not None and v.forecaster == forecaster
                      and v.jumps == list(best["config"]["jumps"] or [])
                      and all(v.params.get(k) == x for k, x in (best["config"]["forecaster_params"] or {}).items())
                      and any(r.get("role") == "confirm" for r in v.rows)), None)
        reference = next((v for v in variants if v.forecaster == forecaster and v is not found
                          and not any(r.get("role") == "confirm" for r in v.rows)), None)
        out.append({"forecaster": forecaster, "samples": len(rows),
                    "stopped": sum(r["status"] == "stopped" for r in rows),
                    "failed": sum(r["status"] == "failed" for r in rows),
                    "ranked": [{"label": r["label"], "sample": r["summary"]["search"]["sample"],
                                "score": r["summary"]["search"]["score"], "status": r["status"],
                                "jumps": r["config"]["jumps"], "params": r["config"]["forecaster_params"]}
                               for r in ranked],
                    "best": found.variant if found else (best["label"] if best else None),
                    "best_stats": _brief(found), "reference": reference.variant if reference else None,
                    "reference_stats": _brief(reference)})
    return out


def _brief(v) -> dict | None:
    if v is None:
        return None
    keys = ("steps_median", "reached", "scored", "median_curve_step", "speedup_median", "max_accuracy_median")
    return {k: v.stats.get(k) for k in keys}
