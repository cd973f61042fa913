"""The scoring rules (SPEC.md "Scoring") on hand-made curves whose answers are known."""

import math

import pytest

from benchmark import scoring


def pts(*pairs, phase="eval"):
    return [{"step": s, "accuracy": a, "phase": phase} for s, a in pairs]


def ramp(reach, steps=2000, every=100, top=0.95):
    """Crosses 0.9 at exactly `reach` (None: never; tops out at 0.85)."""
    out = []
    for s in range(0, steps + 1, every):
        a = 0.5 + 0.35 * s / steps if reach is None else (0.9 * s / reach if s < reach else min(top, 0.9 + 1e-5 * s))
        out.append({"step": s, "accuracy": round(a, 6), "phase": "eval", "seconds": s / 100})
    return out


def row(forecaster, seed, curve, status="finished", jumps=None, error=None, target=0.9):
    return {"forecaster": forecaster, "seed": seed, "status": status, "error": error, "label": f"{forecaster} s{seed}",
            "config": {"forecaster": forecaster, "forecaster_params": {}, "jumps": jumps, "target": target},
            "summary": {"steps": 2000, "eval_every": 100, "jump_points": jumps or []} if curve else None,
            "curve": curve}


def test_pre_jump_evaluations_are_no_extra_chance_to_cross():
    curve = pts((0, 0.1), (100, 0.5), (200, 0.7)) + pts((250, 0.95), phase="pre_jump") + \
        pts((250, 0.6), phase="post_jump") + pts((300, 0.8), (400, 0.92), (500, 0.93))
    assert scoring.score_run(curve, target=0.9, eval_every=100, steps=500)["steps_to_target"] == 400
    # a jump on the grid: the evaluation after it is the grid's own evaluation of that step
    on_grid = pts((0, 0.1), (100, 0.5), (200, 0.95)) + pts((300, 0.95), phase="pre_jump") + \
        pts((300, 0.91), phase="post_jump") + pts((400, 0.5))
    score = scoring.score_run(on_grid, target=0.9, eval_every=100, steps=400)
    assert score["steps_to_target"] == 200 and score["max_accuracy"] == 0.95
    assert [p["step"] for p in scoring.grid_curve(on_grid, 100, 400)] == [0, 100, 200, 300, 400]
    assert scoring.grid_curve(on_grid, 100, 400)[3]["accuracy"] == 0.91


def test_a_diverged_run_scores_zero_after_it_diverged():
    curve = pts((0, 0.1), (100, 0.6)) + [{"step": 150, "accuracy": 0.0, "loss": math.nan, "phase": "diverged"}]
    grid = scoring.grid_curve(curve, 100, 400)
    assert grid == [{"step": s, "accuracy": a} for s, a in [(0, 0.1), (100, 0.6), (200, 0.0), (300, 0.0), (400, 0.0)]]
    assert scoring.score_run(curve, target=0.5, eval_every=100, steps=400)["accuracy_at"] == \
        {"25": 0.6, "50": 0.0, "75": 0.0, "100": 0.0}


def test_censored_median_counts_misses():
    assert scoring.censored_median([100, None, 300]) == 300
    assert scoring.censored_median([100, 200, 300, None]) == 250
    assert scoring.censored_median([100, None, None]) is None  # more than half missed: never
    assert scoring.censored_median([100, 200, None, None]) is None  # the mean of a step and infinity
    assert scoring.censored_median([]) is None


@pytest.mark.parametrize("baseline,method,value,bound", [(1000, 500, 2.0, False), (1000, None, 0.0, False),
                                                         (None, 500, 4.0, True), (None, None, 0.0, False)])
def test_paired_speedup_rules(baseline, method, value, bound):
    got = scoring.paired_speedup(baseline, method, budget=2000, seed=3)
    assert (got.value, got.lower_bound, got.seed) == (value, bound, 3)


