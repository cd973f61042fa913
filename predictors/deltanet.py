"""A richer learned forecaster than the paper's: ``deltanet``.

Where the introspection net sees four raw values of one weight (x1000) and forecasts one fixed ratio, this
net sees, for each scalar weight:

- six history points (0, 0.4, 0.6, 0.7, 0.8, 0.9 of t), each as its move to w_t divided by the layer's own
  scale s = mean |w_t - w_0| over the layer (scale-free, so histories of any task, optimizer or layer size
  are alike);
- where the weight sits in its layer (w_t / mean |w_t|) and how far the layer has moved relative to its
  size (log10 s / mean |w_t|);
- the horizon r - 1 as an input, so one net serves any ratio r;
- the layer's kind (linear, convolution, normalisation, other) and whether it is a bias.

It forecasts (w_rt - w_t) / s. The net is trained on a trajectory bank (``introbench train-forecaster
--forecaster deltanet --bank DIR --exclude TASKS``); its weights file records the tasks it was trained on.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import nn

from .base import Forecaster, check_ratio, register_forecaster
from .introspection import read_weights, resolve_weights, save_weights, weights_params

FRACTIONS = (0.0, 0.4, 0.6, 0.7, 0.8, 0.9)
KINDS = ("linear", "conv", "norm", "other")
FEATURES = len(FRACTIONS) + 3 + len(KINDS) + 1  # deltas, position, log-scale, horizon, kind, bias
HIDDEN = 64
CLIP = 50.0  # a normalised delta beyond this is an outlier of its layer: clipped, so one weight cannot blow up
EPS = 1e-12


def layer_kind(module_class: str, param_name: str) -> tuple[int, bool]:
    """(index into KINDS, is a bias) of a parameter, from its module's class name and its own name."""
    c = module_class.lower()
    kind = "conv" if "conv" in c else "norm" if "norm" in c else "linear" if "linear" in c else "other"
    return KINDS.index(kind), param_name.rsplit(".", 1)[-1] == "bias"


class DeltaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                  nn.Linear(HIDDEN, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


def layer_stats(w0: torch.Tensor, wt: torch.Tensor, chunk: int = 1 << 20) -> tuple[float, float]:
    """(s = mean |w_t - w_0|, m = mean |w_t|) of one layer, in slices of its first dimension: bounded
    temporaries, and no copy of a weight kept in another memory format."""
    if wt.dim() == 0:
        w0, wt = w0.reshape(1), wt.reshape(1)
    rows = max(1, chunk // max(wt[0].numel(), 1))
    moved = size = 0.0
    for lo in range(0, wt.shape[0], rows):
        b = wt[lo:lo + rows]
        moved += float((b - w0[lo:lo + rows].to(b.device)).abs().sum(dtype=torch.float64))
        size += float(b.abs().sum(dtype=torch.float64))
    n = max(wt.numel(), 1)
    return moved / n, size / n


def features(history: torch.Tensor, scale: float, magnitude: float, ratio: float | torch.Tensor,
             kind: int, bias: bool) -> torch.Tensor:
    """history [len(FRACTIONS) + 1, n] -> inputs [n, FEATURES] (float32). ``ratio`` a number, or one per weight."""
    n = history.shape[1]
    wt = history[-1]
    s = max(scale, EPS)
    deltas = ((history[:-1] - wt) / s).clamp_(-CLIP, CLIP).t()
    position = (wt / magnitude if magnitude > 0 else torch.zeros_like(wt)).clamp(-CLIP, CLIP)[:, None]
    rel = math.log10(s / magnitude) if magnitude > 0 else 1.0
    rel = torch.full((n, 1), min(max(rel, -4.0), 1.0), dtype=history.dtype, device=history.device)
    horizon = (torch.as_tensor(ratio, dtype=history.dtype, device=history.device) - 1).expand(n)[:, None]
    onehot = torch.zeros(n, len(KINDS) + 1, dtype=history.dtype, device=history.device)
    onehot[:, kind] = 1
    onehot[:, -1] = float(bias)
    return torch.cat([deltas, position, rel, horizon, onehot], dim=1).float()


def save_deltanet(net: DeltaNet, path: str | Path, metadata: dict) -> None:
    save_weights(net, path, {"net": "deltanet", **metadata})


def load_deltanet(path: str | Path) -> tuple[DeltaNet, dict]:
    net = DeltaNet()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    tensors, meta = read_weights(path, "deltanet", "introbench train-forecaster --forecaster deltanet --bank DIR "
                                                   "--exclude TASKS --out PATH", shapes, net="deltanet")
    net.load_state_dict(tensors)
    net.eval()
    return net, meta


@register_forecaster("deltanet")
class DeltaNetForecaster(Forecaster):
    """A learned forecaster of per-layer normalised deltas, with the horizon and the layer's kind as inputs."""

    fractions = FRACTIONS
    role = "learned"
    layerwise = True  # the jump engine passes each layer's context (scale, kind) to forecast
    cpu_chunk = 1 << 12
    summary = ("beyond the paper: MLP on 6 history points as per-layer normalised deltas, layer kind and the "
               "horizon as inputs (one net, any ratio); trained on a trajectory bank")

    def __init__(self, ratio: float = 1.3, weights: str | None = None):
        self.ratio = self.horizon = check_ratio(ratio)
        self.path = resolve_weights(weights, "deltanet")
        self.net, self.meta = load_deltanet(self.path)
        self.trained_on = tuple(self.meta.get("trained_on", ()))
        self._nets: dict[tuple, DeltaNet] = {}

    def layer_context(self, sources: list[torch.Tensor], current: torch.Tensor, module_class: str,
                      param_name: str) -> dict:
        """What the net needs to know of the whole layer, computed once per layer per jump."""
        scale, magnitude = layer_stats(sources[FRACTIONS.index(0.0)], current)
        kind, bias = layer_kind(module_class, param_name)
        return {"scale": scale, "magnitude": magnitude, "kind": kind, "bias": bias}

    @torch.no_grad()
    def forecast(self, history, generator=None, context=None):
        if context is None:  # the history is taken to be one whole linear layer
            context = {**dict(zip(("scale", "magnitude"), layer_stats(history[0], history[-1]))),
                       "kind": KINDS.index("linear"), "bias": False}
        current = history[-1]
        if context["scale"] <= 0:  # the layer never moved: nothing to continue
            return current.clone()
        net = self._on(history.device)
        x = features(history, context["scale"], context["magnitude"], self.ratio, context["kind"], context["bias"])
        return current + (net(x).to(history.dtype) * context["scale"])

    def _on(self, device) -> DeltaNet:
        if device not in self._nets:
            self._nets[device] = copy.deepcopy(self.net).to(device).requires_grad_(False)
        return self._nets[device]

    def params(self):
        return {"ratio": self.ratio, **weights_params(self.path)}
