"""Scoring (SPEC.md "Scoring"): the one module that turns curves into steps-to-target, medians and speedups.

The runner's summary, the results store, W&B, `run --compare-baseline` and `report` all call it; nothing
else decides whether a run reached its target. The rules:

- Crossings are counted on the regular evaluation grid (every ``eval_every`` steps, and the last step) that
  every run of an experiment shares. The evaluation right before a jump is kept on the curve but is no extra
  chance to cross; the one right after a jump counts only where the jump falls on the grid, where it is the
  grid's own evaluation of the model at that step.
- A seed that never reaches the target is a miss (+infinity), never dropped: medians count misses, and a
  median that lands on a miss is "never" (None).
- Speedups are paired by seed: baseline steps / method steps; a method miss scores 0; a baseline miss with a
  method hit is the lower bound budget / method steps.
- A run that diverged scores accuracy 0 on every grid step after it diverged.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from functools import reduce
from typing import Collection, Iterable, Sequence

FRACTIONS = ("25", "50", "75", "100")
MISS = math.inf
BOOTSTRAP_SAMPLES = 2000
# What a guarded jump may cost right away (issue 14): accuracy just after at most this many points below just before
JUMP_DROP_BAR = 1.0


# ---------------------------------------------------------------- one run

def grid_steps(eval_every: int, steps: int) -> list[int]:
    """The steps every run of an experiment evaluates at: 0, eval_every, 2 eval_every, ..., and the last."""
    grid = list(range(0, steps + 1, eval_every))
    return grid if grid[-1] == steps else grid + [steps]


def infer_eval_every(curve: Sequence[dict]) -> int:
    """For curves stored before summaries carried eval_every: the spacing of the regular evaluations."""
    steps = sorted({int(p["step"]) for p in curve if p.get("phase", "eval") == "eval" and p["step"] > 0})
    if not steps:
        return 1
    inner = steps[:-1] or steps  # the last step may be the budget, off the grid
    return reduce(math.gcd, inner)


def grid_curve(curve: Sequence[dict], eval_every: int, steps: int) -> list[dict]:
    """{step, accuracy} on the grid, in step order: pre-jump points dropped, a diverged run's tail at 0."""
    on_grid = set(grid_steps(eval_every, steps))
    by_step: dict[int, float] = {}
    diverged_at = None
    for p in curve:
        phase = p.get("phase", "eval")
        if phase == "diverged":
            diverged_at = int(p["step"])
            break
        step = int(p["step"])
        if phase in ("eval", "post_jump") and step in on_grid:
            by_step[step] = float(p["accuracy"])  # the post-jump point is the model the grid step ends with
    if diverged_at is not None:
        for s in on_grid:
            if s >= diverged_at:
                by_step[s] = 0.0
    return [{"step": s, "accuracy": by_step[s]} for s in sorted(by_step)]


def crossing(points: Sequence[dict], target: float | None) -> int | None:
    """The first step of ``points`` whose accuracy >= target; None if never (or no target)."""
    if target is None:
        return None
    return next((int(p["step"]) for p in points if p["accuracy"] >= target), None)


def accuracy_at(points: Sequence[dict], steps: int, eval_every: int) -> dict[str, float | None]:
    """Accuracy of the last grid evaluation at or before 25/50/75/100% of the budget; None where a run that
    stopped at its target ended before that evaluation (those steps were never trained)."""
    out = {}
    last = points[-1]["step"] if points else -1
    for f in FRACTIONS:
        at = int(f) / 100 * steps
        seen = [p["accuracy"] for p in points if p["step"] <= at]
        out[f] = seen[-1] if seen and (last == steps or at < last + eval_every) else None
    return out


def score_run(curve: Sequence[dict], *, target: float | None, eval_every: int, steps: int) -> dict:
    """Everything one run's summary says about its accuracy: the same numbers the report recomputes."""
    points = grid_curve(curve, eval_every, steps)
    reached = crossing(points, target)
    top = max((p["accuracy"] for p in points), default=None)
    at_reached = next((p for p in curve if int(p["step"]) == reached and p.get("phase") != "pre_jump"), None)
    return {
        "target": target,
        "steps": steps,
        "eval_every": eval_every,
        "steps_to_target": reached,
        "seconds_to_target": at_reached.get("seconds") if at_reached else None,
        "max_accuracy": top,
        "max_accuracy_step": next((p["step"] for p in points if p["accuracy"] == top), None),
        "final_accuracy": points[-1]["accuracy"] if points else None,
        "accuracy_at": accuracy_at(points, steps, eval_every),
    }


