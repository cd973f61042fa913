"""`introbench report`: leaderboards, plots and a performance profile, read from the results store only.

It never trains and it decides nothing: every number comes from ``scoring`` (SPEC.md "Scoring"); this module
renders them as leaderboard.json, Markdown, HTML, PNG plots and a W&B Table.
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

from . import forks, scoring
from .config import either
from .errors import IntrobenchError
from .figures import pyplot, save_figure
from .search import search_outcome
from .status import labels_by_task
from .store import ResultsStore

# leaderboard.json: per row, everything below (the plots' curves stay out)
ROW_FIELDS = ("variant", "forecaster", "params", "jumps", "seeds", "seed_list", "reached", "scored", "finished",
              "diverged", "failed", "failures", "steps_per_seed", "steps_median", "steps_min", "steps_max",
              "median_curve_step", "speedup_seeds", "speedup_per_seed", "speedup_lower_bound", "speedup_median",
              "speedup_median_is_bound", "speedup_min", "speedup_max", "speedup_ci95", "max_accuracy_median",
              "max_accuracy_min", "max_accuracy_max", "max_accuracy_step", "accuracy_at", "lead_at", "stopped", "wall_clock",
              "forecast_seconds", "trained_on_task", "jumps_made", "guard_decisions", "jump_drop_median",
              "jump_drop_worst", "jump_next_eval_median", "jump_recovered", "jump_followed", "jump_size_median")

COLUMNS = ["forecaster", "seeds (ok/div/fail)", "steps to target", "median-curve step", "speedup (paired)",
           "speedup 95% CI", "max acc", "acc @25/50/75/100%", "steps ahead @25/50/75/100%",
           "jump drop (worst) / next eval, pts",
           "recovered by next eval", "jump size, mean abs dw", "wall s", "forecast s"]


def build_report(results: str | Path, suite: str | None = None, out: str | Path | None = None,
                 formats=("md", "html"), wandb_mode: str = "auto") -> dict:
    store = ResultsStore(results)
    if not store.path.exists():
        raise IntrobenchError(f"no results store at {store.path}: run a suite first (`introbench suite run NAME "
                              f"--results {results}`)")
    available = store.suites()
    if not available:
        raise IntrobenchError(f"the results store {store.path} holds no trials yet")
    if suite and suite not in available:
        raise IntrobenchError(f"unknown suite '{suite}' in {store.path}; it holds: {', '.join(available)}")
    out = Path(out or Path(results) / "report")
    out.mkdir(parents=True, exist_ok=True)
    report = {"store": str(store.path), "out": str(out), "suites": []}
    for name in [suite] if suite else available:
        report["suites"].append(_suite_report(store, name, out))
    if not suite:  # the whole store's report owns its folder's plots
        _drop_stale_plots(out, report)
    (out / "leaderboard.json").write_text(json.dumps(report, indent=1, default=str))
    if "md" in formats:
        (out / "report.md").write_text(_markdown(report))
    if "html" in formats:
        (out / "report.html").write_text(_html(report, out))
    report["wandb"] = _log_wandb(report, Path(results), wandb_mode)
    return report


PLOT_KINDS = ("accuracy", "speedup", "heatmap", "profile")


def _plot_path(out: Path, stem: str, kind: str) -> Path:
    """Where a report's plot of one kind goes: named so _drop_stale_plots knows it for the report's own."""
    assert kind in PLOT_KINDS, kind
    return out / f"{stem}-{kind}.png"


def _save_plot(fig, out: Path, stem: str, kind: str) -> Path:
    """Write a finished figure where _plot_path says and close it."""
    return save_figure(fig, _plot_path(out, stem, kind))


def _drop_stale_plots(out: Path, report: dict) -> None:
    """Remove the plots an earlier report of this store wrote that this one did not (an experiment now scored
    at another target, a task no longer run): left behind, they would be read as current."""
    kept = {p for s in report["suites"] for p in s["plots"] + [q for e in s["experiments"] for q in e["plots"]]}
    for png in out.glob("*.png"):
        if png.name not in kept and png.name.endswith(tuple(f"-{k}.png" for k in PLOT_KINDS)):
            png.unlink()


def _suite_file(rows: list[dict], name: str):
    """The suite the trials came from: the built-in suite of that name when there is one (a stored path names
    a file on the machine that ran it: another clone, a worktree), else the stored file; None if it is gone."""
    from .suites import builtin_suites, load_suite

    stored = next((r["suite_path"] for r in rows if r.get("suite_path")), None)
    for source in [name if name in builtin_suites() else None, stored]:
        if source is None:
            continue
        try:
            return load_suite(source)
        except IntrobenchError:
            continue
    return None


def _claims(suite) -> dict[str, tuple[str, float | None, str | None]]:
    """task -> (the paper's claim, its speedup and what differs from its setting, where the suite says)."""
    from .suites import paper_claim

    return {task: paper_claim(entry) for task, entry in suite.paper.items()} if suite else {}


def _paper_claims(rows: list[dict], name: str) -> dict[str, tuple[str, float | None, str | None]]:
    return _claims(_suite_file(rows, name))


def _roles(forecasters: set[str]) -> dict[str, str]:
    """What each forecaster is compared as (baseline, control, rule, learned); a plugin's that is not loaded
    here counts as a rule."""
    from predictors import FORECASTERS, forecaster_role

    return {f: forecaster_role(f) if f in FORECASTERS else "rule" for f in forecasters}


def _experiment_name(rows: list[dict]) -> str:
    cfg = rows[0]["config"]
    # what sets an experiment apart from another of the same task in one suite
    marks = [cfg["optimizer"]] if cfg.get("optimizer") else []
    marks += [f"gate {cfg['gate']:g}"] if cfg.get("gate") is not None else []
    return cfg["task"] + (f" [{', '.join(marks)}]" if marks else "")


def _suite_report(store: ResultsStore, name: str, out: Path) -> dict:
    rows = store.rows(name)
    notes = []
    expected = store.expected(name)
    if expected is not None:
        wanted = {key: experiment for key, _, experiment, _ in expected}
        roles = {key: role for key, _, _, role in expected}
        stale = sorted(r["label"] for r in rows if r["key"] not in wanted)
        if stale:
            notes.append(f"left out: {len(stale)} stored trial(s) no longer in the suite: " + "; ".join(stale[:20])
                         + (" ..." if len(stale) > 20 else ""))
        rows = [dict(r, experiment=r["experiment"] if wanted[r["key"]] is None else wanted[r["key"]],
                     role=roles[r["key"]]) for r in rows if r["key"] in wanted]
        have = {r["key"] for r in rows}
        missing = [label for key, label, _, _ in expected if key not in have]
        if missing:
            # a stored baseline training again for its forks is no trial still to come
            running = [r["label"] for k, r in store.running(name).items() if not k.startswith(forks.RUNNING)]
            now = f"; running now: {len(running)} ({labels_by_task(running)})" if running else ""
            notes.append(f"partial results: {len(missing)} trial(s) of the suite are not in the store "
                         f"({labels_by_task(missing)}){now}; `introbench suite status {name} --results` on this "
                         f"store lists them by variant, with the time they will take")
    copied = [r for r in rows if "copied_from" in (r["summary"] or {})]
    if copied:
        froms = sorted({Path(r["summary"]["copied_from"]).parent.name for r in copied})
        labels = labels_by_task([r["label"] for r in copied])
        same = "trials with the same run config and seed"
        cut = [r for r in copied if "truncated_from" in r["summary"]]  # benchmark.truncation
        if cut:
            lengths = ", ".join(str(n) for n in sorted({r["summary"]["truncated_from"] for r in cut}))
            longer = (f"the first steps of longer runs (of {lengths} steps) that train as they would with this "
                      f"budget, cut there and scored afresh")
            same = (f"{longer}, with the same run config and seed" if len(cut) == len(copied) else
                    f"{same} ({len(copied) - len(cut)}) or {longer} ({len(cut)}: "
                    f"{labels_by_task([r['label'] for r in cut])})")
        notes.append(f"copied: {len(copied)} trial(s) ({labels}) are copies of {same} in the results folder(s) "
                     f"{', '.join(froms)} (`suite run --reuse`), run once for both suites")
    replaced = store.replaced(name)
    if replaced:
        notes.append(f"run again: {len(replaced)} trial(s) ({labels_by_task([r['label'] for r in replaced])}) were "
                     f"run again by `suite run --redo`; the rows they replaced are kept in the store's `replaced` "
                     f"table and not scored here")
    source = _suite_file(rows, name)
    paper = _claims(source)
    roles = _roles({r["forecaster"] for r in rows})
    by_exp: dict[int, list[dict]] = {}
    samples: dict[int, list[dict]] = {}  # a search's samples: ranked apart, not leaderboard variants
    for r in rows:
        (samples if r.get("role") == "search" else by_exp).setdefault(r["experiment"], []).append(r)
    experiments, scored = [], []
    for index in sorted(by_exp):
        exp_rows = by_exp[index]
        claim = paper.get(exp_rows[0]["task"], (None, None, None))
        variants, facts = _experiment(exp_rows, scoring.experiment_target(exp_rows), _experiment_name(exp_rows),
                                      claim, roles, samples.get(index, []), out)
        if not facts["baseline"]:
            notes.append(f"{facts['experiment']}: no baseline ('none') in this suite, so no speedup")
        experiments.append(facts)
        scored.append(variants)
        own = scoring.own_target(variants, facts["target"])
        if own is not None:  # the stated target is beyond the baseline: read the experiment at the baseline's max
            base = scoring.baseline_of(variants).stats
            variants, again = _experiment(exp_rows, own, f"{facts['experiment']} at the baseline's max", claim,
                                          roles, [], out)
            again["scored_at"] = (f"Scored again at the baseline's own max accuracy ({own:.4f}, the median over its "
                                  f"seeds: the paper's baseline_max rule), because the target above "
                                  f"({facts['target']:.4f}) is beyond it: the baseline reaches that on "
                                  f"{base['reached']} of {base['scored']} seeds, so every speedup there is at "
                                  f"best a bound.")
            again["pairing"] = None  # said once, above
            experiments.append(again)
    profile = scoring.performance_profile(scored) if len(scored) > 1 else None
    plots = [_profile_plot(profile, name, out).name] if profile else []
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return {"suite": name, "description": source.description if source else "", "notes": notes,
            "profile": profile and {"scores": profile["scores"], "experiments": profile["experiments"]},
            "plots": plots,
            "experiments": experiments}


def _experiment(rows: list[dict], target: float | None, name: str, claim: tuple, roles: dict,
                samples: list[dict], out: Path) -> tuple[list[scoring.VariantScore], dict]:
    """One experiment scored at ``target``: its leaderboard, verdict, plots, failures and search."""
    variants, facts = scoring.score_experiment(rows, target)
    paper_claim, paper_speedup, differs = claim
    facts.update(experiment=name, task=rows[0]["task"], paper=paper_claim, paper_speedup=paper_speedup,
                 paper_differs=differs, scored_at=None)
    agreement = scoring.pre_jump_agreement(variants)
    chance = chance_accuracy(rows[0]["task"])
    facts["verdict"] = scoring.verdict(variants, roles, facts["budget"], paper_speedup, agreement, chance)
    facts["untrained"] = untrained_sentence(variants, chance)
    facts["pairing"] = pairing_sentence(rows, agreement)
    facts["guard_check"] = scoring.guard_check(variants)
    facts["plots"] = [p.name for p in _plots(name, variants, facts, out)]
    facts["failures"] = [f for v in variants for f in v.stats["failures"]]
    facts["search"] = search_outcome(samples, variants)
    facts["leaderboard"] = [{k: (v.variant if k == "variant" else v.forecaster if k == "forecaster" else
                                 v.params if k == "params" else v.jumps if k == "jumps" else v.stats[k])
                             for k in ROW_FIELDS} for v in variants]
    return variants, facts


def untrained_sentence(variants: list[scoring.VariantScore], chance: float | None) -> str | None:
    """The warning that an experiment's baseline never learned (scoring.untrained), whether or not a verdict
    is there to be left unjudged; None where it learned or chance is unknown."""
    base = scoring.baseline_of(variants)
    if base is None or not scoring.untrained(base, chance):
        return None
    return (f"**The baseline never learned**: its median max accuracy over seeds, "
            f"{base.stats['max_accuracy_median']:.2%}, is under {scoring.UNTRAINED:g}x chance ({chance:.2%}), so a "
            "target at its max is met by a net that learns nothing either: no comparison here is judged.")


def chance_accuracy(task: str) -> float | None:
    """1 / the task's classes: a constant guess's accuracy on balanced classes; None where unknown (an image
    folder's classes are counted on disk, which a report does not read)."""
    from tasks import create_task

    from .data import dataset_spec

    try:
        dataset = create_task(task).dataset
        return None if dataset.startswith("imagefolder:") else 1.0 / dataset_spec(dataset).num_classes
    except Exception:  # noqa: BLE001 - a task this machine cannot build (a plugin not installed) goes unchecked
        return None


def platform_name(summary: dict | None) -> str:
    """Where a trial ran, in words; a trial cut on one machine and resumed on another names each, in order."""
    summary = summary or {}
    if len(summary.get("platforms") or []) > 1:
        return " then ".join(platform_name({"platform": p}) for p in summary["platforms"])
    p = summary.get("platform")
    if not p:
        return "not recorded (run before trials recorded it)"
    # a CPU's vector kernels were recorded only later: without them, say so, so that the name does not read
    # as another machine than the same model with kernels named
    kernels = "" if p.get("gpu") else f" ({p['kernels']} kernels)" if p.get("kernels") else " (kernels not recorded)"
    return f"{p.get('gpu') or p['cpu']}{kernels}, torch {p['torch']}"


def pairing_sentence(rows: list[dict], agreement: dict | None) -> str | None:
    """Whether an experiment's paired speedups compare like with like: which machine made which trials, where
    more than one did (a CPU of another make rounds otherwise), and what scoring.pre_jump_agreement measured of
    the jumped trials' curves before their first jump against their seed's baseline's."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(platform_name(r["summary"]), []).append(r["label"])
    where = "; ".join(f"{name}: {labels_by_task(labels)}" for name, labels in sorted(groups.items()))
    if agreement is None:
        return None if len(groups) < 2 else (
            "Made on more than one platform, so one seed's curves may part before the first jump (float rounding "
            f"differs between them): {where}.")
    made = f" Made on more than one platform: {where}." if len(groups) > 1 else ""
    if not agreement["parted"]:
        return None if not made else (
            f"Before its first jump each of the {agreement['compared']} jumped trials evaluates exactly as its "
            "seed's baseline, so the paired speedups compare like with like." + made)
    parted = agreement["variants"]
    which = (", ".join(f"{v} {n} of {of}" for v, (n, of, _) in parted.items()) if len(parted) <= 4
             else f"in {len(parted)} variants")
    return (f"Before its first jump, {agreement['parted']} of {agreement['compared']} jumped trials already part "
            f"from their seed's baseline ({which}; by up to {agreement['max_gap']:.2f} points of accuracy), so "
            "their paired speedups hold that difference as well as the jumps' effect." + made)


# ---------------------------------------------------------------- cells

def _steps(v) -> str:
    return "never" if v is None else f"{v:.0f}"


def _reached(e: dict) -> str:
    return f"{e['reached']}/{e['scored']} reached"


def steps_cell(e: dict) -> str:
    if e["scored"] == 0:
        return "no result"
    med = _steps(e["steps_median"])
    spread = f" [{e['steps_min']}-{e['steps_max']}]" if e["reached"] > 1 and e["steps_min"] != e["steps_max"] else ""
    return f"{med}{spread} ({_reached(e)})"


def speedup_cell(e: dict) -> str:
    if e["forecaster"] == "none":
        return "reference"
    if e["speedup_median"] is None:
        return "n/a"
    bound = ">=" if e["speedup_median_is_bound"] else ""
    spread = f" [{e['speedup_min']:.2f}-{e['speedup_max']:.2f}]" if e["speedup_min"] != e["speedup_max"] else ""
    return f"{bound}{e['speedup_median']:.2f}x{spread} ({_reached(e)})"


def ci_cell(e: dict) -> str:
    ci = e["speedup_ci95"]
    return f"{ci[0]:.2f}-{ci[1]:.2f}x" if ci else "-"


def row_cells(e: dict) -> list[str]:
    acc = e["accuracy_at"]
    at = "/".join(f"{acc[f]:.3f}" if acc.get(f) is not None else "-" for f in scoring.FRACTIONS)
    top = e["max_accuracy_median"]
    top_cell = "-" if top is None else f"{top:.2%}" + (
        f" [{e['max_accuracy_min']:.2%}-{e['max_accuracy_max']:.2%}]" if e["max_accuracy_min"] != e["max_accuracy_max"]
        else "") + (f" ({e['stopped']} stopped at target)" if e.get("stopped") else "")
    name = e["variant"] + (" (TRAINED ON THIS TASK: not a fair score)" if e.get("trained_on_task") else "")
    return [name, f"{e['finished']}/{e['diverged']}/{e['failed']}", steps_cell(e),
            _steps(e["median_curve_step"]), speedup_cell(e), ci_cell(e), top_cell, at, lead_cell(e), *jump_cells(e),
            f"{e['wall_clock']:.1f}" if e["wall_clock"] is not None else "-",
            f"{e['forecast_seconds']:.3f}" if e["forecast_seconds"] is not None else "-"]


def lead_cell(e: dict) -> str:
    """scoring.lead_at in a cell: '+600/+300/0/-100' steps ahead of the baseline's median curve; '>+200' where
    the baseline never gets where the method is (ahead by more than 200), '<-700' where the method never gets
    where the baseline is; '-' where unknown; 'reference' for the baseline."""
    if e["forecaster"] == "none":
        return "reference"
    if not e.get("lead_at"):
        return "-"

    def cell(x: dict | None) -> str:
        if x is None:
            return "-"
        return (x["bound"] or "") + (f"{x['steps']:+d}" if x["steps"] else "0")
    return "/".join(cell(e["lead_at"][f]) for f in scoring.FRACTIONS)


def jump_cells(e: dict) -> list[str]:
    """A jump's immediate cost in accuracy points (median, worst) and where the next regular evaluation stands
    against the pre-jump accuracy, and the median jump's size; '-' for a variant that never jumps."""
    if not e.get("jumps_made"):
        return ["-", "-", "-"]
    nxt = e["jump_next_eval_median"]
    cost = f"{e['jump_drop_median']:+.2f} ({e['jump_drop_worst']:+.2f}) / " + ("-" if nxt is None else f"{nxt:+.2f}")
    guard = e.get("guard_decisions")
    said = ""
    if guard:  # each rule's own decisions (jumps.GUARD_DECISIONS), in its order
        said = f" (guard: {', '.join(f'{n} {d}' for d, n in guard.items())})"
    size = e.get("jump_size_median")
    return [cost, f"{e['jump_recovered']}/{e['jump_followed']}{said}", "-" if size is None else f"{size:.2e}"]


def _score(value) -> str:
    return "-" if value is None else f"{value:g}"


def _brief(stats: dict | None) -> str:
    if not stats:
        return "not run yet"
    return f"{_steps(stats['steps_median'])} steps to target ({stats['reached']}/{stats['scored']} reached)"


def search_sentence(found: dict) -> str:
    head = (f"Search for {found['forecaster']}: {found['samples']} samples ({found['stopped']} stopped early by "
            f"the scheduler, {found['failed']} failed).")
    if not found["best"]:
        return head + " No sample finished."
    return (f"{head} Best found: `{found['best']}`, {_brief(found['best_stats'])} over its seeds; the suite's "
            f"schedule `{found['reference'] or '-'}`: {_brief(found['reference_stats'])}.")


def _times(c: dict) -> str:
    """A comparison's paired median: '1.32x', or '>=1.32x' when it rests on a seed the reference missed."""
    return f"{'>=' if c['median_is_bound'] else ''}{c['median']:.2f}x"


def plain(text: str) -> str:
    """Markdown's code marks dropped, for HTML and the console."""
    return text.replace("`", "")


def _ratio(c: dict) -> str:
    if c["median"] is None:
        return "n/a"
    ci = f" [95% CI {c['ci95'][0]:.2f}-{c['ci95'][1]:.2f}]" if c["ci95"] else ""
    seeds = "on 1 seed" if c["seeds"] == 1 else f"over {c['seeds']} paired seeds"
    return f"{_times(c)}{ci} {seeds}"


class Words(NamedTuple):
    """How the report words one outcome of scoring.decide, in each place it says it."""
    reproduced: str  # the verdict's first word: does the paper's claim hold?
    vs_baseline: str  # "`method` ..." against the baseline
    vs_control: str  # "it ... `control`" (a verb)
    glance_baseline: str  # the at-a-glance table's "faster than the baseline?"
    glance_control: str  # and its "beats the controls?"


_FEW = f"fewer than {scoring.MIN_PAIRED_SEEDS} paired seeds"
WORDS = {
    "faster": Words("Reproduced", "reaches the target sooner than the baseline", "beats", "yes", "yes"),
    "slower": Words("Not reproduced", "reaches the target later than the baseline", "loses to", "no: slower",
                    "no: loses"),
    "unclear": Words("Not shown", "is not clearly faster or slower than the baseline (the interval spans 1.0)",
                     "does not beat", "not shown: the interval spans 1.0", "no: the interval spans 1.0"),
    "too few seeds": Words("Not judged", f"cannot be judged against the baseline yet ({_FEW})",
                           "cannot be judged against", f"not judged: < {scoring.MIN_PAIRED_SEEDS} seeds",
                           f"not judged: < {scoring.MIN_PAIRED_SEEDS} seeds"),
    "neither reached": Words("Not reproduced", "and the baseline both miss the target on every seed",
                             "misses the target as does", "no: neither reaches the target",
                             "no: neither reaches the target"),
    "missed alike": Words("Not shown", "is not shown faster or slower than the baseline", "does not beat",
                          "not shown: both miss on the seeds that decide it",
                          "no: both miss on the seeds that decide it"),
    scoring.UNTRAINED_OUTCOME: Words("Not judged", "cannot be judged: the baseline never learned",
                                     "cannot be judged against", "not judged: the baseline never learned",
                                     "not judged: the baseline never learned"),
}


def _vs_baseline(c: dict) -> str:
    """WORDS' "`method` ..." against the baseline; a method that never reaches the target, or does on fewer
    seeds, is not just "later"."""
    if c["outcome"] == "slower" and c.get("method_reached") == 0:
        return (f"never reaches the target, where the baseline does on {c['reference_reached']} of its "
                f"{c['seeds']} seeds")
    if c["outcome"] == "slower" and c.get("method_reached", 0) < c.get("reference_reached", 0):
        return (f"reaches the target on {c['method_reached']} of its {c['seeds']} seeds, where the baseline does "
                f"on {c['reference_reached']}")
    return WORDS[c["outcome"]].vs_baseline + _missed_alike(c, "the baseline")


def _missed_alike(c: dict, reference: str) -> str:
    """Where seeds both sides miss hold the paired median under 1 ('missed alike'): how often each reached."""
    if c["outcome"] != "missed alike":
        return ""
    return (f": it reaches the target on {c['method_reached']} of {c['seeds']} seeds, {reference} on "
            f"{c['reference_reached']}, and the seeds both miss (each scored 0) hold the median under 1")


def _against(c: dict) -> str:
    """One comparison with a control in words: "<verb> `control` (ratio)"."""
    ref = f"`{c['reference']}`"
    return f"{WORDS[c['outcome']].vs_control} {ref}{_missed_alike(c, ref)} ({_ratio(c)})"


def verdict_sentence(v: dict) -> str:
    """scoring.verdict in words: reproduced or not, and whether the learned forecaster beat the controls."""
    base = WORDS[v["baseline"]["outcome"]]
    paper = ""
    if v["paper_speedup"] is not None:
        where = ("inside" if v["paper_in_ci"] else "outside") if v["paper_in_ci"] is not None else "not comparable to"
        paper = f"; the paper's {v['paper_speedup']:.2f}x is {where} our interval"
    text = f"**{base.reproduced}**: `{v['method']}` {_vs_baseline(v['baseline'])} ({_ratio(v['baseline'])}){paper}."
    if not v["controls"]:
        return text + " No parameter-free control ran beside it."
    parts = [_against(c) for c in v["controls"]]
    text += " Against the controls on the same seeds, it " + "; ".join(parts) + "."
    return text + held_sentence(v)


# the other learned forecasters' comparisons: a table, where in the verdict's sentence (cifar1: 18 of them) they
# buried it
OTHERS_NOTE = ("The other learned forecasters against each control that jumps as they do (guarded or not), paired "
               "by seed as above:")
OTHERS_COLUMNS = ["learned forecaster", "control", "vs that control, paired [95% CI]", "beats it?"]


def others_rows(v: dict) -> list[list[str]]:
    """A verdict's other learned forecasters (scoring.verdict's 'others'), one row per control each faced."""
    return [[f"`{c['method']}`", f"`{c['reference']}`", _short(c), WORDS[c["outcome"]].glance_control]
            for c in v.get("others") or []]


def held_sentence(v: dict) -> str:
    """The verdict again over only the pairs that hold until the first jump (scoring's held pairs), where
    some parted; '' where none did."""
    held = v.get("held")
    if not held:
        return ""
    b = held["baseline"]
    if not b["seeds"]:
        return (f" No seed of `{v['method']}` evaluates as its baseline until the first jump, so none of these "
                "comparisons is paired in effect.")
    text = (" Over only the seeds whose trials evaluate exactly as the baseline's until the first jump, where a pair "
            f"compares the jumps alone: `{v['method']}` {_vs_baseline(b)} ({_ratio(b)})")
    parts = [_against(c) for c in held["controls"] if c["seeds"]]
    # the controls with no pair to compare on in one clause, so each is not said again with nothing to add
    unpaired = [f"`{c['reference']}`" for c in held["controls"] if not c["seeds"]]
    if unpaired:
        parts.append(f"has no seed on which both its pair and that of {either(unpaired)} hold")
    return text + ("; it " + "; ".join(parts) if parts else "") + "."


GLANCE_COLUMNS = ["suite", "experiment", "best learned forecaster", "vs baseline, paired [95% CI]", "paper",
                  "faster than the baseline?", "hardest control", "vs that control, paired [95% CI]",
                  "beats the controls?", "pairs held"]


def _short(c: dict | None) -> str:
    if c is None or c["median"] is None:
        return "-"
    ci = f" [{c['ci95'][0]:.2f}-{c['ci95'][1]:.2f}]" if c["ci95"] else ""
    return f"{_times(c)}{ci}, {c['seeds']} seed{'s' if c['seeds'] != 1 else ''}"


def glance_rows(suites: list[dict]) -> list[list[str]]:
    """One row per judged experiment: its verdict's forecaster against the baseline, and against the control
    it fares worst against (scoring.hardest_control). Experiments with no verdict have no row."""
    rows = []
    for s in suites:
        for exp in s["experiments"]:
            v = exp.get("verdict")
            if not v:
                continue
            hard = scoring.hardest_control(v)
            paper = f"{v['paper_speedup']:.2f}x" if v["paper_speedup"] is not None else "-"
            rows.append([s["suite"], exp["experiment"], f"`{v['method']}`", _short(v["baseline"]), paper,
                         WORDS[v["baseline"]["outcome"]].glance_baseline,
                         f"`{hard['reference']}`" if hard else "none ran", _short(hard),
                         WORDS[hard["outcome"]].glance_control if hard else "-", held_cell(v, hard)])
    return rows


def held_cell(v: dict, hard: dict | None) -> str:
    """Of the seeds a verdict's two comparisons rest on, how many compare like with like (the trials evaluate as
    their baseline's until the first jump): 'all', or 'k of n' for each."""
    held = v.get("held") or {"baseline": v["baseline"], "controls": v["controls"]}
    theirs = next((c for c in held["controls"] if hard and c["reference"] == hard["reference"]), None)
    counts = [(held["baseline"]["seeds"], v["baseline"]["seeds"])] + ([(theirs["seeds"], hard["seeds"])] if theirs
                                                                       else [])
    return "all" if all(k == n for k, n in counts) else "; ".join(f"{k} of {n}" for k, n in counts)


GUARD_COLUMNS = ["suite", "experiment", "guard", "variants", "jumps",
                 f"more than {scoring.JUMP_DROP_BAR:g} point below right after", "worst drop, points (variant)",
                 f"within {scoring.JUMP_DROP_BAR:g} point?"]
GUARD_NOTE = (f"Does a guarded jump cost at most {scoring.JUMP_DROP_BAR:g} point of test accuracy right away? Every "
              "jump of each experiment's guarded variants, by guard: the test accuracy at the evaluation just after "
              "the jump (and its guard's decision) against the one just before. '+guard' halves or undoes a jump "
              "that raises the loss on fixed training batches, '+guard=line' scales it; '+guard=settle' judges "
              "the jump later, so its drop right after is the jump's own.")


def guard_rows(suites: list[dict]) -> list[list[str]]:
    """scoring.guard_check of every experiment with guarded jumps, a row per guard rule (an experiment scored
    again at another target has the same jumps, so it has no rows of its own)."""
    rows = []
    for s in suites:
        for exp in s["experiments"]:
            if exp.get("scored_at"):
                continue
            for g in exp.get("guard_check") or []:
                within = "yes" if not g["over_bar"] else f"no: {g['over_bar']} of {g['jumps']}"
                rows.append([s["suite"], exp["experiment"], g["rule"], str(g["variants"]), str(g["jumps"]),
                             str(g["over_bar"]), f"{g['worst']:+.2f} (`{g['worst_variant']}`)", within])
    return rows


def _title(exp: dict) -> str:
    tgt = f"{exp['target']:.4f}" if exp["target"] else "none"
    return f"{exp['experiment']} (target {tgt}, budget {exp['budget']} steps)"


RULES = ("Ranked by the censored median of steps to target over seeds (a seed that never reaches the target counts "
         "as infinitely slow, never dropped; 'never' when the median is a miss). In the leaderboards a bracket "
         "after a median is its range over seeds (min-max), not an interval; the paired speedup's 95% interval has "
         "a column of its own ('speedup 95% CI'), and the verdicts' brackets are that interval. Crossings are "
         "counted on the regular evaluation grid only. Speedup is paired by seed: baseline steps / method steps, a "
         "method miss scores 0, '>=' marks a median resting on a seed whose baseline missed (budget / method "
         "steps). A trial run with stop_at_target ends at its first grid evaluation at the target: its max accuracy "
         "is only what it had then, its accuracy at later budgets is unknown ('-'), and its median curve holds that "
         "accuracy. 'Steps ahead' at 25/50/75/100% of the budget: where the method's median curve has the higher "
         "best-so-far accuracy there, how many more steps the baseline's median curve takes to first reach it; "
         "where the baseline's is higher, minus how many more steps the method takes to first reach the baseline's "
         "('>' or '<' where the trailing curve never does within the budget: ahead or behind by more than that): "
         "whether a method's lead lasts or the baseline makes it up.")


# ---------------------------------------------------------------- Markdown and HTML

def md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines (a cell's '|' would end it early: written '/')."""
    return (["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
            + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows])


SEARCH_COLUMNS = ["sample", "score", "status"]


def search_rows(found: dict) -> list[list[str]]:
    """A search's ten best samples."""
    return [[r["label"], _score(r["score"]), r["status"]] for r in found["ranked"][:10]]


def html_table(columns: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(plain(str(c)))}</td>" for c in row) + "</tr>"
                      for row in rows) + "</table>")


