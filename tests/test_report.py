import json
import math

import pytest

from benchmark import metrics
from benchmark.errors import IntrobenchError
from benchmark.report import build_report, leaderboard, performance_profile
from benchmark.store import ResultsStore
from benchmark.suites import parse_suite
from benchmark.sweep import SweepOptions, run_suite

PNG = b"\x89PNG\r\n\x1a\n"


def curve(points, phase_at=None):
    return [{"step": s, "accuracy": a, "loss": 0.1, "phase": "eval", "seconds": s / 1000} for s, a in points]


def row(suite, forecaster, seed, points, status="finished", params=None, jumps=None, target=None, experiment=0,
        task="mnist3", error=None):
    params = params or {}
    c = curve(points) if points else None
    summary = None
    if c:
        top, top_step = metrics.best(c)
        summary = {"status": status, "steps": 2000, "target": 0.9, "max_accuracy": top, "max_accuracy_step": top_step,
                   "wall_clock": 10.0, "forecast_seconds": 0.5 if forecaster != "none" else 0.0,
                   "accuracy_at": metrics.accuracy_at_fractions(c, 2000), "jump_points": jumps or []}
    cfg = {"task": task, "forecaster": forecaster, "forecaster_params": params, "jumps": jumps, "seed": seed,
           "target": target, "optimizer": None}
    key = f"{forecaster}-{json.dumps(params, sort_keys=True)}-{jumps}-{seed}-{experiment}"
    return {"suite": suite, "key": key, "label": key, "experiment": experiment, "task": task,
            "forecaster": forecaster, "seed": seed, "status": status, "error": error, "config": cfg,
            "summary": summary, "curve": c, "events": []}


def ramp(reach_step, top=0.95, steps=2000, every=100):
    """A curve that crosses 0.9 exactly at reach_step (None: never) and tops out at `top`."""
    pts = []
    for s in range(0, steps + 1, every):
        if reach_step is None:
            a = 0.5 + 0.35 * s / steps
        else:
            a = 0.9 * s / reach_step if s < reach_step else min(top, 0.9 + (s - reach_step) * 1e-5)
        pts.append((s, round(a, 6)))
    return pts


@pytest.fixture
def hand_store(tmp_path):
    store = ResultsStore(tmp_path)
    rows = [row("hand", "none", 0, ramp(1000)), row("hand", "none", 1, ramp(1200)),
            row("hand", "extrapolate", 0, ramp(500), params={"ratio": 1.3}, jumps=[300]),
            row("hand", "extrapolate", 1, ramp(600), params={"ratio": 1.3}, jumps=[300]),
            row("hand", "quadratic", 0, ramp(None), params={"ratio": 1.4}, jumps=[300]),
            row("hand", "quadratic", 1, ramp(None)[:5] + [(500, float("nan"))], status="diverged",
                params={"ratio": 1.4}, jumps=[300]),
            row("hand", "noise", 0, None, status="failed", params={"std": 0.1}, jumps=[300],
                error="RuntimeError: boom")]
    for r in rows:
        r["summary"] and r["summary"].update(target=0.9)
        store.write(r)
    return tmp_path


def test_speedup_and_ranking_arithmetic(hand_store):
    rows = ResultsStore(hand_store).rows("hand")
    for r in rows:
        if r["status"] == "diverged":
            r["curve"][-1]["phase"] = "diverged"
    entries, facts = leaderboard(rows)
    assert facts["target"] == 0.9 and facts["baseline_steps"] == 1100  # median of 1000 and 1200
    order = [e.forecaster for e in entries]
    assert order[:2] == ["extrapolate", "none"] and set(order[2:]) == {"quadratic", "noise"}
    ext = entries[0].stats
    assert ext["steps_to_target"] == (550, 500, 600)
    assert ext["speedup"][0] == pytest.approx((1100 / 500 + 1100 / 600) / 2)
    assert ext["speedup"][1:] == (pytest.approx(1100 / 600), pytest.approx(1100 / 500))
    base = entries[1].stats
    assert base["speedup"] == (pytest.approx((1100 / 1000 + 1100 / 1200) / 2), pytest.approx(1100 / 1200),
                               pytest.approx(1100 / 1000))
    quad = next(e for e in entries if e.forecaster == "quadratic").stats
    assert quad["reached"] == 0 and quad["speedup"] == (None, None, None) and quad["diverged"] == 1
    noise = next(e for e in entries if e.forecaster == "noise").stats
    assert noise["failed"] == 1 and noise["errors"] == ["RuntimeError: boom"]


