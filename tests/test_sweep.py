"""Suites really running under Ray Tune: W&B runs on disk, failures recorded, kill and resume, two nodes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from benchmark.config import RunConfig
from benchmark.run import run
from benchmark.store import ResultsStore
from benchmark.suites import load_suite
from benchmark.sweep import SweepOptions, run_suite
from benchmark.tracking import segments, wandb_environment
from tasks import create_task

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "offline"}


def introbench(*args, **kw):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=600, **kw)


def wandb_inspect(run_dir) -> dict:
    inspected = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary", "--json",
                                str(run_dir)], capture_output=True, text=True, env=ENV, timeout=120)
    assert inspected.returncode == 0, inspected.stderr[-2000:]
    return json.loads(inspected.stdout)


def test_smoke_suite_under_ray_lands_in_store_and_wandb(tmp_path, data_dir):
    # A relative data path, as README's test command gives it: Ray runs trials in another working directory.
    work = tmp_path / "cwd"
    work.mkdir()
    # and a blank WANDB_MODE, which W&B itself refuses: the mode the suite resolved (offline) is what the runs get
    env = {**ENV, "INTROBENCH_DATA": os.path.relpath(data_dir, work), "WANDB_MODE": ""}
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "suite", "run", "smoke", "--workers", "2",
                           "--results", "results", "--json", "--no-progress", "--bank", "bank"], capture_output=True,
                          text=True, env=env, cwd=work, timeout=600)
    tmp_path = work / "results"
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["stored"] == outcome["trials"] == 7 and outcome["finished"] == 7
    # --bank (relative, like the data path): every trial's trajectory landed in the bank, one file a trial
    assert len(list((work / "bank").glob("*/*.safetensors"))) == 7
    assert (tmp_path / "ray.log").stat().st_size > 0  # Ray's console noise went to the log, not the console
    assert "INFO" not in proc.stderr and "Traceback" not in proc.stderr
    rows = ResultsStore(tmp_path).rows("smoke")
    assert {r["forecaster"] for r in rows} == {"none", "introspection", "introspection_linear", "quadratic",
                                               "linear_fit", "noise", "extrapolate"}
    from tests.test_tracking import history_rows

    for r in rows:
        assert r["curve"] and r["summary"]["status"] == "finished"
        assert Path(r["wandb_dir"]).is_relative_to(tmp_path)  # nothing written outside the results folder
        run = wandb_inspect(r["wandb_dir"])
        assert run["summary"]["steps_to_target"] == r["summary"]["steps_to_target"] is not None
        assert run["summary"]["max_accuracy"] == r["summary"]["max_accuracy"]
        assert run["config"]["trial_key"] == r["key"] and run["state"] == "finished"
        # logged live, from inside the trial: every evaluation the store has, over the trial's own time
        logged = history_rows(r["wandb_dir"])
        assert {s: row["accuracy"] for s, row in logged.items()} == {
            p["step"]: p["accuracy"] for p in r["curve"] if p["phase"] != "pre_jump"}
        assert {p["step"] for p in r["curve"] if p["phase"] == "pre_jump"} == {
            s for s, row in logged.items() if "accuracy_before_jump" in row}
        runtime = max(row["_runtime"] for row in logged.values())
        # within 20% of the trial's own time; plus a second for W&B's start-up, which is most of a 2 s trial
        assert abs(runtime - r["seconds"]) <= 0.2 * r["seconds"] + 1.0, (runtime, r["seconds"])
        task = create_task("mnist3", reduced=True)  # the config as resolved: the task's defaults filled in
        assert (run["config"]["steps"], run["config"]["eval_every"], run["config"]["target"]) == (
            task.steps, task.eval_every, 0.5)
        assert run["config"]["jumps"] == (list(task.jumps) if r["forecaster"] != "none" else [])


FAILING_PLUGIN = textwrap.dedent('''
    from pathlib import Path

    from benchmark.errors import IntrobenchError
    from predictors import Forecaster, register_forecaster

    HERE = Path("@HERE@")  # the test's folder: the plugin itself travels with the Ray job, far from it


    def attempt(name):
        with open(HERE / f"{name}.attempts", "a") as f:
            f.write("x")


    @register_forecaster("explodes")
    class Explodes(Forecaster):
        fractions = ()
        summary = "test: raises at the jump while the file 'broken' exists"

        def forecast(self, history, generator=None):
            attempt("explodes")
            if (HERE / "broken").exists():
                raise RuntimeError("the forecaster failed on purpose\\nand said more on a second line")
            return history[-1]

    @register_forecaster("refuses")
    class Refuses(Forecaster):
        fractions = ()
        summary = "test: a user-facing error, the same on every attempt"

        def forecast(self, history, generator=None):
            attempt("refuses")
            raise IntrobenchError("refuses: this input can never work")

    @register_forecaster("blows_up")
    class BlowsUp(Forecaster):
        fractions = ()
        summary = "test: jumps to huge weights so the loss is NaN"

        def forecast(self, history, generator=None):
            return history[-1] * 1e38
''')


def test_failures_are_recorded_whole_retried_only_when_it_can_help_and_rerun_on_resume(tmp_path):
    plugin = tmp_path / "failing.py"
    plugin.write_text(FAILING_PLUGIN.replace("@HERE@", str(tmp_path)))
    (tmp_path / "broken").touch()
    suite = tmp_path / "failing.yaml"
    suite.write_text(textwrap.dedent("""
        experiments:
          - task: mnist3
            reduced: true
            forecasters: [none, explodes, refuses, blows_up, extrapolate]
    """))
    args = ["suite", "run", str(suite), "--plugin", str(plugin), "--results", str(tmp_path / "r"), "--retries", "1",
            "--json", "--no-progress", "--wandb", "disabled"]
    proc = introbench(*args)
    assert proc.returncode == 1, proc.stderr[-3000:]  # a suite never hides a failure
    assert "2 trial(s) failed" in proc.stderr.splitlines()[-1]
    # each trial's end is one line of the log (--no-progress: an unattended run is read there), counted
    ends = [line for line in proc.stderr.splitlines() if line.startswith("mnist3 ") and " stored, " in line]
    assert len(ends) == 5 and ends[-1].endswith("(3 of 5 stored, 2 failed)"), ends
    assert any(line.startswith("mnist3 explodes s0: failed: RuntimeError: the forecaster failed on purpose (")
               for line in ends), ends
    assert any(line.startswith("mnist3 none s0: finished, target ") and ", max accuracy " in line for line in ends)
    assert any(line.startswith("mnist3 blows_up s0: diverged") for line in ends), ends
    rows = {r["forecaster"]: r for r in ResultsStore(tmp_path / "r").rows()}
    assert rows["none"]["status"] == "finished" and rows["extrapolate"]["status"] == "finished"
    assert rows["blows_up"]["status"] == "diverged" and rows["blows_up"]["summary"]["status"] == "diverged"
    error = rows["explodes"]["error"]  # the whole error: its first line, its second, and the traceback
    assert error.startswith("RuntimeError: the forecaster failed on purpose\nand said more on a second line")
    assert "Traceback (most recent call last)" in error and "in forecast" in error
    assert rows["refuses"]["error"].startswith("IntrobenchError: refuses: this input can never work")
    assert (tmp_path / "explodes.attempts").read_text() == "xx"  # retried once (--retries 1)
    assert (tmp_path / "refuses.attempts").read_text() == "x"  # the same error again would not help

    (tmp_path / "broken").unlink()  # fixed: --resume reruns the failed trials, and only those
    resumed = introbench(*args, "--resume")
    assert resumed.returncode == 1 and "rerunning 2 failed and 0 missing" in resumed.stderr
    rows = {r["forecaster"]: r for r in ResultsStore(tmp_path / "r").rows()}
    assert rows["explodes"]["status"] == "finished" and rows["explodes"]["error"] is None
    assert rows["refuses"]["status"] == "failed"
    assert len(ResultsStore(tmp_path / "r").rows()) == 5


def test_a_suite_whose_trials_all_fail_alike_stops_after_three_and_says_why_in_one_line(tmp_path):
    plugin = tmp_path / "failing.py"
    plugin.write_text(FAILING_PLUGIN.replace("@HERE@", str(tmp_path)))
    suite = tmp_path / "broken.yaml"
    suite.write_text("experiments: [{task: mnist3, reduced: true, forecasters: [refuses], seeds: 8}]\n")
    proc = introbench("suite", "run", str(suite), "--plugin", str(plugin), "--results", str(tmp_path / "r"),
                      "--workers", "1", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.splitlines()[-1] == (
        "introbench: error: suite stopped: 3 trials in a row failed with the same error (IntrobenchError: refuses: "
        "this input can never work); fix its cause, then `--resume` reruns them and runs the rest")
    failed = [r for r in ResultsStore(tmp_path / "r").rows() if r["status"] == "failed"]
    assert 3 <= len(failed) < 8  # stopped: not every trial was run to fail the same way


def test_no_data_fails_before_ray_in_one_line(tmp_path):
    empty = tmp_path / "nothing-here"
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "suite", "run", "quickstart", "--results",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=120,
                          env={**ENV, "INTROBENCH_DATA": str(empty)})
    assert proc.returncode == 2 and time.time() - start < 60
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 3 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"introbench: error: MNIST not found in {empty}") and "MNIST/raw/" in lines[0]
    assert not empty.exists()  # never created as a side effect
    assert not ResultsStore(tmp_path / "r").rows()


def test_baselines_of_a_baseline_max_experiment_are_stored_and_logged_with_the_resolved_target(tmp_path):
    suite = tmp_path / "bmax.yaml"
    suite.write_text(textwrap.dedent("""
        experiments:
          - task: mnist3
            reduced: true
            forecasters: [none, {name: extrapolate, ratio: 1.3}]
            seeds: 2
            target: baseline_max
    """))
    proc = introbench("suite", "run", str(suite), "--results", str(tmp_path / "r"), "--json", "--no-progress",
                      "--wandb", "offline", "--stop-at-target")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ends = [line for line in proc.stderr.splitlines() if " stored, " in line]  # a baseline's target is not known yet
    assert all(line.startswith("mnist3 none s") and ": finished, target: the baselines' max, once every seed is "
               "done, max accuracy " in line for line in ends[:2]), ends
    assert all(", target " in line and "baselines' max" not in line for line in ends[2:]) and len(ends) == 4, ends
    rows = ResultsStore(tmp_path / "r").rows()
    maxima = sorted(r["summary"]["max_accuracy"] for r in rows if r["forecaster"] == "none")
    target = sum(maxima) / 2
    for r in rows:
        assert r["config"]["target"] == pytest.approx(target) and r["summary"]["target"] == pytest.approx(target)
        assert r["config"]["stop_at_target"] is True
        if r["forecaster"] == "none":  # logged live with no target yet, then resolved into the same run
            assert len(segments(r["wandb_dir"])) == 2 and wandb_inspect(r["wandb_dir"])["config"]["target"] is None
        logged = wandb_inspect(segments(r["wandb_dir"])[-1])  # a baseline's resolution is its run's last word
        assert logged["summary"]["target"] == pytest.approx(target)
        assert logged["summary"].get("steps_to_target") == r["summary"]["steps_to_target"]  # W&B drops a None
        assert logged["summary"].get("stopped_at") == r["summary"]["stopped_at"]
        if r["forecaster"] == "none":  # a baseline cannot stop at a target its own maximum decides
            assert r["summary"]["stopped_at"] is None and r["curve"][-1]["step"] == r["summary"]["steps"]
        elif r["summary"]["steps_to_target"] is not None:  # a method trial ends at its target
            assert r["summary"]["stopped_at"] == r["summary"]["steps_to_target"] == r["curve"][-1]["step"]
    assert any(r["summary"]["steps_to_target"] is not None for r in rows if r["forecaster"] == "none")
    assert any(r["summary"]["stopped_at"] for r in rows if r["forecaster"] != "none")


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


def test_two_runs_of_one_store_share_what_is_left_trial_by_trial(tmp_path):
    """Each trial is taken as a worker comes free for it, not when the run starts: one that another live run
    took meanwhile, or stored, is left to it; a trial taken is nobody else's."""
    from ray.tune.search import Searcher

    from benchmark.store import driver_id
    from benchmark.sweep import TrialQueue

    suite = load_suite(str(_write_slow_suite(tmp_path)))
    phase = suite.trials()
    store = ResultsStore(tmp_path / "r")
    queue = TrialQueue(suite.name, phase, [{"n": i} for i in range(len(phase))], store, {})
    assert queue.suggest("a") == {"case": {"n": 0}}
    (mine,) = store.running(suite.name).values()
    assert (mine["key"], mine["driver"]) == (phase[0].key, driver_id())
    # meanwhile a run on another host takes the second trial, and the third is stored (by a third run)
    store.start_trial(suite.name, phase[1].key, phase[1].label, 60, "otherhost:4242")
    t = phase[2]
    store.write({"suite": suite.name, "key": t.key, "label": t.label, "experiment": 0, "task": t.config.task,
                 "forecaster": t.config.forecaster, "seed": t.config.seed, "status": "finished", "config": "{}"})
    assert queue.suggest("b") == {"case": {"n": 3}}
    assert queue.left == {phase[1].key: "otherhost:4242", t.key: "stored"}
    # what this run holds, the other cannot take; a run gone quiet for an hour holds nothing
    assert store.claim(suite.name, phase[0].key, phase[0].label, 60, "otherhost:4242") == driver_id()
    with store._db() as conn, conn:
        conn.execute("UPDATE running SET updated = updated - 7200 WHERE driver = 'otherhost:4242'")
    assert store.claim(suite.name, phase[1].key, phase[1].label, 60, driver_id()) is None
    assert [queue.suggest(i) for i in "cde"] == [{"case": {"n": 4}}, {"case": {"n": 5}}, Searcher.FINISHED]
    # what a run says while Ray's output goes to its log reaches the real console
    import io

    from benchmark.sweep import LiveDisplay

    console = io.StringIO()
    LiveDisplay(6, 0, {}, console, enabled=False).say("2 trial(s) of phase 0 were left to another `suite run`")
    assert console.getvalue() == "2 trial(s) of phase 0 were left to another `suite run`\n"


