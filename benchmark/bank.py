"""A trajectory bank: compact weight histories of many runs, for training forecasters on many tasks.

A run given ``bank=DIR`` records, every ``bank_every`` steps, a fixed random subset of each layer's weights
(``bank_per_layer`` of them, or the whole layer when smaller) with the layer's name, kind (its module's
class) and shape, and writes one safetensors file per run to ``DIR/<task>/``. ``load_bank`` reads them back
for ``introbench train-forecaster --bank DIR --exclude TASKS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import IntrobenchError
from .recorder import EveryN, fixed_subset


class BankRecorder(EveryN):
    """A loop hook: the sampled weights of every trainable layer at step 0 and every ``every`` steps."""

    def __init__(self, every: int, per_layer: int, seed: int):
        self.every, self.per_layer, self.seed = every, per_layer, seed
        self.steps: list[int] = []
        self.rows: list[torch.Tensor] = []
        self.events: list[dict] = []  # a hook's events are the run's: none from here

    def on_start(self, model: nn.Module, optimizer) -> None:
        kinds = {id(p): type(m).__name__ for m in model.modules() for p in m.parameters(recurse=False)}
        gen = torch.Generator().manual_seed(self.seed)
        self.layers, self.picks = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            pick = fixed_subset(p.numel(), self.per_layer, gen)
            self.picks.append((p, pick.to(p.device)))
            self.layers.append({"name": name, "kind": kinds.get(id(p), "Parameter"), "shape": list(p.shape),
                                "count": int(pick.numel())})
        self._record(0)

    @torch.no_grad()
    def _record(self, step: int) -> None:
        # reshape, not view: a channels_last weight is read in its logical order, as the index was drawn
        self.rows.append(torch.cat([p.detach().reshape(-1)[i].float() for p, i in self.picks]).cpu())
        self.steps.append(step)

    def save(self, folder: str | Path, meta: dict) -> Path:
        from safetensors.torch import save_file

        out = Path(folder) / meta["task"].replace(":", "_").replace("/", "_")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{meta['forecaster']}-s{meta['seed']}-{meta['key']}.safetensors"
        layer = torch.cat([torch.full((d["count"],), i, dtype=torch.int32) for i, d in enumerate(self.layers)])
        tmp = path.with_suffix(".tmp")
        save_file({"steps": torch.tensor(self.steps, dtype=torch.int64), "weights": torch.stack(self.rows),
                   "layer": layer}, str(tmp),
                  metadata={"meta": json.dumps({**meta, "every": self.every, "layers": self.layers})})
        tmp.replace(path)  # atomic: a killed run leaves no half-written trajectory
        return path


@dataclass
class Trajectory:
    task: str
    forecaster: str
    seed: int
    steps: torch.Tensor  # [T]
    weights: torch.Tensor  # [T, K]: the sampled weights of every layer, side by side
    layer: torch.Tensor  # [K]: which layer each column is from (an index into meta["layers"])
    meta: dict


def load_bank(folder: str | Path, exclude: tuple[str, ...] = (), forecasters: tuple[str, ...] = ("none",),
              only: tuple[str, ...] | None = None) -> list[Trajectory]:
    """Every trajectory in ``folder`` except those of the ``exclude``d tasks (or, given ``only``, just those
    tasks'); only runs of ``forecasters`` (default the baseline's: a history with jumps in it is not how
    training moves by itself)."""
    from safetensors import safe_open

    folder = Path(folder)
    files = sorted(folder.glob("*/*.safetensors"))
    if not files:
        raise IntrobenchError(f"no trajectories in {folder}: record some with `introbench run TASK --bank {folder}`"
                              f" or `introbench suite run NAME --bank {folder}`")
    out, known = [], set()
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["meta"])
                known.add(meta["task"])
                skip = meta["task"] in exclude or (only is not None and meta["task"] not in only)
                if skip or meta["forecaster"] not in forecasters:
                    continue  # its weights are never read
                t = {k: f.get_tensor(k) for k in ("steps", "weights", "layer")}
        except Exception as exc:  # noqa: BLE001 - any defect of one file is named, never skipped silently
            raise IntrobenchError(f"{path}: not a trajectory file ({type(exc).__name__}: {exc})") from None
        out.append(Trajectory(meta["task"], meta["forecaster"], meta["seed"], t["steps"], t["weights"], t["layer"],
                              meta))
    known = sorted(known)
    missing = [t for t in exclude if t not in known]
    if missing:
        raise IntrobenchError(f"--exclude names tasks the bank has no trajectory of: {', '.join(missing)}; "
                              f"its tasks: {', '.join(known)}")
    if not out:
        raise IntrobenchError(f"no trajectory in {folder} is left to train on once {', '.join(exclude) or 'none'} "
                              f"is excluded (tasks there: {', '.join(known)}; only runs of {', '.join(forecasters)} "
                              "are used)")
    return out

