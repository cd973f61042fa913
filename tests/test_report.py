import json

import pytest

from benchmark import scoring
from benchmark.cli import main
from benchmark.errors import IntrobenchError
from benchmark.report import ROW_FIELDS, build_report, platform_name
from benchmark.store import ResultsStore, driver_id
from benchmark.suites import parse_suite
from benchmark.sweep import SweepOptions, run_suite

PNG = b"\x89PNG\r\n\x1a\n"


def curve(points, phase_at=None):
    return [{"step": s, "accuracy": a, "loss": 0.1, "phase": "eval", "seconds": s / 1000} for s, a in points]


def row(suite, forecaster, seed, points, status="finished", params=None, jumps=None, target=0.9, experiment=0,
        task="mnist3", error=None):
    params = params or {}
    c = curve(points) if points else None
    summary = None
    if c:
        summary = {**scoring.score_run(c, target=0.9, eval_every=100, steps=2000), "status": status,
                   "wall_clock": 10.0, "forecast_seconds": 0.5 if forecaster != "none" else 0.0,
                   "jump_points": jumps or []}
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
        r["config"]["target"] = 0.9
        store.write(r)
    return tmp_path


def test_leaderboard_json_and_markdown_carry_the_same_scores(hand_store):
    report = build_report(hand_store, wandb_mode="disabled")
    on_disk = json.loads((hand_store / "report" / "leaderboard.json").read_text())
    (exp,) = on_disk["suites"][0]["experiments"]
    board = {e["forecaster"]: e for e in exp["leaderboard"]}
    assert [e["forecaster"] for e in exp["leaderboard"]] == ["extrapolate", "none", "noise", "quadratic"]
    for e in exp["leaderboard"]:
        assert set(ROW_FIELDS) <= set(e)
    ext, base, quad, noise = board["extrapolate"], board["none"], board["quadratic"], board["noise"]
    assert (ext["seeds"], ext["reached"], ext["steps_per_seed"], ext["steps_median"]) == (2, 2, [500, 600], 550)
    assert ext["speedup_per_seed"] == [2.0, 2.0] and ext["speedup_median"] == 2.0 and ext["speedup_ci95"] == [2.0, 2.0]
    assert base["steps_median"] == 1100 and base["speedup_per_seed"] == []  # the reference
    assert quad["steps_per_seed"] == [None, None] and quad["steps_median"] is None and quad["diverged"] == 1
    assert quad["speedup_per_seed"] == [0.0, 0.0]  # a miss scores 0, it is not dropped
    assert noise["failed"] == 1 and noise["failures"][0]["error"] == "RuntimeError: boom"
    md = (hand_store / "report" / "report.md").read_text()
    lines = {l.split(" | ")[0][2:]: l for l in md.splitlines() if l.startswith("| ") and " --- " not in l}
    assert "| 550 [500-600] (2/2 reached) |" in lines["extrapolate(ratio=1.3) @300"]
    assert "| 2.00x (2/2 reached) | 2.00-2.00x |" in lines["extrapolate(ratio=1.3) @300"]
    assert "| 1100 [1000-1200] (2/2 reached) |" in lines["none"]
    assert "| never (0/2 reached) |" in lines["quadratic(ratio=1.4) @300"]
    assert "| 0.00x (0/2 reached) |" in lines["quadratic(ratio=1.4) @300"]
    assert "- `noise-" in md and ": RuntimeError: boom" in md  # failed trials, first line of the error
    for p in exp["plots"]:
        assert (hand_store / "report" / p).read_bytes()[:8] == PNG and f"]({p})" in md
    html = (hand_store / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(exp["plots"]) and "RuntimeError: boom" in html
    assert report["suites"][0]["experiments"][0]["leaderboard"][0]["variant"] == "extrapolate(ratio=1.3) @300"


def test_a_plot_an_earlier_report_wrote_and_this_one_does_not_is_removed(hand_store):
    """cifar1 was once scored twice (at the paper's target and at the baseline's max); once its baselines all
    ran it was scored once, and the second plot stayed in the folder, current-looking. Only the report's own
    kinds of plot go: a file of another name in the folder stays."""
    out = hand_store / "report"
    out.mkdir()
    for name in ("mnist3-at-the-baseline-s-max-accuracy.png", "mine.png"):
        (out / name).write_bytes(PNG)
    build_report(hand_store, suite="hand", wandb_mode="disabled")  # one suite of the store: others' plots stay
    assert (out / "mnist3-at-the-baseline-s-max-accuracy.png").exists()
    report = build_report(hand_store, wandb_mode="disabled")
    written = report["suites"][0]["experiments"][0]["plots"]
    assert written and sorted(p.name for p in out.glob("*.png")) == sorted(written + ["mine.png"])


def test_a_long_variant_label_is_not_cut_off_at_the_plot_s_edge(tmp_path):
    """c10_32's speedup plot cut "extrapolate(ratio=1.3) @1000/2000/.../9000" at the image's left edge: the
    label was wider than the figure. The saved image grows to hold it, so its edge columns stay blank."""
    import numpy as np
    from PIL import Image

    store = ResultsStore(tmp_path)
    long_jumps = list(range(100, 1900, 100))
    for seed in range(3):
        store.write(row("long", "none", seed, ramp(1200)))
        store.write(row("long", "extrapolate", seed, ramp(900), params={"ratio": 1.3}, jumps=long_jumps))
    report = build_report(tmp_path, wandb_mode="disabled")
    plots = report["suites"][0]["experiments"][0]["plots"]
    for name in plots:
        image = np.asarray(Image.open(tmp_path / "report" / name).convert("L"))
        assert image[:, :2].min() == 255 and image[:, -2:].min() == 255, name


def test_trials_no_longer_in_the_suite_are_named_and_left_out(hand_store):
    store = ResultsStore(hand_store)
    keep = [(r["key"], r["label"], 0) for r in store.rows("hand") if r["forecaster"] != "quadratic"]
    store.register_suite("hand", "hand.yaml", keep)
    report = build_report(hand_store, wandb_mode="disabled")
    (note,) = report["suites"][0]["notes"]
    assert note.startswith("left out: 2 stored trial(s) no longer in the suite") and "quadratic" in note
    forecasters = [e["forecaster"] for e in report["suites"][0]["experiments"][0]["leaderboard"]]
    assert "quadratic" not in forecasters and len(forecasters) == 3


def test_leaderboard_lands_in_wandb_as_a_table(hand_store):
    report = build_report(hand_store, wandb_mode="offline")
    (run_dir,) = report["wandb"]["runs"]
    assert str(run_dir).startswith(str(hand_store))
    assert list((hand_store / "wandb").rglob("leaderboard*.table.json"))


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
    assert suite["profile"]["experiments"] == {"none": 2, "extrapolate(ratio=1.3)": 2}
    md = (real_results / "report" / "report.md").read_text()
    assert "| forecaster | score | experiments run |" in md and "| extrapolate(ratio=1.3) | " in md
    exp = suite["experiments"][0]
    base_rows = [r for r in rows if r["experiment"] == 0 and r["forecaster"] == "none"]
    target = scoring.median([r["summary"]["max_accuracy"] for r in base_rows])
    assert exp["target"] == pytest.approx(target)  # baseline_max, as the suite resolved it
    for r in rows:  # every trial of the experiment, baselines included, is stored with the resolved target
        if r["experiment"] == 0:
            assert r["config"]["target"] == pytest.approx(target) and r["summary"]["target"] == pytest.approx(target)
            assert r["summary"]["steps_to_target"] == scoring.rescore(r, target)["steps_to_target"]
    by_variant = {e["forecaster"]: e for e in exp["leaderboard"]}
    assert by_variant["none"]["steps_per_seed"] == [r["summary"]["steps_to_target"] for r in base_rows]
    assert by_variant["none"]["reached"] >= 1  # the median of the maxima is reached by at least one seed
    for name, entry in by_variant.items():
        mine = sorted((r["seed"], r["summary"]["steps_to_target"]) for r in rows
                      if r["experiment"] == 0 and r["forecaster"] == name)
        assert entry["steps_per_seed"] == [s for _, s in mine]
        assert entry["steps_median"] == scoring.censored_median([s for _, s in mine])
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
    assert "1 trial(s) of the suite are not in the store (mnist3: 1 trial of extrapolate(ratio=1.3), s1);" in note
    assert "running now" not in note

    store = ResultsStore(copy)  # a live run (this process) takes the missing trial: the note says so
    (key,) = [k for k, label, _, _ in store.expected("real") if k not in store.keys("real")]
    assert store.claim("real", key, "mnist3 extrapolate(ratio=1.3) s1", 60, driver_id()) is None
    # and a stored baseline trains again for its forks: no trial of the suite, so not named as one
    from benchmark.forks import RUNNING

    base = next(r for r in store.rows("real") if r["forecaster"] == "none")
    assert store.claim("real", RUNNING + base["key"], f"{base['label']}, again for its forks", 60, driver_id()) is None
    (note,) = build_report(copy, wandb_mode="disabled")["suites"][0]["notes"]
    assert "; running now: 1 (mnist3: 1 trial of extrapolate(ratio=1.3), s1);" in note


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
    assert board[0]["jumps"] == [200, 300] and board[0]["steps_median"] == 900  # fastest schedule first


def test_a_heat_map_tells_a_schedule_not_run_from_one_that_never_reached():
    from benchmark.report import heatmap_labels

    # paper-cifar's Sets 1 and 2: (12000, +5000) and (15000, +3000) ran; the other two pairs did not
    labels = heatmap_labels({(12000, 5000): 27000.0, (15000, 3000): None}, [12000, 15000], [3000, 5000])
    assert labels == {(0, 0): ("not run", "gray"), (0, 1): ("never", "red"),
                      (1, 0): ("27000", "black"), (1, 1): ("not run", "gray")}


def test_schedules_that_space_their_later_jumps_otherwise_get_a_heat_map_of_their_own(tmp_path):
    """Two 3-jump schedules with one first jump and first interval, 12000/15000/18000 and 12000/15000/19000
    (paper-cifar's Set 3), would share a cell, one overwriting the other: each spacing gets its own map."""
    from benchmark.report import _schedule_heatmaps
    from benchmark.scoring import VariantScore

    def score(jumps, steps):
        label = "introspection @" + "/".join(map(str, jumps))
        return VariantScore(label, "introspection", {}, jumps, stats={"steps_median": steps})

    even = [score([f, f + i, f + 2 * i], 20000.0 + f + i) for f in (12000, 14000) for i in (3000, 4000)]
    set3 = [score([f, f + 3000, f + 7000], None) for f in (12000, 14000)] + [score([12000, 16000, 21000], 1.0)]
    paths = _schedule_heatmaps("cifar1", "cifar1", even + set3, tmp_path)
    # 12000/16000/21000 widens its second interval by 1000 too: it is on Set 3's map
    assert sorted(p.name for p in paths) == ["cifar1-introspection-3jumps-heatmap.png",
                                            "cifar1-introspection-3jumps-later1000-heatmap.png"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_the_wandb_report_is_built_from_the_leaderboard_without_a_server(hand_store, capsys):
    import wandb_workspaces.reports.v2 as wr

    from benchmark.report import wandb_report
    from tests.test_sweep import wandb_inspect

    report = build_report(hand_store, wandb_mode="offline")
    assert "W&B: offline, so the leaderboard is a local W&B Table only (no W&B report)" in capsys.readouterr().err
    rep = wandb_report(report, entity="someone")
    assert (rep.title, rep.entity, rep.project) == ("introbench leaderboard", "someone", "introbench")
    h2, board, trials = rep.blocks[2:5]
    assert isinstance(h2, wr.H2) and h2.text == "Suite hand"
    table, bars = board.panels
    assert isinstance(table, wr.WeavePanelSummaryTable) and table.table_name == "leaderboard"
    assert board.runsets[0].filters == "Group = 'hand' and JobType = 'leaderboard'"
    (line,) = trials.panels
    assert line.y == ["accuracy"] and line.groupby == "config.forecaster" and line.groupby_aggfunc == "median"
    # each experiment's section as report.md has it, its plots aside (the panels draw them from the runs)
    heading, section = rep.blocks[5:7]
    md = (hand_store / "report" / "report.md").read_text()
    assert isinstance(heading, wr.H3) and isinstance(section, wr.MarkdownBlock)
    assert section.text.strip() in md and "RuntimeError: boom" in section.text and "![" not in section.text
    # the bars plot exactly the speedups the leaderboard run holds
    (run_dir,) = report["wandb"]["runs"]
    logged = {k: v for k, v in wandb_inspect(run_dir)["summary"].items() if k.startswith("speedup/")}
    assert bars.metrics and sorted(bars.metrics) == sorted(logged)
    rows = report["suites"][0]["experiments"][0]["leaderboard"]
    assert {logged[f"speedup/{report['suites'][0]['experiments'][0]['experiment']}/{e['variant']}"]
            for e in rows if e["speedup_median"] is not None} == {e["speedup_median"] for e in rows
                                                                  if e["speedup_median"] is not None}


def test_a_target_beyond_the_baseline_is_read_again_at_the_baselines_own_max(tmp_path):
    """The stated target (0.95) is beyond every seed: every cell says never. The report scores the experiment
    again at the baseline's median max (0.908, the paper's baseline_max rule), where the jumps' speedup shows:
    per seed 1800/1300, 2000/1400 and, the baseline missing 0.908 on seed 2, the bound 2000/1500."""
    store = ResultsStore(tmp_path)
    for seed, (base, method) in enumerate([(1000, 500), (1200, 600), (1400, 700)]):
        store.write(row("far", "none", seed, ramp(base), target=0.95))
        store.write(row("far", "extrapolate", seed, ramp(method), params={"ratio": 1.3}, jumps=[300], target=0.95))
    stated, own = build_report(tmp_path, wandb_mode="disabled")["suites"][0]["experiments"]
    assert stated["target"] == 0.95 and all(e["reached"] == 0 for e in stated["leaderboard"])
    assert stated["scored_at"] is None
    assert own["experiment"] == "mnist3 at the baseline's max" and own["target"] == pytest.approx(0.908)
    assert "baseline reaches that on 0 of 3 seeds" in own["scored_at"]
    ctrl = next(e for e in own["leaderboard"] if e["forecaster"] == "extrapolate")
    assert ctrl["speedup_per_seed"] == pytest.approx([1800 / 1300, 2000 / 1400, 2000 / 1500])
    assert ctrl["speedup_lower_bound"] == [False, False, True]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "### mnist3 at the baseline's max (target 0.9080" in md and "Scored again at the baseline's own max" in md
    # a baseline that reaches its target on most seeds is read at that target only
    assert scoring.own_target(scoring.score_experiment([row("x", "none", 0, ramp(1000))], 0.9)[0], 0.9) is None


def verdict_rows() -> list[dict]:
    """Introspection is faster than the baseline on all 3 seeds but slower than extrapolate on all 3; deltanet
    slower still; a guarded extrapolate slower than all."""
    rows = []
    for seed, (base, intro, ctrl, other) in enumerate([(1000, 600, 500, 700), (1100, 600, 400, 800),
                                                       (1200, 700, 500, 900)]):
        rows += [row("v", "none", seed, ramp(base)),
                 row("v", "introspection", seed, ramp(intro), jumps=[300]),
                 row("v", "extrapolate", seed, ramp(ctrl), params={"ratio": 1.3}, jumps=[300]),
                 row("v", "deltanet", seed, ramp(other), jumps=[300]),
                 row("v", "extrapolate", seed, ramp(1500), params={"ratio": 1.3}, jumps=[300])]
        rows[-1]["config"]["guard"], rows[-1]["key"] = True, rows[-1]["key"] + "-guard"
    return rows


def test_a_report_opens_and_the_console_ends_with_each_verdict_at_a_glance(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    for r in verdict_rows():
        r["config"]["target"] = 0.9
        store.write(r)
    assert main(["report", "--results", str(tmp_path), "--wandb", "disabled"]) == 0
    tail = capsys.readouterr().out.split("at a glance")[-1]
    assert "introspection @300" in tail and "extrapolate(ratio=1.3) @300" in tail and "no: loses" in tail
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.index("## At a glance") < md.index("## Suite `v`")
    assert "| v | mnist3 | `introspection @300` | 1.71x [1.67-1.83], 3 seeds | - | yes |" in md
    # deltanet, the other learned forecaster, against the control: a table after the verdict, in both formats
    assert md.index("**Reproduced**") < md.index("| `deltanet @300` | `extrapolate(ratio=1.3) @300` | 0.56x [")
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>At a glance</h2>" in page and "<td>deltanet @300</td><td>extrapolate(ratio=1.3) @300</td>" in page


def test_the_verdict_says_reproduced_and_whether_the_learned_forecaster_beat_the_control(tmp_path):
    """Introspection is faster than the baseline on all 3 seeds (reproduced) but slower than extrapolate on all
    3 (it loses to the control); the paper's 1.8x lies inside the interval of our speedup."""
    rows = verdict_rows()
    variants, facts = scoring.score_experiment(rows, 0.9)
    roles = {"none": "baseline", "introspection": "learned", "extrapolate": "control", "deltanet": "learned"}
    v = scoring.verdict(variants, roles, facts["budget"], paper_speedup=1.8)
    assert v["method"] == "introspection @300"
    assert v["baseline"]["outcome"] == "faster" and v["baseline"]["median"] == pytest.approx(1200 / 700)
    assert v["paper_in_ci"] is True
    (control,) = v["controls"]  # the guarded control is weaker: unguarded jumps are held to unguarded ones
    assert control["reference"] == "extrapolate(ratio=1.3) @300" and control["outcome"] == "slower"
    assert control["median"] == pytest.approx(500 / 700)
    # the other learned forecaster (ranked lower) is scored against the control too
    (other,) = v["others"]
    assert other["method"] == "deltanet @300" and other["outcome"] == "slower"
    assert other["median"] == pytest.approx(500 / 900)  # per seed 0.71, 0.50, 0.56
    from benchmark.report import others_rows, verdict_sentence

    text = verdict_sentence(v)
    # the other learned forecasters' comparisons are a table's rows, not clauses of the verdict's sentence
    assert "deltanet" not in text
    assert others_rows(v) == [["`deltanet @300`", "`extrapolate(ratio=1.3) @300`",
                               f"0.56x [{other['ci95'][0]:.2f}-{other['ci95'][1]:.2f}], 3 seeds", "no: loses"]]
    assert text.startswith("**Reproduced**: `introspection @300` reaches the target sooner than the baseline")
    assert "loses to `extrapolate(ratio=1.3) @300` (0.71x" in text and "1.80x is inside our interval" in text
    # at a glance: one row, the verdict's forecaster against the baseline and its hardest control
    from benchmark.report import GLANCE_COLUMNS, glance_rows

    assert scoring.hardest_control(v) is control
    # a control on 2 seeds, however hard, is no bar while one on enough seeds is
    early = {**control, "reference": "extrapolate(ratio=2.0) @300", "median": 0.1, "seeds": 2}
    assert scoring.hardest_control({**v, "controls": [control, early]}) is control
    assert scoring.hardest_control({**v, "controls": [early]}) is early
    (glance,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "v", "verdict": v},
                                                            {"experiment": "w", "verdict": None}]}])
    assert len(glance) == len(GLANCE_COLUMNS)
    assert glance[:3] == ["s", "v", "`introspection @300`"] and glance[4:6] == ["1.80x", "yes"]
    assert glance[6:] == ["`extrapolate(ratio=1.3) @300`", f"0.71x [{control['ci95'][0]:.2f}-"
                          f"{control['ci95'][1]:.2f}], 3 seeds", "no: loses", "0 of 3; 0 of 3"]
    # no learned forecaster, or no baseline: no claim to judge
    assert scoring.verdict([v for v in variants if roles[v.forecaster] != "learned"], roles, 2000) is None