def test_one_of_three_ranks_below_three_of_three():
    rows = [row("none", s, ramp(r)) for s, r in enumerate([1500, 1600, 1700])]
    rows += [row("lucky", s, ramp(r), jumps=[300]) for s, r in enumerate([400, None, None])]
    rows += [row("steady", s, ramp(r), jumps=[400]) for s, r in enumerate([900, 1000, 1100])]
    ranked, facts = scoring.score_experiment(rows, 0.9)
    assert [v.forecaster for v in ranked] == ["steady", "none", "lucky"]
    lucky = ranked[-1].stats
    assert lucky["reached"] == 1 and lucky["steps_per_seed"] == [400, None, None] and lucky["steps_median"] is None
    assert lucky["speedup_per_seed"] == [1500 / 400, 0.0, 0.0] and lucky["speedup_median"] == 0.0
    steady = ranked[0].stats
    assert steady["steps_median"] == 1000 and steady["speedup_per_seed"] == [1500 / 900, 1.6, 1700 / 1100]
    assert steady["speedup_median"] == 1.6 and steady["median_curve_step"] == 1000
    lo, hi = steady["speedup_ci95"]
    assert 1700 / 1100 - 1e-9 <= lo <= 1.6 <= hi <= 1500 / 900 + 1e-9
    assert facts["baseline_steps_median"] == 1600


def test_the_verdict_is_not_turned_upside_down_by_dropping_misses():
    """The issue's case: 5 seeds, a baseline_max target that 2 baseline seeds miss. Dropping misses ranked the
    baseline first with a 0.87x 'slowdown' for the method; counting them, the paired speedup is > 1."""
    base = [7200, 7000, 7400, None, None]
    method = [4600, 4500, 4700, 4800, 4400]
    rows = [row("none", s, ramp(r, steps=15000)) for s, r in enumerate(base)]
    rows += [row("introspection", s, ramp(r, steps=15000), jumps=[6000]) for s, r in enumerate(method)]
    for r in rows:
        r["summary"]["steps"] = 15000
    ranked, _ = scoring.score_experiment(rows, 0.9)
    assert [v.forecaster for v in ranked] == ["introspection", "none"]
    assert ranked[1].stats["steps_median"] == 7400  # censored: the misses count as infinitely slow
    intro = ranked[0].stats
    assert intro["speedup_lower_bound"] == [False, False, False, True, True]
    assert intro["speedup_per_seed"][3] == 15000 / 4800 and intro["speedup_median"] == pytest.approx(7400 / 4700)
    assert not intro["speedup_median_is_bound"]


def test_a_variant_on_fewer_seeds_than_the_baseline_does_not_head_the_verdict():
    """A learned variant run on its first 2 seeds only, faster there, ranks first by censored median; the
    verdict is still about the learned variant run on all 4 seeds, and the 2-seed one is judged among the rest."""
    rows = [row("none", s, ramp(r)) for s, r in enumerate([1500, 1600, 1700, 1800])]
    rows += [row("introspection", s, ramp(r), jumps=[300]) for s, r in enumerate([1000, 1100, 1200, 1300])]
    rows += [row("deltanet", s, ramp(r), jumps=[300]) for s, r in enumerate([600, 700])]
    ranked, facts = scoring.score_experiment(rows, 0.9)
    assert [v.forecaster for v in ranked] == ["deltanet", "introspection", "none"]
    roles = {"none": "baseline", "introspection": "learned", "deltanet": "learned"}
    v = scoring.verdict(ranked, roles, facts["budget"])
    assert v["method"] == "introspection @300" and v["baseline"]["seeds"] == 4
    assert v["baseline"]["outcome"] == "faster"
    # with every learned variant short of the baseline's seeds, the best-ranked still speaks (as before)
    short = [r for r in rows if not (r["forecaster"] == "introspection" and r["seed"] > 1)]
    ranked, facts = scoring.score_experiment(short, 0.9)
    assert scoring.verdict(ranked, roles, facts["budget"])["method"] == "deltanet @300"