class Block(NamedTuple):
    """One piece of an experiment's section: 'text' (a paragraph; 'note' and 'fail' are paragraphs HTML colours),
    'table' (columns and rows), 'items' (a bulleted list of rows) or 'plots' (file names in rows)."""
    kind: str
    text: str = ""
    columns: tuple | list = ()
    rows: tuple | list = ()


def experiment_blocks(exp: dict, search_tables: bool = True) -> list[Block]:
    """An experiment's section in order, laid out once for report.md, report.html and RESULTS.md (which lists a
    search's sentence without its table of samples: search_tables=False)."""
    blocks = [Block("text", f"Paper: {exp['paper']}")] if exp.get("paper") else []
    if exp.get("paper_differs"):
        blocks.append(Block("text", f"What differs from the paper: {exp['paper_differs']}"))
    if exp.get("scored_at"):
        blocks.append(Block("text", exp["scored_at"]))
    if exp.get("untrained"):
        blocks.append(Block("fail", exp["untrained"]))
    if exp.get("verdict"):
        blocks.append(Block("text", verdict_sentence(exp["verdict"])))
        others = others_rows(exp["verdict"])
        if others:
            blocks += [Block("text", OTHERS_NOTE), Block("table", columns=OTHERS_COLUMNS, rows=others)]
    if exp.get("pairing"):
        blocks.append(Block("note", exp["pairing"]))
    blocks.append(Block("table", columns=COLUMNS, rows=[row_cells(e) for e in exp["leaderboard"]]))
    if exp["failures"]:
        blocks += [Block("fail", "Failed trials:"), Block("items", rows=failure_lines(exp["failures"]))]
    for found in exp["search"]:
        blocks.append(Block("text", search_sentence(found)))
        if search_tables:
            blocks.append(Block("table", columns=SEARCH_COLUMNS, rows=search_rows(found)))
    return blocks + [Block("plots", rows=exp["plots"])]