def test_results_document_regenerates_the_committed_numbers(tmp_path):
    """docs/RESULTS.md is written by `introbench report --document`: rebuilding one committed store's section
    gives the committed text exactly (the plots' links aside: they point into the store's report folder)."""
    from pathlib import Path

    from benchmark.report import write_document

    root = Path(__file__).resolve().parents[1]
    committed = (root / "docs" / "RESULTS.md").read_text()
    source = "docs/results/search-schedule"
    report = build_report(root / source, out=tmp_path / "report", formats=(), wandb_mode="disabled")
    mine = write_document([(source, report)], tmp_path / "RESULTS.md").read_text()

    def section(text: str, suite: str) -> list[str]:
        start = text.index(f"## Suite `{suite}`")
        end = text.find("\n## Suite `", start + 1)
        return [line for line in text[start:end if end > 0 else None].splitlines() if not line.startswith("![")]

    assert section(mine, "search-schedule") == section(committed, "search-schedule")
    assert "**Reproduced**" in committed or "**Not reproduced**" in committed


def test_report_md_report_html_and_the_document_lay_out_each_section_alike(tmp_path):
    """One layout (experiment_blocks) feeds all three: every paragraph, table row and failed trial of an
    experiment reaches report.md, report.html and RESULTS.md, in the order the layout gives."""
    import html

    from benchmark.report import experiment_blocks, plain, write_document

    results = tmp_path / "results"
    store = ResultsStore(results)
    failed = row("v", "noise", 0, None, status="failed", params={"std": 0.1}, jumps=[300], error="OSError: gone")
    for r in verdict_rows() + [failed]:
        r["config"]["target"] = 0.9
        store.write(r)
    report = build_report(results, wandb_mode="disabled")
    (exp,) = report["suites"][0]["experiments"]
    blocks = experiment_blocks(exp)
    md = (results / "report" / "report.md").read_text()
    page = (results / "report" / "report.html").read_text()
    doc = write_document([("results", report)], tmp_path / "docs" / "RESULTS.md").read_text()
    assert {b.kind for b in blocks} >= {"text", "table", "fail", "items", "plots"}
    assert len([b for b in blocks if b.kind == "table"]) == 2
    for text in (md, doc):
        pieces = [b.text for b in blocks if b.text] + [f"- {b.rows[0]}" for b in blocks if b.kind == "items"]
        pieces += [f"| {b.rows[-1][0]} |" for b in blocks if b.kind == "table"]
        assert all(p in text for p in pieces), [p for p in pieces if p not in text]
        texts = [text.index(b.text) for b in blocks if b.text]
        assert texts == sorted(texts)
    for b in blocks:
        if b.text:
            assert html.escape(plain(b.text.replace("**", ""))) in page
        for r in b.rows if b.kind in ("table", "items") else ():
            assert html.escape(plain(str(r[0] if b.kind == "table" else r))) in page
    for p in exp["plots"]:
        assert f"](../results/report/{p})" in doc and f"]({p})" in md and f'alt="{p}"' in page


