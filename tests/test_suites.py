import dataclasses
import textwrap

import pytest
import yaml

from benchmark.config import RunConfig
from benchmark.errors import IntrobenchError
from benchmark.suites import SuiteError, builtin_suites, load_suite, parse_suite

BUILTIN = ["paper-mnist", "paper-cifar", "paper-imagenet", "paper-adam", "paper-baselines", "paper-k",
           "sweep-schedule", "sweep-ratio", "quickstart", "smoke", "beyond"]


def test_every_named_suite_ships_and_validates():
    assert set(BUILTIN) <= set(builtin_suites())
    for name in BUILTIN:
        assert load_suite(name).trials()


@pytest.mark.parametrize("name", [n for n in BUILTIN if n.startswith("paper-")])
def test_paper_suites_run_the_extrapolate_controls_beside_introspection(name):
    trials = load_suite(name).trials()
    groups = {}
    for t in trials:
        c = t.config
        groups.setdefault((t.experiment, c.jumps, c.optimizer), {}).setdefault(
            (c.forecaster, c.forecaster_params.get("ratio")), set()).add(c.seed)
    checked = 0
    for key, forecasters in groups.items():
        intro = [seeds for (f, _), seeds in forecasters.items() if f == "introspection"]
        for ratio in (1.3, 2.0) if intro else ():
            assert forecasters.get(("extrapolate", ratio)) == intro[0], (name, key, ratio)
            checked += 1
    assert checked >= 2  # every paper suite has at least one introspection group with both controls


def test_paper_k_shares_every_trial_but_the_k22_nets_with_paper_adam_so_reuse_copies_them():
    adam = {t.key for t in load_suite("paper-adam").trials()}
    k = load_suite("paper-k").trials()
    new = [t for t in k if t.key not in adam]
    assert len(k) == 25 and len(new) == 5
    assert all(t.config.forecaster_params == {"weights": "introspection_k2.2"} for t in new)


def test_quickstart_has_the_control():
    labels = [t.label for t in load_suite("quickstart").trials()]
    assert sum("extrapolate(ratio=1.3)" in l for l in labels) == 3


def test_grids_and_samples_expand(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        experiments:
          - task: mnist3
            forecasters: [none, {name: quadratic, ratio: [1.2, 1.3]}, {name: extrapolate, ratio: {uniform: [1.1, 2.0]}}]
            schedule: {first: [3000, 4000], interval: 1000, count: [2, 3]}
            samples: 3
            seeds: 2
    """))
    trials = load_suite(str(path)).trials()
    # none: 2 seeds; quadratic: 2 ratios x 4 schedules x 2 seeds; extrapolate: 3 samples x 4 schedules x 2 seeds
    assert len(trials) == 2 + 16 + 24
    assert {t.config.jumps for t in trials if t.config.forecaster == "quadratic"} == {
        (3000, 4000), (3000, 4000, 5000), (4000, 5000), (4000, 5000, 6000)}
    ratios = {t.config.forecaster_params["ratio"] for t in trials if t.config.forecaster == "extrapolate"}
    assert len(ratios) == 3 and all(1.1 <= r <= 2.0 for r in ratios)
    assert [t.key for t in load_suite(str(path)).trials()] == [t.key for t in trials]  # same trials every time


def test_stop_at_target_is_a_suite_default_an_experiment_may_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        stop_at_target: true
        experiments:
          - {task: mnist3, forecasters: [none]}
          - {task: mnist2, forecasters: [none], stop_at_target: false}
    """))
    suite = load_suite(str(path))
    assert [t.config.stop_at_target for t in suite.trials()] == [True, False]
    forced = dataclasses.replace(suite, stop_at_target=True)  # what `suite run --stop-at-target` does
    assert [t.config.stop_at_target for t in forced.trials()] == [True, True]
    assert all(t.config.stop_at_target for t in load_suite("nino-vision").trials())