def md_block(block: Block, plot_dir: str | None = None) -> str:
    """A block in Markdown, ending in the blank line that closes it; plots are linked under plot_dir."""
    if block.kind == "table":
        lines = md_table(block.columns, block.rows)
    elif block.kind == "items":
        lines = [f"- {row}" for row in block.rows]
    elif block.kind == "plots":
        lines = [f"![{p}]({plot_dir}/{p})" if plot_dir else f"![{p}]({p})" for p in block.rows]
    else:
        lines = [block.text]
    return "\n".join(lines + [""])


def html_block(block: Block, out: Path) -> str:
    if block.kind == "table":
        return html_table(block.columns, block.rows)
    if block.kind == "items":
        return "<ul>" + "".join(f"<li>{html.escape(plain(row))}</li>" for row in block.rows) + "</ul>"
    if block.kind == "plots":
        return "\n".join(_img(out, p) for p in block.rows)
    css = f" class='{block.kind}'" if block.kind in ("note", "fail") else ""
    return f"<p{css}>{html.escape(plain(block.text.replace('**', '')))}</p>"


def _markdown(report: dict) -> str:
    lines = ["# introbench leaderboard", "", f"From `{report['store']}`. {RULES}", ""]
    glance = glance_rows(report["suites"])
    if glance:
        lines += ["## At a glance", ""] + md_table(GLANCE_COLUMNS, glance) + [""]
    guarded = guard_rows(report["suites"])
    if guarded:
        lines += ["## Guarded jumps", "", GUARD_NOTE, ""] + md_table(GUARD_COLUMNS, guarded) + [""]
    for s in report["suites"]:
        lines += [f"## Suite `{s['suite']}`", ""]
        lines += [f"> note: {n}" for n in s["notes"]] + ([""] if s["notes"] else [])
        for exp in s["experiments"]:
            lines += [f"### {_title(exp)}", ""] + [md_block(b) for b in experiment_blocks(exp)]
        if s["profile"]:
            lines += ["### Performance profile", "", PROFILE_NOTE, "", "| forecaster | score | experiments run |",
                      "| --- | --- | --- |"]
            lines += [f"| {n} | {v:.3f} | {k} |" for n, v, k in profile_rows(s["profile"])]
            lines += [""] + [f"![{p}]({p})" for p in s["plots"]] + [""]
    return "\n".join(lines)