def test_a_guarded_variant_is_scored_apart_from_the_unguarded_one():
    rows = [row("g", "none", 0, ramp(1000)), row("g", "extrapolate", 0, ramp(500), jumps=[300]),
            row("g", "extrapolate", 0, ramp(700), jumps=[300]), row("g", "extrapolate", 0, ramp(600), jumps=[300])]
    for r, guard in zip(rows[2:], (True, "line")):
        r["config"]["guard"] = guard
        r["key"] += f"-guard-{guard}"
    variants, _ = scoring.score_experiment(rows, 0.9)
    assert sorted(v.variant for v in variants) == ["extrapolate @300", "extrapolate @300 +guard",
                                                   "extrapolate @300 +guard=line", "none"]


def test_a_builtin_suites_paper_claims_come_from_the_package_not_the_path_that_ran_it():
    from benchmark.report import _paper_claims

    rows = [{"suite_path": "/another/machine/suites/paper-mnist.yaml"}]
    claims = _paper_claims(rows, "paper-mnist")
    assert claims["mnist3"][1] == 1.81 and "95.71%" in claims["mnist3"][0]
    assert "normal SGD as 93.39%" in claims["mnist3"][2] and claims["mnist2"][2] is None
    assert _paper_claims(rows, "my-own-suite") == {}  # its file is gone: no claims, no error