def test_run_settings_are_suite_defaults_an_experiment_may_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        precision: bf16
        history_on_host: true
        chunk_size: 4096
        experiments:
          - {task: mnist1, forecasters: [none]}
          - {task: mnist1, forecasters: [none], precision: fp32, channels_last: true, deterministic: true}
    """))
    a, b = (t.config for t in load_suite(str(path)).trials())
    assert (a.precision, a.channels_last, a.history_on_host, a.chunk_size, a.deterministic) == \
        ("bf16", None, True, 4096, False)
    assert (b.precision, b.channels_last, b.history_on_host, b.chunk_size, b.deterministic) == \
        ("fp32", True, True, 4096, True)
    plain = RunConfig(task="mnist1")
    # how a trial executes leaves its key alone (a store resumes across them); what it computes does not
    assert dataclasses.replace(plain, history_on_host=True, chunk_size=7, deterministic=True).key() == plain.key()
    assert len({plain.key(), dataclasses.replace(plain, precision="bf16").key(),
                dataclasses.replace(plain, channels_last=True).key()}) == 3


# the guard rules beyond compares on a task, where more than unguarded and halving jumps
GUARDS = {"mnist3": (False, True, "line", "settle"), "fm16": (False, True, "settle"), "c10_16": (False, True, "settle")}


def test_beyond_runs_every_jumping_forecaster_guarded_and_not_on_the_same_seeds_and_baseline():
    trials = load_suite("beyond").trials()
    by_task, gated = {}, []
    for t in trials:
        (gated if t.config.gate is not None else by_task.setdefault(t.config.task, [])).append(t.config)
    # the gated schedule: every forecaster and its own baseline on the same seeds, never guarded
    assert {c.task for c in gated} == {"mnist3"} and not any(c.guard for c in gated)
    assert {(c.forecaster, c.seed) for c in gated} == {(f, s) for f in ("none", "introspection", "extrapolate",
                                                                        "deltanet") for s in range(5)}
    assert all(len(c.jumps) == 11 for c in gated if c.forecaster != "none")
    assert set(by_task) == {"mnist1", "mnist2", "mnist3", "mnist4", "fm16", "c10_16"}
    for task, configs in by_task.items():
        seeds = sorted({c.seed for c in configs if c.forecaster == "none"})
        assert len(seeds) >= (10 if task in ("fm16", "c10_16") else 5)
        assert not any(c.guard for c in configs if c.forecaster == "none")
        variants = {(c.forecaster, str(sorted(c.forecaster_params.items()))) for c in configs if c.forecaster != "none"}
        assert {f for f, _ in variants} == {"introspection", "extrapolate", "deltanet"} and len(variants) == 6
        # the control at each of deltanet's horizons
        ratios = {f: sorted(dict(c.forecaster_params)["ratio"] for c in configs if c.forecaster == f
                            and c.seed == 0 and not c.guard) for f in ("extrapolate", "deltanet")}
        assert ratios["extrapolate"] == ratios["deltanet"] == [1.3, 2.0]
        for name, params in variants:
            for guard in GUARDS.get(task, (False, True)):
                assert sorted(c.seed for c in configs if (c.forecaster, str(sorted(c.forecaster_params.items())))
                              == (name, params) and c.guard == guard and type(c.guard) is type(guard)) == seeds
        assert {c.guard for c in configs} <= set(GUARDS.get(task, (False, True)))


def test_settle_steps_reaches_only_the_settling_guards_trials_and_names_them(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("settle_steps: 1000\nexperiments: [{task: mnist3, forecasters: [none, extrapolate], "
                    "guard: [false, settle], seeds: 1}]")
    trials = {t.label: t.config for t in load_suite(str(path)).trials()}
    assert {k: c.settle_steps for k, c in trials.items()} == {
        "mnist3 none s0": None, "mnist3 extrapolate s0": None,
        "mnist3 extrapolate +guard=settle(steps=1000) s0": 1000}
    path.write_text("experiments: [{task: mnist3, forecasters: [extrapolate], guard: settle, settle_steps: 500, "
                    "seeds: 1}]")  # the default spelled out: the trial (key and label) of a plain settling guard
    (t,) = load_suite(str(path)).trials()
    assert t.label == "mnist3 extrapolate +guard=settle s0" and t.config.settle_steps is None


def test_what_differs_may_be_a_shared_sentence_and_a_tasks_own():
    from benchmark.suites import paper_claim

    suite = parse_suite(yaml.safe_load("""
paper:
  fm16: {claim: x, differs: &shared "Evaluated every 200 steps."}
  c10_16: {claim: y, differs: [*shared, "JPEG data."]}