def failure_lines(failures: list[dict]) -> list[str]:
    """One line per distinct error, naming the trials it failed (in the order they are listed): a broken
    machine fails many trials alike, and their list should not bury the leaderboard."""
    by_error: dict[str, list[str]] = {}
    for f in failures:
        by_error.setdefault(str(f["error"]), []).append(f["label"])
    return [f"`{labels[0]}`: {error}" if len(labels) == 1 else
            f"{error} ({len(labels)} trials: {', '.join(f'`{label}`' for label in labels)})"
            for error, labels in by_error.items()]


def write_document(reports: list[tuple[str, dict]], document: str | Path) -> Path:
    """docs/RESULTS.md: the results template filled from built reports, one (--results as given, report) per
    store; plots are linked where each report wrote them, relative to the document."""
    import jinja2

    document = Path(document)
    suites = []
    for source, report in reports:
        plot_dir = Path(os.path.relpath(Path(report["out"]), document.parent)).as_posix()
        suites.extend({**s, "source": source, "plot_dir": plot_dir} for s in report["suites"])
    env = jinja2.Environment(loader=jinja2.PackageLoader("benchmark", "templates"), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    text = env.get_template("results.md.j2").render(
        suites=suites, sources=[src for src, _ in reports], document=Path(os.path.relpath(document)).as_posix(),
        rules=RULES, glance_columns=GLANCE_COLUMNS, glance=glance_rows(suites),
        guard_note=GUARD_NOTE, guard_columns=GUARD_COLUMNS, guarded=guard_rows(suites),
        title=_title, md_table=md_table, experiment_blocks=experiment_blocks, md_block=md_block)
    document.parent.mkdir(parents=True, exist_ok=True)
    tmp = document.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, document)
    return document


