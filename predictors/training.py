"""Training the introspection network (paper 4.1; SPEC.md "Training the introspection network").

1. Train N0 on MNIST, recording every weight on a grid of steps such that for each sampled t the steps
   0.4t, 0.7t and kt are grid points (exact recordings, no interpolation).
2. Build ~0.8M examples: a random t per (weight, draw); sort by |w_t - w_0|; 50% from the top half,
   25% from the 50-75th percentile band, 25% from the rest.
3. Train 4 -> 40 -> 1 with L1 loss, Adam 5e-4 decayed every 8k steps, batch 20, 30k steps.
4. Save weights + recipe + losses as safetensors (never pickle).

Pure functions of tensors: nothing here trains a task or imports the runner. The command that drives them
(N0's run, or a trajectory bank) is ``benchmark.forecaster_training``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import ConfigError

from .introspection import SCALE, IntrospectionNet, save_net, shipped_weights

FRACTIONS = (0.0, 0.4, 0.7)
DELTANET_RATIOS = (1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0)
# deltanet's recipe where it differs from the paper's (a bigger net, scale-free targets: bigger batches)
DELTANET_RECIPE = {"batch_size": 256, "train_steps": 20_000, "lr": 1e-3, "lr_decay_every": 5_000,
                   "examples": 1_000_000}
LOSSES = {"l1": nn.L1Loss, "l2": nn.MSELoss, "huber": nn.HuberLoss}


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
    bank: bool = False  # trained on a trajectory bank: N0's budget and grid do not apply
    forecaster: str = "introspection"  # or "deltanet" (bank only)
    ratios: tuple[float, ...] = DELTANET_RATIOS  # deltanet: the horizons it learns (one net serves them all)
    # l1 (the paper's) learns each weight's median future, l2 its mean: the one to compare when a trained
    # forecaster moves the weights less than they really go
    loss: str = "l1"

    def __post_init__(self):
        if not self.k > 1:
            raise ConfigError("k", f"must be > 1 (the forecast step as a multiple of t), got {self.k}")
        if self.forecaster not in ("introspection", "deltanet"):
            raise ConfigError("forecaster", f"trainable forecasters are introspection, deltanet; "
                                            f"got {self.forecaster!r}")
        if self.loss not in LOSSES:
            raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.forecaster == "deltanet" and not self.bank:
            raise ConfigError("forecaster", "deltanet is trained on a trajectory bank: give --bank DIR")
        if not self.bank and not self.valid_ts():
            raise ConfigError("n0_steps", f"{self.n0_steps} steps leave no t with 0.4t, 0.7t and {self.k}t on the "
                                          f"{self.grid}-step recording grid")

    def valid_ts(self) -> list[int]:
        """Every t whose history points and target are exact grid recordings within N0's budget."""
        return valid_ts(self.grid, self.n0_steps, self.k)


def valid_ts(grid: int, last: int, k: float) -> list[int]:
    """Every t whose history points (0.4t, 0.7t) and target (kt) are exact recordings of a history kept every
    ``grid`` steps up to step ``last``."""
    return [t for t in range(grid, last + 1, grid)
            if k * t <= last + 1e-9 and all(on_grid(f * t, grid) for f in (0.4, 0.7, k))]


def on_grid(step: float, grid: int) -> bool:
    """Is ``step`` (a fraction of some t) an exact recording of a history kept every ``grid`` steps?"""
    return abs(step / grid - round(step / grid)) < 1e-9


