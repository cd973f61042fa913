"""`introbench train-forecaster`: drives the pure training functions of ``predictors.training``.

From N0 (the paper, 4.1): train N0 on MNIST recording every weight, then build the examples and fit. From a
trajectory bank (``--bank DIR --exclude TASKS``): the baseline runs of every task but the excluded ones. The
weights file records which tasks it was trained on and which were excluded, so a forecaster scored on a task
it learned from is marked in the leaderboard.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from predictors.training import (PipelineConfig, bank_examples, build_examples, deltanet_examples, fit, fit_deltanet,
                                 reference_l1, save_trained, trajectory_examples)

from .config import RunConfig
from .recorder import HISTORY_FILE, load_history
from .run import load_run, run


def record_n0(cfg: PipelineConfig, folder: Path | None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Train N0 and return (steps [T], weights [T, n]) for every weight, reusing ``folder`` if it holds them."""
    if folder is not None and (folder / HISTORY_FILE).exists():
        saved = load_run(folder)
        if saved["config"]["steps"] == cfg.n0_steps and saved["config"]["record_every"] == cfg.grid:
            h = load_history(folder)
            return h["steps"], h["weights"], saved["summary"]
    config = RunConfig(task="n0", steps=cfg.n0_steps, seed=cfg.seed, record_every=cfg.grid,
                       record_weights=10**12, device=cfg.device, data_dir=cfg.data_dir, eval_every=1000)
    if folder is None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="introbench-n0-"))
    result = run(config, out_dir=folder)
    h = load_history(folder)
    return h["steps"], h["weights"], result.summary


def train_forecaster(cfg: PipelineConfig, out: str | Path | None = None, histories: str | Path | None = None) -> dict:
    """The paper's recipe: the introspection net trained on N0's weight histories."""
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    steps, weights, n0_summary = record_n0(cfg, Path(histories) if histories else None)
    x, y, stats = build_examples(steps, weights, cfg, gen)
    del weights
    net, losses = fit(x, y, cfg, gen)
    path = save_trained(net, cfg, out, {
        "losses": losses, "data": stats, "trained_on": ["n0"], "excluded": [],
        "n0": {"final_accuracy": n0_summary.get("final_accuracy"), "steps": cfg.n0_steps},
        "command": "introbench train-forecaster" + (" --linear" if cfg.linear else "") +
                   (f" --k {cfg.k}" if cfg.k != 2.0 else "")})
    return {"weights": str(path), **losses, **stats, "n0_final_accuracy": n0_summary.get("final_accuracy"),
            "seconds": time.perf_counter() - start, "paper_l1_x1000": {"train": 3.1, "val": 3.4}}


def train_on_bank(cfg: PipelineConfig, bank: str | Path, exclude: tuple[str, ...], out: str | Path) -> dict:
    """A forecaster (the introspection net, its linear variant, or deltanet) trained on a bank's baseline
    trajectories, never on the excluded tasks. Those of the excluded tasks the bank holds are read only to
    measure the trained net on tasks it never saw (deltanet: beside the extrapolate control's error)."""
    from .bank import load_bank

    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    trajectories = load_bank(bank, exclude)
    command = (f"introbench train-forecaster --bank {bank} --exclude {','.join(exclude)}"
               + (" --linear" if cfg.linear else "") + (f" --forecaster {cfg.forecaster}"
                                                         if cfg.forecaster != "introspection" else "")
               + (f" --loss {cfg.loss}" if cfg.loss != "l1" else ""))
    meta = {"excluded": sorted(exclude), "bank": str(bank), "command": command}
    if cfg.forecaster == "deltanet":
        from predictors.deltanet import save_deltanet

        x, y, stats = deltanet_examples(trajectories, cfg, gen)
        net, losses = fit_deltanet(x, y, cfg, gen)
        held_out = {}
        for tr in _held_out(bank, exclude):
            hx, hy = trajectory_examples(tr, cfg.ratios)
            if hy.numel():
                held_out[f"{tr.task} seed {tr.seed}"] = reference_l1(hx, hy, net)
        losses["held_out_tasks"] = held_out
        path = Path(out)
        recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("data_dir", "device", "k", "linear",
                                                                                "n0_steps", "grid")}
        save_deltanet(net, path, {"recipe": recipe, "losses": losses, "data": stats, "trained_on": stats["tasks"],
                                  **meta})
    else:
        x, y, stats = bank_examples(trajectories, cfg, gen)
        net, losses = fit(x, y, cfg, gen)
        path = save_trained(net, cfg, out, {"losses": losses, "data": stats, "trained_on": stats["tasks"], **meta})
    return {"weights": str(path), **losses, **stats, "excluded": sorted(exclude),
            "seconds": time.perf_counter() - start}


def _held_out(bank, exclude: tuple[str, ...]) -> list:
    """The excluded tasks' baseline trajectories, to measure on (none when the bank holds only other runs
    of them)."""
    from .bank import load_bank
    from .errors import IntrobenchError

    if not exclude:
        return []
    try:
        return load_bank(bank, only=tuple(exclude))
    except IntrobenchError:  # the excluded tasks have no baseline run in the bank: nothing to measure on
        return []
