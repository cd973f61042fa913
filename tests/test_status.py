import json

import pytest

from benchmark import environment
from benchmark import status as status_module
from benchmark.checkpoint import Checkpoint, checkpoint_path
from benchmark.cli import main
from benchmark.environment import same_machine
from benchmark.errors import IntrobenchError
from benchmark.report import build_report
from benchmark.selection import seed_ranges
from benchmark.status import labels_by_task, suite_status
from benchmark.store import ResultsStore
from benchmark.suites import load_suite


def test_seed_ranges_and_labels_by_task():
    assert seed_ranges([9, 0, 1, 2, 3, 7, 10]) == "s0-s3, s7, s9-s10"
    assert seed_ranges([4]) == "s4"
    labels = ["mnist1 none s0", "mnist1 none s1", "mnist1 extrapolate(ratio=1.3) s4", "c10_16 [adam:1e-4] none s9",
              "search: mnist3 extrapolate @4000/5000"]
    assert labels_by_task(labels) == ("mnist1: 3 trials of none, extrapolate(ratio=1.3), s0-s1, s4; "
                                       "c10_16: 1 trial of [adam:1e-4] none, s9; 1 of a search")
    many = [f"mnist1 v{i} s0" for i in range(4)]
    assert labels_by_task(many) == "mnist1: 4 trials of 4 variants, s0"


SUITE = {"name": "st", "experiments": [
    {"task": "mnist3", "forecasters": ["none", {"name": "extrapolate", "ratio": 1.3}], "seeds": 4, "reduced": True},
    {"task": "mnist4", "forecasters": ["none", "introspection"], "seeds": 2, "reduced": True}]}


def _suite(tmp_path):
    """The suite, from a file as `suite status` reads it."""
    path = tmp_path / "st.yaml"
    path.write_text(json.dumps(SUITE))  # JSON is YAML
    return load_suite(str(path))


def _store(tmp_path, suite, took: dict, status: dict | None = None, finished: dict | None = None,
           platforms: dict | None = None, folder: str = "res", summaries: dict | None = None):
    """Stores the trials named in ``took`` (label -> seconds) as finished, or as ``status[label]``, at the time
    ``finished[label]`` where given (else now), made on ``platforms[label]`` where given, with the summary
    ``summaries[label]`` where given."""
    store = ResultsStore(tmp_path / folder)
    by_label = {t.label: t for t in suite.trials()}
    for label, seconds in took.items():
        t = by_label[label]
        at = {"finished": finished[label]} if finished and label in finished else {}
        if platforms and label in platforms:
            at["summary"] = {"platform": platforms[label]}
        if summaries and label in summaries:
            at["summary"] = {**at.get("summary", {}), **summaries[label]}
        store.write({"suite": suite.name, "key": t.key, "label": t.label, "experiment": t.experiment,
                     "task": t.config.task, "forecaster": t.config.forecaster, "seed": t.config.seed,
                     "status": (status or {}).get(label, "finished"), "config": t.config.to_dict(),
                     "seconds": seconds, **at})
    store.register_suite(suite.name, suite.path, [(t.key, t.label, t.experiment) for t in suite.trials()])
    return store