def test_the_verdict_is_said_again_over_only_the_pairs_that_hold_until_the_first_jump():
    """Seed 1's introspection trial and seed 2's control part from their baselines before the jump at 300 (their
    early evaluations differ, as another machine's rounding makes them): the verdict stands over all seeds, and
    again without them, the control comparison leaving out both seeds."""
    from benchmark.report import glance_rows, verdict_sentence

    base = [1500, 1600, 1700, 1800]

    def jumped(forecaster, seed, reach, parted):
        before = ramp(base[seed] + (100 if parted else 0))  # a parted trial's curve differs before its jump
        return row(forecaster, seed, [p for p in before if p["step"] < 300] +
                   [p for p in ramp(reach) if p["step"] >= 300], jumps=[300])

    rows = [row("none", s, ramp(r)) for s, r in enumerate(base)]
    rows += [jumped("introspection", s, r, s == 1) for s, r in enumerate([1000, 400, 1000, 1000])]
    rows += [jumped("extrapolate", s, r, s == 2) for s, r in enumerate([900, 900, 300, 900])]
    ranked, facts = scoring.score_experiment(rows, 0.9)
    agreement = scoring.pre_jump_agreement(ranked)
    assert agreement["parted_seeds"] == {"introspection @300": [1], "extrapolate @300": [2]}
    roles = {"none": "baseline", "introspection": "learned", "extrapolate": "control"}
    v = scoring.verdict(ranked, roles, facts["budget"])
    assert v["baseline"]["seeds"] == 4 and v["controls"][0]["seeds"] == 4
    held = v["held"]
    assert held["parted"] == [1]
    assert held["baseline"]["seeds"] == 3 and held["baseline"]["median"] == pytest.approx(1700 / 1000)
    assert held["controls"][0]["seeds"] == 2 and held["controls"][0]["median"] == pytest.approx(0.9)
    assert held["baseline"]["outcome"] == "faster" and held["controls"][0]["outcome"] == "too few seeds"
    said = verdict_sentence(v)
    (glance,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "e", "verdict": v}]}])
    assert glance[-1] == "3 of 4; 2 of 4"
    assert said.endswith("Over only the seeds whose trials evaluate exactly as the baseline's until the first "
                         "jump, where a pair compares the jumps alone: `introspection @300` reaches the target "
                         "sooner than the baseline (1.70x [95% CI 1.50-1.80] over 3 paired seeds); it cannot be "
                         "judged against `extrapolate @300` (0.90x [95% CI 0.90-0.90] over 2 paired seeds).")

    # the control's every pair parted: no seed to compare the two on
    lost = rows[:8] + [jumped("extrapolate", s, 900, True) for s in range(4)]
    ranked, facts = scoring.score_experiment(lost, 0.9)
    assert verdict_sentence(scoring.verdict(ranked, roles, facts["budget"])).endswith(
        "over 3 paired seeds); it has no seed on which both its pair and that of `extrapolate @300` hold.")
    # two such controls: one clause names both, rather than one clause each saying the same
    wider = [jumped("extrapolate", s, 800, True) for s in range(4)]
    for r in wider:
        r["config"]["forecaster_params"] = {"ratio": 2.0}
    ranked, facts = scoring.score_experiment(lost + wider, 0.9)
    assert verdict_sentence(scoring.verdict(ranked, roles, facts["budget"])).endswith(
        "over 3 paired seeds); it has no seed on which both its pair and that of `extrapolate(ratio=2.0) @300` or "
        "`extrapolate @300` hold.")

    # every pair holds: nothing more to say
    whole = [r for r in rows if not (r["forecaster"] != "none" and r["seed"] in (1, 2))]
    ranked, facts = scoring.score_experiment(whole, 0.9)
    assert scoring.verdict(ranked, roles, facts["budget"])["held"] is None
    # the pairs of the verdict's forecaster and its hardest control hold; another control's parted
    other = [jumped("extrapolate", s, 1000, s == 0) for s in range(4)]
    for r in other:
        r["config"]["forecaster_params"] = {"ratio": 2.0}
    ranked, facts = scoring.score_experiment(whole + other, 0.9)
    v = scoring.verdict(ranked, roles, facts["budget"])
    assert [c["seeds"] for c in v["held"]["controls"]] == [2, 1]
    (glance,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "e", "verdict": v}]}])
    assert glance[6] == "`extrapolate @300`" and glance[-1] == "all"
    # the learned forecaster's every pair parted: said so, no ratio over no seeds
    parted = rows[:4] + [jumped("introspection", s, 1000, True) for s in range(4)] + rows[8:]
    ranked, facts = scoring.score_experiment(parted, 0.9)
    assert verdict_sentence(scoring.verdict(ranked, roles, facts["budget"])).endswith(
        "No seed of `introspection @300` evaluates as its baseline until the first jump, so none of these "
        "comparisons is paired in effect.")


