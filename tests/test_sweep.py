"""Suites really running under Ray Tune: W&B runs on disk, failures recorded, kill and resume, two nodes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmark.store import ResultsStore
from benchmark.suites import load_suite
from benchmark.sweep import SweepOptions, run_suite

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "offline"}


def introbench(*args, **kw):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=600, **kw)


def test_smoke_suite_under_ray_lands_in_store_and_wandb(tmp_path):
    proc = introbench("suite", "run", "smoke", "--workers", "2", "--results", str(tmp_path), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["stored"] == outcome["trials"] == 7 and outcome["finished"] == 7
    rows = ResultsStore(tmp_path).rows("smoke")
    assert {r["forecaster"] for r in rows} == {"none", "introspection", "introspection_linear", "quadratic",
                                               "linear_fit", "noise", "extrapolate"}
    for r in rows:
        assert r["curve"] and r["summary"]["status"] == "finished"
        assert Path(r["wandb_dir"]).is_relative_to(tmp_path)  # nothing written outside the results folder
        inspected = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json",
                                    r["wandb_dir"]], capture_output=True, text=True, env=ENV, timeout=120)
        if inspected.returncode != 0:  # older wandb CLIs: the console script
            inspected = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary",
                                        "--json", r["wandb_dir"]], capture_output=True, text=True, env=ENV, timeout=120)
        run = json.loads(inspected.stdout)
        assert run["summary"]["steps_to_target"] == r["summary"]["steps_to_target"] is not None
        assert run["summary"]["max_accuracy"] == r["summary"]["max_accuracy"]
        assert run["config"]["trial_key"] == r["key"] and run["state"] == "finished"


FAILING_PLUGIN = textwrap.dedent('''
    import torch
    from predictors import Forecaster, register_forecaster

    @register_forecaster("explodes")
    class Explodes(Forecaster):
        fractions = ()
        summary = "test: raises at the jump"

        def forecast(self, history, generator=None):
            raise RuntimeError("the forecaster failed on purpose")

    @register_forecaster("blows_up")
    class BlowsUp(Forecaster):
        fractions = ()
        summary = "test: jumps to huge weights so the loss is NaN"

        def forecast(self, history, generator=None):
            return history[-1] * 1e38
''')


def test_failed_and_diverged_trials_are_recorded_and_the_suite_goes_on(tmp_path):
    plugin = tmp_path / "failing.py"
    plugin.write_text(FAILING_PLUGIN)
    suite = tmp_path / "failing.yaml"
    suite.write_text(textwrap.dedent("""
        experiments:
          - task: mnist3
            reduced: true
            forecasters: [none, explodes, blows_up, extrapolate]
    """))
    proc = introbench("suite", "run", str(suite), "--plugin", str(plugin), "--results", str(tmp_path / "r"),
                      "--retries", "1", "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["forecaster"]: r for r in ResultsStore(tmp_path / "r").rows()}
    assert rows["none"]["status"] == "finished" and rows["extrapolate"]["status"] == "finished"
    assert rows["explodes"]["status"] == "failed"
    assert "the forecaster failed on purpose" in rows["explodes"]["error"]
    assert rows["blows_up"]["status"] == "diverged" and rows["blows_up"]["summary"]["status"] == "diverged"


def _write_slow_suite(tmp_path) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text(textwrap.dedent("""
        experiments:
          - task: mnist2
            reduced: true
            steps: 60
            forecasters: [none, {name: extrapolate, ratio: [1.3, 2.0]}]
            seeds: 2
    """))
    return path


def test_killed_suite_resumes_without_losing_or_repeating_a_trial(tmp_path):
    suite = _write_slow_suite(tmp_path)
    results = tmp_path / "r"
    store = ResultsStore(results)
    cmd = [sys.executable, "-m", "benchmark.cli", "suite", "run", str(suite), "--workers", "1", "--results",
           str(results), "--no-progress", "--wandb", "disabled"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(store.keys("slow")) < 2:
        time.sleep(0.5)
    before = store.keys("slow")
    assert len(before) >= 2, "no trial finished in time"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray processes die at once, mid-trial
    proc.wait(timeout=60)
    total = len(load_suite(str(suite)).trials())
    assert len(store.keys("slow")) < total
    stored_before = {r["key"]: r["finished"] for r in store.rows("slow")}

    again = introbench("suite", "run", str(suite), "--workers", "1", "--results", str(results), "--json",
                       "--no-progress", "--wandb", "disabled")
    assert again.returncode == 2 and "add --resume" in again.stderr  # refuses to start over silently
    resumed = introbench("suite", "run", str(suite), "--workers", "1", "--results", str(results), "--resume",
                         "--json", "--no-progress", "--wandb", "disabled")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    outcome = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert outcome["skipped"] == len(stored_before)
    rows = store.rows("slow")
    assert len(rows) == total == len({r["key"] for r in rows})
    for r in rows:  # what was stored before the kill was not run again
        if r["key"] in stored_before:
            assert r["finished"] == stored_before[r["key"]]


def test_two_node_cluster_runs_trials_on_both_nodes(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        suite = load_suite(str(_write_slow_suite(tmp_path)))
        outcome = run_suite(suite, SweepOptions(results=str(tmp_path / "r"), workers=2, address=cluster.address,
                                                wandb="disabled", progress=False))
        assert outcome["finished"] == outcome["trials"] == 6
        nodes = {r["node"] for r in ResultsStore(tmp_path / "r").rows()}
        assert len(nodes) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