def test_what_differs_from_the_paper_is_printed_under_its_claim(tmp_path):
    suite = tmp_path / "mine.yaml"
    suite.write_text("paper: {mnist3: {claim: 'baseline max 95.71%', differs: 'the 95.71% is an Adam run'}}\n"
                     "experiments: [{task: mnist3, forecasters: [none, extrapolate]}]\n")
    store = ResultsStore(tmp_path / "r")
    for r in (row("mine", "none", 0, ramp(1000)), row("mine", "extrapolate", 0, ramp(600), jumps=[300])):
        store.write({**r, "suite_path": str(suite)})
    build_report(tmp_path / "r", wandb_mode="disabled")
    lines = (tmp_path / "r" / "report" / "report.md").read_text().splitlines()
    claim = lines.index("Paper: baseline max 95.71%")
    assert lines[claim + 2] == "What differs from the paper: the 95.71% is an Adam run"
    assert "What differs from the paper: the 95.71% is an Adam run" in (tmp_path / "r" / "report" /
                                                                      "report.html").read_text()


def test_a_gated_experiment_of_the_same_task_is_reported_apart(tmp_path):
    store = ResultsStore(tmp_path)
    for experiment, gate in ((0, None), (1, 0.1)):
        for r in (row("two", "none", 0, ramp(1000), experiment=experiment),
                  row("two", "extrapolate", 0, ramp(600), jumps=[300], experiment=experiment)):
            r["config"]["gate"] = gate
            store.write(r)
    report = build_report(tmp_path, wandb_mode="disabled")
    sections = report["suites"][0]["experiments"]
    assert [s["experiment"] for s in sections] == ["mnist3", "mnist3 [gate 0.1]"]
    plots = [p for s in sections for p in s["plots"]]
    assert len(set(plots)) == len(plots) and all((tmp_path / "report" / p).is_file() for p in plots)


