"""Forked trials: a jumped trial started from its baseline's state before its first jump ends bit for bit as the
same trial trained from step 0, and starts from nothing that is not its own prefix."""

import shutil

import pytest

from benchmark import forks
from benchmark.config import RunConfig
from benchmark.run import run
from benchmark.suites import load_suite
from tests.test_checkpoint import TIMING, untimed

# What a fork must carry: snapshots read by a later jump (10, before the fork point at 15), a settling guard's
# fixed batches, dropout and Adam (n0's global random state and moments), momentum and a schedule (mnist2).
CASES = {
    "mnist3 introspection": dict(task="mnist3", forecaster="introspection"),
    "mnist2 extrapolate, settling guard": dict(task="mnist2", forecaster="extrapolate", guard="settle",
                                               settle_steps=4),
    "n0 deltanet, halving guard (dropout, Adam)": dict(task="n0", forecaster="deltanet", guard=True),
}
FORK = ("forked_from", "resumed_from", "seconds_before_resume", "checkpoint_note")


def jumped(settings, seed=3):
    return RunConfig(**settings, reduced=True, seed=seed, eval_every=5, jumps=(20, 25))


def baseline_of(config):
    return RunConfig(task=config.task, reduced=True, seed=config.seed, eval_every=5)


def write_forks(config, results):
    source = forks.source_for(config, results)
    run(baseline_of(config), progress=False, checkpoint=results / "base.pt", forks=results,
        fork_points={source.step: list(source.steps)})
    return source


@pytest.mark.parametrize("case", list(CASES))
def test_a_forked_trial_ends_bit_for_bit_as_the_same_trial_trained_from_step_0(case, tmp_path, data_dir):
    config = jumped(CASES[case])
    whole = run(config, progress=False)
    source = write_forks(config, tmp_path)
    # the last grid evaluation before the jump at 20; the snapshots up to it, 10 read by the jump at 25
    assert source.step == 15 and source.prefix == baseline_of(config).key()
    if config.forecaster == "introspection":
        assert source.steps == (0, 8, 10, 14)
    folder = tmp_path / "checkpoints" / "forks" / source.prefix
    assert sorted(p.name for p in folder.iterdir()) == sorted(["state-15.pt", *(f"w-{s}.pt" for s in source.steps)])
    seen, jumps = [], []
    forked = run(config, progress=False, checkpoint=tmp_path / "trial.pt", forks=tmp_path, on_eval=seen.append,
                 on_jump=jumps.append)
    assert forked.summary["forked_from"] == 15
    assert forked.summary["checkpoint_note"] == "started from its baseline's fork at step 15"
    assert untimed(forked.curve) == untimed(whole.curve) and untimed(forked.events) == untimed(whole.events)
    assert whole.events and all("guard" in e for e in whole.events) == bool(config.guard)
    # the live trackers heard the whole run: the baseline's part replayed (and marked so: the trial trained none
    # of it), then the rest as it trained
    marks = [point.pop("restored", False) for point in seen]
    assert marks == [point["step"] <= 15 for point in seen] and any(marks) and not all(marks)
    assert untimed(seen) == untimed(whole.curve) and untimed(jumps) == untimed(whole.events)
    assert {k: v for k, v in forked.summary.items() if k not in TIMING + FORK} == \
        {k: v for k, v in whole.summary.items() if k not in TIMING}


def test_a_fork_of_another_run_or_with_a_file_missing_is_never_started_from(tmp_path, data_dir):
    config = jumped(CASES["mnist3 introspection"])
    whole = run(config, progress=False)
    other = jumped(CASES["mnist3 introspection"], seed=4)  # the same schedule, another seed's baseline
    theirs = write_forks(other, tmp_path / "other")
    ours = forks.source_for(config, tmp_path)
    shutil.copytree(theirs.folder, ours.folder)
    result = run(config, progress=False, checkpoint=tmp_path / "trial.pt", forks=tmp_path)
    assert "forked_from" not in result.summary and untimed(result.curve) == untimed(whole.curve)
    shutil.rmtree(ours.folder)
    write_forks(config, tmp_path)
    (forks.forks_folder(tmp_path) / ours.prefix / "w-8.pt").unlink()  # a snapshot the first jump reads
    result = run(config, progress=False, checkpoint=tmp_path / "trial.pt", forks=tmp_path)
    assert "forked_from" not in result.summary and untimed(result.curve) == untimed(whole.curve)