def rescore(row: dict, target: float | None) -> dict:
    """A stored trial's summary scored against ``target`` (the experiment's resolved one)."""
    summary = row["summary"] or {}
    steps = summary.get("steps") or max(int(p["step"]) for p in row["curve"])
    eval_every = summary.get("eval_every") or infer_eval_every(row["curve"])
    return {**summary, **score_run(row["curve"], target=target, eval_every=eval_every, steps=steps)}


def whole_trial_seconds(seconds: float | None, resumed_from: int | None, before: float | None,
                        end: int | None) -> float | None:
    """A trial's seconds from step 0 at its last attempt's pace, on the machine its platform names. A trial
    resumed (or forked) at step ``resumed_from`` counts in its ``seconds`` the ``before`` seconds its steps up to
    there took, often on another machine; its last attempt's seconds are scaled to all ``end`` steps instead.
    Any other trial's ``seconds``."""
    if seconds is None or before is None or not resumed_from or not end or end <= resumed_from:
        return seconds
    return (seconds - before) * end / (end - resumed_from)


# ---------------------------------------------------------------- over seeds

def median(values: Iterable[float]) -> float | None:
    """The plain median of the values that are numbers (None and NaN left out)."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def censored_median(steps: Sequence[int | None]) -> float | None:
    """Median steps-to-target with each miss (None) as +infinity; None ("never") when the median is a miss:
    more than half missed, or exactly half of an even count (the mean of a step and infinity)."""
    if not steps:
        return None
    vals = sorted(MISS if s is None else float(s) for s in steps)
    mid = len(vals) // 2
    med = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
    return None if math.isinf(med) else med


def bootstrap_ci(values: Sequence[float], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the median (fixed seed: the same store gives the same interval)."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    rng = random.Random(seed)
    meds = sorted(median(rng.choices(vals, k=len(vals))) for _ in range(samples))
    lo = meds[int(math.floor((1 - level) / 2 * (samples - 1)))]
    hi = meds[int(math.ceil((1 + level) / 2 * (samples - 1)))]
    return lo, hi


@dataclass(frozen=True)
class PairedSpeedup:
    seed: int
    value: float  # 0.0 for a method miss
    lower_bound: bool  # the baseline missed: budget / method steps is only a bound


def paired_speedup(baseline: int | None, method: int | None, budget: int, seed: int) -> PairedSpeedup:
    if method is None:
        return PairedSpeedup(seed, 0.0, False)
    method = max(method, 1)  # a target met at step 0 by both is no speedup, not a division by zero
    if baseline is None:
        return PairedSpeedup(seed, budget / method, True)
    return PairedSpeedup(seed, max(baseline, 1) / method, False)


def lead_at(curve: Sequence[dict], reference: Sequence[dict], budget: int,
            known: dict[str, float | None]) -> dict[str, dict | None]:
    """How far ahead of ``reference`` (the baseline's median curve) a method's median ``curve`` stands at 25/50/
    75/100% of the budget, in steps, measured at the level of whichever curve is higher there (best accuracy
    so far). Ahead (or level): the step at which the reference first reaches the method's best minus the step
    at which the method first did. Behind: minus how many more steps the method, over its whole curve, takes
    than the reference to first reach the reference's best. Where the trailing curve never gets there within
    the budget, the lead is only bounded: more than budget - the leader's step (``bound`` '>') or less than
    the leader's step - budget ('<'); else ``bound`` is None. Two identical curves: 0, however noisy. None
    where the method's accuracy there is unknown (``known``: its accuracy_at, None where a seed stopped at its
    target before). It tells a lead that lasts from one the baseline makes up: a method that peaked early and
    stalled is behind once the baseline passes it, whatever lead it had at its peak."""
    out: dict[str, dict | None] = {}
    for f in FRACTIONS:
        t = int(f) / 100 * budget
        at = [p for p in curve if p["step"] <= t]
        ref_at = [p for p in reference if p["step"] <= t]
        if known.get(f) is None or not at:
            out[f] = None
            continue
        best = max(p["accuracy"] for p in at)
        ref_best = max((p["accuracy"] for p in ref_at), default=best)
        if ref_best > best:  # behind: the reference already stands higher
            ref_reached = crossing(ref_at, ref_best)
            caught = crossing(curve, ref_best)
            out[f] = ({"steps": ref_reached - budget, "bound": "<"} if caught is None
                      else {"steps": ref_reached - caught, "bound": None})
            continue
        reached = crossing(at, best)
        caught = crossing(reference, best)
        out[f] = ({"steps": budget - reached, "bound": ">"} if caught is None
                  else {"steps": caught - reached, "bound": None})
    return out


def hold_after_stop(points: Sequence[dict], eval_every: int, steps: int) -> list[dict]:
    """A grid curve that stopped at its target, held at its last accuracy to the budget: the seed counts as
    at its target from then on (it may have dipped below later; nobody trained those steps to see)."""
    if not points:
        return list(points)
    last = points[-1]
    return list(points) + [{"step": s, "accuracy": last["accuracy"]}
                           for s in grid_steps(eval_every, steps) if s > last["step"]]


def median_curve(curves: Sequence[Sequence[dict]]) -> list[dict]:
    """Median accuracy over seeds at each grid step that every (grid) curve has."""
    by_step: dict[int, list[float]] = {}
    for c in curves:
        for p in c:
            by_step.setdefault(int(p["step"]), []).append(p["accuracy"])
    return [{"step": s, "accuracy": median(v)} for s, v in sorted(by_step.items()) if len(v) == len(curves)]


def baseline_max(maxima: Sequence[float | None]) -> float | None:
    """A ``baseline_max`` target: the median over the baseline's seeds of their max (grid) accuracy."""
    return median(maxima)