def _img(out: Path, name: str) -> str:
    data = base64.b64encode((out / name).read_bytes()).decode()
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(report: dict, out: Path) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>introbench leaderboard</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}.note{color:#a60}.fail{color:#b00}</style>",
             f"<h1>introbench leaderboard</h1><p>From <code>{html.escape(report['store'])}</code>. "
             f"{html.escape(RULES)}</p>"]
    glance = glance_rows(report["suites"])
    if glance:
        parts.append("<h2>At a glance</h2>" + html_table(GLANCE_COLUMNS, glance))
    guarded = guard_rows(report["suites"])
    if guarded:
        parts.append(f"<h2>Guarded jumps</h2><p>{html.escape(GUARD_NOTE)}</p>" + html_table(GUARD_COLUMNS, guarded))
    for s in report["suites"]:
        parts.append(f"<h2>Suite {html.escape(s['suite'])}</h2>")
        parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in s["notes"]]
        for exp in s["experiments"]:
            parts.append(f"<h3>{html.escape(_title(exp))}</h3>")
            parts += [html_block(b, out) for b in experiment_blocks(exp) if b.rows or b.kind != "plots"]
        if s["profile"]:
            parts.append(f"<h3>Performance profile</h3><p>{html.escape(PROFILE_NOTE)}</p><ul>" + "".join(
                f"<li>{html.escape(n)}: {v:.3f} ({k} experiments run)</li>" for n, v, k in profile_rows(s["profile"]))
                + "</ul>")
            parts += [_img(out, p) for p in s["plots"]]
    return "\n".join(parts)