def test_a_run_that_records_its_trajectory_or_jumps_before_the_first_evaluation_does_not_fork(tmp_path):
    config = jumped(CASES["mnist3 introspection"])
    assert forks.source_for(config, tmp_path) is not None
    for changed in (dict(record_every=5), dict(bank=str(tmp_path / "bank")), dict(jumps=(5, 25)),
                    dict(forecaster="none", jumps=None)):
        assert forks.source_for(RunConfig(**{**config.to_dict(), **changed}), tmp_path) is None, changed


def test_the_suite_plan_forks_cifar1_at_the_evaluation_before_each_schedule_s_first_jump(tmp_path):
    trials = load_suite("paper-cifar").trials()
    by_label = {t.label: t for t in trials}
    base = by_label["cifar1 none [channels_last=True] s2"]
    todo = {t.key for t in trials if t.config.seed == 2}
    points, sources = forks.suite_plan(trials, todo, tmp_path)
    assert set(points) == {t.key for t in trials if t.config.forecaster == "none" and t.config.seed == 2}
    # Set 1 (12000/17000) and Set 3 (12000/15000/19000) fork at 11500, Set 4 at 13500, Set 2 at 14500
    assert sorted(points[base.key]) == [11500, 13500, 14500]
    set1 = sources[by_label["cifar1 introspection @12000/17000 [channels_last=True] s2"].key]
    # w_0, w_0.4t and w_0.7t of the jump at 12000; w_0.4t of the one at 17000 (its w_0.7t, 11900, comes after)
    assert (set1.step, set1.steps, set1.prefix) == (11500, (0, 4800, 6800, 8400), base.key)
    assert set(set1.steps) <= set(points[base.key][11500])
    assert len(sources) == 60 and all(s.prefix in {t.key for t in trials if t.config.forecaster == "none"}
                                      for s in sources.values())
    # with no forks written, a jumped trial about to run waits on its seed's baseline training again, unless that
    # baseline is itself still to run (it writes its own forks as it goes)
    jumped = by_label["cifar1 introspection @12000/17000 [channels_last=True] s2"].key
    assert set(forks.missing(trials, points, sources, {jumped}, tmp_path)) == {base.key}
    # it trains again only to the fork points of the trials about to run: 11500 for Set 1 (a run narrowed by
    # --only), to 14500 once Set 2's trial runs too
    assert sorted(forks.missing(trials, points, sources, {jumped}, tmp_path)[base.key][1]) == [11500]
    set2 = by_label["cifar1 introspection @15000/18000 [channels_last=True] s2"].key
    assert sorted(forks.missing(trials, points, sources, {jumped, set2}, tmp_path)[base.key][1]) == [11500, 14500]
    assert forks.missing(trials, points, sources, {jumped}, tmp_path, unstored=todo) == {}
    assert forks.missing(trials, points, sources, {jumped, base.key}, tmp_path) == {}
    # a trial cut short resumes from its own checkpoint: forks.missing itself leaves it out, for run and status
    from benchmark.checkpoint import checkpoint_path

    checkpoint_path(tmp_path, jumped).parent.mkdir(parents=True)
    checkpoint_path(tmp_path, jumped).write_bytes(b"")
    assert forks.missing(trials, points, sources, {jumped}, tmp_path) == {}
    assert sorted(forks.missing(trials, points, sources, {jumped, set2}, tmp_path)[base.key][1]) == [14500]


def test_batches_cut_a_phase_where_the_next_stored_baseline_would_train_again_for_its_forks():
    ordered = ["none s2", "intro s0", "extra s0", "intro s1", "extra s1", "intro s2", "extra s2", "intro s3"]
    waits = {"intro s0": "B0", "extra s0": "B0", "intro s1": "B1", "extra s1": "B1", "intro s3": "B3"}
    # seed 2's baseline runs now and writes its own forks: its jumped trials wait on nothing, and run in a batch
    # of their own ahead of the baselines that train again
    assert forks.batches(ordered, waits.get, 1) == [["none s2"], ["intro s0", "extra s0"], ["intro s2", "extra s2"],
                                                    ["intro s1", "extra s1"], ["intro s3"]]
    assert forks.batches(ordered, waits.get, 2) == [["none s2", "intro s2", "extra s2"],
                                                    ["intro s0", "extra s0", "intro s1", "extra s1"], ["intro s3"]]
    assert forks.batches(ordered, waits.get, 3) == [["none s2", "intro s2", "extra s2"],
                                                    ["intro s0", "extra s0", "intro s1", "extra s1", "intro s3"]]
    # three free trials cannot fill four workers: they wait with the others, while the baselines use the workers
    assert forks.batches(ordered, waits.get, 4) == [ordered]
    assert forks.batches(ordered, lambda t: None, 1) == [ordered] and forks.batches([], waits.get, 1) == []
    # the trials ``first`` names lead, alone, however few; the rest are cut as without them
    assert forks.batches(ordered, waits.get, 4, lambda t: t == "extra s1") == [
        ["extra s1"], [t for t in ordered if t != "extra s1"]]
    assert forks.batches(ordered, waits.get, 2, lambda t: False) == forks.batches(ordered, waits.get, 2)


