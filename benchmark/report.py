"""`introbench report`: leaderboards, plots and a performance profile, read from the results store only.

It never trains. Per experiment (a task, maybe with a swapped optimizer) each forecaster variant gets:
seeds finished / diverged / failed, steps_to_target median [min-max], the step where the median curve over
seeds reaches the target, speedup over the same suite's baseline [min-max over seeds], max accuracy and its
step, wall-clock and forecasting time. steps_to_target is recomputed here from the stored curves against
one target per experiment (the baseline_max value the suite used, else the task's target), so baselines and
methods are measured alike.
"""

from __future__ import annotations

import base64
import html
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics
from .errors import IntrobenchError
from .store import ResultsStore


@dataclass
class Entry:
    """One forecaster variant of one experiment, over its seeds."""

    variant: str
    forecaster: str
    params: dict
    jumps: list[int]
    rows: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def _variant(row: dict) -> tuple[str, dict, list[int]]:
    cfg = row["config"]
    params = cfg.get("forecaster_params") or {}
    label = cfg["forecaster"] + (f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")
    jumps = (row["summary"] or {}).get("jump_points") or cfg.get("jumps") or []
    if cfg["forecaster"] != "none" and jumps:
        label += " @" + "/".join(str(j) for j in jumps)
    return label, params, list(jumps)


def _experiment_name(rows: list[dict]) -> str:
    cfg = rows[0]["config"]
    return cfg["task"] + (f" [{cfg['optimizer']}]" if cfg.get("optimizer") else "")


def _target(rows: list[dict]) -> float | None:
    fixed = [r["config"]["target"] for r in rows if r["config"].get("target") is not None]
    if fixed:
        return fixed[0]
    return next((r["summary"]["target"] for r in rows if r["summary"] and r["summary"].get("target")), None)


def _spread(values: list[float]) -> tuple[float | None, float | None, float | None]:
    vals = [v for v in values if v is not None]
    return (metrics.median(vals), min(vals), max(vals)) if vals else (None, None, None)


def leaderboard(rows: list[dict]) -> tuple[list[Entry], dict]:
    """Entries of one experiment, sorted by speedup (never-reached last), and the experiment's facts."""
    target = _target(rows)
    entries: dict[str, Entry] = {}
    for r in rows:
        label, params, jumps = _variant(r)
        entries.setdefault(label, Entry(label, r["forecaster"], params, jumps)).rows.append(r)
    baseline = next((e for e in entries.values() if e.forecaster == "none"), None)
    for e in entries.values():
        ok = [r for r in e.rows if r["status"] in ("finished", "diverged") and r["curve"]]
        steps = [metrics.steps_to_target([p for p in r["curve"] if p["phase"] != "diverged"], target) for r in ok]
        e.stats = {
            "seeds": len(e.rows),
            "finished": sum(r["status"] == "finished" for r in e.rows),
            "diverged": sum(r["status"] == "diverged" for r in e.rows),
            "failed": sum(r["status"] == "failed" for r in e.rows),
            "errors": sorted({r["error"] for r in e.rows if r["error"]}),
            "steps_per_seed": steps,
            "reached": sum(s is not None for s in steps),
            "steps_to_target": _spread(steps),
            "median_curve_step": metrics.steps_to_target(metrics.median_curve([r["curve"] for r in ok]), target)
            if ok else None,
            "max_accuracy": _spread([r["summary"]["max_accuracy"] for r in ok]),
            "max_accuracy_step": metrics.median([r["summary"]["max_accuracy_step"] for r in ok]),
            "wall_clock": metrics.median([r["summary"]["wall_clock"] for r in ok]),
            "forecast_seconds": metrics.median([r["summary"].get("forecast_seconds", 0.0) for r in ok]),
            "accuracy_at": {f: metrics.median([r["summary"]["accuracy_at"][f] for r in ok])
                            for f in ("25", "50", "75", "100")} if ok else {},
        }
    reference = baseline.stats["steps_to_target"][0] if baseline else None
    for e in entries.values():
        speedups = [reference / s for s in e.stats["steps_per_seed"] if s] if reference else []
        e.stats["speedup"] = _spread(speedups) if speedups else (None, None, None)
    ranked = sorted(entries.values(), key=lambda e: (e.stats["speedup"][0] is None, -(e.stats["speedup"][0] or 0),
                                                     e.variant))
    facts = {"experiment": _experiment_name(rows), "task": rows[0]["task"], "target": target,
             "baseline": baseline is not None, "baseline_steps": reference,
             "steps": rows[0]["summary"]["steps"] if rows[0]["summary"] else None}
    return ranked, facts


def performance_profile(experiments: list[tuple[list[Entry], dict]], taus=None) -> dict:
    """AlgoPerf-style: for each forecaster variant, the fraction of experiments where its median steps_to_target
    is within a factor tau of the best variant there (never reaching counts as infinitely slow)."""
    taus = taus or [1 + i * 0.05 for i in range(61)]  # 1.0 .. 4.0
    names = sorted({e.variant.split(" @")[0] for entries, _ in experiments for e in entries})
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for entries, _ in experiments:
        by_name: dict[str, float] = {}
        for e in entries:
            s = e.stats["steps_to_target"][0]
            n = e.variant.split(" @")[0]
            if s is not None:
                by_name[n] = min(by_name.get(n, math.inf), s)
        best = min(by_name.values(), default=None)
        for n in names:
            ratios[n].append(by_name[n] / best if best and n in by_name else math.inf)
    curves = {n: [sum(r <= t for r in rs) / len(rs) for t in taus] for n, rs in ratios.items()}
    # the score: the area under the profile over [1, 4], normalised to [0, 1] (1 = best on every experiment)
    scores = {n: sum(c) / len(c) for n, c in curves.items()}
    return {"taus": taus, "curves": curves, "scores": scores}


def _fmt_spread(t, digits=0, pct=False):
    med, lo, hi = t
    if med is None:
        return "never reached"
    f = (lambda v: f"{v:.2%}") if pct else (lambda v: f"{v:.{digits}f}")
    return f"{f(med)} [{f(lo)}-{f(hi)}]" if lo != hi else f(med)


def _plots(name: str, entries: list[Entry], facts: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.cm.tab10(np.arange(len(entries)) % 10)
    for color, e in zip(colors, entries):
        curves = [r["curve"] for r in e.rows if r["curve"]]
        if not curves:
            continue
        med = metrics.median_curve(curves)
        steps = [p["step"] for p in med]
        per_step = [[p["accuracy"] for c in curves for p in c if p["step"] == s and p["phase"] != "pre_jump"]
                    for s in steps]
        ax.plot(steps, [p["accuracy"] for p in med], color=color, lw=1.3, label=e.variant)
        if len(curves) > 1:
            ax.fill_between(steps, [min(v) for v in per_step], [max(v) for v in per_step], color=color, alpha=0.15)
        for j in e.jumps if e.forecaster != "none" else []:
            ax.axvline(j, color=color, ls="--", lw=0.8, alpha=0.7)
    if facts["target"]:
        ax.axhline(facts["target"], color="black", lw=0.8, ls=":", label=f"target {facts['target']:.4f}")
    accs = [p["accuracy"] for e in entries for r in e.rows if r["curve"] for p in r["curve"]]
    if accs:
        top = max(accs)
        ax.set_ylim(max(0.0, top - 0.12), min(1.0, top + 0.01))
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(f"{name}: median over seeds (band: min-max), dashed lines: jumps", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    paths.append(out / f"{slug}-accuracy.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    with_speedup = [e for e in entries if e.stats["speedup"][0] is not None]
    if with_speedup:
        fig, ax = plt.subplots(figsize=(8, 0.5 + 0.35 * len(with_speedup)))
        meds = [e.stats["speedup"][0] for e in with_speedup]
        lo = [m - e.stats["speedup"][1] for m, e in zip(meds, with_speedup)]
        hi = [e.stats["speedup"][2] - m for m, e in zip(meds, with_speedup)]
        y = np.arange(len(with_speedup))
        ax.barh(y, meds, xerr=[lo, hi], color="#3b6ea8", capsize=3)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_yticks(y, [e.variant for e in with_speedup], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("speedup over the baseline (steps to target), median and min-max over seeds")
        ax.set_title(name, fontsize=9)
        fig.tight_layout()
        paths.append(out / f"{slug}-speedup.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    paths.extend(_schedule_heatmaps(name, slug, entries, out))
    return paths


def _schedule_heatmaps(name, slug, entries, out) -> list[Path]:
    """For schedule sweeps: median steps_to_target over first jump x interval, one panel per forecaster and count."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import patheffects

    groups: dict[tuple[str, int], dict[tuple[int, int], float | None]] = {}
    for e in entries:
        if e.forecaster == "none" or len(e.jumps) < 2:
            continue
        key = (e.variant.split(" @")[0], len(e.jumps))
        groups.setdefault(key, {})[(e.jumps[0], e.jumps[1] - e.jumps[0])] = e.stats["steps_to_target"][0]
    paths = []
    for (fname, count), cells in groups.items():
        firsts = sorted({f for f, _ in cells})
        intervals = sorted({i for _, i in cells})
        if len(firsts) < 2 or len(intervals) < 2:
            continue
        grid = np.full((len(intervals), len(firsts)), np.nan)
        for (f, i), v in cells.items():
            if v is not None:
                grid[intervals.index(i), firsts.index(f)] = v
        fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(firsts), 1.2 + 0.8 * len(intervals)))
        im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
        ax.set_xticks(range(len(firsts)), firsts)
        ax.set_yticks(range(len(intervals)), intervals)
        ax.set_xlabel("first jump")
        ax.set_ylabel("interval")
        for (yi, xi), v in np.ndenumerate(grid):
            ax.text(xi, yi, "never" if np.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if not np.isnan(v) else "red",
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
        fig.colorbar(im, ax=ax, label="median steps to target")
        ax.set_title(f"{name}: {fname}, {count} jumps", fontsize=9)
        fig.tight_layout()
        paths.append(out / f"{slug}-{fname.replace('(', '_').replace(')', '').replace('=', '')}-{count}jumps-heatmap.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _profile_plot(profile: dict, suite: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, curve in sorted(profile["curves"].items(), key=lambda kv: -profile["scores"][kv[0]]):
        ax.step(profile["taus"], curve, where="post", label=f"{name} (score {profile['scores'][name]:.2f})")
    ax.set_xlabel("tau: within this factor of the best steps to target")
    ax.set_ylabel("fraction of experiments")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{suite}: performance profile (AlgoPerf style)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / f"{suite}-profile.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def missing_trials(store: ResultsStore, suite_name: str, rows: list[dict]) -> list[str]:
    have = {r["key"] for r in rows}
    return [label for key, label in store.expected(suite_name) or [] if key not in have]


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
    report = {"store": str(store.path), "suites": []}
    for name in [suite] if suite else available:
        report["suites"].append(_suite_report(store, name, out))
    (out / "leaderboard.json").write_text(json.dumps(report, indent=1, default=str))
    if "md" in formats:
        (out / "report.md").write_text(_markdown(report, out))
    if "html" in formats:
        (out / "report.html").write_text(_html(report, out))
    report["wandb"] = _log_wandb(report, Path(results), wandb_mode)
    return report


def _suite_report(store: ResultsStore, name: str, out: Path) -> dict:
    from .suites import load_suite

    rows = store.rows(name)
    notes = []
    missing = missing_trials(store, name, rows)
    if missing:
        notes.append(f"partial results: {len(missing)} trial(s) of the suite are not in the store: "
                     + "; ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
    try:
        paper = load_suite(next((r["suite_path"] for r in rows if r.get("suite_path")), name)).paper
    except IntrobenchError:
        paper = {}
    experiments = []
    by_exp: dict[int, list[dict]] = {}
    for r in rows:
        by_exp.setdefault(r["experiment"], []).append(r)
    for index in sorted(by_exp):
        entries, facts = leaderboard(by_exp[index])
        if not facts["baseline"]:
            notes.append(f"{facts['experiment']}: no baseline ('none') in this suite, so no speedup")
        elif facts["baseline_steps"] is None:
            notes.append(f"{facts['experiment']}: the baseline never reached the target, so no speedup")
        facts["paper"] = paper.get(facts["task"]) if isinstance(paper, dict) else None
        facts["plots"] = [str(p.name) for p in _plots(facts["experiment"], entries, facts, out)]
        experiments.append((entries, facts))
    profile = performance_profile(experiments) if len(experiments) > 1 else None
    plots = [_profile_plot(profile, name, out).name] if profile else []
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return {"suite": name, "notes": notes, "profile": profile and {"scores": profile["scores"]}, "plots": plots,
            "experiments": [{**facts, "leaderboard": [{"variant": e.variant, "forecaster": e.forecaster,
                                                        "params": e.params, "jumps": e.jumps, **e.stats}
                                                       for e in entries]} for entries, facts in experiments]}


COLUMNS = ["forecaster", "seeds (ok/div/fail)", "steps to target", "median-curve step", "speedup", "max acc",
           "max step", "acc @25/50/75/100%", "wall s", "forecast s"]


def row_cells(e: dict) -> list[str]:
    acc = e["accuracy_at"]
    at = "/".join(f"{acc[f]:.3f}" if acc.get(f) is not None else "-" for f in ("25", "50", "75", "100"))
    sp = e["speedup"]
    return [e["variant"], f"{e['finished']}/{e['diverged']}/{e['failed']}",
            _fmt_spread(e["steps_to_target"]) + ("" if e["reached"] == e["seeds"] else f" ({e['reached']}/{e['seeds']} reached)"),
            str(e["median_curve_step"] if e["median_curve_step"] is not None else "never"),
            _fmt_spread(sp, 2) + "x" if sp[0] is not None else "n/a (never reached)" if e["reached"] == 0 else "n/a",
            _fmt_spread(e["max_accuracy"], pct=True), str(e["max_accuracy_step"]), at,
            f"{e['wall_clock']:.1f}" if e["wall_clock"] is not None else "-",
            f"{e['forecast_seconds']:.3f}" if e["forecast_seconds"] is not None else "-"]


def _markdown(report: dict, out: Path) -> str:
    lines = ["# introbench leaderboard", "", f"From `{report['store']}`. Sorted by speedup; runs that never reach "
             "the target rank last.", ""]
    for s in report["suites"]:
        lines += [f"## Suite `{s['suite']}`", ""]
        lines += [f"> note: {n}" for n in s["notes"]] + ([""] if s["notes"] else [])
        for exp in s["experiments"]:
            tgt = f"{exp['target']:.4f}" if exp["target"] else "none"
            lines += [f"### {exp['experiment']} (target {tgt}, budget {exp['steps']} steps)", ""]
            if exp.get("paper"):
                lines += [f"Paper: {exp['paper']}", ""]
            lines += ["| " + " | ".join(COLUMNS + (["paper"] if exp.get("paper") else [])) + " |",
                      "|" + " --- |" * (len(COLUMNS) + (1 if exp.get("paper") else 0))]
            for e in exp["leaderboard"]:
                cells = row_cells(e) + ([exp["paper"] if e["forecaster"] == "introspection" else ""]
                                         if exp.get("paper") else [])
                lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
            lines.append("")
            lines += [f"![{p}]({p})" for p in exp["plots"]] + [""]
        if s["profile"]:
            lines += ["### Performance profile", "", "| forecaster | score |", "| --- | --- |"]
            lines += [f"| {n} | {v:.3f} |" for n, v in sorted(s["profile"]["scores"].items(), key=lambda kv: -kv[1])]
            lines += [""] + [f"![{p}]({p})" for p in s["plots"]] + [""]
    return "\n".join(lines)


def _img(out: Path, name: str) -> str:
    data = base64.b64encode((out / name).read_bytes()).decode()
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(report: dict, out: Path) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>introbench leaderboard</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}.note{color:#a60}</style>",
             f"<h1>introbench leaderboard</h1><p>From <code>{html.escape(report['store'])}</code>. Sorted by speedup; "
             "runs that never reach the target rank last.</p>"]
    for s in report["suites"]:
        parts.append(f"<h2>Suite {html.escape(s['suite'])}</h2>")
        parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in s["notes"]]
        for exp in s["experiments"]:
            tgt = f"{exp['target']:.4f}" if exp["target"] else "none"
            parts.append(f"<h3>{html.escape(exp['experiment'])} (target {tgt}, budget {exp['steps']} steps)</h3>")
            cols = COLUMNS + (["paper"] if exp.get("paper") else [])
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
            for e in exp["leaderboard"]:
                cells = row_cells(e) + ([exp["paper"] if e["forecaster"] == "introspection" else ""]
                                         if exp.get("paper") else [])
                parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
            parts += [_img(out, p) for p in exp["plots"]]
        if s["profile"]:
            parts.append("<h3>Performance profile</h3><ul>" + "".join(
                f"<li>{html.escape(n)}: {v:.3f}</li>" for n, v in sorted(s["profile"]["scores"].items(),
                                                                         key=lambda kv: -kv[1])) + "</ul>")
            parts += [_img(out, p) for p in s["plots"]]
    return "\n".join(parts)


def _log_wandb(report: dict, results: Path, requested: str) -> dict:
    """The leaderboard as a W&B Table in a `leaderboard` run of each suite's group; a W&B report when online."""
    from .tracking import PROJECT, resolve_mode, wandb_environment

    mode, note = resolve_mode(requested)
    if mode == "disabled":
        return {"mode": mode}
    import wandb

    runs = []
    with wandb_environment(results) as env:
        for s in report["suites"]:
            run = wandb.init(project=PROJECT, group=s["suite"], name=f"leaderboard {s['suite']}",
                             job_type="leaderboard", mode=mode, dir=env["WANDB_DIR"], reinit="create_new",
                             settings=wandb.Settings(console="off", x_disable_stats=True))
            table = wandb.Table(columns=["experiment"] + COLUMNS)
            for exp in s["experiments"]:
                for e in exp["leaderboard"]:
                    table.add_data(exp["experiment"], *row_cells(e))
            run.log({"leaderboard": table})
            runs.append(str(Path(run.dir).parent))
            run.finish()
    if mode != "online":
        print("W&B: offline, so the leaderboard is a local W&B Table only (no W&B report); "
              "`wandb sync` uploads it later" + (f" ({note})" if note else ""), file=sys.stderr)
        return {"mode": mode, "runs": runs, "report": None}
    try:
        import wandb_workspaces.reports.v2 as wr  # the W&B reports API

        rep = wr.Report(project=PROJECT, title="introbench leaderboard",
                        blocks=[wr.H1("introbench leaderboard")] + [
                            wr.PanelGrid(runsets=[wr.Runset(project=PROJECT, filters=f"Group == '{s['suite']}'")])
                            for s in report["suites"]])
        rep.save()
        return {"mode": mode, "runs": runs, "report": rep.url}
    except Exception as exc:  # the reports API is an optional extra
        print(f"W&B: the leaderboard Table is logged, but no W&B report was made ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return {"mode": mode, "runs": runs, "report": None}
