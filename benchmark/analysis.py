"""`introbench analyze RUN`: the paper's weight-evolution figures (1-9) and a forecast-quality table.

Forecast quality needs no extra training run: at each jump point t of a run recorded with
``--record-every``, each forecaster's forecast from the recorded (0, 0.4t, 0.7t, t) is compared with the
weights the run really reached at its forecast step r t.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .errors import IntrobenchError
from .figures import pyplot, save_figure
from .recorder import HISTORY_FILE, load_history
from .run import load_run

EXTRA_VARIANTS = (("extrapolate", {"ratio": 2.0}),)  # the far control, beside every forecaster's defaults


def forecast_quality(steps: torch.Tensor, weights: torch.Tensor, jumps, variants) -> tuple[list[dict], list[str]]:
    """Rows of (forecaster, t, L1 x1000, cosine, size ratio) for every forecast the history can check."""
    row = {int(s): i for i, s in enumerate(steps.tolist())}
    rows, notes = [], []
    from .jumps import snapshot_step

    for label, forecaster in variants:
        if forecaster.horizon is None:
            notes.append(f"{label}: forecasts no particular later step, so there is nothing to compare it with")
            continue
        for t in jumps:
            need = [snapshot_step(f, t) for f in forecaster.fractions] + [t]
            goal = snapshot_step(forecaster.horizon, t)
            missing = [s for s in need + [goal] if s not in row]
            if missing:
                last = int(steps[-1])
                why = (f"its forecast step {goal} is past the run's last recorded step {last}" if goal > last
                       else f"steps {missing} were not recorded (use a --record-every that divides them)")
                notes.append(f"{label} at t={t}: {why}")
                continue
            history = weights[[row[s] for s in need]].double()
            current, truth = history[-1], weights[row[goal]].double()
            pred = forecaster.forecast(history).double()
            step_pred, step_true = pred - current, truth - current
            norm_p, norm_t = step_pred.norm(), step_true.norm()
            rows.append({
                "forecaster": label, "t": t, "target_step": goal,
                "l1_x1000": float((pred - truth).abs().mean() * 1000),
                "l1_x1000_stay": float(step_true.abs().mean() * 1000),
                "cosine": float(step_pred @ step_true / (norm_p * norm_t)) if norm_p > 0 and norm_t > 0 else None,
                "size_ratio": float(norm_p / norm_t) if norm_t > 0 else None,
            })
    return rows, notes


def _variants(notes: list[str]):
    from predictors import create_forecaster, list_forecasters

    out = []
    for name in list_forecasters():
        try:
            f = create_forecaster(name)
        except (IntrobenchError, TypeError) as exc:
            notes.append(f"{name} left out: {exc}")
            continue
        if f.layerwise:  # its inputs are per-layer statistics; a recorded subset of weights keeps no layers
            notes.append(f"{name} left out: it needs each layer's statistics, and the recorded history is a subset "
                         "of weights with no layers (train-forecaster --forecaster deltanet measures it on a bank)")
            continue
        out.append((name, f))
    for name, params in EXTRA_VARIANTS:
        label = f"{name}(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
        out.append((label, create_forecaster(name, **params)))
    for i, (name, f) in enumerate(out):
        if "(" not in name and f.params().get("ratio") is not None:
            out[i] = (f"{name}(ratio={f.params()['ratio']})", f)
    return out


def weight_figures(steps: torch.Tensor, weights: torch.Tensor, out: Path, title: str, seed: int = 0) -> list[Path]:
    plt = pyplot()
    w0, wT = weights[0], weights[-1]
    change = (wT - w0).abs().numpy()
    moment = ((weights - w0) ** 2).mean(dim=0).sqrt().numpy()
    paths = []
    for values, xlabel, name in ((change, "|w_final - w_0|", "hist_change.png"),
                                 (moment, "sqrt of 2nd moment about the initial value", "hist_moment.png")):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(values, bins=60, log=True, color="#3b6ea8")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("frequency (log)")
        ax.set_title(f"{title}: log-frequency of {xlabel}", fontsize=9)
        paths.append(save_figure(fig, out / name))

    # Figures 1-3: a few trajectories sampled from each change bin.
    edges = torch.linspace(0, float(change.max()) + 1e-12, 6)
    gen = torch.Generator().manual_seed(seed)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.viridis(torch.linspace(0, 0.9, 5).numpy())
    change_t = torch.from_numpy(change)
    for b in range(5):
        members = torch.nonzero((change_t >= edges[b]) & (change_t < edges[b + 1])).flatten()
        if members.numel() == 0:
            continue
        pick = members[torch.randperm(members.numel(), generator=gen)[:3]]
        for j, i in enumerate(pick.tolist()):
            ax.plot(steps.numpy(), (weights[:, i] - w0[i]).numpy(), color=colors[b], lw=1,
                    label=f"|change| in [{edges[b]:.3g}, {edges[b + 1]:.3g})" if j == 0 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel("w - w_0")
    ax.set_title(f"{title}: sampled weight trajectories per change bin", fontsize=9)
    ax.legend(fontsize=7)
    paths.append(save_figure(fig, out / "trajectories.png"))
    return paths


def analyze(run_dir, out=None, print_table: bool = True) -> dict:
    from tasks import create_task

    run_dir = Path(run_dir)
    saved = load_run(run_dir)
    if not (run_dir / HISTORY_FILE).exists():
        raise IntrobenchError(f"{run_dir} has no weight history: run it with `--record-every N --out {run_dir}`")
    hist = load_history(run_dir)
    steps, weights = hist["steps"], hist["weights"].float()
    cfg = saved["config"]
    jumps = cfg["jumps"] or list(create_task(cfg["task"], reduced=cfg["reduced"]).jumps)
    out = Path(out) if out else run_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    title = f"{cfg['task']} ({cfg['forecaster']}, seed {cfg['seed']})"
    figures = weight_figures(steps, weights, out, title, cfg["seed"])
    skipped: list[str] = []
    rows, notes = forecast_quality(steps, weights, jumps, _variants(skipped))
    notes = skipped + notes
    report = {"run": str(run_dir), "figures": [str(p) for p in figures], "jumps": jumps,
              "weights_recorded": int(weights.shape[1]), "steps_recorded": int(steps.numel()),
              "forecast_quality": rows, "notes": notes}
    (out / "analysis.json").write_text(json.dumps(report, indent=1))
    if print_table:
        _print(report)
    return report


def _print(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    table = Table(title=f"forecast quality against the recorded run ({report['weights_recorded']:,} weights)")
    for c in ("forecaster", "t", "vs step", "L1 x1000", "L1 x1000 if w stays", "cosine", "size ratio"):
        table.add_column(c)
    for r in report["forecast_quality"]:
        fmt = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
        table.add_row(r["forecaster"], str(r["t"]), str(r["target_step"]), fmt(r["l1_x1000"]),
                      fmt(r["l1_x1000_stay"]), fmt(r["cosine"]), fmt(r["size_ratio"]))
    console.print(table)
    for n in report["notes"]:
        console.print(f"[dim]note: {n}[/dim]")
    console.print("figures: " + ", ".join(report["figures"]))