def test_status_counts_seeds_and_estimates_what_is_left(tmp_path):
    suite = _suite(tmp_path)
    store = _store(tmp_path, suite, {"mnist3 none s0": 40.0, "mnist3 none s1": 60.0, "mnist3 none s2": 500.0,
                                     "mnist3 extrapolate(ratio=1.3) s0": 30.0,
                                     "mnist3 extrapolate(ratio=1.3) s1": 1.0},
                   status={"mnist3 extrapolate(ratio=1.3) s1": "failed"})
    got = suite_status(suite, store)
    rows = {(r["task"], r["variant"]): r for r in got["rows"]}
    base, ext = rows[("mnist3", "none")], rows[("mnist3", "extrapolate(ratio=1.3)")]
    assert (base["finished"], base["missing_seeds"], base["trial_seconds"], base["left_seconds"]) == (3, [3], 60.0, 60.0)
    # the failed seed is still to run, and its 1 s (an early failure) does not set the estimate
    assert (ext["finished"], ext["failed"], ext["missing_seeds"], ext["trial_seconds"]) == (1, 1, [1, 2, 3], 30.0)
    assert ext["left_seconds"] == 90.0
    # nothing of mnist4 has run: no estimate, and said so
    assert rows[("mnist4", "introspection")]["left_seconds"] is None
    assert (got["trials"], got["missing"], got["failed"], got["left_seconds"], got["unestimated"]) == (12, 8, 1, 150.0, 4)
    # --tasks and --only narrow it as `suite run` does: a variant and its experiment's baseline
    only = suite_status(suite, store, only=("introspection",))
    assert [(r["task"], r["variant"]) for r in only["rows"]] == [("mnist4", "none"), ("mnist4", "introspection")]
    with pytest.raises(IntrobenchError, match="--tasks: the suite has no task 'mnist9'"):
        suite_status(suite, store, tasks=("mnist9",))
    # --seeds too: seed 2's trials alone, its baseline stored, its control still to run, nothing of the others
    two = {(r["task"], r["variant"]): r for r in suite_status(suite, store, tasks=("mnist3",), seeds=(2,))["rows"]}
    assert [(r["finished"], r["missing_seeds"]) for r in two.values()] == [(1, []), (0, [2])]
    assert two[("mnist3", "extrapolate(ratio=1.3)")]["left_seconds"] == 30.0
    with pytest.raises(IntrobenchError, match=r"--seeds: the trials chosen have no seed 4, 7; their seeds: s0-s3"):
        suite_status(suite, store, seeds=(1, 4, 7))


