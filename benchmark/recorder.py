"""Records a run's weight trajectory (a fixed random subset of weights every N steps) for analysis."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

HISTORY_FILE = "history.safetensors"


def fixed_subset(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """k of range(n), drawn once from ``gen`` and sorted (all of them when n <= k)."""
    return torch.randperm(n, generator=gen)[:k].sort().values if n > k else torch.arange(n)


class EveryN:
    """A loop hook that records at step 0 (from ``on_start``) and every ``every`` steps."""

    every: int
    steps: list[int]  # the recorded steps, and a row of weights for each
    rows: list[torch.Tensor]

    def on_step(self, step: int, model, optimizer, evaluate) -> None:
        if step % self.every == 0:
            self._record(step)

    def _record(self, step: int) -> None:
        raise NotImplementedError

    def summary(self) -> dict:
        return {}

    def state_dict(self) -> dict:  # the rows so far: a resumed run appends to them
        return {"steps": self.steps, "rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.rows = list(state["steps"]), list(state["rows"])


class HistoryRecorder(EveryN):
    def __init__(self, every: int, max_weights: int = 200_000, seed: int = 0):
        self.every = every
        self.max_weights = max_weights
        self.seed = seed
        self.steps: list[int] = []
        self.rows: list[torch.Tensor] = []

    def on_start(self, model: nn.Module, optimizer) -> None:
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        self.layout = []
        offset = 0
        for name, p in named:
            self.layout.append({"name": name, "shape": list(p.shape), "offset": offset})
            offset += p.numel()
        self.index = fixed_subset(offset, self.max_weights, torch.Generator().manual_seed(self.seed))
        self._record(0)

    @torch.no_grad()
    def _record(self, step: int) -> None:
        flat = torch.cat([p.detach().reshape(-1).float().cpu() for p in self.params])
        self.steps.append(step)
        self.rows.append(flat[self.index].clone())

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(folder) / HISTORY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"steps": torch.tensor(self.steps, dtype=torch.int64), "weights": torch.stack(self.rows),
                   "index": self.index.to(torch.int64)}, str(path),
                  metadata={"layout": json.dumps(self.layout)})
        return path


def load_history(folder: str | Path) -> dict:
    from safetensors import safe_open

    path = Path(folder) / HISTORY_FILE
    with safe_open(str(path), framework="pt") as f:
        out = {k: f.get_tensor(k) for k in f.keys()}
        out["layout"] = json.loads((f.metadata() or {}).get("layout", "[]"))
    return out