def _refork_jobs(tmp_path, seeds: int, steps: int = 30):
    """A suite whose baselines are stored and whose forks are not written: (suite, results, fork points, the
    baselines that train again for them, as forks.missing gives them). The jumps come 10 and 5 steps before the
    end."""
    from benchmark import forks

    path = tmp_path / "f.yaml"
    path.write_text(f"experiments:\n  - {{task: mnist3, reduced: true, steps: {steps}, eval_every: 5, "
                    f"jumps: [{steps - 10}, {steps - 5}], seeds: {seeds}, forecasters: [none, extrapolate]}}\n")
    suite = load_suite(str(path))
    trials, results = suite.trials(), tmp_path / "r"
    points, sources = forks.suite_plan(trials, {t.key for t in trials}, results)
    jobs = forks.missing(trials, points, sources, {t.key for t in trials if t.config.forecaster != "none"}, results)
    return suite, results, points, jobs


def test_a_baseline_another_suite_run_trains_again_for_its_forks_is_left_to_it_and_waited_for(tmp_path, data_dir):
    import io
    import os
    import socket
    import threading

    from benchmark import forks
    from benchmark.sweep import LiveDisplay, SweepOptions, TimeBudget, write_forks

    # both baselines stored (not about to run), no forks written: both train again for their jumped trials
    suite, results, points, jobs = _refork_jobs(tmp_path, seeds=2)
    b0, b1 = sorted(jobs, key=lambda k: jobs[k][0].config.seed)
    store = ResultsStore(results)
    other = f"{socket.gethostname()}:{os.getppid()}"  # a live process of this host: another suite run
    assert store.claim(suite.name, forks.RUNNING + b0, "mnist3 none s0, again for its forks", 15, other) is None
    seen = []  # the other run's step as this run's display shows it

    class Display(LiveDisplay):
        def aside(self, key, label, steps):
            super().aside(key, label, steps)
            if key == b0:  # this run begins to wait for it: the other run goes on
                threading.Thread(target=the_other_run, daemon=True).start()

        def aside_step(self, key, step):
            super().aside_step(key, step)
            seen.append((key, step, self.aside_runs[key]["label"]))

    def the_other_run():  # it reports an evaluation, then lets the baseline go (this run looks every 2 s)
        time.sleep(0.5)
        store.progress(suite.name, forks.RUNNING + b0, 10, None)
        time.sleep(4.5)
        released.append(time.time())
        store.release(suite.name, forks.RUNNING + b0)

    released = []
    console = io.StringIO()
    write_forks(jobs, SweepOptions(results=str(results), workers=1), str(data_dir), TimeBudget(None),
                Display(4, 0, {}, console, enabled=False), store, suite.name)
    returned = time.time()
    said = console.getvalue()
    assert (f"forks: mnist3 none s0: another `suite run` of this store ({other}) trains it again; this run waits "
            f"for it") in said
    assert "forks: 1 stored baseline(s) train again, to step 15" in said
    assert "forks: mnist3 none s1: forks written to step 15" in said
    # its own baseline trained, then it waited for the other run's, showing its step, until that run let it go
    assert released and returned >= released[0]
    assert (b0, 10, "mnist3 none s0, again for its forks (another run)") in seen
    assert "forks: mnist3 none s0: the other run let it go" in said
    folder = forks.forks_folder(results)
    assert forks.written(folder / forks.prefix_key(jobs[b1][0].config), points[b1])
    assert not (folder / forks.prefix_key(jobs[b0][0].config)).exists()  # not trained here
    assert store.running(suite.name) == {}