def test_status_with_reuse_counts_what_suite_run_would_copy_and_times_the_same_training_elsewhere(tmp_path,
                                                                                                   capsys):
    suite = _suite(tmp_path)
    # another results folder holds mnist3's four baselines and one extrapolate seed; this one holds nothing yet
    _store(tmp_path, suite, {"mnist3 none s0": 40.0, "mnist3 none s1": 60.0, "mnist3 none s2": 50.0,
                             "mnist3 none s3": 70.0, "mnist3 extrapolate(ratio=1.3) s0": 1000.0})
    here = ResultsStore(tmp_path / "here")
    plain = suite_status(suite, here)
    assert (plain["missing"], plain["copied"], plain["unestimated"]) == (12, 0, 12)
    got = suite_status(suite, here, reuse=(str(tmp_path / "res"),))
    rows = {(r["task"], r["variant"]): r for r in got["rows"]}
    base, ext = rows[("mnist3", "none")], rows[("mnist3", "extrapolate(ratio=1.3)")]
    assert (base["copied"], base["missing"], base["left_seconds"]) == ([0, 1, 2, 3], 0, 0.0)
    # extrapolate's other seeds are timed by the same training (mnist3's, at its budget) in the other folder:
    # the median of its five trials, whichever forecaster ran them
    assert (ext["copied"], ext["missing_seeds"], ext["trial_seconds"], ext["left_seconds"]) == ([0], [1, 2, 3], 60.0,
                                                                                               180.0)
    assert rows[("mnist4", "none")]["trial_seconds"] is None  # nothing of mnist4 ran anywhere
    assert (got["missing"], got["copied"], got["unestimated"]) == (7, 5, 4)
    assert main(["suite", "status", suite.path, "--results", str(tmp_path / "here"), "--reuse",
                 str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "(s0-s3 copied by --reuse)" in out and "0 of 12 trials stored; 5 to copy by --reuse; 7 to run" in out
    assert f"--resume --results {tmp_path / 'here'} --reuse {tmp_path / 'res'}` runs them" in out
    with pytest.raises(IntrobenchError, match="--reuse: no results store in"):
        suite_status(suite, here, reuse=(str(tmp_path / "none"),))


def test_status_counts_a_checkpointed_trial_as_partly_done_and_says_where_it_resumes(tmp_path, capsys):
    suite = _suite(tmp_path)
    store = _store(tmp_path, suite, {"mnist3 extrapolate(ratio=1.3) s0": 40.0})
    cut = next(t for t in suite.trials() if t.label == "mnist3 extrapolate(ratio=1.3) s2")
    Checkpoint(checkpoint_path(store.folder, cut.key), cut.config.key()).save({"step": 250, "steps": 1000})
    ext = next(r for r in suite_status(suite, store)["rows"] if r["variant"] == "extrapolate(ratio=1.3)")
    assert ext["resumable"] == [{"seed": 2, "step": 250, "steps": 1000}]
    assert (ext["missing_seeds"], ext["left_seconds"]) == ([1, 2, 3], 40.0 * 2.75)  # a quarter of s2 is done
    main(["suite", "status", str(tmp_path / "st.yaml"), "--results", str(store.folder)])
    assert "3 (s1-s3; s2 from 250)" in capsys.readouterr().out


def test_status_falls_back_to_the_experiment_then_the_task(tmp_path):
    suite = _suite(tmp_path)
    store = _store(tmp_path, suite, {"mnist3 none s0": 100.0, "mnist3 none s1": 200.0})
    ext = next(r for r in suite_status(suite, store)["rows"] if r["variant"] == "extrapolate(ratio=1.3)")
    assert (ext["trial_seconds"], ext["left_seconds"]) == (150.0, 600.0)


def test_status_judges_by_the_newest_trials(tmp_path, monkeypatch):
    monkeypatch.setattr(status_module, "RECENT", 2)
    suite = _suite(tmp_path)
    # stored out of order: s0 is the oldest and ran on slower code
    store = _store(tmp_path, suite, {"mnist3 none s2": 120.0, "mnist3 none s0": 500.0, "mnist3 none s1": 100.0},
                   finished={"mnist3 none s2": 3.0, "mnist3 none s0": 1.0, "mnist3 none s1": 2.0})
    rows = {r["variant"]: r for r in suite_status(suite, store)["rows"] if r["task"] == "mnist3"}
    assert rows["none"]["trial_seconds"] == 110.0  # s1 and s2, not s0's 500
    assert rows["extrapolate(ratio=1.3)"]["trial_seconds"] == 110.0  # the experiment's newest, too


AVX2 = {"cpu": "AMD EPYC", "kernels": "AVX2", "torch": "2.14.1"}
AVX512 = {"cpu": "AMD EPYC", "kernels": "AVX512", "torch": "2.14.1"}


def test_same_machine_matches_the_gpu_else_the_cpu_and_its_kernels():
    assert same_machine(AVX2, dict(AVX2, torch="2.9"))  # torch's version does not set the pace
    assert not same_machine(AVX512, AVX2)  # one model name, other kernels
    assert not same_machine({"cpu": "AMD EPYC", "torch": "2.14.1"}, AVX2)  # stored before kernels were recorded
    assert not same_machine(None, AVX2)
    h100 = dict(AVX2, gpu="NVIDIA H100")
    assert same_machine(dict(AVX512, gpu="NVIDIA H100"), h100)  # on a GPU its host's CPU hardly matters
    assert not same_machine(AVX2, h100) and not same_machine(h100, AVX2)


def test_status_times_by_this_machines_trials_first_and_marks_the_rest(tmp_path, capsys, monkeypatch):
    suite = _suite(tmp_path)
    # mnist3's baselines ran on an AVX-512 machine; one extrapolate seed ran here, on AVX2, three times slower
    store = _store(tmp_path, suite, {"mnist3 none s0": 100.0, "mnist3 none s1": 100.0,
                                     "mnist3 extrapolate(ratio=1.3) s0": 300.0, "mnist4 none s0": 50.0},
                   platforms={"mnist3 none s0": AVX512, "mnist3 none s1": AVX512,
                              "mnist3 extrapolate(ratio=1.3) s0": AVX2, "mnist4 none s0": AVX512})
    rows = {(r["task"], r["variant"]): r for r in suite_status(suite, store, machine=AVX2)["rows"]}
    # the baseline's own seeds ran elsewhere, its experiment's extrapolate seed here: that one tells it
    assert (rows[("mnist3", "none")]["trial_seconds"], rows[("mnist3", "none")]["timed_here"]) == (300.0, True)
    assert rows[("mnist3", "none")]["left_seconds"] == 600.0
    # nothing of mnist4 ran here: another machine's time, and said so
    assert (rows[("mnist4", "introspection")]["trial_seconds"], rows[("mnist4", "introspection")]["timed_here"]) == (
        50.0, False)
    # with no machine given (or on the AVX-512 one), the variant's own times as before
    plain = {(r["task"], r["variant"]): r for r in suite_status(suite, store)["rows"]}
    assert (plain[("mnist3", "none")]["trial_seconds"], plain[("mnist3", "none")]["timed_here"]) == (100.0, False)
    assert {(r["task"], r["variant"]): r for r in suite_status(suite, store, machine=AVX512)["rows"]}[
        ("mnist3", "none")]["trial_seconds"] == 100.0
    # --reuse stores are asked for this machine's times first, too
    _store(tmp_path, suite, {"mnist4 none s0": 40.0, "mnist4 none s1": 400.0},
           platforms={"mnist4 none s0": AVX512, "mnist4 none s1": AVX2}, folder="other")
    here = ResultsStore(tmp_path / "here")
    got = {(r["task"], r["variant"]): r for r in suite_status(suite, here, reuse=(str(tmp_path / "other"),),
                                                               machine=AVX2)["rows"]}
    assert (got[("mnist4", "introspection")]["trial_seconds"], got[("mnist4", "introspection")]["timed_here"]) == (
        400.0, True)
    # the command marks the estimates of other machines and names this one
    monkeypatch.setattr(environment, "this_machine", lambda: AVX2)
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", str(store.folder)]) == 0
    out = capsys.readouterr().out
    assert " 300 " in out and " 50* " in out
    assert "* timed by trials of other machines: none stored on this one (AMD EPYC (AVX2 kernels), torch" in out


def test_a_resumed_trial_is_timed_at_the_pace_of_the_attempt_that_finished_it(tmp_path):
    suite = _suite(tmp_path)
    # s0 ran its first 10 of 40 steps somewhere slow (200 s), then the last 30 here in 60 s: a whole trial here
    # takes 80 s, not the 260 s it stored; s1 resumed at 10 and stopped at its target at 20 (60 s for 10 steps)
    store = _store(tmp_path, suite, {"mnist3 none s0": 260.0, "mnist3 none s1": 260.0, "mnist4 none s0": 50.0},
                   platforms={"mnist3 none s0": AVX2, "mnist3 none s1": AVX2},
                   summaries={"mnist3 none s0": {"resumed_from": 10, "seconds_before_resume": 200.0, "steps": 40},
                              "mnist3 none s1": {"resumed_from": 10, "seconds_before_resume": 200.0, "steps": 40,
                                                 "stopped_at": 20}})
    keys = {t.label: t.key for t in suite.trials()}
    took = store.seconds(suite.name)
    assert took[keys["mnist3 none s0"]] == pytest.approx(80.0)
    assert took[keys["mnist3 none s1"]] == pytest.approx(120.0)
    assert took[keys["mnist4 none s0"]] == 50.0  # never resumed: its stored time
    assert sorted(s for _, s, _ in store.timings()) == pytest.approx([50.0, 80.0, 120.0])
    rows = {(r["task"], r["variant"]): r for r in suite_status(suite, store, machine=AVX2)["rows"]}
    assert rows[("mnist3", "none")]["trial_seconds"] == pytest.approx(100.0)  # the median of 80 and 120
    # the stored seconds themselves stay what the trial took in all
    assert {r["label"]: r["seconds"] for r in store.rows(suite.name)}["mnist3 none s0"] == 260.0


def test_suite_status_command(tmp_path, capsys):
    suite = _suite(tmp_path)
    _store(tmp_path, suite, {"mnist3 none s0": 3600.0, "mnist3 none s1": 3600.0})
    results = str(tmp_path / "res")
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", results, "--tasks", "mnist3"]) == 0
    out = capsys.readouterr().out
    assert "2 of 8 trials stored; 6 to run: about 6.0 h on 1 worker, 3.0 h on 2." in out
    assert f"introbench suite run {tmp_path / 'st.yaml'} --resume --results {results} --tasks mnist3" in out
    # the command it gives runs what it counted: narrowed by seed as well
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", results, "--only", "none",
                 "--seeds", "1-3"]) == 0
    out = capsys.readouterr().out
    assert "1 of 4 trials stored; 3 to run" in out  # mnist3 s1-s3 and mnist4 s1 (it has s0-s1)
    assert f"--resume --results {results} --only none --seeds 1,2,3` runs them" in out
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", results, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["missing"] == 10 and got["store_exists"] is True