def build_examples(steps: torch.Tensor, weights: torch.Tensor, cfg: PipelineConfig,
                   gen: torch.Generator, ts: list[int] | None = None,
                   examples: int | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Stratified (inputs x1000 [N, 4], targets x1000 [N]) from the recorded histories (N0's grid by default,
    or the ``ts`` a bank trajectory allows, ``examples`` of them)."""
    row = {int(s): i for i, s in enumerate(steps.tolist())}
    ts = torch.tensor(cfg.valid_ts() if ts is None else ts)
    want_total = cfg.examples if examples is None else examples
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
        want = int(round(want_total * share))
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


def fit_net(net: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: PipelineConfig, gen: torch.Generator,
            desc: str) -> tuple[nn.Module, dict, torch.Tensor]:
    """Adam with the config's loss on a random (1 - val_fraction) of the examples; returns the net, its train and
    val L1 (and L2) and the validation rows (for the caller's reference forecasts on the same examples)."""
    from tqdm import tqdm

    perm = torch.randperm(x.shape[0], generator=gen)
    n_val = int(x.shape[0] * cfg.val_fraction)
    val, tr = perm[:n_val], perm[n_val:]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)
    loss_fn = LOSSES[cfg.loss]()
    bar = tqdm(range(cfg.train_steps), desc=desc, leave=False)
    batch_idx = tr[torch.randint(0, tr.numel(), (cfg.train_steps, cfg.batch_size), generator=gen)]
    net.train()
    for step in bar:
        idx = batch_idx[step]
        loss = loss_fn(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            bar.set_postfix({cfg.loss: f"{loss.item():.3f}"})
    net.eval()
    with torch.no_grad():
        train_l1 = float((net(x[tr]) - y[tr]).abs().mean())
        val_error = net(x[val]) - y[val]
        val_l1, val_l2 = float(val_error.abs().mean()), float(val_error.square().mean())
    return net, {"train_l1": train_l1, "val_l1": val_l1, "val_l2": val_l2, "train_examples": int(tr.numel()),
                 "val_examples": int(n_val)}, val


def fit(x: torch.Tensor, y: torch.Tensor, cfg: PipelineConfig, gen: torch.Generator) -> tuple[IntrospectionNet, dict]:
    """The introspection net (paper 4.1) on examples x1000."""
    torch.manual_seed(cfg.seed)
    net, losses, val = fit_net(IntrospectionNet(linear=cfg.linear), x, y, cfg, gen, "training the introspection net")
    # The do-nothing forecast w_kt = w_t, for scale: how much does the net beat it?
    stay_val = float((x[val, 0] - y[val]).abs().mean())
    return net, {"train_l1_x1000": losses["train_l1"], "val_l1_x1000": losses["val_l1"],
                 "val_l1_x1000_if_w_kt_equals_w_t": stay_val, "train_examples": losses["train_examples"],
                 "val_examples": losses["val_examples"]}


def bank_examples(trajectories, cfg: PipelineConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Examples from many tasks' trajectories (``benchmark.bank.Trajectory``), an equal share from each; a
    trajectory too short for a single t (its 0.4t, 0.7t and kt recorded) is named and skipped."""
    usable = [(tr, ts) for tr in trajectories if (ts := valid_ts(int(tr.meta["every"]), int(tr.steps[-1]), cfg.k))]
    if not usable:
        raise ConfigError("bank", f"no trajectory is long enough for k = {cfg.k}: each needs steps 0.4t, 0.7t and "
                                  f"{cfg.k}t recorded for some t")
    xs, ys = [], []
    share = cfg.examples // len(usable)
    for tr, ts in usable:
        x, y, _ = build_examples(tr.steps, tr.weights, cfg, gen, ts=ts, examples=share)
        xs.append(x)
        ys.append(y)
    x, y = torch.cat(xs), torch.cat(ys)
    tasks = sorted({tr.task for tr, _ in usable})
    return x, y, {"examples": int(x.shape[0]), "trajectories": len(usable), "tasks": tasks,
                  "skipped_short": len(trajectories) - len(usable),
                  "median_abs_change_x1000": float((x[:, 0] - x[:, 3]).abs().median())}


def save_trained(net: IntrospectionNet, cfg: PipelineConfig, out: str | Path | None, meta: dict) -> Path:
    """The net with its recipe (the config, less where it ran) and whatever else ``meta`` says."""
    path = Path(out) if out else shipped_weights(cfg.linear)
    recipe = dataclasses.asdict(cfg)
    recipe.pop("data_dir")
    recipe.pop("device")
    save_net(net, path, {"recipe": recipe, **meta})
    return path


def deltanet_pairs(every: int, last: int, ratios: tuple[float, ...]) -> list[tuple[int, float]]:
    """Every (t, r) whose history points (deltanet's fractions of t) and target r t are exact recordings of a
    trajectory kept every ``every`` steps up to ``last``."""
    from .deltanet import FRACTIONS as DELTA_FRACTIONS

    return [(t, r) for t in range(every, last + 1, every) for r in ratios
            if r * t <= last + 1e-9 and on_grid(r * t, every) and all(on_grid(f * t, every) for f in DELTA_FRACTIONS)]


def trajectory_deltas(tr, pairs: list[tuple[int, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """deltanet's (inputs [N, FEATURES], normalised targets (w_rt - w_t) / s [N]) for every sampled weight of a
    bank trajectory at every (t, r), each layer normalised by its own sampled weights' scale."""
    from .deltanet import CLIP, FRACTIONS as DELTA_FRACTIONS, features, layer_kind

    row = {int(s): i for i, s in enumerate(tr.steps.tolist())}
    layers = tr.meta["layers"]
    columns = [torch.nonzero(tr.layer == i).squeeze(1) for i in range(len(layers))]
    xs, ys = [], []
    for t, r in pairs:
        rows = [row[int(round(f * t))] for f in DELTA_FRACTIONS] + [row[t]]
        goal = tr.weights[row[int(round(r * t))]]
        for info, cols in zip(layers, columns):
            if cols.numel() == 0:
                continue
            h = tr.weights[rows][:, cols].double()
            scale = float((h[-1] - h[0]).abs().mean())
            if scale <= 0:  # a layer that never moved teaches nothing (and the forecaster leaves it alone)
                continue
            kind, bias = layer_kind(info["kind"], info["name"])
            xs.append(features(h, scale, float(h[-1].abs().mean()), r, kind, bias))
            ys.append(((goal[cols].double() - h[-1]) / scale).clamp(-CLIP, CLIP).float())
    if not xs:
        return torch.zeros(0, 0), torch.zeros(0)
    return torch.cat(xs), torch.cat(ys)


def trajectory_examples(tr, ratios: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """deltanet's examples of one bank trajectory at every (t, r) it recorded exactly; empty when too short."""
    pairs = deltanet_pairs(int(tr.meta["every"]), int(tr.steps[-1]), ratios)
    return trajectory_deltas(tr, pairs) if pairs else (torch.zeros(0, 0), torch.zeros(0))


def reference_l1(x: torch.Tensor, y: torch.Tensor, net: nn.Module | None = None) -> dict:
    """Mean L1 of normalised forecasts on deltanet examples: the net's, the extrapolate control's (the line
    through w_0.7t and w_t, at the example's own r) and staying at w_t; and the mean size of each forecast move;
    all in units of the layer's scale."""
    from .deltanet import FRACTIONS as DELTA_FRACTIONS

    horizon = x[:, len(DELTA_FRACTIONS) + 2]  # r - 1
    extrapolate = -horizon / 0.3 * x[:, DELTA_FRACTIONS.index(0.7)]
    # stay's error is the mean true move: beside each forecast's mean move it shows how far each one shrinks
    out = {"extrapolate": float((extrapolate - y).abs().mean()), "stay": float(y.abs().mean()),
           "extrapolate_move": float(extrapolate.abs().mean())}
    if net is not None:
        with torch.no_grad():
            forecast = net(x)
        out["deltanet"] = float((forecast - y).abs().mean())
        out["deltanet_move"] = float(forecast.abs().mean())
    return out


def deltanet_examples(trajectories, cfg: PipelineConfig, gen: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """An equal share of ``cfg.examples`` from each trajectory long enough for some (t, r)."""
    xs, ys, used, short = [], [], [], 0
    for tr in trajectories:
        x, y = trajectory_examples(tr, cfg.ratios)
        if not y.numel():
            short += 1
            continue
        xs.append(x)
        ys.append(y)
        used.append(tr.task)
    if not xs:
        raise ConfigError("bank", "no trajectory is long enough for deltanet: each needs steps 0, 0.4t, 0.6t, 0.7t, "
                                  "0.8t, 0.9t, t and r t recorded for some t and r")
    share = cfg.examples // len(xs)
    picks = [torch.randint(0, y.numel(), (share,), generator=gen) if y.numel() < share
             else torch.randperm(y.numel(), generator=gen)[:share] for y in ys]
    x = torch.cat([x[p] for x, p in zip(xs, picks)])
    y = torch.cat([y[p] for y, p in zip(ys, picks)])
    return x, y, {"examples": int(y.numel()), "trajectories": len(xs), "tasks": sorted(set(used)),
                  "skipped_short": short, "ratios": list(cfg.ratios)}


def fit_deltanet(x: torch.Tensor, y: torch.Tensor, cfg: PipelineConfig, gen: torch.Generator) -> tuple[nn.Module, dict]:
    from .deltanet import DeltaNet

    torch.manual_seed(cfg.seed)
    net, losses, val = fit_net(DeltaNet(), x, y, cfg, gen, "training deltanet")
    return net, {**losses, "val_reference": reference_l1(x[val], y[val], net)}