def test_report_files_and_never_reached_wording(hand_store, capsys):
    report = build_report(hand_store, wandb_mode="disabled")
    md = (hand_store / "report" / "report.md").read_text()
    assert "never reached" in md and "2.02 [1.83-2.20]x" in md
    lines = [l for l in md.splitlines() if l.startswith("| ")]
    assert lines[1].startswith("| extrapolate(ratio=1.3) @300") and lines[-1].startswith("| noise") or \
        lines[-1].startswith("| quadratic")
    for exp in report["suites"][0]["experiments"]:
        for p in exp["plots"]:
            assert (hand_store / "report" / p).read_bytes()[:8] == PNG
            assert f"]({p})" in md
    html = (hand_store / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(report["suites"][0]["experiments"][0]["plots"])


def test_leaderboard_lands_in_wandb_as_a_table(hand_store):
    report = build_report(hand_store, wandb_mode="offline")
    (run_dir,) = report["wandb"]["runs"]
    assert str(run_dir).startswith(str(hand_store))
    assert list((hand_store / "wandb").rglob("leaderboard*.table.json"))


def test_performance_profile():
    class E:
        def __init__(self, variant, steps):
            self.variant, self.stats = variant, {"steps_to_target": (steps, steps, steps)}

    exps = [([E("a", 100), E("b", 200)], {}), ([E("a", 300), E("b", 150)], {}), ([E("a", None), E("b", 100)], {})]
    prof = performance_profile(exps, taus=[1.0, 2.0, 4.0])
    assert prof["curves"]["a"] == [1 / 3, 2 / 3, 2 / 3] and prof["curves"]["b"] == [2 / 3, 1.0, 1.0]
    assert prof["scores"]["b"] > prof["scores"]["a"]


def test_bad_inputs(tmp_path, hand_store):
    with pytest.raises(IntrobenchError, match="no results store at"):
        build_report(tmp_path / "nothing", wandb_mode="disabled")
    with ResultsStore(tmp_path / "empty")._db():  # the file and its tables, no trials
        pass
    with pytest.raises(IntrobenchError, match="holds no trials yet"):
        build_report(tmp_path / "empty", wandb_mode="disabled")
    with pytest.raises(IntrobenchError, match="unknown suite 'other'.*it holds: hand"):
        build_report(hand_store, suite="other", wandb_mode="disabled")


def test_no_baseline_is_said(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(row("nobase", "extrapolate", 0, ramp(500), params={"ratio": 1.3}, jumps=[300]))
    report = build_report(tmp_path, wandb_mode="disabled")
    assert any("no baseline" in n for n in report["suites"][0]["notes"])


@pytest.fixture(scope="module")
def real_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    suite = parse_suite({"name": "real", "experiments": [
        {"task": "mnist3", "reduced": True, "steps": 60, "eval_every": 10,
         "forecasters": ["none", {"name": "extrapolate", "ratio": 1.3}], "seeds": 2, "target": "baseline_max"},
        {"task": "mnist2", "reduced": True, "steps": 40, "eval_every": 10,
         "forecasters": ["none", {"name": "extrapolate", "ratio": 1.3}], "seeds": [0], "target": 0.5}]},
        str(results / "real.yaml"))
    outcome = run_suite(suite, SweepOptions(results=str(results), workers=2, wandb="disabled", progress=False))
    assert outcome["finished"] == 6
    return results


def test_report_from_a_real_suite_run_matches_the_store(real_results):
    report = build_report(real_results, wandb_mode="disabled")
    rows = ResultsStore(real_results).rows("real")
    (suite,) = report["suites"]
    assert suite["profile"] is not None and len(suite["experiments"]) == 2
    exp = suite["experiments"][0]
    base_rows = [r for r in rows if r["experiment"] == 0 and r["forecaster"] == "none"]
    target = metrics.median([r["summary"]["max_accuracy"] for r in base_rows])
    assert exp["target"] == pytest.approx(target)  # baseline_max, as the suite ran it
    for r in rows:  # the store keeps the config each trial really ran with
        if r["experiment"] == 0:
            assert r["config"]["target"] == (None if r["forecaster"] == "none" else pytest.approx(target))
            assert r["summary"]["target"] == pytest.approx(target) or r["forecaster"] == "none"
    by_variant = {e["forecaster"]: e for e in exp["leaderboard"]}
    for name, entry in by_variant.items():
        mine = [metrics.steps_to_target(r["curve"], target) for r in rows
                if r["experiment"] == 0 and r["forecaster"] == name]
        assert entry["steps_per_seed"] == mine
        assert entry["steps_to_target"][0] == metrics.median(mine)
    ref = by_variant["none"]["steps_to_target"][0]
    ext = [s for s in by_variant["extrapolate"]["steps_per_seed"] if s]
    if ref and ext:
        assert by_variant["extrapolate"]["speedup"][0] == pytest.approx(metrics.median([ref / s for s in ext]))
    for p in exp["plots"] + suite["plots"]:
        assert (real_results / "report" / p).read_bytes()[:8] == PNG
    assert "data:image/png;base64," in (real_results / "report" / "report.html").read_text()
    assert suite["notes"] == []  # nothing missing


def test_partial_results_name_the_missing_trials(real_results, tmp_path):
    import shutil
    import sqlite3

    copy = tmp_path / "partial"
    shutil.copytree(real_results, copy, ignore=shutil.ignore_patterns("report", "ray"))
    conn = sqlite3.connect(copy / "results.sqlite")
    with conn:
        conn.execute("DELETE FROM trials WHERE forecaster = 'extrapolate' AND seed = 1")
    conn.close()
    report = build_report(copy, wandb_mode="disabled")
    (note,) = report["suites"][0]["notes"]
    assert "1 trial(s) of the suite are not in the store" in note and "extrapolate(ratio=1.3) s1" in note


def test_schedule_sweep_gets_a_heat_map(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(row("sweep", "none", 0, ramp(1500)))
    for first in (200, 400):
        for interval in (100, 300):
            reach = 600 + first + interval
            store.write(row("sweep", "extrapolate", 0, ramp(reach), params={"ratio": 1.3},
                            jumps=[first, first + interval]))
    report = build_report(tmp_path, wandb_mode="disabled")
    plots = report["suites"][0]["experiments"][0]["plots"]
    heat = [p for p in plots if p.endswith("heatmap.png")]
    assert len(heat) == 1 and (tmp_path / "report" / heat[0]).read_bytes()[:8] == PNG
    board = report["suites"][0]["experiments"][0]["leaderboard"]
    assert board[0]["jumps"] == [200, 300] and board[0]["steps_to_target"][0] == 900  # fastest schedule first