def test_suite_status_command_shows_a_suites_searches_beside_its_variants(tmp_path, capsys):
    # a search's row has no seeds of its own to fork or checkpoint: the table must still render it
    assert main(["suite", "status", "search-schedule", "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "search search-schedule/0/introspection" in out and "search search-schedule/0/extrapolate" in out
    assert "0 of 39 trials stored; 39 to run" in out


def test_report_names_what_is_missing_by_task(tmp_path):
    suite = _suite(tmp_path)
    store = _store(tmp_path, suite, {"mnist3 none s0": 1.0})
    # the report needs a curve to score: give the one stored trial a short one
    with store._db() as conn, conn:
        conn.execute("UPDATE trials SET curve = ?, summary = ?", (json.dumps(
            [{"step": 0, "accuracy": 0.1, "loss": 1.0, "phase": "eval", "seconds": 0.0}]), json.dumps({})))
    report = build_report(store.folder, wandb_mode="disabled")
    (note,) = [n for n in report["suites"][0]["notes"] if n.startswith("partial results")]
    assert note.startswith("partial results: 11 trial(s) of the suite are not in the store (mnist3: 7 trials of none, "
                           "extrapolate(ratio=1.3), s0-s3; mnist4: 4 trials of none, introspection, s0-s1); `introbench suite status st")


def test_status_shows_running_trials_and_paces_a_task_with_nothing_stored(tmp_path, capsys):
    import socket

    from benchmark.store import driver_id

    suite = _suite(tmp_path)
    store = _store(tmp_path, suite, {"mnist3 none s0": 100.0})
    by_label = {t.label: t for t in suite.trials()}
    mark = {"mnist3 none s1": driver_id(), "mnist4 none s0": driver_id(),
            "mnist4 none s1": f"{socket.gethostname()}:999999999",  # a driver killed without a word: not shown
            "mnist4 introspection s0": "otherhost:1"}  # another host's, heard of recently: shown
    for label, driver in mark.items():
        t = by_label[label]
        store.start_trial(suite.name, t.key, t.label, 1000, driver)
        store.progress(suite.name, t.key, 250, 0.5)
        store.progress(suite.name, t.key, 500, 0.6)
    with store._db() as conn, conn:  # each took 100 s from its first report to its last, a quarter of its budget
        conn.execute("UPDATE running SET first_at = updated - 100, started = updated - 900")
    got = suite_status(suite, store)
    rows = {(r["task"], r["variant"]): r for r in got["rows"]}
    base3, base4, intro4 = rows[("mnist3", "none")], rows[("mnist4", "none")], rows[("mnist4", "introspection")]
    assert [(x["seed"], x["step"], x["steps"]) for x in base3["running"]] == [(1, 500, 1000)]
    assert base3["missing_seeds"] == [2, 3]  # the running seed is not "to run"
    # mnist3 goes by its stored trial: two to run and half of one running
    assert (base3["trial_seconds"], base3["left_seconds"]) == (100.0, 250.0)
    # mnist4 has stored nothing: its running trials' pace tells, 250 steps in 100 s: 400 s a trial. Not the
    # 1,800 s that all 900 s since it started would say: the steps before its first report may be ones it
    # never trained (resumed from a checkpoint or a fork), and its start is no part of its pace
    assert [x["seed"] for x in base4["running"]] == [0] and base4["missing_seeds"] == [1]
    assert base4["trial_seconds"] == pytest.approx(400.0) and base4["left_seconds"] == pytest.approx(600.0)
    assert intro4["running"][0]["driver"] == "otherhost:1"
    assert (got["running"], got["drivers"]) == (3, sorted([driver_id(), "otherhost:1"]))
    # the result written: the trial leaves the running table in the same transaction
    t = by_label["mnist3 none s1"]
    store.write({"suite": suite.name, "key": t.key, "label": t.label, "experiment": t.experiment, "task": "mnist3",
                 "forecaster": "none", "seed": 1, "status": "finished", "config": t.config.to_dict(), "seconds": 1.0})
    assert t.key not in store.running(suite.name)
    results = str(tmp_path / "res")
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", results, "--tasks", "mnist4"]) == 0
    out = capsys.readouterr().out
    assert "s0 500/1000" in out
    assert base4["timed_here"] and "timed by trials of other machines" not in out  # a live run's pace, not *
    assert f"0 of 4 trials stored; 2 running (`suite run` {', '.join(sorted([driver_id(), 'otherhost:1']))}); " \
           "2 to run" in out
    assert "(and leaves the running ones to their run)." in out
    # a trial taken but not heard of yet: its step is not known (a resumed one starts far past 0), nor its pace
    t = by_label["mnist4 none s1"]
    store.start_trial(suite.name, t.key, t.label, 1000, driver_id())
    assert main(["suite", "status", str(tmp_path / "st.yaml"), "--results", results, "--tasks", "mnist4"]) == 0
    assert "s0 500/1000, s1 starting/1000" in capsys.readouterr().out


def test_a_store_made_before_the_running_trials_first_report_was_kept_takes_it(tmp_path):
    import re
    import sqlite3

    from benchmark.store import SCHEMA, driver_id

    old = re.sub(r"\n    first(_at)? [^\n]*", "", SCHEMA)  # the running table as it was
    assert "first INTEGER" not in old and "first_at REAL" not in old and "driver TEXT NOT NULL" in old
    with sqlite3.connect(tmp_path / ResultsStore.FILE) as conn:
        conn.executescript(old)
        conn.execute("INSERT INTO running (suite, key, label, step, steps, started, updated, driver) "
                     "VALUES ('st', 'k', 'mnist3 none s0', 0, 1000, 0, 0, ?)", (driver_id(),))
    store = ResultsStore(tmp_path)
    store.progress("st", "k", 300, 0.5)
    store.progress("st", "k", 400, 0.6)
    r = store.running("st")["k"]
    assert (r["first"], r["step"]) == (300, 400) and r["first_at"] <= r["updated"]


def test_status_counts_forked_trials_by_the_steps_they_train_and_a_stored_baselines_fork_run(tmp_path, capsys):
    path = tmp_path / "fk.yaml"
    path.write_text(json.dumps({"name": "fk", "experiments": [
        {"task": "mnist3", "forecasters": ["none", "extrapolate"], "seeds": 2, "reduced": True, "steps": 40,
         "eval_every": 5, "jumps": [10, 30]}]}))
    suite = load_suite(str(path))
    store = _store(tmp_path, suite, {"mnist3 none s0": 400.0, "mnist3 none s1": 400.0})
    rows = {r["variant"]: r for r in suite_status(suite, store)["rows"]}
    # each jumped trial starts at its baseline's fork at 5 of its 40 steps; both baselines are stored, so each
    # trains again to 5 first (no fork written yet)
    jumped = rows["extrapolate @10/30"]
    assert [x["step"] for x in jumped["forked"]] == [5, 5]
    assert jumped["left_seconds"] == pytest.approx(400.0 * 2 * (1 - 5 / 40))
    assert rows["none"]["prefix_seeds"] == [{"seed": 0, "step": 5, "at": None}, {"seed": 1, "step": 5, "at": None}]
    assert rows["none"]["left_seconds"] == pytest.approx(400.0 * 2 * 5 / 40)
    main(["suite", "status", str(path), "--results", str(tmp_path / "res")])
    out = capsys.readouterr().out
    assert "2 (s0-s1; forked at 5)" in out and "(s0-s1 again to 5 for forks)" in out
    # a live `suite run` trains seed 1's baseline again now, at step 4 of its 5: its part done is not counted again
    from benchmark import forks
    from benchmark.store import driver_id

    s1 = next(t for t in suite.trials() if t.label == "mnist3 none s1")
    store.claim(suite.name, forks.RUNNING + s1.key, "mnist3 none s1, again for its forks", 5, driver_id())
    store.progress(suite.name, forks.RUNNING + s1.key, 4, None)
    rows = {r["variant"]: r for r in suite_status(suite, store)["rows"]}
    assert rows["none"]["prefix_seeds"][1] == {"seed": 1, "step": 5, "at": 4}
    assert rows["none"]["left_seconds"] == pytest.approx(400.0 * (5 + 1) / 40)
    main(["suite", "status", str(path), "--results", str(tmp_path / "res")])
    assert "(s0-s1 again to 5 for forks; s1 at 4)" in capsys.readouterr().out
    # seed 0's jumped trial was cut at 20 and left its checkpoint: it resumes from that, so its baseline does not
    # train again for it (as `suite run` decides: sweep.Reforks). The checkpoint file decides, not the progress
    # file beside it: a kill between their two writes leaves one without the other.
    from benchmark.checkpoint import checkpoint_path, progress_path

    cut = next(t for t in suite.trials() if t.label == "mnist3 extrapolate @10/30 s0")
    saved = checkpoint_path(store.folder, cut.key)
    saved.parent.mkdir(parents=True, exist_ok=True)
    progress_path(saved).write_text(json.dumps({"step": 20, "steps": 40}))  # a discarded checkpoint's leftover
    rows = {r["variant"]: r for r in suite_status(suite, store)["rows"]}
    assert [x["seed"] for x in rows["none"]["prefix_seeds"]] == [0, 1]
    saved.write_bytes(b"checkpoint")
    progress_path(saved).unlink()  # killed before its first progress write
    rows = {r["variant"]: r for r in suite_status(suite, store)["rows"]}
    assert [x["seed"] for x in rows["none"]["prefix_seeds"]] == [1]


def test_status_with_only_counts_a_stored_baseline_trained_again_to_the_selected_trials_fork_points(tmp_path):
    path = tmp_path / "fk2.yaml"
    path.write_text(json.dumps({"name": "fk2", "experiments": [
        {"task": "mnist3", "forecasters": ["none", "extrapolate"], "seeds": 1, "reduced": True, "steps": 40,
         "eval_every": 5, "jumps": [[10, 30], [25, 35]]}]}))
    suite = load_suite(str(path))
    store = _store(tmp_path, suite, {"mnist3 none s0": 400.0})
    # the whole suite: the baseline trains again to 20, the later schedule's fork point
    assert {r["variant"]: r for r in suite_status(suite, store)["rows"]}["none"]["prefix_seeds"][0]["step"] == 20
    # narrowed to the first schedule (as `suite run --only` would run it): to its fork point, 5, only
    rows = {r["variant"]: r for r in suite_status(suite, store, only=("extrapolate @10/30",))["rows"]}
    assert rows["none"]["prefix_seeds"] == [{"seed": 0, "step": 5, "at": None}]
    assert rows["none"]["left_seconds"] == pytest.approx(400.0 * 5 / 40)