def test_waiting_for_another_runs_forks_ends_with_the_time_budget(tmp_path):
    import io
    import os
    import socket

    from benchmark import forks
    from benchmark.sweep import LiveDisplay, SweepOptions, TimeBudget, write_forks

    suite, results, _, jobs = _refork_jobs(tmp_path, seeds=1)
    (b0,) = jobs
    store = ResultsStore(results)
    other = f"{socket.gethostname()}:{os.getppid()}"
    assert store.claim(suite.name, forks.RUNNING + b0, "mnist3 none s0, again for its forks", 15, other) is None
    console, began = io.StringIO(), time.monotonic()
    budget = TimeBudget(1.0)
    write_forks(jobs, SweepOptions(results=str(results), workers=1), "unused: nothing trains here", budget,
                LiveDisplay(2, 0, {}, console, enabled=False), store, suite.name)
    assert time.monotonic() - began < 10 and budget.spent  # the batch after it starts nothing, and says so
    assert "let it go" not in console.getvalue()
    assert set(store.running(suite.name)) == {forks.RUNNING + b0}  # the other run's mark is its own


def test_an_interrupt_cuts_a_baseline_training_again_for_its_forks_saved_where_it_stood(tmp_path, data_dir):
    import io

    from benchmark import forks
    from benchmark.sweep import LiveDisplay, SweepOptions, TimeBudget, write_forks

    suite, results, _, jobs = _refork_jobs(tmp_path, seeds=1)
    budget = TimeBudget(None, stop_file=results / ".interrupt-1")
    budget.interrupt()  # Ctrl-C: the file the helper process watches now exists
    assert budget.interrupted and budget.reason == "interrupt" and not budget.allows(resumable=True)
    console = io.StringIO()
    write_forks(jobs, SweepOptions(results=str(results), workers=1), str(data_dir), budget,
                LiveDisplay(2, 0, {}, console, enabled=False), ResultsStore(results), suite.name)
    assert "forks: mnist3 none s0: cut at step 5 by the time budget or an interrupt (resumes)" in console.getvalue()
    (baseline,) = jobs.values()
    saved = forks.forks_folder(results) / forks.prefix_key(baseline[0].config) / "run.pt"
    assert torch.load(saved, weights_only=True)["step"] == 5  # at its first evaluation, for the next attempt


def test_a_second_interrupt_stops_a_baseline_training_again_for_its_forks_at_once(tmp_path, data_dir):
    import _thread
    import io
    import multiprocessing

    from benchmark import forks
    from benchmark.sweep import WORKER_NICENESS, LiveDisplay, SweepOptions, TimeBudget, write_forks

    suite, results, points, jobs = _refork_jobs(tmp_path, seeds=1, steps=5000)
    (baseline,) = jobs

    niceness = []

    class SecondCtrlC(LiveDisplay):
        def aside_step(self, key, step):  # Ctrl-C while the first interrupt's "save at the next evaluation" waits
            super().aside_step(key, step)
            niceness.extend(os.getpriority(os.PRIO_PROCESS, p.pid) for p in workers())
            _thread.interrupt_main()

    def workers():
        return [p for p in set(multiprocessing.active_children()) - before if "Manager" not in p.name]

    store, before = ResultsStore(results), set(multiprocessing.active_children())
    # as after the first Ctrl-C (saving_on_interrupt); a pytest-xdist worker ignores SIGINT, and then
    # interrupt_main() does nothing
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_forks(jobs, SweepOptions(results=str(results), workers=1), str(data_dir), TimeBudget(None),
                        SecondCtrlC(2, 0, {}, io.StringIO(), enabled=False), store, suite.name)
    finally:
        signal.signal(signal.SIGINT, previous)
    # killed where it stood: no fork was written (waiting for it would have written them all, to step 4990), its
    # process is gone and the store no longer holds its baseline as running
    assert not forks.written(forks.forks_folder(results) / forks.prefix_key(jobs[baseline][0].config),
                             points[baseline])
    assert not workers()
    assert store.running(suite.name) == {}
    # it trained niced, as Ray's trial workers do, so that it yields the CPU as they do
    assert niceness and set(niceness) == {min(19, os.nice(0) + WORKER_NICENESS)}


def test_the_live_display_shows_a_baseline_training_again_for_its_forks_outside_the_trials_eta():
    import io
    import time

    from rich.console import Console

    from benchmark.sweep import LiveDisplay

    display = LiveDisplay(2, 0, {"k": 100}, io.StringIO(), enabled=False)
    display.started("t", "k", "mnist3 extrapolate s0")
    display.progress("t", 50, 0.9)
    display.aside("b", "mnist3 none s1, again for its forks", 15)
    display.aside_step("b", 10)
    shown = io.StringIO()
    Console(file=shown, width=200).print(display._render())
    assert "mnist3 none s1, again for its forks" in shown.getvalue() and "10/15" in shown.getvalue()
    assert "50/100" in shown.getvalue()
    display.start = time.time() - 100.5  # half the trials' steps in 100 s: 100 s left, whatever the fork run did
    assert display.eta() == "00:01:40"
    display.aside_end("b")
    assert display.eta() == "00:01:40" and display.aside_runs == {}


def test_the_live_displays_eta_counts_only_the_steps_a_resumed_trial_trains_in_this_run():
    import io
    import time

    from rich.console import Console

    from benchmark.sweep import LiveDisplay

    display = LiveDisplay(2, 0, {"a": 100, "b": 100}, io.StringIO(), enabled=False)
    display.started("t", "a", "mnist3 extrapolate s0")
    shown = io.StringIO()
    Console(file=shown, width=200).print(display._render())
    assert "starting/100" in shown.getvalue()  # not 0/100: a resumed trial starts far past 0
    for step in (0, 20, 40):  # its checkpoint's evaluations, replayed at once
        display.progress("t", step, 0.8, restored=True)
    display.progress("t", 50, 0.9)
    display.start = time.time() - 100.05
    # 10 steps trained in 100 s, of 60 + 100 to train: 1,500 s left (not the 300 s that counting its 40
    # restored steps as done would say)
    assert display.eta() == "00:25:00"
    display.progress("t", 100, 0.9)
    display.ended("t", failed=False)
    display.start = time.time() - 120.05  # 60 steps in 120 s, 100 to go
    assert display.eta() == "00:03:20"