def test_trials_that_failed_alike_are_listed_once_under_their_error():
    from benchmark.report import failure_lines

    failures = [{"label": "a s0", "error": "OSError: gone"}, {"label": "b s0", "error": "RuntimeError: boom"},
                {"label": "a s1", "error": "OSError: gone"}, {"label": "c s1", "error": "OSError: gone"}]
    assert failure_lines(failures) == ["OSError: gone (3 trials: `a s0`, `a s1`, `c s1`)",
                                       "`b s0`: RuntimeError: boom"]


DECIDED = [({"ci95": (1.2, 1.5), "seeds": 5, "either_reached": 5}, "faster"),
           ({"ci95": (0.5, 0.8), "seeds": 5, "either_reached": 5}, "slower"),
           ({"ci95": (0.9, 1.1), "seeds": 5, "either_reached": 5}, "unclear"),
           ({"ci95": (1.2, 1.5), "seeds": 2, "either_reached": 2}, "too few seeds"),
           ({"ci95": (0.0, 0.0), "seeds": 5, "either_reached": 0}, "neither reached"),
           ({"ci95": (0.0, 0.0), "seeds": 5, "either_reached": 1, "method_reached": 1, "reference_reached": 0,
             "median_ties": 1.0}, "missed alike")]


def test_the_report_words_exactly_the_outcomes_scoring_decides():
    from benchmark.report import WORDS

    assert {o for _, o in DECIDED} == set(scoring.OUTCOMES) == set(WORDS) - {scoring.UNTRAINED_OUTCOME}