def baseline_of(variants: Iterable["VariantScore"]) -> "VariantScore | None":
    """An experiment's baseline: its variant that never jumps ('none'), if it has one."""
    return next((v for v in variants if v.forecaster == "none"), None)


def own_target(variants: Sequence["VariantScore"], target: float | None) -> float | None:
    """Where an experiment's target lies beyond its baseline (the median over seeds of the baseline's max
    accuracy is below it, so the baseline misses it on most seeds and every speedup is at best a bound), the
    baseline's own max: the paper's ``baseline_max`` rule, at which the experiment can be read again. A lower
    target is crossed no later than the stated one, so a trial that stopped at the stated target still has
    its crossing. None otherwise."""
    base = baseline_of(variants)
    own = base.stats["max_accuracy_median"] if base is not None and target is not None else None
    return own if own is not None and own < target else None


# ---------------------------------------------------------------- one experiment

@dataclass
class VariantScore:
    """One forecaster variant (name, parameters, jump schedule) of one experiment, over its seeds."""

    variant: str
    forecaster: str
    params: dict
    jumps: list[int]
    rows: list[dict] = field(default_factory=list, repr=False)
    stats: dict = field(default_factory=dict)


def variant_of(row: dict) -> tuple[str, dict, list[int]]:
    cfg = row["config"]
    params = cfg.get("forecaster_params") or {}
    label = cfg["forecaster"] + (f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")
    jumps = list((row["summary"] or {}).get("jump_points") or cfg.get("jumps") or [])
    if cfg["forecaster"] != "none" and jumps:
        label += " @" + "/".join(str(j) for j in jumps)
    return label + variant_marks(cfg), params, jumps


def guard_mark(cfg: dict) -> str:
    """A guarded trial's mark: '+guard' (halve or undo), '+guard=line', '+guard=settle' with the settling
    guard's own wait when set ('+guard=settle(steps=300)'); '' when unguarded."""
    guard = cfg.get("guard")
    if not guard:
        return ""
    wait = f"(steps={cfg['settle_steps']})" if cfg.get("settle_steps") and guard == "settle" else ""
    return "+guard" + (f"={guard}" if isinstance(guard, str) else "") + wait


def variant_marks(cfg: dict) -> str:
    """What else makes a trial a variant of its own (its key differs too): guarded or gated jumps (never for
    the baseline, which does not jump; a settling guard's own wait when set), bf16, channels_last. A suite's
    trial labels carry the same marks."""
    jumping = cfg["forecaster"] != "none"
    marks = f" {guard_mark(cfg)}" if cfg.get("guard") and jumping else ""
    marks += f" +gate{cfg['gate']:g}" if cfg.get("gate") is not None and jumping else ""
    return marks + "".join(f" [{n}={cfg[n]}]" for n in ("precision", "channels_last")
                           if cfg.get(n) not in (None, False, "fp32"))


def experiment_target(rows: Sequence[dict]) -> float | None:
    """The one target every trial of an experiment is scored against: the one stored with its baselines (a
    resolved ``baseline_max``), else the one stored with any of its trials, else the task's own target that
    the trials' summaries were scored against."""
    ordered = sorted(rows, key=lambda r: r["forecaster"] != "none")
    stored = next((r["config"]["target"] for r in ordered if r["config"].get("target") is not None), None)
    if stored is not None:
        return stored
    # no target in the config: the trials ran to their task's own, which their summaries say
    return next((r["summary"]["target"] for r in ordered if (r.get("summary") or {}).get("target") is not None),
                None)


def _scored(row: dict) -> bool:
    return row["status"] in ("finished", "diverged") and bool(row["curve"])


def score_experiment(rows: Sequence[dict], target: float | None) -> tuple[list[VariantScore], dict]:
    """Every variant of one experiment scored against ``target``, ranked by censored median steps-to-target."""
    variants: dict[str, VariantScore] = {}
    for r in rows:
        label, params, jumps = variant_of(r)
        variants.setdefault(label, VariantScore(label, r["forecaster"], params, jumps)).rows.append(r)
    budget = next((r["summary"]["steps"] for r in rows if r["summary"] and r["summary"].get("steps")), None)
    for v in variants.values():
        v.rows.sort(key=lambda r: r["seed"])
        v.stats = _variant_stats(v.rows, target)
    baseline = baseline_of(variants.values())
    base_steps = dict(zip(baseline.stats["seed_list"], baseline.stats["steps_per_seed"])) if baseline else {}
    base_ok = {r["seed"] for r in baseline.rows if _scored(r)} if baseline else set()
    for v in variants.values():  # the baseline is the reference, not compared with itself
        pairs = [paired_speedup(base_steps[s], m, budget, s)
                 for s, m, r in zip(v.stats["seed_list"], v.stats["steps_per_seed"], v.rows)
                 if _scored(r) and s in base_ok] if baseline and budget and v is not baseline else []
        values = [p.value for p in pairs]
        v.stats.update({
            "speedup_seeds": [p.seed for p in pairs],
            "speedup_per_seed": values,
            "speedup_lower_bound": [p.lower_bound for p in pairs],
            "speedup_median": median(values),
            "speedup_min": min(values, default=None),
            "speedup_max": max(values, default=None),
            "speedup_ci95": bootstrap_ci(values),
            "speedup_median_is_bound": _median_is_bound(pairs),
            "lead_at": (lead_at(v.stats["median_curve"], baseline.stats["median_curve"], budget,
                                v.stats["accuracy_at"]) if baseline and budget and v is not baseline else None),
        })
    ranked = sorted(variants.values(), key=_rank_key)
    facts = {"target": target, "baseline": baseline is not None, "budget": budget,
             "baseline_steps_median": baseline.stats["steps_median"] if baseline else None}
    return ranked, facts


def _median_is_bound(pairs: Sequence[PairedSpeedup]) -> bool:
    """The median speedup rests on a seed whose baseline missed: the cell says '>='."""
    if not pairs:
        return False
    ordered = sorted(pairs, key=lambda p: p.value)
    mid = len(ordered) // 2
    middle = ordered[mid:mid + 1] if len(ordered) % 2 else ordered[mid - 1:mid + 1]
    return any(p.lower_bound for p in middle)


def _rank_key(v: VariantScore):
    med = v.stats["steps_median"]
    return (med is None, med if med is not None else 0.0, -v.stats["reached"], v.variant)


def _variant_stats(rows: Sequence[dict], target: float | None) -> dict:
    scored = [r for r in rows if _scored(r)]
    grids, steps, summaries = [], [], []
    for r in scored:
        s = rescore(r, target)
        summaries.append(s)
        steps.append(s["steps_to_target"])
        grid = grid_curve(r["curve"], s["eval_every"], s["steps"])
        grids.append(hold_after_stop(grid, s["eval_every"], s["steps"]) if s.get("stopped_at") else grid)
    med_curve = median_curve(grids)
    finite = [s for s in steps if s is not None]
    budget = summaries[0]["steps"] if summaries else None
    return {
        "seeds": len(rows),
        "seed_list": [r["seed"] for r in scored],
        "finished": sum(r["status"] == "finished" for r in rows),
        "diverged": sum(r["status"] == "diverged" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "failures": [{"seed": r["seed"], "label": r["label"], "error": first_line(r["error"])}
                     for r in rows if r["status"] == "failed"],
        "steps_per_seed": steps,
        "reached": len(finite),
        "scored": len(steps),
        "steps_median": censored_median(steps),
        "steps_min": min(finite, default=None),
        "steps_max": max(finite, default=None),
        "median_curve_step": crossing(med_curve, target),
        "median_curve": med_curve,
        "grid_curves": grids,
        "max_accuracy_median": median(s["max_accuracy"] for s in summaries),
        "max_accuracy_min": min((s["max_accuracy"] for s in summaries if s["max_accuracy"] is not None), default=None),
        "max_accuracy_max": max((s["max_accuracy"] for s in summaries if s["max_accuracy"] is not None), default=None),
        "max_accuracy_step": median(s["max_accuracy_step"] for s in summaries),
        # unknown where any seed stopped at its target before that budget: a median of the rest would flatter
        "accuracy_at": {f: None if any(s["accuracy_at"][f] is None for s in summaries)
                        else median(s["accuracy_at"][f] for s in summaries) for f in FRACTIONS},
        "stopped": sum(bool(s.get("stopped_at")) for s in summaries),
        "wall_clock": median(whole_trial_seconds(s.get("wall_clock"), s.get("resumed_from"),
                                                 s.get("seconds_before_resume"), s.get("stopped_at") or s.get("steps"))
                             for s in summaries),
        "forecast_seconds": median((r["summary"] or {}).get("forecast_seconds", 0.0) for r in scored),
        "budget": budget,
        "trained_on_task": any((r["summary"] or {}).get("trained_on_task") for r in scored),
        **jump_recovery(scored),
    }


def jump_recovery(rows: Sequence[dict]) -> dict:
    """What each jump cost right away and whether the next grid evaluation won it back: per jump, the drop
    (accuracy right after - right before, in points) and the next regular evaluation after it minus right
    before. A jump whose next evaluation is at or above its pre-jump accuracy has recovered. Also the jump's
    size as forecast (mean |w_jumped - w_t| over the weights, before any guard), which tells a jump that went
    too far from one that went the wrong way."""
    drops, regains, sizes = [], [], []
    for r in rows:
        curve = r.get("curve") or []
        for e in r.get("events") or []:
            sizes.append(e.get("mean_abs_change"))  # median() leaves out the None of an event without one
            if e.get("accuracy_before") is None or e.get("accuracy_after") is None:
                continue
            drops.append(100 * (e["accuracy_after"] - e["accuracy_before"]))
            later = next((p for p in curve if p.get("phase", "eval") == "eval" and p["step"] > e["step"]), None)
            if later is not None:
                regains.append(100 * (later["accuracy"] - e["accuracy_before"]))
    decisions = {}
    for r in rows:  # guarded jumps: how often each was kept, halved (or scaled), undone
        for d, n in ((r.get("summary") or {}).get("guard") or {}).items():
            decisions[d] = decisions.get(d, 0) + n
    return {"jumps_made": len(drops), "guard_decisions": decisions or None, "jump_drop_median": median(drops),
            "jump_drop_worst": min(drops, default=None),
            "jump_drops_over_bar": sum(d < -JUMP_DROP_BAR for d in drops),
            "jump_next_eval_median": median(regains), "jump_recovered": sum(v >= 0 for v in regains),
            "jump_followed": len(regains), "jump_size_median": median(sizes)}


def first_line(error: str | None) -> str | None:
    if not error:
        return None
    return next((line.strip() for line in error.splitlines() if line.strip()), None)


# ---------------------------------------------------------------- across experiments

def without_schedule(variant: str) -> str:
    """A variant's label without its jump points, its other marks kept: 'deltanet(ratio=2.0) @2000/4000 +guard'
    -> 'deltanet(ratio=2.0) +guard' (guarded and unguarded jumps are different methods)."""
    return re.sub(r" @[0-9/]+", "", variant)


def performance_profile(experiments: Sequence[Sequence[VariantScore]], taus=None) -> dict:
    """AlgoPerf-style: for each forecaster variant (schedule aside), the fraction of the experiments it ran on
    where its censored median steps-to-target is within a factor tau of the best there; a "never" is infinitely
    slow. An experiment a variant has no trials in (not in its suite, or not run yet) is not held against it:
    ``experiments`` counts what each curve is over."""
    taus = taus or [1 + i * 0.05 for i in range(61)]  # 1.0 .. 4.0
    ratios: dict[str, list[float]] = {}
    for variants in experiments:
        by_name: dict[str, float] = {}
        for v in variants:
            n = without_schedule(v.variant)
            s = v.stats["steps_median"]
            by_name[n] = min(by_name.get(n, MISS), MISS if s is None else s)
        best = min(by_name.values(), default=MISS)
        for n, steps in by_name.items():
            ratios.setdefault(n, []).append(steps / best if not math.isinf(best) and best > 0 else MISS)
    curves = {n: [sum(r <= t for r in rs) / len(rs) for t in taus] for n, rs in sorted(ratios.items())}
    # the score: the area under the profile over [1, 4], normalised to [0, 1] (1 = best on every experiment)
    return {"taus": taus, "curves": curves, "scores": {n: sum(c) / len(c) for n, c in curves.items()},
            "experiments": {n: len(rs) for n, rs in sorted(ratios.items())}}


# ---------------------------------------------------------------- claims: reproduced? beats the controls?

def head_to_head(method: VariantScore, reference: VariantScore, budget: int,
                 leave_out: Collection[int] = ()) -> dict:
    """``method`` against ``reference`` on the seeds both have (but ``leave_out``), by the speedup rule with
    ``reference`` in the baseline's place: reference steps / method steps per seed, a method miss 0, a
    reference miss a bound."""
    ref = dict(zip(reference.stats["seed_list"], reference.stats["steps_per_seed"]))
    shared = [(s, ref[s], m) for s, m in zip(method.stats["seed_list"], method.stats["steps_per_seed"])
              if s in ref and s not in leave_out]
    pairs = [paired_speedup(r, m, budget, s) for s, r, m in shared]
    values = [p.value for p in pairs]
    reached = sum(r is not None or m is not None for _, r, m in shared)
    # the same seeds with each pair both sides miss scored a tie (1) instead of SPEC's 0: decide's test of
    # whether a loss rests on anything but seeds neither side reaches (a median: a bootstrap bound of a few
    # seeds would excuse a method that never reaches the target against one that does on 3 of 4)
    ties = [1.0 if r is None and m is None else v for (_, r, m), v in zip(shared, values)]
    return {"reference": reference.variant, "seeds": len(pairs), "median": median(values),
            "ci95": bootstrap_ci(values), "median_is_bound": _median_is_bound(pairs), "either_reached": reached,
            "method_reached": sum(m is not None for *_, m in shared),
            "reference_reached": sum(r is not None for _, r, _ in shared),
            "median_ties": median(ties)}


MIN_PAIRED_SEEDS = 3  # a bootstrap "interval" of two seeds is just those two values: no ground for a claim
OUTCOMES = ("faster", "slower", "unclear", "too few seeds", "neither reached", "missed alike")  # what decide says
UNTRAINED_OUTCOME = "untrained baseline"  # the verdict's every outcome where the baseline never learned
# A baseline whose median max accuracy stays under this many times chance never learned: a target at its max
# is met by a net that learns nothing either, so no comparison against it is judged (verdict's "untrained")
UNTRAINED = 1.5


def untrained(baseline: VariantScore, chance: float | None) -> bool:
    """Whether the baseline never learned: its median max accuracy over seeds is under UNTRAINED x ``chance``
    (1 / the task's classes; None: unknown, never untrained)."""
    best = baseline.stats.get("max_accuracy_median")
    return chance is not None and best is not None and best < UNTRAINED * chance


def decide(comparison: dict) -> str:
    """'faster' when the 95% interval of the paired median lies above 1, 'slower' below it, 'unclear' when it
    spans 1, 'too few seeds' with fewer than MIN_PAIRED_SEEDS pairs, 'neither reached' when on no seed either
    side reached the target (each miss scores 0, but neither was the slower). 'missed alike' when the interval
    lies below 1 only because the seeds both sides miss score 0: the method reaches the target on as many seeds
    as the reference, and with those seeds scored as ties instead (``median_ties``) the median is no longer
    under 1, so the method is not shown slower (one that reaches the target on 1 of 10 seeds does not lose to
    one that reaches it on none)."""
    ci = comparison.get("ci95")
    if not ci or comparison.get("seeds", 0) < MIN_PAIRED_SEEDS:
        return "too few seeds"
    if comparison.get("either_reached") == 0:
        return "neither reached"
    if ci[0] > 1.0:
        return "faster"
    if ci[1] >= 1.0:
        return "unclear"
    ties = comparison.get("median_ties")
    as_often = comparison.get("method_reached", 0) >= comparison.get("reference_reached", 0)
    if ties is not None and ties >= 1.0 and as_often:
        return "missed alike"
    return "slower"


_UNKNOWN = object()  # verdict's agreement not handed in (None is an answer: nothing to compare)


def verdict(variants: Sequence[VariantScore], roles: dict[str, str], budget: int | None,
            paper_speedup: float | None = None, agreement: dict | None = _UNKNOWN,
            chance: float | None = None) -> dict | None:
    """Does the experiment's claim hold? The best-ranked learned forecaster (of those run on as many seeds as
    the baseline, when any is) against the baseline (the paper's claim: it reaches the target sooner; and is
    the paper's speedup inside our interval?) and against every parameter-free control that jumps as it does
    (guarded or not), on the same seeds. None when there is no learned forecaster or no baseline.
    ``agreement``: pre_jump_agreement(variants), when the caller has it already. ``chance``: the task's chance
    accuracy; a baseline that never rose well above it (untrained) makes every outcome UNTRAINED_OUTCOME."""
    baseline = next((v for v in variants if roles.get(v.forecaster) == "baseline"), None)
    learners = [v for v in variants if roles.get(v.forecaster) == "learned"]
    if baseline is None or not learners or not budget:
        return None
    # a variant run on fewer seeds than the baseline cannot head the verdict while one run on them all can:
    # its censored median is noisier, and a lucky first few seeds would otherwise speak for the experiment
    full = baseline.stats["scored"]
    learners.sort(key=lambda v: v.stats["scored"] < full)  # stable: ranked order kept within each group
    learned = learners[0]
    vs_base = head_to_head(learned, baseline, budget)
    ci = vs_base["ci95"]
    controls = [v for v in variants if roles.get(v.forecaster) == "control"]
    # a guarded control is a weaker one: each learned variant is held to the controls that jump as it does
    # (all of them when none does)
    alike = [c for c in controls if _guarded(c) == _guarded(learned)] or controls

    def against(method: VariantScore, reference: VariantScore) -> dict:
        return {**head_to_head(method, reference, budget), "method": method.variant}

    # every other learned variant too, each against the controls jumping as it does (guarded or not)
    others = [against(v, c) for v in learners[1:] for c in controls if _guarded(v) == _guarded(c)]
    decided = {"method": learned.variant, "baseline": {**vs_base, "outcome": decide(vs_base)},
               "paper_speedup": paper_speedup,
               "paper_in_ci": None if paper_speedup is None or not ci else ci[0] <= paper_speedup <= ci[1],
               "controls": [{**c, "outcome": decide(c)} for c in (against(learned, c) for c in alike)],
               "others": [{**c, "outcome": decide(c)} for c in others],
               "held": _held_pairs(pre_jump_agreement(variants) if agreement is _UNKNOWN else agreement,
                                   baseline, learned, alike, budget)}
    if not untrained(baseline, chance):
        return decided
    # nor is the paper's speedup set against an interval that measures nothing
    return _all_outcomes(decided, UNTRAINED_OUTCOME) | {
        "paper_in_ci": None, "untrained": {"max_accuracy": baseline.stats["max_accuracy_median"], "chance": chance}}


def _all_outcomes(v: dict, outcome: str) -> dict:
    """A verdict with every comparison's outcome set to ``outcome``."""
    def each(cs: list[dict]) -> list[dict]:
        return [{**c, "outcome": outcome} for c in cs]
    held = v["held"] and {**v["held"], "baseline": {**v["held"]["baseline"], "outcome": outcome},
                          "controls": each(v["held"]["controls"])}
    return {**v, "baseline": {**v["baseline"], "outcome": outcome}, "controls": each(v["controls"]),
            "others": each(v["others"]), "held": held}


def _held_pairs(agreement: dict | None, baseline: VariantScore, learned: VariantScore,
                controls: Sequence[VariantScore], budget: int) -> dict | None:
    """The verdict again over only the seeds whose trials evaluate exactly as their seed's baseline until the
    first jump (pre_jump_agreement), so that each pair compares the jumps' effect and nothing else: the learned
    forecaster against the baseline, and against each control on the seeds where both held. None when no pair
    the verdict rests on parted. ``agreement``: pre_jump_agreement of the experiment's variants."""
    parted = agreement["parted_seeds"] if agreement else {}
    if not any(parted.get(v.variant) for v in (learned, *controls)):
        return None
    mine = set(parted.get(learned.variant, ()))
    vs_base = head_to_head(learned, baseline, budget, mine)
    vs_controls = [{**head_to_head(learned, c, budget, mine | set(parted.get(c.variant, ()))),
                    "method": learned.variant} for c in controls]
    return {"parted": sorted(mine), "baseline": {**vs_base, "outcome": decide(vs_base)},
            "controls": [{**c, "outcome": decide(c)} for c in vs_controls]}


def hardest_control(v: dict) -> dict | None:
    """Of a verdict's comparisons with the controls, the one its forecaster fares worst in (one it loses to,
    decide's 'slower', before any other; then the lowest paired median): the bar a claim of beating the
    controls has to clear, of those on enough seeds to be judged when any is (a control on its first seed or
    two is no bar yet). None when no control was comparable."""
    judged = [c for c in v["controls"] if c["median"] is not None]
    judged = [c for c in judged if c["seeds"] >= MIN_PAIRED_SEEDS] or judged
    # a lower median that seeds both sides miss make (decide's 'missed alike') is no harder than a real loss;
    # equal medians (0 where most seeds miss): the one it is behind on with both-miss seeds as ties is harder
    return min(judged, key=lambda c: (c.get("outcome") != "slower", c["median"],
                                      c.get("median_ties", c["median"]))) if judged else None


def guard_check(variants: Sequence[VariantScore]) -> list[dict]:
    """Do guarded jumps keep their promise of costing at most JUMP_DROP_BAR points right away? Per guard rule
    ("+guard", "+guard=line", "+guard=settle"): the jumps its variants made, how many fell more than the bar
    below the accuracy just before, and the worst drop with its variant. The settling guard judges a jump
    later, so its drop right after is the jump's own, unguarded."""
    rules: dict[str, dict] = {}
    for v in variants:
        rule = guard_mark(v.rows[0]["config"] if v.rows else {})
        if not rule or not v.stats.get("jumps_made"):
            continue
        r = rules.setdefault(rule, {"rule": rule, "variants": 0, "jumps": 0, "over_bar": 0, "worst": None,
                                    "worst_variant": None})
        r["variants"] += 1
        r["jumps"] += v.stats["jumps_made"]
        r["over_bar"] += v.stats["jump_drops_over_bar"]
        if r["worst"] is None or v.stats["jump_drop_worst"] < r["worst"]:
            r["worst"], r["worst_variant"] = v.stats["jump_drop_worst"], v.variant
    return [rules[k] for k in sorted(rules)]


def pre_jump_agreement(variants: Sequence[VariantScore]) -> dict | None:
    """How truly paired an experiment's paired speedups are: until its first jump a trial trains the same
    weights as its seed's baseline, so its evaluations there should equal the baseline's, step for step; where
    they do not (float rounding of another machine, a nondeterministic kernel), its speedup holds that
    difference too. Over every jumped trial with a baseline on its seed: how many were compared, how many
    parted, the largest accuracy gap (points) and, per variant that parted, (trials parted, trials compared,
    its largest gap), and the seeds whose trials parted, per variant. None where there is nothing to compare."""
    baseline = baseline_of(variants)
    if baseline is None:
        return None
    base = {r["seed"]: {p["step"]: p["accuracy"] for p in r["curve"] if p.get("phase", "eval") == "eval"}
            for r in baseline.rows if _scored(r)}
    compared, seen, seeds = 0, {}, {}  # variant -> (trials compared, largest gap); variant -> seeds parted
    for v in (v for v in variants if v is not baseline):
        for r in v.rows:
            jumps = (r["summary"] or {}).get("jump_points") or []
            if not _scored(r) or r["seed"] not in base or not jumps:
                continue
            before = base[r["seed"]]
            gaps = [abs(p["accuracy"] - before[p["step"]]) for p in r["curve"]
                    if p.get("phase", "eval") == "eval" and p["step"] < min(jumps) and p["step"] in before]
            if not gaps:
                continue
            compared += 1
            of, worst = seen.get(v.variant, (0, 0.0))
            seen[v.variant] = (of + 1, max(worst, 100 * max(gaps)))
            if max(gaps) > 0:
                seeds.setdefault(v.variant, []).append(r["seed"])
    if not compared:
        return None
    parted = {k: (len(seeds[k]), *seen[k]) for k in seen if k in seeds}
    return {"compared": compared, "parted": sum(p[0] for p in parted.values()),
            "max_gap": max((p[2] for p in parted.values()), default=0.0), "variants": parted,
            "parted_seeds": seeds}


def _guarded(v: VariantScore) -> tuple:
    """How a variant's jumps are guarded: False, True (halve or undo), "line" or "settle" (with its wait)."""
    cfg = v.rows[0]["config"] if v.rows else {}
    return cfg.get("guard") or False, cfg.get("settle_steps")