def test_a_learned_variant_is_held_to_the_controls_guarded_as_it_is():
    """A settling guard that waits 1000 steps is its own rule: its learned variant is held to the control
    guarded the same way, not to the one that waits the default 500 steps, nor to the unguarded one."""
    rows = [row("none", s, ramp(1500)) for s in range(3)]
    for guard, wait, reach in ((False, None, 700), ("settle", None, 800), ("settle", 1000, 900)):
        for s in range(3):
            r = row("extrapolate", s, ramp(reach), jumps=[300])
            r["config"].update(guard=guard, settle_steps=wait)
            rows.append(r)
    for s in range(3):
        r = row("deltanet", s, ramp(600), jumps=[300])
        r["config"].update(guard="settle", settle_steps=1000)
        rows.append(r)
    ranked, facts = scoring.score_experiment(rows, 0.9)
    v = scoring.verdict(ranked, {"none": "baseline", "extrapolate": "control", "deltanet": "learned"},
                        facts["budget"])
    assert v["method"] == "deltanet @300 +guard=settle(steps=1000)"
    assert [c["reference"] for c in v["controls"]] == ["extrapolate @300 +guard=settle(steps=1000)"]
    assert v["controls"][0]["median"] == pytest.approx(900 / 600)


def test_when_no_seed_of_either_side_reaches_the_target_neither_is_called_slower():
    """Every miss scores 0 (SPEC), so the interval is [0, 0]; but with nothing reached on either side the
    verdict says neither reached, not that the method reached the target later."""
    rows = [row("none", s, ramp(None)) for s in range(3)]
    rows += [row("introspection", s, ramp(None), jumps=[300]) for s in range(3)]
    ranked, facts = scoring.score_experiment(rows, 0.9)
    v = scoring.verdict(ranked, {"none": "baseline", "introspection": "learned"}, facts["budget"])
    assert v["baseline"]["ci95"] == (0.0, 0.0) and v["baseline"]["outcome"] == "neither reached"
    from benchmark.report import verdict_sentence

    assert "and the baseline both miss the target on every seed" in verdict_sentence(v)
    # one seed reached by the baseline alone: the method is slower there, as the rule says
    rows[0] = row("none", 0, ramp(1500))
    ranked, facts = scoring.score_experiment(rows, 0.9)
    v = scoring.verdict(ranked, {"none": "baseline", "introspection": "learned"}, facts["budget"])
    assert v["baseline"]["outcome"] == "slower"


def test_failed_seeds_are_listed_not_scored():
    rows = [row("none", 0, ramp(1000)), row("none", 1, ramp(1000)),
            row("noise", 0, ramp(800), jumps=[300]),
            row("noise", 1, None, status="failed", jumps=[300], error="RuntimeError: boom\n\nTraceback ...")]
    ranked, _ = scoring.score_experiment(rows, 0.9)
    noise = next(v for v in ranked if v.forecaster == "noise").stats
    assert noise["failed"] == 1 and noise["scored"] == 1 and noise["speedup_seeds"] == [0]
    assert noise["failures"] == [{"seed": 1, "label": "noise s1", "error": "RuntimeError: boom"}]


def test_baseline_max_and_experiment_target():
    assert scoring.baseline_max([0.93, 0.95, 0.94]) == 0.94
    rows = [row("extrapolate", 0, ramp(500), target=0.5), row("none", 0, ramp(500), target=0.94)]
    assert scoring.experiment_target(rows) == 0.94  # the baselines' resolved target wins


def test_performance_profile_counts_never_as_infinitely_slow():
    def v(name, median):
        return scoring.VariantScore(name, name, {}, [], stats={"steps_median": median})

    exps = [[v("a", 100), v("b", 200)], [v("a", 300), v("b", 150)], [v("a", None), v("b", 100)]]
    prof = scoring.performance_profile(exps, taus=[1.0, 2.0, 4.0])
    assert prof["curves"]["a"] == [1 / 3, 2 / 3, 2 / 3] and prof["curves"]["b"] == [2 / 3, 1.0, 1.0]
    assert prof["scores"]["b"] > prof["scores"]["a"]
    assert prof["experiments"] == {"a": 3, "b": 3}


def test_performance_profile_keeps_guarded_apart_and_counts_only_experiments_run():
    def v(label, median):
        return scoring.VariantScore(label, label.split("(")[0].split(" ")[0], {}, [],
                                    stats={"steps_median": median})

    # the guarded variant is a method of its own (its jump points dropped, its mark kept); "c" ran on one
    # experiment only and is not held to the other, where it has no trials
    exps = [[v("a @300/400", 100), v("a @300/400 +guard", 400), v("c", 100)],
            [v("a @500", 200), v("a @500 +guard", 100)]]
    prof = scoring.performance_profile(exps, taus=[1.0, 2.0, 4.0])
    assert set(prof["curves"]) == {"a", "a +guard", "c"}
    assert prof["curves"]["a"] == [0.5, 1.0, 1.0] and prof["curves"]["a +guard"] == [0.5, 0.5, 1.0]
    assert prof["curves"]["c"] == [1.0, 1.0, 1.0] and prof["experiments"] == {"a": 2, "a +guard": 2, "c": 1}
    assert scoring.without_schedule("deltanet(ratio=2.0) @2000/4000 +guard=settle [precision=bf16]") == \
        "deltanet(ratio=2.0) +guard=settle [precision=bf16]"