def test_the_driver_stores_a_resumed_trials_first_trained_evaluation_not_a_replayed_one(tmp_path):
    import io
    from types import SimpleNamespace

    from benchmark.store import driver_id
    from benchmark.sweep import LiveDisplay, StoreCallback

    store = ResultsStore(tmp_path)
    callback = StoreCallback(store, LiveDisplay(1, 0, {"k": 100}, io.StringIO(), enabled=False))
    trial = SimpleNamespace(trial_id="t1")
    callback.trials["t1"] = {"suite": "st", "key": "k", "label": "mnist3 extrapolate s0"}
    callback.on_trial_start(0, [], trial)

    def report(step, restored):
        callback.reported["t1"] = 0.0  # past the pause between progress writes
        callback.on_trial_result(0, [], trial, {"step": step, "accuracy": 0.5, "phase": "eval", "restored": restored})

    report(0, True)
    report(40, True)
    row = store.running("st")["k"]
    assert (row["step"], row["first"], row["first_at"], row["driver"]) == (40, None, None, driver_id())
    report(50, False)
    report(60, False)
    row = store.running("st")["k"]
    assert (row["step"], row["first"]) == (60, 50) and row["first_at"] <= row["updated"]
    assert callback.display.running["t1"]["base"] == 40


def test_a_time_budget_starts_only_trials_that_will_end_and_leaves_the_rest_unclaimed(tmp_path):
    from ray.tune.search import Searcher

    from benchmark.sweep import TIME, TimeBudget, TrialQueue

    suite = load_suite(str(_write_slow_suite(tmp_path)))
    phase = suite.trials()
    store = ResultsStore(tmp_path / "r")
    now = [0.0]
    budget = TimeBudget(100, clock=lambda: now[0])
    queue = TrialQueue(suite.name, phase, [{"n": i} for i in range(len(phase))], store, {}, budget)
    assert queue.suggest("a") == {"case": {"n": 0}}  # nothing has ended yet: a trial starts while time is left
    now[0] = 50.0
    budget.finished(0, 50.0)  # it took 50 s, and 50 are left: one more fits, just not two
    assert queue.suggest("b") == {"case": {"n": 1}}
    now[0] = 60.0
    assert (budget.allows(7), budget.spent) == (True, False)  # another experiment, none of it ended: it may start
    assert queue.suggest("c") == Searcher.FINISHED and budget.spent
    assert queue.left == {t.key: TIME for t in phase[2:]}
    assert store.running(suite.name).keys() == {phase[0].key, phase[1].key}  # nothing claimed that did not start
    now[0] = 100.0
    assert not budget.allows(7) and TimeBudget(None).allows(0)
    # the file the running trials stop at, touched from outside the run: nothing new starts either
    stopped = TimeBudget(None, stop_file=tmp_path / ".interrupt-1")
    assert stopped.allows(resumable=True)
    stopped.stop_file.touch()
    assert (stopped.allows(resumable=True), stopped.spent, stopped.reason) == (False, True, "interrupt")


def test_a_time_budget_spent_before_any_trial_starts_exits_1_and_resume_runs_the_rest(tmp_path):
    suite = tmp_path / "two.yaml"
    suite.write_text("experiments: [{task: mnist3, reduced: true, steps: 20, forecasters: [none, extrapolate]}]\n")
    args = ["suite", "run", str(suite), "--workers", "1", "--results", str(tmp_path / "r"), "--json", "--no-progress",
            "--wandb", "disabled"]
    bad = introbench(*args, "--time-budget", "-3")
    assert bad.returncode == 2 and "--time-budget: must be a positive number of seconds, got '-3'" in bad.stderr
    spent = introbench(*args, "--time-budget", "0.001")  # spent before Ray is up: nothing may start
    # nothing ran at all: a failure, said in one line, so that a loop of such slots does not spin idle
    assert spent.returncode == 1, spent.stderr[-3000:]
    assert spent.stderr.strip().splitlines()[-1] == ("introbench: the time budget ran out before any trial started: "
                                                     "2 trial(s) left and none ran; give a longer --time-budget "
                                                     "than 0.001 s")
    assert "time budget: 2 trial(s) of phase 0 not started" in spent.stderr
    outcome = json.loads(spent.stdout.strip().splitlines()[-1])
    assert [outcome[k] for k in ("stored", "missing", "time_budget_spent", "started")] == [0, 2, True, 0]
    store = ResultsStore(tmp_path / "r")
    assert store.rows() == [] and store.running(load_suite(str(suite)).name) == {}
    rest = introbench(*args, "--resume", "--time-budget", "600")
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert json.loads(rest.stdout.strip().splitlines()[-1])["time_budget_spent"] is False
    assert sorted(r["forecaster"] for r in store.rows()) == ["extrapolate", "none"]


def test_killed_suite_resumes_without_losing_or_repeating_a_trial(tmp_path):
    suite = _write_slow_suite(tmp_path)
    results = tmp_path / "r"
    store = ResultsStore(results)
    cmd = [sys.executable, "-m", "benchmark.cli", "suite", "run", str(suite), "--workers", "1", "--results",
           str(results), "--no-progress", "--wandb", "disabled", "--checkpoint-every", "0.001"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(store.keys("slow")) < 2 and proc.poll() is None:
        time.sleep(0.5)
    checkpoints = results / "checkpoints"
    # mid-trial: past the running trial's first checkpoint (a trial's own is deleted as it ends)
    while time.time() < deadline and not list(checkpoints.glob("*.pt")) and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGSTOP)  # everything stands still while the test looks
    before = store.keys("slow")
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # the suite died on its own: say why
    assert len(before) >= 2, "no trial finished in time"
    # what runs now is in the store for `suite status`, under the driver that runs it
    (running,) = store.running("slow").values()
    assert running["driver"].endswith(f":{proc.pid}") and running["key"] not in before
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray processes die at once, mid-trial
    proc.wait(timeout=60)
    (cut,) = checkpoints.glob("*.pt")
    assert cut.stem == running["key"]
    cut_at = torch.load(cut, weights_only=True)["step"]
    # its mark is still in the table, but a dead driver runs nothing: not shown, and a resume clears it
    assert store.running("slow") == {}
    with store._db() as conn:
        assert conn.execute("SELECT count(*) FROM running").fetchone()[0] == 1
    total = len(load_suite(str(suite)).trials())
    assert len(store.keys("slow")) < total
    stored_before = {r["key"]: r["finished"] for r in store.rows("slow")}
    # seed-major: what a stopped suite holds is whole paired seeds (every method of seed 0 first)
    seeds = [r["seed"] for r in sorted(store.rows("slow"), key=lambda r: r["finished"])]
    assert seeds[:2] == [0, 0] and seeds == sorted(seeds), seeds

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
    # the trial cut short went on from its checkpoint, and ended as it would have with no kill
    (again_row,) = [r for r in rows if r["key"] == running["key"]]
    assert again_row["summary"]["resumed_from"] == cut_at > 0
    # its time is the whole trial's: the attempt that resumed it and the steps before the cut
    assert again_row["seconds"] > again_row["summary"]["seconds_before_resume"] > 0
    trial = next(t for t in load_suite(str(suite)).trials() if t.key == running["key"])
    whole = run(trial.config, progress=False)
    assert [(p["step"], p["accuracy"], p["loss"]) for p in again_row["curve"]] == \
        [(p["step"], p["accuracy"], p["loss"]) for p in whole.curve]
    assert list(checkpoints.glob("*")) == []
    with store._db() as conn:
        assert conn.execute("SELECT count(*) FROM running").fetchone()[0] == 0


CLUSTER_PLUGIN = textwrap.dedent('''
    from predictors import Forecaster, register_forecaster

    @register_forecaster("cluster_copycat")
    class Copycat(Forecaster):
        fractions = ()
        summary = "test: the current weights, from a plugin file that is gone once the suite is submitted"

        def forecast(self, history, generator=None):
            return history[-1]
''')