@pytest.mark.parametrize("comparison, outcome", DECIDED, ids=[o for _, o in DECIDED])
def test_each_outcome_reads_in_the_verdict_and_at_a_glance(comparison, outcome):
    from benchmark.report import WORDS, glance_rows, verdict_sentence

    assert scoring.decide(comparison) == outcome
    c = {**comparison, "median": 1.3, "median_is_bound": False, "outcome": outcome}
    v = {"method": "m", "baseline": c, "paper_speedup": None, "paper_in_ci": None,
         "controls": [{**c, "reference": "ctl"}], "others": []}
    text = verdict_sentence(v)
    words = WORDS[outcome]
    assert text.startswith(f"**{words.reproduced}**: `m` {words.vs_baseline}") and " (1.30x" in text
    assert f"it {words.vs_control} `ctl`" in text
    assert f"over {comparison['seeds']} paired seeds" in text
    one = verdict_sentence({**v, "baseline": {**c, "seeds": 1}})
    assert "(1.30x [95% CI" in one and " on 1 seed)" in one and "over 1 paired" not in one
    (row,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "e", "verdict": v}]}])
    assert row[5] == words.glance_baseline and row[8] == words.glance_control
    assert row[3].endswith(f", {comparison['seeds']} seeds")
    (row,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "e", "verdict": {**v, "baseline": {
        **c, "seeds": 1}}}]}])
    assert row[3].endswith(", 1 seed")


def test_a_forecaster_that_never_reaches_the_target_is_not_said_to_reach_it_later():
    from benchmark.report import verdict_sentence

    # baseline reaches on seeds 0-2 (1000, 1200, 1100 steps), the method on none: each pair scores 0
    base = scoring.VariantScore("none", "none", {}, [], stats={"seed_list": [0, 1, 2, 3],
                                                                "steps_per_seed": [1000, 1200, 1100, None]})
    never = scoring.VariantScore("m", "m", {}, [500], stats={"seed_list": [0, 1, 2, 3], "steps_per_seed": [None] * 4})
    c = scoring.head_to_head(never, base, budget=2000)
    assert (c["method_reached"], c["reference_reached"], scoring.decide(c)) == (0, 3, "slower")
    v = {"method": "m", "baseline": {**c, "outcome": "slower"}, "paper_speedup": None, "paper_in_ci": None,
         "controls": [], "others": []}
    text = verdict_sentence(v)
    assert "`m` never reaches the target, where the baseline does on 3 of its 4 seeds (0.00x" in text
    assert "later" not in text