# ---------------------------------------------------------------- plots

def _plots(name: str, variants: list[scoring.VariantScore], facts: dict, out: Path) -> list[Path]:
    import numpy as np

    plt = pyplot()
    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.cm.tab10(np.arange(len(variants)) % 10)
    tops = []
    for color, v in zip(colors, variants):
        med = v.stats["median_curve"]
        if not med:
            continue
        grids = v.stats["grid_curves"]
        steps = [p["step"] for p in med]
        per_step = [[p["accuracy"] for g in grids for p in g if p["step"] == s] for s in steps]
        ax.plot(steps, [p["accuracy"] for p in med], color=color, lw=1.3,
                label=f"{v.variant} ({v.stats['reached']}/{v.stats['scored']} reached)")
        tops.append(max(p["accuracy"] for p in med))
        if len(grids) > 1:
            ax.fill_between(steps, [min(a) for a in per_step], [max(a) for a in per_step], color=color, alpha=0.15)
        for j in v.jumps if v.forecaster != "none" else []:
            ax.axvline(j, color=color, ls="--", lw=0.8, alpha=0.7)
    if facts["target"]:
        ax.axhline(facts["target"], color="black", lw=0.8, ls=":", label=f"target {facts['target']:.4f}")
    if tops:
        ax.set_ylim(max(0.0, max(tops) - 0.12), min(1.0, max(tops) + 0.01))
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(f"{name}: median over seeds on the evaluation grid (band: min-max), dashed lines: jumps", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    paths.append(_save_plot(fig, out, slug, "accuracy"))

    with_speedup = [v for v in variants if v.stats["speedup_median"] is not None]
    if with_speedup:
        fig, ax = plt.subplots(figsize=(8, 1.6 + 0.35 * len(with_speedup)))
        meds = [v.stats["speedup_median"] for v in with_speedup]
        cis = [v.stats["speedup_ci95"] or (m, m) for v, m in zip(with_speedup, meds)]
        y = np.arange(len(with_speedup))
        ax.barh(y, meds, xerr=[[m - lo for m, (lo, _) in zip(meds, cis)], [hi - m for m, (_, hi) in zip(meds, cis)]],
                color="#3b6ea8", capsize=3)
        for yi, v in zip(y, with_speedup):  # every seed's paired speedup, misses at 0
            ax.scatter(v.stats["speedup_per_seed"], [yi] * len(v.stats["speedup_per_seed"]), color="black", s=8,
                       zorder=3)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_yticks(y, [f"{v.variant} ({v.stats['reached']}/{v.stats['scored']})" for v in with_speedup], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("paired speedup over the baseline\n(bar: median, whiskers: bootstrap 95% CI, dots: seeds, a miss at 0)",
                      fontsize=8)
        ax.set_title(name, fontsize=9)
        paths.append(_save_plot(fig, out, slug, "speedup"))
    paths.extend(_schedule_heatmaps(name, slug, variants, out))
    return paths


def _file_part(variant: str) -> str:
    """A variant as part of a file name: 'extrapolate(ratio=1.3) +guard' -> 'extrapolate_ratio1.3--guard'."""
    text = variant.replace("(", "_").replace(")", "").replace("=", "")
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text)


def heatmap_labels(cells: dict, firsts: list, intervals: list) -> dict[tuple[int, int], tuple[str, str]]:
    """Each heat-map cell's (row, column) -> its text and colour: the steps, 'never' where the schedule ran and
    missed the target, 'not run' where no variant has that schedule (a suite need not run every pair)."""
    out = {}
    for yi, i in enumerate(intervals):
        for xi, f in enumerate(firsts):
            if (f, i) not in cells:
                out[yi, xi] = ("not run", "gray")
            else:  # a table's steps cell, as the leaderboard writes it
                out[yi, xi] = (_steps(cells[f, i]), "red" if cells[f, i] is None else "black")
    return out


def _schedule_heatmaps(name, slug, variants, out) -> list[Path]:
    """For schedule sweeps: censored median steps-to-target over first jump x interval, per forecaster and count."""
    import numpy as np
    from matplotlib import patheffects

    plt = pyplot()

    groups: dict[tuple[str, int, tuple], dict[tuple[int, int], float | None]] = {}
    for v in variants:
        if v.forecaster == "none" or len(v.jumps) < 2:
            continue
        first, interval = v.jumps[0], v.jumps[1] - v.jumps[0]
        # a cell is (first jump, first interval): schedules that space their later jumps otherwise (paper-cifar's
        # Set 3, 12000/15000/19000) get a map of their own rather than share, and overwrite, a cell
        later = tuple(b - a - interval for a, b in zip(v.jumps[1:], v.jumps[2:]))
        key = (scoring.without_schedule(v.variant), len(v.jumps), later)
        groups.setdefault(key, {})[(first, interval)] = v.stats["steps_median"]
    paths = []
    for (fname, count, later), cells in groups.items():
        firsts = sorted({f for f, _ in cells})
        intervals = sorted({i for _, i in cells})
        if len(firsts) < 2 or len(intervals) < 2:
            continue
        grid = np.full((len(intervals), len(firsts)), np.nan)
        for (f, i), v in cells.items():
            if v is not None:
                grid[intervals.index(i), firsts.index(f)] = v
        # no smaller than the title and the colour bar's label: a 2x2 map cut both off
        fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 1.1 * len(firsts)), max(3.2, 1.2 + 0.8 * len(intervals))))
        im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
        ax.set_xticks(range(len(firsts)), firsts)
        ax.set_yticks(range(len(intervals)), intervals)
        ax.set_xlabel("first jump")
        ax.set_ylabel("interval")
        for (yi, xi), (text, color) in heatmap_labels(cells, firsts, intervals).items():
            ax.text(xi, yi, text, ha="center", va="center", fontsize=7, color=color,
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
        fig.colorbar(im, ax=ax, label="censored median steps to target")
        spaced = "" if not any(later) else ", later intervals " + "/".join(f"{d:+d}" for d in later)
        ax.set_title(f"{name}: {fname}, {count} jumps{spaced}", fontsize=9)
        stem = f"{slug}-{_file_part(fname)}-{count}jumps" + (f"-later{'_'.join(map(str, later))}" if spaced else "")
        paths.append(_save_plot(fig, out, stem, "heatmap"))
    return paths


PROFILE_NOTE = ("Each variant (its jump points aside) over the experiments it ran on: the fraction where its censored "
                "median steps to target is within a factor tau of the best there; the score is the area under that "
                "curve for tau in [1, 4], 1 being the best on every experiment it ran. Scores over different "
                "experiments do not compare: the variants that ran on the most come first, and the plot shows those "
                "that ran on at least half of the suite's experiments.")


def profile_rows(profile: dict) -> list[tuple[str, float, int]]:
    """(variant, score, experiments it ran on): those that ran on the most experiments first, then by score."""
    return sorted(((n, v, profile["experiments"][n]) for n, v in profile["scores"].items()),
                  key=lambda r: (-r[2], -r[1]))


def _profile_plot(profile: dict, suite: str, out: Path) -> Path:
    plt = pyplot()

    most = max(profile["experiments"].values())
    shown = [r for r in profile_rows(profile) if 2 * r[2] >= most]
    many = len(shown) > 8  # a long legend goes beside the axes, not over the curves
    fig, ax = plt.subplots(figsize=(11, 5) if many else (7, 4.2))
    colors = plt.cm.tab20.colors if len(shown) > 10 else plt.cm.tab10.colors  # no two curves share a colour
    for i, (name, score, runs) in enumerate(shown):
        ax.step(profile["taus"], profile["curves"][name], where="post", color=colors[i % len(colors)],
                label=f"{name} ({score:.2f}, {runs} exp.)")
    ax.set_xlabel("tau: within this factor of the best censored median steps to target")
    ax.set_ylabel("fraction of the experiments it ran on")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{suite}: performance profile (AlgoPerf style; a 'never' is infinitely slow)", fontsize=9)
    if many:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=7)
    return _save_plot(fig, out, suite, "profile")