def test_two_node_cluster_runs_trials_on_both_nodes_with_a_plugin_that_travels_with_the_job(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    from benchmark.plugins import load_plugins

    plugin = tmp_path / "elsewhere" / "copycat.py"
    plugin.parent.mkdir()
    plugin.write_text(CLUSTER_PLUGIN)
    load_plugins([str(plugin)])  # as the CLI does at its edge
    suite_file = tmp_path / "cluster.yaml"
    suite_file.write_text(_write_slow_suite(tmp_path).read_text().replace(
        "forecasters: [none, {name: extrapolate, ratio: [1.3, 2.0]}]", "forecasters: [none, extrapolate, cluster_copycat]"))
    suite = load_suite(str(suite_file))
    plugin.unlink()  # no worker may read it from the driver's disk: it travels with the job
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        with wandb_environment(tmp_path / "r"):  # as the CLI's process has it
            outcome = run_suite(suite, SweepOptions(results=str(tmp_path / "r"), workers=2,
                                                    address=cluster.address, wandb="offline", progress=False,
                                                    plugins=(str(plugin),), storage=str(tmp_path / "tune-storage")))
        assert outcome["finished"] == outcome["trials"] == 6, [r["error"] for r in ResultsStore(tmp_path / "r").rows()]
        rows = ResultsStore(tmp_path / "r").rows()
        assert {r["forecaster"] for r in rows} == {"none", "extrapolate", "cluster_copycat"}
        assert len({r["node"] for r in rows}) == 2
        for r in rows:  # a run written on the other node came back beside the store
            assert Path(r["wandb_dir"]).is_relative_to(tmp_path / "r" / "wandb")
            assert wandb_inspect(r["wandb_dir"])["config"]["trial_key"] == r["key"]
        away = [r for r in rows if r["node"] != cluster.head_node.node_id]
        # written on its node's own disk, packed, unpacked here (W&B's links to that node's logs left behind)
        assert away and not any((Path(r["wandb_dir"]) / "logs" / "debug-core.log").is_symlink() for r in away)
        assert any((tmp_path / "tune-storage").iterdir()) and not (tmp_path / "r" / "ray").exists()  # --storage
        # Another cluster up on this machine: a suite without --address still starts its own Ray (left to
        # itself, ray.init joins the newest cluster it finds and then refuses num_cpus).
        one = tmp_path / "one.yaml"
        one.write_text("experiments: [{task: mnist2, reduced: true, steps: 60, forecasters: [none]}]\n")
        local = introbench("suite", "run", str(one), "--workers", "1", "--results", str(tmp_path / "own"),
                           "--no-progress", "--wandb", "disabled")
        assert local.returncode == 0, local.stderr[-3000:]
        assert len(ResultsStore(tmp_path / "own").keys("one")) == 1
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_tasks_option_runs_part_of_a_suite_and_resume_runs_the_rest(tmp_path):
    suite = tmp_path / "two.yaml"
    suite.write_text(textwrap.dedent("""
        experiments:
          - {task: mnist3, reduced: true, steps: 20, forecasters: [none, extrapolate]}
          - {task: mnist2, reduced: true, steps: 20, forecasters: [none]}
    """))
    args = ["suite", "run", str(suite), "--workers", "1", "--results", str(tmp_path / "r"), "--json", "--no-progress",
            "--wandb", "disabled"]
    bad = introbench(*args, "--tasks", "mnist3,mnist9")
    assert bad.returncode == 2 and "--tasks: the suite has no task 'mnist9'; its tasks: mnist2, mnist3" in bad.stderr
    part = introbench(*args, "--tasks", "mnist3")
    assert part.returncode == 0, part.stderr[-3000:]
    outcome = json.loads(part.stdout.strip().splitlines()[-1])
    assert (outcome["trials"], outcome["selected"], outcome["stored"], outcome["missing"]) == (3, 2, 2, 0)
    ends = [line for line in part.stderr.splitlines() if " stored, " in line]  # counted over what it was asked
    assert [e.rsplit("(", 1)[1] for e in ends] == ["1 of 2 stored, 0 failed)", "2 of 2 stored, 0 failed)"], ends
    store = ResultsStore(tmp_path / "r")
    assert {r["task"] for r in store.rows()} == {"mnist3"}
    # a live `suite run` on another host has mnist2's trial in hand: a resume here leaves it to that run
    (other,) = [t for t in load_suite(str(suite)).trials() if t.config.task == "mnist2"]
    store.start_trial(other.suite, other.key, other.label, 20, "otherhost:4242")
    left = introbench(*args, "--resume")
    assert left.returncode == 0, left.stderr[-3000:]
    assert "1 trial(s) are running under another `suite run` (otherhost:4242) and are left to it" in left.stderr
    assert "1 trial(s) are still running under another `suite run`" in left.stderr
    outcome = json.loads(left.stdout.strip().splitlines()[-1])
    assert (outcome["running_elsewhere"], outcome["missing"]) == (1, 0)
    assert {r["task"] for r in store.rows()} == {"mnist3"}
    with store._db() as conn, conn:  # that run went quiet long ago: its trial is anyone's again
        conn.execute("UPDATE running SET updated = updated - 7200")
    rest = introbench(*args, "--resume")
    assert rest.returncode == 0 and "resume: 2 of 3 trials stored" in rest.stderr
    assert sorted(r["task"] for r in store.rows()) == ["mnist2", "mnist3", "mnist3"]
    assert store.running(other.suite) == {}


def _first_stored_then_second(tmp_path, common: str, first: str, second: str) -> list[str]:
    """Suites first.yaml and second.yaml, one experiment each (``common`` and the rest of each); the first run
    into tmp_path/a; the command that runs the second into tmp_path/b."""
    for name, rest in (("first", first), ("second", second)):
        (tmp_path / f"{name}.yaml").write_text(f"experiments:\n  - {{{common}{rest}}}\n")
    flags = ["--workers", "1", "--json", "--no-progress", "--wandb", "disabled"]
    done = introbench("suite", "run", str(tmp_path / "first.yaml"), "--results", str(tmp_path / "a"), *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return ["suite", "run", str(tmp_path / "second.yaml"), "--results", str(tmp_path / "b"), *flags]


def test_reuse_cuts_a_longer_run_to_a_shorter_budget_and_the_cut_is_the_shorter_run(tmp_path):
    second = _first_stored_then_second(tmp_path, "task: mnist3, reduced: true, jumps: [10], seeds: 1, target: "
                                       "baseline_max, forecasters: [none, extrapolate], ", "steps: 40", "steps: 20")
    short = introbench(*second, "--reuse", str(tmp_path / "a"))
    assert short.returncode == 0, short.stderr[-3000:]
    assert "(the same run config and seed; 2 of them the first steps of a longer run, cut at their budget)" \
        in short.stderr
    assert json.loads(short.stdout.strip().splitlines()[-1])["copied"] == 2
    cut = {r["forecaster"]: r for r in ResultsStore(tmp_path / "b").rows()}
    (target,) = {r["config"]["target"] for r in cut.values()}
    for name, row in cut.items():
        # the same trial trained here for 20 steps, one thread as a Ray worker has: the cut is that run
        fresh = run(RunConfig(task="mnist3", reduced=True, steps=20, jumps=(10,), forecaster=name, seed=0,
                              target=target, threads=1), progress=False)
        assert [(p["step"], p["accuracy"], p["loss"], p.get("phase")) for p in row["curve"]] == \
               [(p["step"], p["accuracy"], p["loss"], p.get("phase")) for p in fresh.curve]
        assert [e["step"] for e in row["events"]] == [e["step"] for e in fresh.events]
        summary = row["summary"]
        assert (summary["steps"], summary["truncated_from"]) == (20, 40)
        for k in ("max_accuracy", "final_accuracy", "steps_to_target", "accuracy_at"):
            assert summary[k] == fresh.summary[k], k
    report = introbench("report", "--results", str(tmp_path / "b"), "--wandb", "disabled")
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "b" / "report" / "report.md").read_text()
    assert ("copied: 2 trial(s) (mnist3: 2 trials of extrapolate @10, none, s0) are copies of the first steps of "
            "longer runs (of 40 steps) that train as they would with this budget, cut there and scored afresh, with "
            "the same run config and seed in the results folder(s) a") in text


def test_reuse_copies_another_suites_identical_trials_instead_of_running_them(tmp_path):
    second = _first_stored_then_second(tmp_path, "task: mnist3, reduced: true, steps: 20, jumps: [10], seeds: 2, "
                                       "target: baseline_max, forecasters: ", "[none, extrapolate]",
                                       "[none, extrapolate, introspection]")
    for extra, error in ((["--reuse", str(tmp_path / "nowhere")], "--reuse: no results store in"),
                         (["--reuse", str(tmp_path / "a"), "--bank", str(tmp_path / "bank")], "--bank would miss")):
        bad = introbench(*second, *extra)
        assert bad.returncode == 2 and error in bad.stderr, bad.stderr[-2000:]
    (tmp_path / "b").mkdir(exist_ok=True)
    (tmp_path / "b" / "results.sqlite").touch()  # b's own store, named as a source: refused
    own = introbench(*second, "--reuse", str(tmp_path / "b"))
    assert own.returncode == 2 and "is this suite's own --results" in own.stderr, own.stderr[-2000:]
    run = introbench(*second, "--resume", "--reuse", str(tmp_path / "a"), "--wandb", "offline")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "reuse: 4 trial(s) copied from" in run.stderr
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert (outcome["copied"], outcome["stored"], outcome["missing"]) == (4, 6, 0)
    a = {r["key"]: r for r in ResultsStore(tmp_path / "a").rows()}
    b = {r["key"]: r for r in ResultsStore(tmp_path / "b").rows()}
    copies = [r for r in b.values() if r["key"] in a]
    assert sorted(r["label"] for r in copies) == ["mnist3 extrapolate @10 s0", "mnist3 extrapolate @10 s1",
                                                  "mnist3 none s0", "mnist3 none s1"]
    for r in copies:  # the same trial: its curve and times, under this suite, with its source named
        src = a[r["key"]]
        assert (r["suite"], r["curve"], r["started"]) == ("second", src["curve"], src["started"])
        assert r["summary"]["copied_from"] == str(tmp_path / "a" / "results.sqlite")
        # and a W&B run of its own in this folder, replayed from its curve, as a trial run here has
        assert r["wandb_dir"].startswith(str(tmp_path / "b" / "wandb"))
        logged = wandb_inspect(r["wandb_dir"])
        assert (logged["config"]["trial_key"], logged["summary"]["max_accuracy"]) == (r["key"], src["summary"]["max_accuracy"])
    # only introspection ran, against the target the copied baselines fix (the same as the first suite's)
    ran = [r for r in b.values() if r["key"] not in a]
    assert sorted(r["label"] for r in ran) == ["mnist3 introspection @10 s0", "mnist3 introspection @10 s1"]
    assert {r["config"]["target"] for r in b.values()} == {r["config"]["target"] for r in a.values()}
    # a copy scored against its source suite's target (one that ran other baseline seeds) is rescored against
    # this suite's when the target resolves, as a baseline is
    from benchmark.sweep import resolve_targets

    store = ResultsStore(tmp_path / "b")
    (target,) = {r["config"]["target"] for r in a.values()}
    with store._db() as conn, conn:
        for r in copies:
            if r["forecaster"] != "none":
                conn.execute("UPDATE trials SET config = ?, summary = ? WHERE key = ?", (
                    json.dumps({**r["config"], "target": 0.01}), json.dumps({**r["summary"], "target": 0.01, "steps_to_target": 0}),
                    r["key"]))
    second_suite = load_suite(str(tmp_path / "second.yaml"))
    assert resolve_targets(store, second_suite, second_suite.trials(), "disabled") == {0: target}
    for r in store.rows():
        assert r["config"]["target"] == r["summary"]["target"] == target
        if r["key"] in a:
            assert r["summary"]["steps_to_target"] == a[r["key"]]["summary"]["steps_to_target"]
    from benchmark.report import build_report

    (suite,) = build_report(tmp_path / "b", wandb_mode="disabled")["suites"]
    assert any(n.startswith("copied: 4 trial(s) (mnist3: 4 trials of extrapolate @10, none, s0-s1) are copies of trials "
                            "with the same run config and seed in the results folder(s) a") for n in suite["notes"])


def test_reuse_copies_the_forks_a_longer_runs_baseline_wrote_rather_than_train_the_baseline_again(tmp_path):
    from benchmark import forks
    from tests.test_checkpoint import untimed

    common = ("task: mnist3, reduced: true, eval_every: 5, jumps: [20, 25], seeds: 1, target: baseline_max, "
              "forecasters: [none, introspection], ")
    for name, steps in (("long", 40), ("short", 30)):
        (tmp_path / f"{name}.yaml").write_text(f"experiments:\n  - {{{common}steps: {steps}}}\n")
    flags = ["--workers", "1", "--json", "--no-progress", "--wandb", "disabled"]
    # the long suite's baseline alone: it writes the forks of its introspection trial, still to run
    first = introbench("suite", "run", str(tmp_path / "long.yaml"), "--only", "none", "--results",
                       str(tmp_path / "a"), *flags)
    assert first.returncode == 0, first.stderr[-3000:]
    (lent,) = forks.forks_folder(tmp_path / "a").iterdir()
    short = load_suite(str(tmp_path / "short.yaml")).trials()
    (base,) = [t for t in short if t.config.forecaster == "none"]
    (jumped,) = [t for t in short if t.config.forecaster != "none"]
    # a file of another prefix among them is never copied under this one's (the baseline trains again instead)
    points, sources = forks.suite_plan(short, {jumped.key}, tmp_path / "b")
    jobs = forks.missing(short, points, sources, {jumped.key}, tmp_path / "b")
    assert forks.borrowable(jobs, (str(tmp_path / "a"),)) == {base.key: lent}
    good = torch.load(lent / "w-0.pt", weights_only=True)
    torch.save({**good, "prefix": "another"}, lent / "w-0.pt")
    assert forks.borrow(jobs, {base.key: lent}, tmp_path / "b") == []
    torch.save(good, lent / "w-0.pt")
    args = ["suite", "status", str(tmp_path / "short.yaml"), "--results", str(tmp_path / "b"), "--reuse",
            str(tmp_path / "a")]
    status = introbench(*args)
    assert status.returncode == 0 and "(forks of s0 copied by --reuse)" in status.stdout, status.stdout
    assert "for forks" not in status.stdout
    ran = introbench("suite", "run", str(tmp_path / "short.yaml"), "--results", str(tmp_path / "b"), "--reuse",
                     str(tmp_path / "a"), *flags)
    assert ran.returncode == 0, ran.stderr[-3000:]
    # the baseline is copied (cut at 30), its forks too: it never trains again, and the jumped trial starts at 15
    assert "reuse: 1 trial(s) copied from" in ran.stderr
    assert f"reuse: the forks of 1 stored baseline(s) copied from {tmp_path / 'a'} rather than trained again: " \
           f"{base.label}" in ran.stderr
    assert "train again" not in ran.stderr
    row = {r["key"]: r for r in ResultsStore(tmp_path / "b").rows()}[jumped.key]
    assert row["summary"]["forked_from"] == 15
    assert untimed(row["curve"]) == untimed(run(RunConfig.from_stored(row["config"]), progress=False).curve)
    assert lent.is_dir() and not forks.forks_folder(tmp_path / "b").exists()  # the source's are its own to prune


def test_only_option_picks_variants_with_their_experiments_baselines(tmp_path):
    from benchmark.errors import IntrobenchError
    from benchmark.selection import select_variants, trial_variant

    (tmp_path / "pick.yaml").write_text(textwrap.dedent("""
        experiments:
          - {task: mnist3, forecasters: [none, introspection, {name: extrapolate, ratio: [1.3, 2.0]}],
             guard: [false, true], seeds: 2}
          - {task: mnist2, forecasters: [none, introspection], seeds: 2}
    """))
    trials = load_suite(str(tmp_path / "pick.yaml")).trials()
    picked = select_variants(trials, ("extrapolate(ratio=1.3)", "introspection +guard"))
    # mnist2 has no guarded variant: only mnist3's two variants and its baseline, on both seeds
    assert sorted(t.label for t in picked) == [
        "mnist3 extrapolate(ratio=1.3) s0", "mnist3 extrapolate(ratio=1.3) s1", "mnist3 introspection +guard s0",
        "mnist3 introspection +guard s1", "mnist3 none s0", "mnist3 none s1"]
    # a glob; both experiments' baselines come along
    assert {trial_variant(t) for t in select_variants(trials, ("introspection*",))} == {
        "introspection", "introspection +guard", "none"}
    assert len(select_variants(trials, ("introspection*",))) == 2 * (2 + 1) + 2 * 2
    assert select_variants(trials, ()) == trials
    with pytest.raises(IntrobenchError, match=r"--only: no variant of the suite matches 'deltanet\*'; its variants: "
                                              r"extrapolate\(ratio=1.3\); "):
        select_variants(trials, ("none", "deltanet*"))
    # named without the settings its label goes on with: the error names the variants it meant
    with pytest.raises(IntrobenchError, match=r"matches 'introspection x'; its variants"):
        select_variants(trials, ("introspection x",))
    cifar = load_suite("paper-cifar").trials()  # every label there ends in its suite-wide [channels_last=True]
    with pytest.raises(IntrobenchError, match=r"matches 'introspection @12000/17000' \(with their settings: "
                                              r"introspection @12000/17000 \[channels_last=True\]; a glob "
                                              r"'introspection @12000/17000 \*' takes them all\); its variants"):
        select_variants(cifar, ("introspection @12000/17000",))
    assert len(select_variants(cifar, ("introspection @12000/17000 *",))) == 10  # and its baselines
    # brackets are literal, as the labels have them: one optimizer's trials of paper-adam
    adam = load_suite("paper-adam").trials()
    assert {trial_variant(t) for t in select_variants(adam, ("[adam:1e-4]*",))} == {
        "[adam:1e-4] none", "[adam:1e-4] introspection", "[adam:1e-4] extrapolate(ratio=1.3)",
        "[adam:1e-4] extrapolate(ratio=2.0)"}
    assert len(select_variants(cifar, ("* [channels_last=True]",))) == len(cifar)


def test_seeds_option_runs_those_seeds_trials_with_the_baselines_their_target_needs(tmp_path):
    from benchmark.selection import select

    text = ("experiments:\n  - {task: mnist3, reduced: true, steps: 30, jumps: [20], seeds: 2, target: baseline_max, "
            "forecasters: [none, extrapolate, quadratic]}\n")
    (tmp_path / "fixed.yaml").write_text(text.replace("baseline_max", "0.5"))
    fixed = load_suite(str(tmp_path / "fixed.yaml")).trials()
    assert sorted(t.label for t in select(fixed, only=("extrapolate*",), seeds=(1,))) == [
        "mnist3 extrapolate @20 s1", "mnist3 none s1"]
    # a baseline_max target is every seed's baselines' max: a jumped trial of seed 1 waits for both
    (tmp_path / "s.yaml").write_text(text)
    trials = load_suite(str(tmp_path / "s.yaml")).trials()
    assert sorted(t.label for t in select(trials, only=("extrapolate*",), seeds=(1,))) == [
        "mnist3 extrapolate @20 s1", "mnist3 none s0", "mnist3 none s1"]
    assert [t.label for t in select(trials, only=("none",), seeds=(1,))] == ["mnist3 none s1"]
    flags = ["suite", "run", str(tmp_path / "s.yaml"), "--results", str(tmp_path / "r"), "--workers", "1", "--json",
             "--no-progress", "--wandb", "disabled"]
    bad = introbench(*flags, "--seeds", "1,5")
    assert bad.returncode == 2 and "--seeds: the trials chosen have no seed 5; their seeds: s0-s1" in bad.stderr
    ran = introbench(*flags, "--only", "extrapolate*", "--seeds", "1")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["selected"] == 3
    store = ResultsStore(tmp_path / "r")
    assert sorted(r["label"] for r in store.rows()) == ["mnist3 extrapolate @20 s1", "mnist3 none s0", "mnist3 none s1"]
    # a redo narrowed by seed alone: seed 1's stored trials again, not the other seeds' baselines it brings along
    again = introbench(*flags, "--resume", "--redo", "--seeds", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(r["label"] for r in store.replaced("s")) == ["mnist3 extrapolate @20 s1", "mnist3 none s1"]
    assert sorted(r["label"] for r in store.rows()) == [
        "mnist3 extrapolate @20 s1", "mnist3 none s0", "mnist3 none s1", "mnist3 quadratic @20 s1"]


SEARCH_SUITE = textwrap.dedent("""
    experiments:
      - task: mnist3
        reduced: true
        forecasters: [none, {name: extrapolate, ratio: 1.3}]
        jumps: [10, 15, 20]
        seeds: [0, 1]
        target: 0.6
        search:
          samples: 6
          scheduler: asha
          space:
            first: {int: [5, 12]}
            interval: {int: [2, 6]}
            count: {int: [1, 2]}
            ratio: {uniform: [1.1, 2.0]}
""")


def test_a_search_interrupted_and_resumed_runs_its_samples_once_then_the_best_on_every_seed(tmp_path):
    suite = tmp_path / "search.yaml"
    suite.write_text(SEARCH_SUITE)
    results = tmp_path / "r"
    store = ResultsStore(results)
    args = ["suite", "run", str(suite), "--workers", "1", "--results", str(results), "--no-progress", "--wandb",
            "disabled", "--json"]

    def samples():
        return [r for r in store.rows("search") if r["label"].startswith("search:")] if store.path.exists() else []

    proc = subprocess.Popen([sys.executable, "-m", "benchmark.cli", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(samples()) < 2 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the whole group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err.decode()
    before = {r["key"]: r["finished"] for r in samples()}
    assert 2 <= len(before) < 6 and not any(r["label"].startswith("best found") for r in store.rows("search"))

    resumed = introbench(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "no longer in the suite" not in resumed.stderr
    done = samples()
    assert len(done) == 6  # the planned number, counting what ran before the interrupt
    drawn = [json.dumps(r["summary"]["search"]["sample"], sort_keys=True) for r in done]
    assert len(set(drawn)) == 6  # none run twice
    for r in done:
        if r["key"] in before:
            assert r["finished"] == before[r["key"]]
        assert r["status"] in ("finished", "stopped")  # ASHA may stop the ones clearly behind
        assert r["summary"]["search"]["score"] == (r["summary"]["steps_to_target"] or 40)
    best = min(done, key=lambda r: (r["summary"]["search"]["score"], r["finished"]))
    confirmed = [r for r in store.rows("search") if r["label"].startswith("best found")]
    assert sorted(r["seed"] for r in confirmed) == [0, 1]
    assert all(r["config"]["jumps"] == best["config"]["jumps"] for r in confirmed)

    report = introbench("report", "--results", str(results), "--wandb", "disabled")
    assert report.returncode == 0, report.stderr[-3000:]
    text = (results / "report" / "report.md").read_text()
    assert "Search for extrapolate: 6 samples" in text and "Best found: `extrapolate(" in text
    assert text.index("Search for extrapolate") < text.index("| sample | score | status |")  # its samples' table
    assert "the suite's schedule `extrapolate(ratio=1.3) @10/15/20`" in text


def test_a_time_budget_then_a_ctrl_c_each_save_the_running_trial_and_resume_goes_on_from_there(tmp_path):
    # one trial of about 50 s on one core here, far longer than the budget leaves it, and a short one after it that must start
    # neither after the budget's end nor after Ctrl-C (started, it would be stored). One test for both stops:
    # each costs the trial's whole training again, the most of any test here.
    suite = tmp_path / "long.yaml"
    suite.write_text("experiments: [{task: mnist3, reduced: true, steps: 20000, eval_every: 100, forecasters: [none]},"
                     " {task: mnist4, reduced: true, forecasters: [none]}]\n")
    results = tmp_path / "r"
    args = ["suite", "run", str(suite), "--workers", "1", "--results", str(results), "--json", "--no-progress",
            "--wandb", "disabled"]
    store = ResultsStore(results)
    key = {t.label: t.key for t in load_suite(str(suite)).trials()}["mnist3 none s0"]
    checkpoint = results / "checkpoints" / f"{key}.pt"
    cut = introbench(*args, "--time-budget", "14")
    assert cut.returncode == 0, cut.stderr[-3000:]
    assert "stopped at step" in cut.stderr and "(the time budget's end)" in cut.stderr
    assert ("the time budget is spent: 2 trial(s) left for `--resume` (1 of them stopped at the budget's end and "
            "resumes from its checkpoint, the rest not started)") in cut.stderr
    outcome = json.loads(cut.stdout.strip().splitlines()[-1])
    assert (outcome["stored"], outcome["missing"], outcome["cut_at_budget"]) == (0, 2, 1)
    assert store.rows() == [] and store.running("long") == {}  # not a result, and not held by anyone
    saved = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < saved < 20000 and saved % 100 == 0

    # resumed, and Ctrl-C once it has gone on from its checkpoint
    proc = subprocess.Popen([sys.executable, "-m", "benchmark.cli", *args, "--resume"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not any(
            (r["step"] or 0) > saved for r in store.running("long").values()):
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the whole group
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupt: nothing more starts, and the running trials save at their next evaluation" in err
    assert "mnist3 none s0: stopped at step" in err and "(interrupted); `--resume` goes on from its checkpoint" in err
    assert ("introbench: interrupted: 2 trial(s) left for `--resume` (1 of them saved at its last evaluation, "
            "where it goes on)") in err
    assert store.rows() == [] and store.running("long") == {}
    again = torch.load(checkpoint, weights_only=True)["step"]
    assert saved < again < 20000 and again % 100 == 0
    assert not list(results.glob(".interrupt-*"))  # the stop signal is spent with its run

    rest = introbench(*args, "--resume")
    assert rest.returncode == 0, rest.stderr[-3000:]
    (row,) = [r for r in store.rows("long") if r["key"] == key]
    assert row["summary"]["resumed_from"] == again and row["curve"][-1]["step"] == 20000
    steps = [p["step"] for p in row["curve"]]
    assert steps == list(range(0, 20001, 100))  # every evaluation, once: the restored ones and the new ones
    assert len(store.rows("long")) == 2 and not checkpoint.exists()


def test_jumped_trials_start_from_their_baselines_forks_and_store_what_they_would_from_step_0(tmp_path):
    suite = tmp_path / "fork.yaml"
    text = ("experiments:\n  - {task: mnist3, reduced: true, steps: 30, eval_every: 5, target: baseline_max, "
            "jumps: [20, 25], seeds: 2, forecasters: [none, introspection, extrapolate]}\n")
    suite.write_text(text)
    flags = ["--results", str(tmp_path / "r"), "--workers", "1", "--json", "--no-progress", "--wandb", "disabled"]
    first = introbench("suite", "run", str(suite), "--only", "none", *flags)
    assert first.returncode == 0, first.stderr[-3000:]
    # the baselines wrote forks for their seeds' jumped trials, still to run: the state at 15 and the weights the
    # jumps read up to it
    folders = sorted((tmp_path / "r" / "checkpoints" / "forks").iterdir())
    assert len(folders) == 2 and all((f / "state-15.pt").is_file() and (f / "w-0.pt").is_file() for f in folders)
    for f in folders:
        shutil.rmtree(f)  # lost with the machine: the stored baselines train again to 15, but only when needed
    suite.write_text(text.replace("seeds: 2", "seeds: 3"))  # the same trials for s0 and s1, and seed 2's to run
    # seed 2's baseline comes first, and the jumped trials wait for it (their target is the baselines' max): with
    # no time left for them, no stored baseline trains again for forks they would not use yet
    spent = introbench("suite", "run", str(suite), "--resume", "--time-budget", "1", *flags)
    assert spent.returncode == 1 and "before any trial started" in spent.stderr, spent.stderr[-3000:]
    assert "train again" not in spent.stderr and not any(f.exists() for f in folders)
    rest = introbench("suite", "run", str(suite), "--resume", *flags)
    assert rest.returncode == 0, rest.stderr[-3000:]
    # one worker: seed 0's baseline trains again, seed 0's jumped trials run, then seed 1's; seed 2's baseline
    # ran in this command and wrote its own
    assert rest.stderr.count("forks: 1 stored baseline(s) train again, to step 15 at most") == 2
    assert "forks: mnist3 none s0: forks written to step 15" in rest.stderr
    assert "forks: mnist3 none s1: forks written to step 15" in rest.stderr
    assert rest.stderr.index("forks: mnist3 none s0") < rest.stderr.index("forks: mnist3 none s1")
    rows = ResultsStore(tmp_path / "r").rows("fork")
    assert len(rows) == 9
    from benchmark.config import RunConfig
    from tests.test_checkpoint import untimed

    # each jumped trial started from its seed's baseline at 15 and stored the whole run's curve; one Ray worker ran
    # them one after another (reuse_actors), and none left anything behind that changed the next one's run
    for r in rows:
        assert r["summary"].get("forked_from") == (None if r["forecaster"] == "none" else 15), r["label"]
        if r["forecaster"] != "none":
            config = RunConfig.from_stored(r["config"])
            assert untimed(r["curve"]) == untimed(run(config, progress=False).curve), r["label"]
    assert not (tmp_path / "r" / "checkpoints" / "forks").exists()  # every dependent stored: spent, removed


def test_the_live_display_keeps_each_trials_end_on_one_line_when_its_console_is_a_file():
    import io

    from benchmark.sweep import LiveDisplay

    stream = io.StringIO()
    display = LiveDisplay(total=2, skipped=1, budgets={"k": 20000}, stream=stream, enabled=True)
    display.started("t1", "k", "mnist1 quadratic(ratio=1.25) s3")
    display.ended("t1", failed=False, outcome="finished, target reached at step 16700, max accuracy 98.94%")
    display.close()
    assert ("mnist1 quadratic(ratio=1.25) s3: finished, target reached at step 16700, max accuracy 98.94% "
            "(2 of 2 stored, 0 failed)\n") in stream.getvalue()


def test_redo_runs_stored_trials_again_and_keeps_the_rows_they_replace(tmp_path):
    (tmp_path / "s.yaml").write_text("experiments:\n  - {task: mnist3, reduced: true, steps: 30, jumps: [20], seeds: 1, "
                                     "target: baseline_max, forecasters: [none, extrapolate]}\n")
    flags = ["suite", "run", str(tmp_path / "s.yaml"), "--results", str(tmp_path / "r"), "--workers", "1", "--json",
             "--no-progress", "--wandb", "disabled"]
    assert introbench(*flags).returncode == 0
    store = ResultsStore(tmp_path / "r")
    before = {r["forecaster"]: r for r in store.rows()}
    # which trials to run again must be said: not the whole suite by accident
    refused = introbench(*flags, "--redo")
    assert refused.returncode == 2 and "--redo needs --tasks, --only or --seeds" in refused.stderr
    assert store.replaced("s") == [] and len(store.rows()) == 2
    # what would fail every trial again (no data there) fails before any row moves
    nodata = introbench(*flags, "--redo", "--only", "extrapolate*", "--data-dir", str(tmp_path / "nowhere"))
    assert nodata.returncode == 2 and str(tmp_path / "nowhere") in nodata.stderr
    assert store.replaced("s") == [] and len(store.rows()) == 2
    again = introbench(*flags, "--redo", "--only", "extrapolate*")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "redo: 1 stored trial(s) set aside in the store's `replaced` table" in again.stderr
    after = {r["forecaster"]: r for r in store.rows()}
    # the extrapolate trial ran again (forked from its baseline, which trained again to its fork point for it);
    # the baseline --only brings along was not redone
    assert after["none"]["finished"] == before["none"]["finished"]
    assert after["extrapolate"]["finished"] > before["extrapolate"]["finished"]
    assert after["extrapolate"]["summary"]["forked_from"] == 10  # the evaluation before its jump at 20
    (old,) = store.replaced("s")
    assert (old["key"], old["finished"], old["curve"]) == (before["extrapolate"]["key"],
                                                           before["extrapolate"]["finished"],
                                                           before["extrapolate"]["curve"])
    assert old["reason"].startswith("suite run --redo by ") and old["replaced"] < after["extrapolate"]["finished"]
    # on the same machine the redo is the same run: its curve is the old one, evaluation for evaluation
    strip = [(p["step"], p["accuracy"], p["loss"]) for p in after["extrapolate"]["curve"]]
    assert strip == [(p["step"], p["accuracy"], p["loss"]) for p in old["curve"]]
    report = introbench("report", "--results", str(tmp_path / "r"), "--wandb", "disabled")
    assert report.returncode == 0, report.stderr[-2000:]
    assert ("run again: 1 trial(s) (mnist3: 1 trial of extrapolate @20, s0) were run again by `suite run --redo`; "
            "the rows they replaced are kept") in (tmp_path / "r" / "report" / "report.md").read_text()