def test_a_forecaster_does_not_lose_to_a_control_that_never_reaches_the_target():
    from benchmark.report import glance_rows, verdict_sentence

    seeds = list(range(10))

    def score(name, steps):
        return scoring.VariantScore(name, name, {}, [], stats={"seed_list": seeds, "steps_per_seed": steps})

    # fm32's shape: the method reaches the target on seed 3 only, one control on none, the other on six
    method = score("m", [None, None, None, 7400] + [None] * 6)
    never = score("never", [None] * 10)
    often = score("often", [6400, 6400, None, 6600, None, 8400, None, 8600, 6400, None])
    c_never, c_often = scoring.head_to_head(method, never, 10_000), scoring.head_to_head(method, often, 10_000)
    # SPEC's scores: both are 0.00x [0.00-0.00], each both-miss seed and each method miss scoring 0
    assert (c_never["median"], c_never["ci95"]) == (c_often["median"], c_often["ci95"]) == (0.0, (0.0, 0.0))
    assert scoring.decide(c_never) == "missed alike"  # it reaches the target where the control never does
    assert scoring.decide(c_often) == "slower"  # behind on six seeds: a real loss
    controls = [{**c_never, "outcome": "missed alike"}, {**c_often, "outcome": "slower"}]
    assert scoring.hardest_control({"controls": controls})["reference"] == "often"
    # a lower median that both-miss seeds make is no harder than a loss (fm16's 0.31x beside a 0.36x loss)
    lower = {**c_never, "reference": "lower", "median": 0.31, "outcome": "missed alike"}
    lost = {**c_often, "reference": "lost", "median": 0.36, "outcome": "slower"}
    assert scoring.hardest_control({"controls": [lower, lost]})["reference"] == "lost"
    assert scoring.hardest_control({"controls": [lower]})["reference"] == "lower"
    v = {"method": "m", "baseline": {**c_never, "reference": "none", "outcome": "missed alike"},
         "paper_speedup": None, "paper_in_ci": None, "controls": controls, "others": []}
    text = verdict_sentence(v)
    assert text.startswith("**Not shown**: `m` is not shown faster or slower than the baseline: it reaches the "
                           "target on 1 of 10 seeds, the baseline on 0")
    assert "loses to `never`" not in text and "does not beat `never`: it reaches the target on 1 of 10" in text
    assert "loses to `often` (0.00x" in text
    (row,) = glance_rows([{"suite": "s", "experiments": [{"experiment": "e", "verdict": v}]}])
    assert row[5] == "not shown: both miss on the seeds that decide it" and row[6:9] == [
        "`often`", "0.00x [0.00-0.00], 10 seeds", "no: loses"]
    # against a baseline that reaches the target on more seeds, it is slower, and says how often each reached
    behind = verdict_sentence({**v, "baseline": {**c_often, "outcome": "slower"}})
    assert behind.startswith("**Not reproduced**: `m` reaches the target on 1 of its 10 seeds, where the "
                             "baseline does on 6 (0.00x")


def spliced(before, after, at):
    """A jumped trial's points: ``before``'s until step ``at`` (the same weights as its baseline), then
    ``after``'s."""
    return [p for p in before if p[0] < at] + [p for p in after if p[0] >= at]