experiments: [{task: mnist3, forecasters: [none]}]
"""), "s.yaml")
    assert paper_claim(suite.paper["c10_16"]) == ("y", None, "Evaluated every 200 steps. JPEG data.")
    assert paper_claim(suite.paper["fm16"]) == ("x", None, "Evaluated every 200 steps.")
    with pytest.raises(SuiteError, match=r"paper.fm16.differs: must be a sentence in words \(or a list of them\)"):
        parse_suite({"paper": {"fm16": {"differs": ["a", 2]}}, "experiments": [{"task": "mnist3",
                                                                              "forecasters": ["none"]}]}, "s.yaml")


BAD = {
    "unknown top-level key": ("experimentz: []", "experimentz: unknown key; allowed: channels_last, chunk_size, description, deterministic, experiments"),
    "no experiments": ("description: x", "experiments: must be a non-empty list"),
    "unknown experiment key": ("experiments: [{task: mnist3, forecasters: [none], stepz: 5}]",
                               "experiments[0].stepz: unknown key; allowed:"),
    "unknown task": ("experiments: [{task: mnist9, forecasters: [none]}]",
                     "experiments[0].task: unknown task 'mnist9'; valid names: alexnet"),
    "unknown forecaster": ("experiments: [{task: mnist3, forecasters: [none, oracle]}]",
                           "experiments[0].forecasters[1].name: unknown forecaster 'oracle'; allowed: deltanet, extrapolate"),
    "wrong type": ("experiments: [{task: mnist3, forecasters: [none], seeds: three}]",
                   "experiments[0].seeds: must be a count or a list of whole numbers"),
    "wrong type steps": ("experiments: [{task: mnist3, forecasters: [none], steps: 1.5}]",
                         "experiments[0].steps: must be a whole number >= 1"),
    "impossible schedule": ("experiments: [{task: mnist3, forecasters: [introspection], jumps: [6000, 99000]}]",
                            "experiments[0].jumps: a jump at step 99000 is past the budget of 15000 steps"),
    "unsorted schedule": ("experiments: [{task: mnist3, forecasters: [introspection], jumps: [8000, 6000]}]",
                          "experiments[0].jumps: jump points must be in increasing order"),
    "bad forecaster parameter": ("experiments: [{task: mnist3, forecasters: [{name: quadratic, ratio: 0.9}]}]",
                                 "experiments[0].forecasters[0].ratio: must be a number > 1"),
    "unknown forecaster parameter": ("experiments: [{task: mnist3, forecasters: [{name: noise, sigma: 1}]}]",
                                     "experiments[0].forecasters[0].forecaster_params.sigma: 'noise' takes no parameter 'sigma'; allowed: std"),
    "bad target": ("experiments: [{task: mnist3, forecasters: [none], target: 95}]",
                   "experiments[0].target: must be an accuracy in (0, 1] or 'baseline_max'"),
    "baseline_max without baseline": ("experiments: [{task: mnist3, forecasters: [introspection], target: baseline_max}]",
                                      "experiments[0].target: baseline_max needs the baseline 'none'"),
    "bad optimizer": ("experiments: [{task: mnist3, forecasters: [none], optimizer: 'rmsprop:1'}]",
                      "experiments[0].optimizer: must be NAME:LR with NAME one of sgd, adam"),
    "not yaml": ("experiments: [task: {", "yaml: not valid YAML at line"),
    "bad stop_at_target": ("experiments: [{task: mnist3, forecasters: [none], stop_at_target: 1}]",
                           "experiments[0].stop_at_target: must be true or false, got 1"),
    "search without samples": ("experiments: [{task: mnist3, forecasters: [none, extrapolate], search: {space: "
                               "{ratio: {uniform: [1.1, 2]}}}}]", "experiments[0].search.samples: is required"),
    "bad search algorithm": ("experiments: [{task: mnist3, forecasters: [extrapolate], search: {samples: 2, "
                             "algorithm: grid, space: {ratio: {uniform: [1.1, 2]}}}}]",
                             "experiments[0].search.algorithm: must be one of tpe, random, got 'grid'"),
    "search past the budget": ("experiments: [{task: mnist3, forecasters: [extrapolate], search: {samples: 2, space: "
                               "{first: {int: [1000, 14000]}, interval: {int: [500, 1000]}, count: {int: [1, 3]}}}}]",
                               "experiments[0].search.space: its latest jump (step 16000) is not before the budget"),
    "search of the baseline alone": ("experiments: [{task: mnist3, forecasters: [none], search: {samples: 2, "
                                     "space: {ratio: {uniform: [1.1, 2]}}}}]",
                                     "experiments[0].search: needs a forecaster that jumps"),
    "bad precision": ("precision: fp16\nexperiments: [{task: mnist3, forecasters: [none]}]",
                      "precision: must be one of fp32, bf16, got 'fp16'"),
    "bad chunk_size": ("experiments: [{task: mnist3, forecasters: [none], chunk_size: 0}]",
                       "experiments[0].chunk_size: must be a whole number >= 1, got 0"),
    "bad channels_last": ("experiments: [{task: mnist3, forecasters: [none], channels_last: yes please}]",
                          "experiments[0].channels_last: must be true or false"),
    "guard on a streamed dataset": ("experiments: [{task: alexnet, forecasters: [none, extrapolate], guard: true}]",
                                    "experiments[0].guard: guarded jumps need an in-memory dataset; imagenet is streamed"),
    "bad paper differs": ("paper: {mnist3: {claim: x, differs: 3}}\nexperiments: [{task: mnist3, forecasters: [none]}]",
                          "paper.mnist3.differs: must be a sentence in words (or a list of them), got 3"),
    "bad gate": ("experiments: [{task: mnist3, forecasters: [none, extrapolate], gate: 2}]",
                 "experiments[0].gate: must be a fraction in (0, 1), got 2"),
    "bad guard": ("experiments: [{task: mnist3, forecasters: [none, extrapolate], guard: [maybe]}]",
                  "experiments[0].guard: must be true, false, line or settle (or, in an experiment, a list of them), "
                  "got ['maybe']"),
    "suite-wide guard list": ("guard: [false, true]\nexperiments: [{task: mnist3, forecasters: [none, extrapolate]}]",
                              "guard: must be true, false, line or settle"),
    "settle_steps without a settling guard": ("experiments: [{task: mnist3, forecasters: [none, extrapolate], "
                                              "guard: [false, line], settle_steps: 1000}]",
                                              "experiments[0].settle_steps: sets how long the settling guard waits, "
                                              "so it needs guard settle (or a list with settle); got guard "
                                              "[False, 'line']"),
    "suite-wide settle_steps, no settling guard": ("settle_steps: 1000\nexperiments: [{task: mnist3, forecasters: "
                                                   "[none, extrapolate], guard: true}]",
                                                   "settle_steps: sets how long the settling guard waits, but no "
                                                   "experiment has guard settle"),
    "bad settle_steps": ("experiments: [{task: mnist3, forecasters: [none, extrapolate], guard: settle, "
                         "settle_steps: -5}]", "experiments[0].settle_steps: must be a whole number >= 1, got -5"),
    "bad suite stop_at_target": ("stop_at_target: sometimes\nexperiments: [{task: mnist3, forecasters: [none]}]",
                                 "stop_at_target: must be true or false, got 'sometimes'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_suite_files_name_file_and_field(case, tmp_path):
    text, message = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as exc:
        load_suite(str(path))
    assert str(exc.value).startswith(f"{path}: "), str(exc.value)
    assert message in str(exc.value)


def test_unknown_suite_name_lists_the_builtin_ones():
    with pytest.raises(IntrobenchError, match="unknown suite 'nope'; built-in suites: .*quickstart"):
        load_suite("nope")


def test_preflight_finds_what_would_fail_every_trial(tmp_path):
    import torch

    from benchmark.errors import IntrobenchError
    from benchmark.preflight import check_gpus, check_results_folder

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(IntrobenchError, match="is a file, not a folder"):
        check_results_folder(blocker)
    with pytest.raises(IntrobenchError, match="is not writable: Not a directory"):
        check_results_folder(blocker / "results")
    check_results_folder(tmp_path / "fine")
    assert (tmp_path / "fine").is_dir() and not list((tmp_path / "fine").iterdir())
    if not torch.cuda.is_available():
        with pytest.raises(IntrobenchError, match="--gpus-per-trial 0.5 asks for a GPU, but torch sees 0 CUDA"):
            check_gpus(0.5, None)
    check_gpus(0.0, None)
