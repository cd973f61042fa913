from dataclasses import replace

import pytest
from torch.optim.lr_scheduler import LambdaLR

from benchmark import run as run_module
from benchmark.config import RunConfig
from benchmark.truncation import cut, why_not_prefix

SHORT = RunConfig(task="mnist1", forecaster="extrapolate", forecaster_params={"ratio": 1.3}, steps=10_000, seed=3)
LONG = replace(SHORT, steps=None, target=0.99)  # the task's 20,000 steps; a target scores, it does not train


def test_a_longer_run_of_the_same_training_holds_the_shorter_one():
    assert why_not_prefix(SHORT, LONG) is None
    assert why_not_prefix(SHORT, replace(LONG, steps=10_000)) is None  # the same budget spelled out


@pytest.mark.parametrize("short, long, why", [
    (replace(SHORT, steps=10_050), LONG, "10050 steps end off the evaluation grid of every 100"),
    (replace(SHORT, steps=30_000), LONG, "the stored run is shorter (20000 steps against 30000)"),
    (SHORT, replace(LONG, forecaster_params={"ratio": 2.0}), "another run config"),
    (SHORT, replace(LONG, seed=4), "another run config"),
    (replace(SHORT, stop_at_target=True), replace(LONG, stop_at_target=True), "stops at its target"),
])
def test_what_a_longer_run_does_not_hold(short, long, why):
    assert why in why_not_prefix(short, long)


def test_a_schedule_over_the_budget_is_no_prefix(monkeypatch):
    real = run_module.plan

    def plan(config):  # a task whose learning rate decays to zero over its budget, whatever that is
        task, *rest = real(config)
        return (task.replace(schedule=lambda opt: LambdaLR(opt, lambda s: 1 - s / task.steps)), *rest)

    monkeypatch.setattr(run_module, "plan", plan)
    assert why_not_prefix(SHORT, LONG) == "the learning-rate schedule depends on the budget"


def test_cut_keeps_the_steps_up_to_its_budget_and_scores_them_afresh():
    curve = [{"step": s, "accuracy": a, "loss": 1.0, "seconds": s / 10} for s, a in
             ((0, 0.1), (100, 0.5), (200, 0.7), (300, 0.9), (400, 0.0))]
    curve[-1]["phase"] = "diverged"  # after the cut: the shorter run never saw it
    row = {"key": "k", "status": "diverged", "config": LONG.to_dict(), "curve": curve, "seconds": 70.0,
           "events": [{"step": 150}, {"step": 350}],
           "summary": {"steps": 400, "eval_every": 100, "max_accuracy": 0.9, "wall_clock": 60.0, "eval_seconds": 8.0,
                       "resumed_from": 200, "seconds_before_resume": 30.0, "platform": {"cpu": "x"}}}
    got = cut(row, replace(LONG, steps=200, target=0.6, jumps=(150,)))
    assert [p["step"] for p in got["curve"]] == [0, 100, 200] and got["events"] == [{"step": 150}]
    s = got["summary"]
    assert (got["status"], s["status"], s["steps"], s["truncated_from"]) == ("finished", "finished", 200, 400)
    assert (s["max_accuracy"], s["final_accuracy"], s["max_accuracy_step"]) == (0.7, 0.7, 200)
    assert (s["target"], s["steps_to_target"]) == (0.6, 200)  # the shorter run's target, not the stored one's
    assert (s["wall_clock"], s["eval_seconds"], s["platform"]) == (30.0, 4.0, {"cpu": "x"})
    # the whole run's seconds at its last attempt's pace (40 s for steps 200-400: 80 s), then half of them
    assert got["seconds"] == 40.0 and "resumed_from" not in s
    assert got["config"]["steps"] == 200
    assert row["summary"]["steps"] == 400 and len(row["curve"]) == 5  # the source row is left as it was
    whole = cut(row, replace(LONG, steps=400, target=0.6, jumps=(150,)))  # the same budget: no cut to mark
    assert "truncated_from" not in whole["summary"] and whole["summary"]["steps_to_target"] == 200
