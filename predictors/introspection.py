"""The introspection network (paper 3.1): a 4 -> 40 -> 1 MLP applied to every scalar weight independently."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import IntrobenchError

from .base import Forecaster, register_forecaster

SCALE = 1000.0  # the paper multiplies weights by 1000 before they enter the net
HIDDEN = 40
WEIGHT_KEYS = {"fc1.weight": (HIDDEN, 4), "fc1.bias": (HIDDEN,), "fc2.weight": (1, HIDDEN), "fc2.bias": (1,)}


class WeightsError(IntrobenchError):
    pass


class IntrospectionNet(nn.Module):
    """Input (w_t, w_0.7t, w_0.4t, w_0) x 1000 -> w_kt x 1000."""

    def __init__(self, linear: bool = False):
        super().__init__()
        self.linear = linear
        self.fc1 = nn.Linear(4, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h if self.linear else torch.relu(h)).squeeze(-1)


def shipped_weights(linear: bool) -> Path:
    return shipped("introspection_linear" if linear else "introspection")


def shipped(name: str) -> Path:
    return Path(str(resources.files("predictors") / "weights" / f"{name}.safetensors"))


def resolve_weights(weights: str | None, default: str) -> Path:
    """A file path, or the name of a shipped weights file (e.g. 'introspection_k2.2'); none: ``default``'s."""
    if not weights:
        return shipped(default)
    path = Path(weights)
    return path if path.exists() or not shipped(weights).exists() else shipped(weights)


def weights_params(path: Path) -> dict:
    """How a summary names a weights file: a shipped file by its name (a checkout's path differs per machine),
    another by its path; either with its content's sha256, so a result says which weights made it."""
    name = path.stem if path.resolve() == shipped(path.stem).resolve() else str(path)
    return {"weights": name, "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


def save_weights(net: nn.Module, path: str | Path, metadata: dict) -> None:
    """A net's weights as safetensors (never pickle), each metadata value as JSON."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in metadata.items()})


def save_net(net: IntrospectionNet, path: str | Path, metadata: dict) -> None:
    save_weights(net, path, {"linear": net.linear, **metadata})


def read_weights(path: str | Path, what: str, make: str, shapes: dict[str, tuple], net: str | None = None
                 ) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors of the expected ``shapes``, as float32; metadata) of a safetensors weights file; a missing,
    unreadable or misshapen file, or one whose metadata names another ``net``, is one clear error naming
    ``what`` it should hold and the command that ``make``s it."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} weights not found: {path} (make them with `{make}`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise WeightsError(f"{what} weights in {path} are malformed: {exc}") from None
    if net is not None and meta.get("net") != net:
        raise WeightsError(f"{path} holds no {what} weights (its metadata says net = {meta.get('net')!r})")
    for key, shape in shapes.items():
        if key not in tensors or tuple(tensors[key].shape) != tuple(shape):
            got = tuple(tensors[key].shape) if key in tensors else "missing"
            raise WeightsError(f"{what} weights in {path} are malformed: {key} should be {tuple(shape)}, got {got}")
    return {k: tensors[k].float() for k in shapes}, meta


def load_net(path: str | Path) -> tuple[IntrospectionNet, dict]:
    """Load weights saved by ``introbench train-forecaster``; any defect is one clear error."""
    tensors, meta = read_weights(path, "introspection", "introbench train-forecaster --out PATH", WEIGHT_KEYS)
    net = IntrospectionNet(linear=bool(meta.get("linear", False)))
    net.load_state_dict(tensors)
    net.eval()
    return net, meta


class Introspection(Forecaster):
    fractions = (0.0, 0.4, 0.7)
    role = "learned"
    # On a CPU the engine hands over large chunks (few Python-level ops per weight), and the hidden layer is
    # computed slice by slice into one buffer reused across the chunk, so its [40 x slice] block stays in L2
    # and is allocated once a chunk: fastest of 2^11..2^13 on mnist1. A GPU takes the whole chunk at once.
    hidden_slice = 1 << 12

    def __init__(self, weights: str | None = None, linear: bool = False):
        self.path = resolve_weights(weights, "introspection_linear" if linear else "introspection")
        self.net, self.meta = load_net(self.path)
        self.k = self.horizon = float(self.meta.get("recipe", {}).get("k", 2.0))
        self.trained_on = tuple(self.meta.get("trained_on", ["n0"]))  # files made before the field: N0's recipe
        self._on: dict[tuple, tuple[torch.Tensor, ...]] = {}

    @torch.no_grad()
    def forecast(self, history, generator=None):
        w1, b1, w2, b2 = self._folded(history.device, history.dtype)
        if self.net.linear:  # no ReLU: the two layers are one 4-coefficient linear rule (w2 w1, w2 b1 + b2)
            return torch.addmv(w2 @ b1[:, 0] + b2, history.t(), w2 @ w1)
        # rows (w_0, w_.4t, w_.7t, w_t) feed the net's inputs (w_t, w_.7t, w_.4t, w_0): the flip and the x1000
        # are folded into w1 (and the /1000 into w2, b2), so a chunk is a matrix product and a matrix-vector
        # product with no transposed copy of the history and no extra pass.
        n = history.shape[1]
        if history.device.type != "cpu" or n <= self.hidden_slice:
            return torch.mv(torch.addmm(b1, w1, history).relu_().t(), w2).add_(b2)
        out = torch.empty(n, dtype=history.dtype)
        hidden = torch.empty(HIDDEN, self.hidden_slice, dtype=history.dtype)
        for lo in range(0, n, self.hidden_slice):
            hi = min(lo + self.hidden_slice, n)
            block = hidden[:, :hi - lo]
            torch.addmm(b1, w1, history[:, lo:hi], out=block).relu_()
            torch.mv(block.t(), w2, out=out[lo:hi])
        return out.add_(b2)

    def _folded(self, device, dtype):
        key = (device, dtype)
        if key not in self._on:
            fc1, fc2 = self.net.fc1, self.net.fc2
            w1 = (fc1.weight.detach().flip(1) * SCALE).to(device, dtype)
            self._on[key] = (w1, fc1.bias.detach().to(device, dtype)[:, None],
                             (fc2.weight.detach()[0] / SCALE).to(device, dtype),
                             (fc2.bias.detach() / SCALE).to(device, dtype))
        return self._on[key]

    def params(self):
        return {**weights_params(self.path), "k": self.k}


@register_forecaster("introspection")
class IntrospectionMLP(Introspection):
    """The paper's introspection net (4 -> 40 ReLU -> 1), trained on N0's MNIST weight histories."""

    summary = "paper 3.1: 4->40 ReLU->1 MLP trained on N0's weight histories, forecasts w_kt (k = 2)"

    def __init__(self, weights: str | None = None):
        super().__init__(weights, linear=False)


@register_forecaster("introspection_linear")
class IntrospectionLinear(Introspection):
    """The same net without its ReLU (paper 4.5)."""

    summary = "paper 4.5: the introspection net without its ReLU"

    def __init__(self, weights: str | None = None):
        super().__init__(weights, linear=True)