def test_an_experiment_says_which_machine_made_which_trials_and_whether_its_pairs_part_before_the_jump(tmp_path):
    amd = {"cpu": "AMD EPYC", "torch": "2.14.1"}

    def pairing(folder):
        return build_report(tmp_path / folder, wandb_mode="disabled")["suites"][0]["experiments"][0]["pairing"]

    def store_of(folder, jumped_before, platforms):
        store = ResultsStore(tmp_path / folder)
        for r in (row("two", "none", 0, ramp(1000)), row("two", "none", 1, ramp(1100)),
                  row("two", "extrapolate", 0, spliced(jumped_before[0], ramp(600), 300), jumps=[300]),
                  row("two", "extrapolate", 1, spliced(jumped_before[1], ramp(700), 300), jumps=[300])):
            r["label"] = f"mnist3 {r['forecaster']} s{r['seed']}"
            if platforms.get(r["forecaster"]):
                r["summary"]["platform"] = platforms[r["forecaster"]]
            store.write(r)
        return store

    # two machines, yet each jumped trial's curve equals its seed's baseline's until its jump: the pairs hold
    store = store_of("same", [ramp(1000), ramp(1100)], {"extrapolate": amd})
    said = pairing("same")
    assert said == ("Before its first jump each of the 2 jumped trials evaluates exactly as its seed's baseline, so "
                    "the paired speedups compare like with like. Made on more than one platform: AMD EPYC (kernels not "
                    "recorded), torch 2.14.1: mnist3: 2 trials of extrapolate, s0-s1; not recorded (run before trials "
                    "recorded it): mnist3: 2 trials of none, s0-s1.")
    assert said in (tmp_path / "same" / "report" / "report.md").read_text().splitlines()

    # seed 1's jumped trial parts from its baseline before the jump (by 0.9 * 200 * (1/1000 - 1/1100) = 1.64 points)
    store_of("parted", [ramp(1000), ramp(1000)], {"extrapolate": amd})
    said = pairing("parted")
    assert said.startswith("Before its first jump, 1 of 2 jumped trials already part from their seed's baseline "
                           "(extrapolate @300 1 of 2; by up to 1.64 points of accuracy), so their paired speedups "
                           "hold that difference as well as the jumps' effect. Made on more than one platform: AMD")

    # one model name, other vector kernels (an AVX-512 EPYC and an AVX2 one): two platforms, said apart
    store_of("mixed", [ramp(1000), ramp(1100)], {"none": {**amd, "kernels": "AVX512"},
                                                 "extrapolate": {**amd, "kernels": "AVX2"}})
    assert "AMD EPYC (AVX2 kernels), torch 2.14.1: mnist3: 2 trials of extrapolate, s0-s1; AMD EPYC (AVX512 " \
           "kernels), torch 2.14.1: mnist3: 2 trials of none, s0-s1." in pairing("mixed")

    # a trial cut on one machine and resumed on another is named by both, in order
    assert platform_name({"platform": {**amd, "kernels": "AVX2"}, "platforms": [
        {**amd, "kernels": "AVX512"}, {**amd, "kernels": "AVX2"}]}) == (
        "AMD EPYC (AVX512 kernels), torch 2.14.1 then AMD EPYC (AVX2 kernels), torch 2.14.1")

    # one platform: nothing to say while the pairs hold; that they part is said all the same
    store_of("again", [ramp(1000), ramp(1100)], {"none": amd, "extrapolate": amd})
    assert pairing("again") is None
    store_of("again-parted", [ramp(1000), ramp(1000)], {"none": amd, "extrapolate": amd})
    assert pairing("again-parted").endswith("as well as the jumps' effect.")

    # no baseline to compare with: only which machine made which
    only = ResultsStore(tmp_path / "nobase")
    for r in store.rows("two"):
        if r["forecaster"] != "none":
            only.write(r)
    assert pairing("nobase") is None


def test_guarded_jumps_are_checked_against_the_one_point_bar_by_guard_rule(tmp_path, capsys):
    """Each guard rule's jumps, counted where the accuracy just after fell more than 1 point below just before;
    an unguarded variant's jumps, however costly, are not part of the check."""
    def jumped(seed, guard, drops):
        r = row("g", "extrapolate", seed, ramp(600), params={"ratio": 1.3}, jumps=[300, 400])
        r["events"] = [{"step": s, "accuracy_before": 0.5, "accuracy_after": 0.5 + d / 100}
                       for s, d in zip((300, 400), drops)]
        if guard is not None:
            r["config"]["guard"], r["key"] = guard, f"{r['key']}-{guard}"
        return r

    rows = [row("g", "none", s, ramp(1000)) for s in (0, 1)]
    rows += [jumped(0, None, [-5.0, -6.0]), jumped(0, True, [-0.5, 0.0]), jumped(1, True, [-1.5, -0.2]),
             jumped(0, "settle", [-3.0, -0.9]), jumped(0, "line", [])]  # a line search that never jumped
    variants, _ = scoring.score_experiment(rows, 0.9)
    halve, settle = scoring.guard_check(variants)
    assert halve == {"rule": "+guard", "variants": 1, "jumps": 4, "over_bar": 1, "worst": pytest.approx(-1.5),
                     "worst_variant": "extrapolate(ratio=1.3) @300/400 +guard"}
    assert (settle["rule"], settle["jumps"], settle["over_bar"]) == ("+guard=settle", 2, 1)
    store = ResultsStore(tmp_path)
    for r in rows:
        store.write(r)
    assert main(["report", "--results", str(tmp_path), "--wandb", "disabled"]) == 0
    assert "guarded jumps" in capsys.readouterr().out  # on the console too, before the verdicts at a glance
    md = (tmp_path / "report" / "report.md").read_text()
    section = md[md.index("## Guarded jumps"):md.index("## Suite `g`")]
    assert ("| g | mnist3 | +guard | 1 | 4 | 1 | -1.50 (`extrapolate(ratio=1.3) @300/400 +guard`) | no: 1 of 4 |"
            in section)
    assert "| g | mnist3 | +guard=settle | 1 | 2 | 1 | -3.00" in section and "| +guard=line |" not in section
    assert "<h2>Guarded jumps</h2>" in (tmp_path / "report" / "report.html").read_text()
    rows[4]["events"][0]["accuracy_after"] = 0.5  # no jump over the bar: the rule keeps its promise
    variants, _ = scoring.score_experiment(rows, 0.9)
    assert [(g["over_bar"], g["worst"]) for g in scoring.guard_check(variants)][0] == (0, pytest.approx(-0.5))