def test_a_resuming_trial_forks_nothing_and_runs_before_baselines_train_again_if_it_fills_workers_or_has_a_budget(
        tmp_path):
    from benchmark.checkpoint import checkpoint_path
    from benchmark.sweep import Reforks, SweepOptions

    trials = load_suite("paper-cifar").trials()
    by_label = {t.label: t for t in trials}
    phase = [by_label[f"cifar1 {f} @12000/17000 [channels_last=True] s{s}"] for s in (0, 1)
             for f in ("introspection", "extrapolate(ratio=1.3)")]
    bases = [by_label[f"cifar1 none [channels_last=True] s{s}"].key for s in (0, 1)]
    unstored = {t.key for t in phase}  # the baselines are stored, their forks are not on this machine
    points, sources = forks.suite_plan(trials, unstored, tmp_path)
    reforks = Reforks(None, "paper-cifar", trials, unstored, points, sources, tmp_path, SweepOptions(workers=2),
                      None, None)
    assert set(reforks.missing(phase)) == set(bases) and reforks.batches(phase) == [phase]
    # seed 0's control was cut at 13000 and left its checkpoint: it resumes from that, so it asks for no fork;
    # alone it would leave one of the two workers idle, so it runs with the others once their forks are written
    cut = phase[1]
    checkpoint_path(tmp_path, cut.key).parent.mkdir(parents=True)
    checkpoint_path(tmp_path, cut.key).write_bytes(b"")
    assert set(reforks.missing(phase)) == set(bases)  # seed 0's introspection trial still forks
    assert reforks.batches(phase) == [phase]
    # under a time budget it runs first all the same: it may be steps from done, and the baselines training
    # again could spend the whole budget before it starts
    budgeted = Reforks(None, "paper-cifar", trials, unstored, points, sources, tmp_path,
                       SweepOptions(workers=2, time_budget=240), None, None)
    assert budgeted.batches(phase) == [[cut], [phase[0], phase[2], phase[3]]]
    # on one worker it fills the machine: it runs ahead of the baselines training again
    one = Reforks(None, "paper-cifar", trials, unstored, points, sources, tmp_path, SweepOptions(workers=1),
                  None, None)
    assert one.batches(phase) == [[cut], [phase[0]], [phase[2], phase[3]]]
    checkpoint_path(tmp_path, phase[0].key).write_bytes(b"")
    assert set(reforks.missing(phase)) == {bases[1]}
    assert reforks.batches(phase) == [phase[:2], phase[2:]]


def test_a_baseline_does_not_train_again_for_a_trial_another_run_of_the_store_stored_meanwhile(tmp_path,
                                                                                                monkeypatch):
    from benchmark import sweep
    from benchmark.store import ResultsStore
    from benchmark.sweep import Reforks, SweepOptions

    trials = load_suite("paper-cifar").trials()
    by_label = {t.label: t for t in trials}
    phase = [by_label[f"cifar1 introspection @12000/17000 [channels_last=True] s{s}"] for s in (0, 1)]
    bases = [by_label[f"cifar1 none [channels_last=True] s{s}"].key for s in (0, 1)]
    unstored = {t.key for t in phase}
    points, sources = forks.suite_plan(trials, unstored, tmp_path)
    store = ResultsStore(tmp_path)
    reforks = Reforks(store, "paper-cifar", trials, unstored, points, sources, tmp_path, SweepOptions(workers=1),
                      None, None)
    asked = []
    monkeypatch.setattr(sweep, "write_forks", lambda jobs, *rest: asked.append(set(jobs)))
    reforks.write(phase, None)
    # another `suite run` of the store stores seed 1's trial (a failed one would still run here, and fork)
    store.write({"suite": "paper-cifar", "key": phase[1].key, "label": phase[1].label, "experiment": 0,
                 "task": "cifar1", "forecaster": "introspection", "seed": 1, "status": "finished", "config": {}})
    reforks.write(phase, None)
    assert asked == [set(bases), {bases[0]}]
