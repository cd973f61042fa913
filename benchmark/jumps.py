"""The jump engine: records exactly the snapshots a jump schedule needs and replaces weights by forecasts.

It works on any ``torch.nn.Module``: every trainable parameter is forecast in place, buffers (BatchNorm
running statistics) are left alone, and the optimizer's state is kept unless asked to reset it. A snapshot
is freed right after the last jump that reads it; forecasting runs in bounded chunks on the parameters'
own device, so the extra memory is the snapshots plus one chunk.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import torch
from torch import nn

from .config import GUARD_RULES, SETTLE_STEPS
from .errors import ConfigError


def snapshot_step(fraction: float, t: int) -> int:
    return int(math.floor(fraction * t + 0.5))


def validate_jumps(jumps: Sequence[int], steps: int, fractions: Sequence[float] = ()) -> tuple[int, ...]:
    """Return the schedule as a tuple, or raise ConfigError naming what is wrong with it."""
    jumps = tuple(jumps)
    if not jumps:
        raise ConfigError("jumps", "a forecaster that jumps needs at least one jump point")
    for t in jumps:
        if not isinstance(t, int) or isinstance(t, bool):
            raise ConfigError("jumps", f"jump points must be whole step numbers, got {t!r}")
        if t <= 0:
            raise ConfigError("jumps", f"a jump at step {t} is impossible: jumps must come after step 0")
        if t > steps:
            raise ConfigError("jumps", f"a jump at step {t} is past the budget of {steps} steps")
    if len(set(jumps)) != len(jumps):
        dup = sorted({t for t in jumps if jumps.count(t) > 1})
        raise ConfigError("jumps", f"duplicated jump points {dup}")
    if list(jumps) != sorted(jumps):
        raise ConfigError("jumps", f"jump points must be in increasing order, got {list(jumps)}")
    for t in jumps:
        for f in fractions:
            if snapshot_step(f, t) >= t:
                raise ConfigError("jumps", f"a jump at step {t} is too early: its history point {f} x t "
                                           f"rounds to step {snapshot_step(f, t)}, not before it")
    return jumps


def memory_order(t: torch.Tensor) -> list[int]:
    """The dimension order in which ``t`` is laid out in memory (outermost first): permuted so, a dense
    tensor of any memory format (channels_last convolution weights) is contiguous and flattens in place."""
    return sorted(range(t.dim()), key=lambda d: (-t.stride(d), d))


class WeightHistory:
    """Snapshots of a parameter list at chosen steps, each freed after its last use."""

    def __init__(self, params: Sequence[nn.Parameter], last_use: dict[int, int], on_host: bool = False):
        self.params = list(params)
        self.last_use = dict(last_use)  # step -> index of the last jump that reads it
        self.on_host = on_host
        self.snapshots: dict[int, list[torch.Tensor]] = {}
        self.param_bytes = sum(p.numel() * p.element_size() for p in self.params)
        self.bytes = 0
        self.peak_bytes = 0

    def wants(self, step: int) -> bool:
        return step in self.last_use and step not in self.snapshots

    def take(self, step: int) -> None:
        copies = []
        for p in self.params:
            d = p.detach()
            if self.on_host and d.device.type != "cpu":
                c = torch.empty(d.shape, dtype=d.dtype, pin_memory=torch.cuda.is_available())
                c.copy_(d, non_blocking=True)
            else:
                c = d.clone()
            copies.append(c)
        self.snapshots[step] = copies
        self.bytes += self.param_bytes
        self.peak_bytes = max(self.peak_bytes, self.bytes)

    def restore(self, snapshots: dict[int, list[torch.Tensor]]) -> None:
        """The snapshots a checkpoint saved, each back where ``take`` keeps it."""
        self.snapshots = {}
        for step, copies in snapshots.items():
            self.snapshots[int(step)] = [self._place(c, p) for c, p in zip(copies, self.params, strict=True)]
        self.bytes = self.param_bytes * len(self.snapshots)

    def _place(self, saved: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.on_host and p.device.type != "cpu":
            return saved.pin_memory() if torch.cuda.is_available() else saved
        return saved.to(p.device)

    def release_after(self, jump_index: int) -> None:
        for step in [s for s, last in self.last_use.items() if last == jump_index and s in self.snapshots]:
            del self.snapshots[step]
            self.bytes -= self.param_bytes


GUARD_MODES = ("halve", *GUARD_RULES)  # a guard of true is the halving one
GUARD_DECISIONS = {"halve": ("kept", "halved", "undone"), "line": ("kept", "scaled", "undone"),
                   "settle": ("kept", "undone", "unsettled")}
LINE_SCALES = (1.0, 0.5, 0.25, 0.125)  # the fractions of a jump a line-search guard tries


class JumpEngine:
    """A loop hook: at each jump point t, every trainable parameter becomes forecaster(history)."""

    def __init__(self, forecaster, jumps: Sequence[int], *, steps: int, chunk_size: int | None = None,
                 history_on_host: bool = False, reset_optimizer: bool = False, seed: int = 0, on_jump=None,
                 guard=None, guard_mode: str = "halve", gate=None, settle_steps: int = SETTLE_STEPS):
        self.forecaster = forecaster
        # gate: step -> (jump?, why). The schedule's points become candidates, and the training signal decides
        # at each whether to jump (a skipped candidate is recorded, and its snapshots freed).
        self.gate = gate
        # guard: model -> training loss on fixed batches. "halve": a jump that makes it worse is halved, and
        # undone if the half-way point is worse too. "line": a line search along the jump keeps the fraction of
        # it (1, 1/2, 1/4, 1/8 or none) with the lowest loss. "settle": training goes on from the jump, and
        # settle_steps later (or at the next jump, if sooner) the jump is undone, weights and optimizer state back
        # to w_t, unless the loss is by then at or below its value before the jump: a useful jump often raises
        # the loss at first, and the steps spent on an undone one still count. Each decision is recorded.
        if guard_mode not in GUARD_MODES:
            raise ConfigError("guard", f"must be one of {', '.join(GUARD_MODES)}, got {guard_mode!r}")
        self.guard = guard
        self.guard_mode = guard_mode
        self.settle_steps = settle_steps
        self.on_jump = on_jump  # sees each jump's event as it happens (live tracking)
        self.fractions = tuple(forecaster.fractions)
        self.jumps = validate_jumps(jumps, steps, self.fractions)
        self.chunk_size = chunk_size
        self.history_on_host = history_on_host
        self.reset_optimizer = reset_optimizer
        self.seed = seed
        self.history: WeightHistory | None = None
        self.events: list[dict] = []
        self.skipped: list[dict] = []  # candidates the gate passed over, with why
        self.plan = {t: [snapshot_step(f, t) for f in self.fractions] for t in self.jumps}
        self.pending: dict | None = None  # a settling guard's jump still to judge: its event, w_t, optimizer state

    def on_start(self, model: nn.Module, optimizer) -> None:
        last_use: dict[int, int] = {}
        for i, t in enumerate(self.jumps):
            for s in self.plan[t]:
                last_use[s] = i
        params = [p for p in model.parameters() if p.requires_grad]
        # what a layerwise forecaster is told of each parameter: its module's class and its own name
        owner = {id(p): (type(m).__name__, f"{mn}.{pn}".lstrip("."))
                 for mn, m in model.named_modules() for pn, p in m.named_parameters(recurse=False)}
        self.layers = [owner.get(id(p), ("Parameter", "")) for p in params]
        self.history = WeightHistory(params, last_use, self.history_on_host)
        if self.history.wants(0):
            self.history.take(0)

    def on_step(self, step: int, model: nn.Module, optimizer, evaluate) -> None:
        if self.pending is not None and (step >= self.pending["until"] or step in self.jumps):
            self._settle(step, model, optimizer, evaluate)
        if step in self.jumps and self._gate_allows(step):
            before = evaluate("pre_jump")
            if self.guard is not None:
                loss_before = self.guard(model)
                saved = [p.detach().clone() for p in self.history.params]  # w_t, to halve or undo the jump
                state = copy.deepcopy(optimizer.state_dict()) if self.guard_mode == "settle" else None
            seconds, change = self.jump(step, optimizer)
            event = {"step": step, "seconds": seconds, "mean_abs_change": change, "accuracy_before": before}
            if self.guard is not None and self.guard_mode == "settle":  # judged later, by _settle
                event.update(guard="pending", loss_before=loss_before, loss_jumped=self.guard(model))
                self.pending = {"until": step + self.settle_steps, "event": event, "weights": saved, "optimizer": state}
            elif self.guard is not None:
                decide = self._line_search if self.guard_mode == "line" else self._guarded
                event.update(decide(model, saved, loss_before))
                del saved
            event["accuracy_after"] = evaluate("post_jump")
            self.events.append(event)
            if self.on_jump is not None:
                self.on_jump(self.events[-1])
        if self.history.wants(step):  # after the jump: the history is the trajectory training really took
            self.history.take(step)

    def _gate_allows(self, step: int) -> bool:
        if self.gate is None:
            return True
        go, why = self.gate(step)
        if not go:  # its snapshots are no longer needed by this candidate
            self.history.release_after(self.jumps.index(step))
            self.skipped.append({"step": step, "why": why})
        return go

    @torch.no_grad()
    def _guarded(self, model: nn.Module, saved: list[torch.Tensor], loss_before: float) -> dict:
        losses = {"loss_before": loss_before, "loss_jumped": self.guard(model)}
        if losses["loss_jumped"] <= loss_before:
            return {"guard": "kept", **losses}
        for p, w in zip(self.history.params, saved):
            p.lerp_(w, 0.5)  # half-way between w_t and the forecast
        losses["loss_halved"] = self.guard(model)
        if losses["loss_halved"] <= loss_before:
            return {"guard": "halved", **losses}
        for p, w in zip(self.history.params, saved):
            p.copy_(w)
        return {"guard": "undone", **losses}

    @torch.no_grad()
    def _settle(self, step: int, model: nn.Module, optimizer, evaluate) -> None:
        """Judge the pending jump: keep it if the loss is at or below its value before the jump, else go back
        to w_t and the optimizer state of then (the steps since stay spent)."""
        pending, self.pending = self.pending, None
        event = pending["event"]
        event.update(loss_settled=self.guard(model), settled_at=step)
        if event["loss_settled"] <= event["loss_before"]:
            event["guard"] = "kept"
            return
        for p, w in zip(self.history.params, pending["weights"]):
            p.copy_(w)
        optimizer.load_state_dict(pending["optimizer"])
        # snapshots taken since the jump are of the path given up: training is back at w_t, as if it had stood
        for s, copies in self.history.snapshots.items():
            if event["step"] < s <= step:
                for c, w in zip(copies, pending["weights"]):
                    c.copy_(w)
        event.update(guard="undone", accuracy_undone=evaluate("post_undo"))

    @torch.no_grad()
    def _line_search(self, model: nn.Module, saved: list[torch.Tensor], loss_before: float) -> dict:
        """The fraction of the jump with the lowest guard loss; none of it when every fraction is worse than
        not jumping. Each fraction halves the last (a lerp towards w_t), then the best is set from there."""
        losses = {1.0: self.guard(model)}
        for scale in LINE_SCALES[1:]:
            for p, w in zip(self.history.params, saved):
                p.lerp_(w, 0.5)
            losses[scale] = self.guard(model)
        best = min(losses, key=lambda s: (losses[s], -s))  # a tie goes to the longer jump
        best = best if losses[best] <= loss_before else 0.0
        for p, w in zip(self.history.params, saved):  # from w_t + s_last d to w_t + best d
            p.sub_(w).mul_(best / LINE_SCALES[-1]).add_(w)
        decision = "kept" if best == 1.0 else "undone" if best == 0.0 else "scaled"
        return {"guard": decision, "scale": best, "loss_before": loss_before, "loss_jumped": losses[1.0],
                "loss_at": {f"{s:g}": v for s, v in losses.items()}}

    @torch.no_grad()
    def jump(self, t: int, optimizer=None) -> tuple[float, float]:
        """Replace every trainable parameter by its forecast; returns (seconds, mean |change|)."""
        hist = self.history
        start = time.perf_counter()
        index = self.jumps.index(t)
        sources = [hist.snapshots[s] for s in self.plan[t]]
        total_change = torch.zeros((), dtype=torch.float64, device=hist.params[0].device if hist.params else "cpu")
        count = 0
        gen = None
        for pi, p in enumerate(hist.params):
            order = memory_order(p)
            view = p.data.permute(order)
            dense = view.is_contiguous()
            # in place on any dense memory format (channels_last too); a non-dense one through a copy
            flat = view.view(-1) if dense else view.reshape(-1).clone()
            # Bounded chunks: the forecaster's cache-sized one on a CPU, larger on a GPU.
            chunk = self.chunk_size or (1 << 22 if flat.device.type == "cuda" else self.forecaster.cpu_chunk)
            if gen is None or gen.device != flat.device:
                gen = torch.Generator(device=flat.device)
                gen.manual_seed(self.seed * 1_000_003 + t)
            extra = {}
            if getattr(self.forecaster, "layerwise", False):  # statistics of the whole layer, once
                extra["context"] = self.forecaster.layer_context([src[pi] for src in sources], p.data,
                                                                 *self.layers[pi])
            for lo in range(0, flat.numel(), chunk):
                hi = min(lo + chunk, flat.numel())
                # reshape: a snapshot kept in another layout (pinned host copy) is read in the same order
                rows = [src[pi].permute(order).reshape(-1)[lo:hi].to(flat.device, non_blocking=True)
                        for src in sources]
                current = flat[lo:hi]
                history = torch.stack(rows + [current])
                new = self.forecaster.forecast(history, generator=gen, **extra)
                total_change += (new - current).abs().sum(dtype=torch.float64).to(total_change.device)
                current.copy_(new)
            if not dense:
                view.copy_(flat.view(view.shape))
            count += flat.numel()
        if optimizer is not None and self.reset_optimizer:
            optimizer.state.clear()
        hist.release_after(index)
        if hist.params and hist.params[0].device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, float(total_change) / max(count, 1)

    def state_dict(self) -> dict:
        """For a trial checkpoint: the decisions so far, the snapshots still to be read, a settling guard's
        pending jump. The gate's losses are not here: they are the curve's, which a resumed run replays to it."""
        hist = self.history
        return {"events": self.events, "skipped": self.skipped, "snapshots": hist.snapshots,
                "peak_bytes": hist.peak_bytes, "pending": self.pending}

    @staticmethod
    def forked_state(snapshots: dict[int, list[torch.Tensor]]) -> dict:
        """The state of an engine that has trained to a point before its first jump, holding these snapshots."""
        return {"events": [], "skipped": [], "snapshots": snapshots, "peak_bytes": 0, "pending": None}

    def load_state_dict(self, state: dict) -> None:
        hist = self.history
        self.events, self.skipped = list(state["events"]), list(state["skipped"])
        hist.restore(state["snapshots"])
        hist.peak_bytes = max(hist.bytes, state["peak_bytes"])
        pending = state["pending"]
        if pending is not None:
            pending = {**pending, "weights": [w.to(p.device) for w, p in zip(pending["weights"], hist.params)]}
        self.pending = pending

    def summary(self) -> dict:
        hist = self.history
        if self.pending is not None:  # the run ended (its budget, or its target) before the jump was judged
            self.pending["event"]["guard"] = "unsettled"
            self.pending = None
        guarded = [e["guard"] for e in self.events if "guard" in e]
        return {
            "jumps": [e["step"] for e in self.events],
            **({"guard": {d: guarded.count(d) for d in GUARD_DECISIONS[self.guard_mode]}} if guarded else {}),
            **({"gate_skipped": self.skipped} if self.gate is not None else {}),
            "forecast_seconds": sum(e["seconds"] for e in self.events),
            "history_peak_bytes": hist.peak_bytes if hist else 0,
            "history_peak_copies": (hist.peak_bytes / hist.param_bytes) if hist and hist.param_bytes else 0.0,
        }


class PlateauGate:
    """Decides from the training signal whether a candidate jump goes ahead: yes once the training loss has
    nearly stopped falling (its mean over the last ``window`` evaluation intervals fell by less than
    ``threshold`` of the mean over the ``window`` before), no while it still falls fast. Fed the loop's regular
    evaluations (their mean training loss); never the held-out accuracy. Means over a window, because one
    interval's loss is noise: on mnist3 it rises over an interval now and then all through a run whose loss
    falls steadily, and a gate reading single intervals opens on that noise."""

    def __init__(self, threshold: float, window: int = 5):
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 < threshold < 1):
            raise ConfigError("gate", f"must be a fraction in (0, 1): the loss's relative fall per window "
                                      f"below which a candidate jump goes ahead, got {threshold!r}")
        self.threshold = float(threshold)
        self.window = int(window)
        self.losses: list[tuple[int, float]] = []

    def observe(self, point: dict) -> None:
        if point.get("phase", "eval") == "eval" and point.get("loss") is not None:
            self.losses.append((int(point["step"]), float(point["loss"])))

    def __call__(self, step: int) -> tuple[bool, str]:
        w = self.window
        if len(self.losses) < 2 * w:
            return False, "no loss trend yet"
        older = sum(loss for _, loss in self.losses[-2 * w:-w]) / w
        newer = sum(loss for _, loss in self.losses[-w:]) / w
        fall = (older - newer) / abs(older) if older else 0.0
        span = self.losses[-1][0] - self.losses[-w - 1][0]
        if fall < self.threshold:
            return True, f"loss fell {fall:.1%} over the last {span} steps (< {self.threshold:.0%})"
        return False, f"loss still falling {fall:.1%} over the last {span} steps"