def test_lead_at_is_the_horizontal_distance_to_the_baselines_median_curve():
    def curve(accs):
        return [{"step": 100 * i, "accuracy": a} for i, a in enumerate(accs)]

    base = curve([0.1, 0.3, 0.5, 0.45, 0.6, 0.7, 0.75, 0.8, 0.8])  # steps 0..800, a dip at 300
    known = dict.fromkeys(scoring.FRACTIONS, 0.0)
    # the same curve, noise and all, is no lead anywhere (its dip at 300 is not "behind")
    assert all(x == {"steps": 0, "bound": None} for x in scoring.lead_at(base, base, 800, known).values())
    ahead = curve([0.1, 0.5, 0.6, 0.7, 0.75, 0.8, 0.8, 0.8, 0.8])
    lead = scoring.lead_at(ahead, base, 800, known)
    # by 200 it has 0.6, which the baseline first has at 400; by 400, 0.75 (baseline: 600); by 600 and 800 its
    # best, 0.8, first reached at 500 (baseline: 700)
    assert [lead[f]["steps"] for f in scoring.FRACTIONS] == [200, 200, 200, 200]
    higher = curve([0.1, 0.3, 0.5, 0.45, 0.6, 0.7, 0.75, 0.8, 0.9])
    assert scoring.lead_at(higher, base, 800, known)["100"] == {"steps": 0, "bound": ">"}  # never caught
    # behind at 400: the baseline has 0.6 there (first at 400), which this curve first has... at 500 (0.7)
    behind = curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.75, 0.8, 0.8])
    assert scoring.lead_at(behind, base, 800, known)["50"] == {"steps": -100, "bound": None}
    # a curve that peaks early and stalls keeps no lead once the baseline passes it: at 600 the baseline has
    # 0.75 and at 800 0.8 (first at 600 and 700), which this one never reaches within the budget
    stalled = curve([0.1, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    lead = scoring.lead_at(stalled, base, 800, known)
    assert [lead[f] for f in scoring.FRACTIONS] == [
        {"steps": 200, "bound": None}, {"steps": 200, "bound": None},
        {"steps": -200, "bound": "<"}, {"steps": -100, "bound": "<"}]
    # unknown where a seed stopped at its target before that budget
    assert scoring.lead_at(ahead, base, 800, {**known, "75": None, "100": None})["75"] is None
    # the baseline reaches its best only at the budget's last step and this curve never does: behind, by
    # more than 0 steps
    late = curve([0.1, 0.3, 0.5, 0.45, 0.6, 0.7, 0.75, 0.8, 0.85])
    assert scoring.lead_at(base, late, 800, known)["100"] == {"steps": 0, "bound": "<"}
    # in the report's cell a bound reads '>' ahead and '<' behind
    from benchmark.report import lead_cell
    assert lead_cell({"forecaster": "extrapolate", "lead_at": lead}) == "+200/+200/<-200/<-100"
    assert lead_cell({"forecaster": "x", "lead_at": scoring.lead_at(higher, base, 800, known)}) == "0/0/0/>0"
    assert lead_cell({"forecaster": "x", "lead_at": scoring.lead_at(base, late, 800, known)}).endswith("/<0")


def test_bootstrap_interval_is_fixed_and_needs_two_values():
    assert scoring.bootstrap_ci([1.5]) is None
    values = [1.2, 1.5, 1.7, 2.0, 0.0]
    assert scoring.bootstrap_ci(values) == scoring.bootstrap_ci(values)
    lo, hi = scoring.bootstrap_ci(values)
    assert 0.0 <= lo <= scoring.median(values) <= hi <= 2.0


def test_no_claim_rests_on_two_seeds():
    # two seeds' bootstrap "interval" is just their two values: shown, never decided on
    assert scoring.bootstrap_ci([1.06, 1.31]) == (1.06, 1.31)
    assert scoring.decide({"seeds": 2, "ci95": (1.06, 1.31)}) == "too few seeds"
    assert scoring.decide({"seeds": 3, "ci95": (1.06, 1.31)}) == "faster"
    assert scoring.decide({"seeds": 3, "ci95": (0.5, 0.9)}) == "slower"


def test_a_seed_stopped_at_its_target_counts_as_there_for_the_median_curve_and_unknown_after():
    def row(seed, points, stopped=None):
        curve = [{"step": s, "accuracy": a, "phase": "eval"} for s, a in points]
        summary = {"steps": 40, "eval_every": 10, "stopped_at": stopped}
        return {"seed": seed, "forecaster": "none", "status": "finished", "curve": curve, "summary": summary,
                "config": {"forecaster": "none", "target": 0.8}, "label": f"s{seed}", "error": None}

    rows = [row(0, [(0, 0.1), (10, 0.85)], stopped=10), row(1, [(0, 0.1), (10, 0.5), (20, 0.82)], stopped=20),
            row(2, [(0, 0.1), (10, 0.5), (20, 0.6), (30, 0.7), (40, 0.75)])]
    [v], _ = scoring.score_experiment(rows, 0.8)
    assert v.stats["steps_per_seed"] == [10, 20, None] and v.stats["steps_median"] == 20
    assert v.stats["stopped"] == 2
    assert [p["accuracy"] for p in v.stats["median_curve"]] == [0.1, 0.5, 0.82, 0.82, 0.82]
    assert v.stats["median_curve_step"] == 20
    assert v.stats["accuracy_at"]["25"] == 0.5  # every seed was still training at step 10
    assert v.stats["accuracy_at"]["100"] is None  # two seeds never trained to step 40
    assert scoring.rescore(rows[0], 0.8)["accuracy_at"] == {"25": 0.85, "50": None, "75": None, "100": None}


def test_jump_recovery_counts_each_jumps_drop_and_its_next_regular_evaluation():
    curve = [{"step": s, "accuracy": a, "phase": ph} for s, a, ph in [
        (0, 0.1, "eval"), (100, 0.80, "pre_jump"), (100, 0.70, "post_jump"), (200, 0.85, "eval"),
        (300, 0.86, "pre_jump"), (300, 0.60, "post_jump"), (400, 0.84, "eval")]]
    events = [{"step": 100, "accuracy_before": 0.80, "accuracy_after": 0.70, "mean_abs_change": 1e-3},
              {"step": 300, "accuracy_before": 0.86, "accuracy_after": 0.60, "mean_abs_change": 3e-3}]
    # a run's summary counts each of its guard rule's decisions, those it never took at 0
    got = scoring.jump_recovery([
        {"curve": curve, "events": events, "summary": {"guard": {"kept": 1, "halved": 0, "undone": 1}}},
        {"curve": curve, "events": [], "summary": {"guard": {"kept": 0, "halved": 0, "undone": 2}}}])
    assert got["guard_decisions"] == {"kept": 1, "halved": 0, "undone": 3}
    from benchmark.report import jump_cells

    assert jump_cells({**got, "jump_recovered": 1})[1] == "1/2 (guard: 1 kept, 0 halved, 3 undone)"
    line = {**got, "guard_decisions": {"kept": 0, "scaled": 2, "undone": 1}}  # a line search's decisions
    assert jump_cells({**line, "jump_recovered": 1})[1] == "1/2 (guard: 0 kept, 2 scaled, 1 undone)"
    settle = {**got, "guard_decisions": {"kept": 2, "undone": 0, "unsettled": 1}}  # a settling guard's
    assert jump_cells({**settle, "jump_recovered": 1})[1] == "1/2 (guard: 2 kept, 0 undone, 1 unsettled)"
    assert got["jumps_made"] == 2 and got["jump_recovered"] == 1 and got["jump_followed"] == 2
    assert got["jump_drop_median"] == pytest.approx(-18.0) and got["jump_drop_worst"] == pytest.approx(-26.0)
    assert got["jump_next_eval_median"] == pytest.approx((5.0 - 2.0) / 2)
    assert got["jump_size_median"] == pytest.approx(2e-3) and jump_cells(got)[2] == "2.00e-03"
    assert jump_cells({"jumps_made": 0}) == ["-", "-", "-"]
    assert scoring.jump_recovery([{"curve": curve, "events": []}])["jump_drop_median"] is None


def test_an_experiment_on_its_tasks_own_target_is_scored_against_it():
    """A suite that names no target runs each trial to its task's (nino-vision: NiNo's); the config holds
    None, the summary the target it ran to: the report must score against that, not against nothing."""
    rows = [{"forecaster": "none", "config": {"target": None}, "summary": {"target": 0.895}},
            {"forecaster": "extrapolate", "config": {"target": None}, "summary": {"target": 0.895}}]
    assert scoring.experiment_target(rows) == 0.895
    rows[0]["config"]["target"] = 0.9  # a resolved baseline_max (or a suite's target) wins
    assert scoring.experiment_target(rows) == 0.9


def test_a_forked_or_resumed_trials_wall_time_is_its_last_attempts_pace_over_all_its_steps():
    # forked at 500 from a baseline whose first 500 steps took 20 s on another machine, then 1500 steps in 30 s
    # here: 40 s for the whole trial at this machine's pace, not the 50 s the two machines' parts add up to
    rows = [row("none", s, ramp(1500)) for s in range(3)]
    rows += [row("fast", s, ramp(1000), jumps=[600]) for s in range(3)]
    for r in rows:
        r["summary"]["wall_clock"] = 50.0
        if r["forecaster"] == "fast":
            r["summary"].update(resumed_from=500, seconds_before_resume=20.0)
    ranked, _ = scoring.score_experiment(rows, 0.9)
    assert {v.forecaster: v.stats["wall_clock"] for v in ranked} == {"none": 50.0, "fast": 40.0}
    # one stopped at its target: its attempt trained (stopped_at - resumed_from) steps
    assert scoring.whole_trial_seconds(50.0, 500, 20.0, 1100) == 30.0 * 1100 / 600
    assert scoring.whole_trial_seconds(None, 500, 20.0, 2000) is None
    assert scoring.whole_trial_seconds(50.0, None, None, 2000) == 50.0


def test_a_baseline_that_never_learned_leaves_every_comparison_unjudged():
    """mnist1 with Adam at 1e-3 stays at chance (loss 2.30 from step 100 on): its max, the target, is met by
    whatever else does not learn, so a speedup against it says nothing, whatever its interval."""
    from benchmark.report import verdict_sentence

    def flat(seed, start):  # at chance, touching 0.1135 (the most common digit's share) at `start`
        return [{"step": s, "accuracy": 0.1135 if s >= start else 0.098, "phase": "eval"} for s in range(0, 2001, 100)]

    rows = [row("none", s, flat(s, 1000 + 100 * s), target=0.1135) for s in range(4)]
    rows += [row("introspection", s, flat(s, 300), jumps=[200], target=0.1135) for s in range(4)]
    rows += [row("extrapolate", s, flat(s, 400), jumps=[200], target=0.1135) for s in range(4)]
    roles = {"none": "baseline", "introspection": "learned", "extrapolate": "control"}
    ranked, facts = scoring.score_experiment(rows, 0.1135)
    judged = scoring.verdict(ranked, roles, facts["budget"])  # chance unknown: judged as ever
    assert judged["baseline"]["outcome"] == "faster" and "untrained" not in judged
    v = scoring.verdict(ranked, roles, facts["budget"], paper_speedup=1.4, chance=0.1)
    assert v["paper_in_ci"] is None and "the paper's 1.40x is not comparable to our interval" in verdict_sentence(v)
    assert v["baseline"]["outcome"] == v["controls"][0]["outcome"] == scoring.UNTRAINED_OUTCOME
    assert v["baseline"]["median"] == judged["baseline"]["median"]  # the numbers stay, shown, not judged
    assert v["untrained"] == {"max_accuracy": 0.1135, "chance": 0.1}
    assert verdict_sentence(v).startswith("**Not judged**: `introspection @200` cannot be judged: the baseline "
                                          "never learned")
    from benchmark.report import untrained_sentence
    assert "median max accuracy over seeds, 11.35%, is under 1.5x chance (10.00%)" in untrained_sentence(ranked, 0.1)
    assert untrained_sentence(ranked, None) is None and untrained_sentence(ranked, 0.05) is None
    # a baseline well above chance is judged
    assert "untrained" not in scoring.verdict(ranked, roles, facts["budget"], chance=0.05)


def test_chance_accuracy_is_one_over_the_tasks_classes():
    from benchmark.report import chance_accuracy

    assert chance_accuracy("mnist1") == 0.1 and chance_accuracy("c100_32") == 0.01
    assert chance_accuracy("no_such_task") is None
