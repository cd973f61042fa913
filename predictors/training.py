"""Training the introspection network (paper 4.1; SPEC.md "Training the introspection network").

1. Train N0 on MNIST, recording every weight on a grid of steps such that for each sampled t the steps
   0.4t, 0.7t and kt are grid points (exact recordings, no interpolation).
2. Build ~0.8M examples: a random t per (weight, draw); sort by |w_t - w_0|; 50% from the top half,
   25% from the 50-75th percentile band, 25% from the rest.
3. Train 4 -> 40 -> 1 with L1 loss, Adam 5e-4 decayed every 8k steps, batch 20, 30k steps.
4. Save weights + recipe + losses as safetensors (never pickle).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import ConfigError

from .introspection import SCALE, IntrospectionNet, save_net, shipped_weights

FRACTIONS = (0.0, 0.4, 0.7)


@dataclass(frozen=True)
class PipelineConfig:
    k: float = 2.0
    linear: bool = False
    n0_steps: int = 20_000
    grid: int = 50  # record all of N0's weights every `grid` steps
    draws_per_weight: int = 2
    examples: int = 800_000
    val_fraction: float = 0.1
    train_steps: int = 30_000
    batch_size: int = 20
    lr: float = 5e-4
    lr_decay_every: int = 8_000
    lr_decay: float = 0.5
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None

    def __post_init__(self):
        if not self.k > 1:
            raise ConfigError("k", f"must be > 1 (the forecast step as a multiple of t), got {self.k}")
        if not self.valid_ts():
            raise ConfigError("n0_steps", f"{self.n0_steps} steps leave no t with 0.4t, 0.7t and {self.k}t on the "
                                          f"{self.grid}-step recording grid")

    def valid_ts(self) -> list[int]:
        """Every t whose history points and target are exact grid recordings within N0's budget."""
        def on_grid(x: float) -> bool:
            return abs(x / self.grid - round(x / self.grid)) < 1e-9

        return [t for t in range(self.grid, self.n0_steps + 1, self.grid)
                if self.k * t <= self.n0_steps + 1e-9 and all(on_grid(f * t) for f in (0.4, 0.7, self.k))]


def record_n0(cfg: PipelineConfig, folder: Path | None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Train N0 and return (steps [T], weights [T, n]) for every weight, reusing ``folder`` if it holds them."""
    from benchmark.config import RunConfig
    from benchmark.recorder import HISTORY_FILE, load_history
    from benchmark.run import load_run, run

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


def build_examples(steps: torch.Tensor, weights: torch.Tensor, cfg: PipelineConfig,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Stratified (inputs x1000 [N, 4], targets x1000 [N]) from the recorded histories."""
    row = {int(s): i for i, s in enumerate(steps.tolist())}
    ts = torch.tensor(cfg.valid_ts())
    n = weights.shape[1]
    draws = cfg.draws_per_weight
    widx = torch.arange(n).repeat(draws)
    tpick = ts[torch.randint(0, len(ts), (n * draws,), generator=gen)]

    def at(frac: float) -> torch.Tensor:
        rows = torch.tensor([row[int(round(frac * t))] for t in tpick.tolist()])
        return weights[rows, widx]

    w0 = weights[0, widx]
    w4, w7, wt, wk = at(0.4), at(0.7), at(1.0), at(cfg.k)
    order = torch.argsort((wt - w0).abs(), descending=True)
    total = order.numel()
    bands = [(0, total // 2, 0.5), (total // 2, (3 * total) // 4, 0.25), ((3 * total) // 4, total, 0.25)]
    chosen = []
    for lo, hi, share in bands:
        want = int(round(cfg.examples * share))
        band = order[lo:hi]
        if want <= band.numel():
            chosen.append(band[torch.randperm(band.numel(), generator=gen)[:want]])
        else:  # fewer candidates than wanted: draw with replacement
            chosen.append(band[torch.randint(0, band.numel(), (want,), generator=gen)])
    pick = torch.cat(chosen)
    x = torch.stack([wt[pick], w7[pick], w4[pick], w0[pick]], dim=1) * SCALE
    y = wk[pick] * SCALE
    stats = {"candidates": total, "examples": int(pick.numel()), "t_values": [int(ts.min()), int(ts.max())],
             "median_abs_change_x1000": float((x[:, 0] - x[:, 3]).abs().median())}
    return x, y, stats


def fit(x: torch.Tensor, y: torch.Tensor, cfg: PipelineConfig, gen: torch.Generator) -> tuple[IntrospectionNet, dict]:
    from tqdm import tqdm

    perm = torch.randperm(x.shape[0], generator=gen)
    n_val = int(x.shape[0] * cfg.val_fraction)
    val, tr = perm[:n_val], perm[n_val:]
    torch.manual_seed(cfg.seed)
    net = IntrospectionNet(linear=cfg.linear)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)
    loss_fn = nn.L1Loss()
    bar = tqdm(range(cfg.train_steps), desc="training the introspection net", leave=False)
    batch_idx = tr[torch.randint(0, tr.numel(), (cfg.train_steps, cfg.batch_size), generator=gen)]
    for step in bar:
        idx = batch_idx[step]
        loss = loss_fn(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            bar.set_postfix(l1=f"{loss.item():.3f}")
    with torch.no_grad():
        net.eval()
        train_l1 = float((net(x[tr]) - y[tr]).abs().mean())
        val_l1 = float((net(x[val]) - y[val]).abs().mean())
        # The do-nothing forecast w_kt = w_t, for scale: how much does the net beat it?
        stay_val = float((x[val, 0] - y[val]).abs().mean())
    return net, {"train_l1_x1000": train_l1, "val_l1_x1000": val_l1, "val_l1_x1000_if_w_kt_equals_w_t": stay_val,
                 "train_examples": int(tr.numel()), "val_examples": int(n_val)}


def train_forecaster(cfg: PipelineConfig, out: str | Path | None = None, histories: str | Path | None = None) -> dict:
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    steps, weights, n0_summary = record_n0(cfg, Path(histories) if histories else None)
    x, y, stats = build_examples(steps, weights, cfg, gen)
    del weights
    net, losses = fit(x, y, cfg, gen)
    path = Path(out) if out else shipped_weights(cfg.linear)
    recipe = dataclasses.asdict(cfg)
    recipe.pop("data_dir")
    recipe.pop("device")
    meta = {"recipe": recipe, "losses": losses, "data": stats,
            "n0": {"final_accuracy": n0_summary.get("final_accuracy"), "steps": cfg.n0_steps},
            "command": "introbench train-forecaster" + (" --linear" if cfg.linear else "") +
                       (f" --k {cfg.k}" if cfg.k != 2.0 else "")}
    save_net(net, path, meta)
    return {"weights": str(path), **losses, **stats, "n0_final_accuracy": n0_summary.get("final_accuracy"),
            "seconds": time.perf_counter() - start, "paper_l1_x1000": {"train": 3.1, "val": 3.4}}