# ---------------------------------------------------------------- W&B

def _log_wandb(report: dict, results: Path, requested: str) -> dict:
    """The leaderboard as a W&B Table in a `leaderboard` run of each suite's group; a W&B report when online."""
    from .tracking import open_run, resolve_mode, wandb_environment

    mode, note = resolve_mode(requested)
    if mode == "disabled":
        return {"mode": mode}
    import wandb

    runs = []
    with wandb_environment(results, mode) as env:
        for s in report["suites"]:
            run = open_run(mode, s["suite"], env["WANDB_DIR"], name=f"leaderboard {s['suite']}",
                           job_type="leaderboard")
            table = wandb.Table(columns=["experiment"] + COLUMNS)
            for exp in s["experiments"]:
                for e in exp["leaderboard"]:
                    table.add_data(exp["experiment"], *row_cells(e))
            run.log({"leaderboard": table})
            run.summary.update({speedup_metric(exp["experiment"], e["variant"]): e["speedup_median"]
                                for exp in s["experiments"] for e in exp["leaderboard"]
                                if e["speedup_median"] is not None})
            runs.append(str(Path(run.dir).parent))
            run.finish()
    if mode != "online":
        print("W&B: offline, so the leaderboard is a local W&B Table only (no W&B report); "
              "`wandb sync` uploads it later" + (f" ({note})" if note else ""), file=sys.stderr)
        return {"mode": mode, "runs": runs, "report": None}
    try:
        rep = wandb_report(report, entity=os.environ.get("WANDB_ENTITY") or wandb.Api().default_entity)
        rep.save()
        return {"mode": mode, "runs": runs, "report": rep.url}
    except Exception as exc:  # noqa: BLE001 - the Table is logged whatever the reports API says
        print(f"W&B: the leaderboard Table is logged, but no W&B report was made ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return {"mode": mode, "runs": runs, "report": None}


def speedup_metric(experiment: str, variant: str) -> str:
    return f"speedup/{experiment}/{variant}"


def wandb_report(report: dict, entity: str):
    """The W&B Report of a leaderboard (built here, saved by the caller when online): per suite, the
    leaderboard Table, accuracy against step grouped by forecaster (median over seeds, min-max band), the
    median paired speedups as bars, and each experiment's section (verdict, leaderboard, failed trials) as
    Markdown, laid out as report.md lays it out."""
    import wandb_workspaces.reports.v2 as wr

    from .tracking import PROJECT

    blocks = [wr.H1("introbench leaderboard"), wr.P(RULES)]
    for s in report["suites"]:
        trials = wr.Runset(entity=entity, project=PROJECT, name=f"{s['suite']} trials",
                           filters=f"Group = '{s['suite']}' and JobType != 'leaderboard'")
        board = wr.Runset(entity=entity, project=PROJECT, name=f"{s['suite']} leaderboard",
                          filters=f"Group = '{s['suite']}' and JobType = 'leaderboard'")
        speedups = [speedup_metric(exp["experiment"], e["variant"]) for exp in s["experiments"]
                    for e in exp["leaderboard"] if e["speedup_median"] is not None]
        blocks += [
            wr.H2(f"Suite {s['suite']}"),
            wr.PanelGrid(runsets=[board], panels=[wr.WeavePanelSummaryTable(table_name="leaderboard"),
                                                  wr.BarPlot(title="paired speedup, median over seeds",
                                                             metrics=speedups)]),
            wr.PanelGrid(runsets=[trials], panels=[
                wr.LinePlot(title="accuracy (median over seeds, min-max)", x="Step", y=["accuracy"],
                            groupby="config.forecaster", groupby_aggfunc="median", groupby_rangefunc="minmax")]),
        ]
        for exp in s["experiments"]:
            # the plots are local files: the panels above draw the same from the runs
            section = "\n".join(md_block(b) for b in experiment_blocks(exp) if b.kind != "plots")
            blocks += [wr.H3(_title(exp)), wr.MarkdownBlock(text=section)]
    return wr.Report(project=PROJECT, entity=entity, title="introbench leaderboard",
                     description="Made by `introbench report` from the results store.", blocks=blocks)
