"""The training loop: one loop for every task, evaluating on the held-out split, with a per-step seam.

It knows nothing of any task or forecaster. Hooks (the jump engine, the history recorder) see the model
after every optimizer step and may call ``evaluate`` for extra evaluations that land on the curve.
"""

from __future__ import annotations

import contextlib
import math
import resource
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch
from torch import nn

from . import scoring
from .checkpoint import Checkpoint, TrialCut, rng_state, set_rng_state
from .data import TensorData, prepare_batch

Evaluate = Callable[[str], float]  # phase -> held-out accuracy (the point also lands on the curve)


class StepHook(Protocol):
    def on_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None: ...

    def on_step(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, evaluate: Evaluate) -> None: ...

    def summary(self) -> dict: ...

    # What a trial checkpoint saves of the hook, and gives back to it (after on_start) when the run resumes; a hook
    # with ``checkpointed = False`` keeps nothing and is left out of checkpoints.
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class RunResult:
    summary: dict
    curve: list[dict]
    events: list[dict] = field(default_factory=list)


# The evaluation's batch by device. On a CPU a small batch keeps a network's activations in cache: a test pass at
# 100 took 0.4-0.8 of the time at 1000 for the paper's and NiNo's networks (mnist3's small MLP: the same), with
# logits bitwise those at 1000 (bench/loop_speed.py --eval-batches measures both); a GPU wants large batches.
EVAL_BATCH = {"cpu": 100}
EVAL_BATCH_DEFAULT = 1000


@dataclass
class LoopSpec:
    """What the loop needs beyond the model: plain values, so it can be built from any task."""

    steps: int
    batch_size: int
    eval_every: int
    target: float | None
    metric: str = "top1"
    augment: str = "none"
    image_size: int | None = None
    eval_batch_size: int | None = None  # None: EVAL_BATCH for the device
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None  # the dataset's per-channel Normalize
    stop_at_target: bool = False  # end at the first grid evaluation that reaches the target
    precision: str = "fp32"  # "bf16": forward and loss under bfloat16 autocast (weights stay fp32)
    channels_last: bool = False  # image batches in channels_last (the model is converted by the caller)


def autocast_for(spec: LoopSpec, device: torch.device):
    """A context for each forward pass: bfloat16 autocast when the spec asks for it, else nothing."""
    if spec.precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def model_input(x: torch.Tensor, spec: LoopSpec, device: torch.device, *, train: bool, generator) -> torch.Tensor:
    """A data batch as the model takes it: on the device, prepared (and augmented when training), in the
    spec's memory format."""
    x = prepare_batch(x.to(device, non_blocking=True), train=train, augment=spec.augment, image_size=spec.image_size,
                      generator=generator, normalize=spec.normalize)
    return x.contiguous(memory_format=torch.channels_last) if spec.channels_last and x.dim() == 4 else x


def loss_probe(data, spec: LoopSpec, device: torch.device | str, seed: int, batches: int = 4):
    """A fixed set of training batches (never the test set) and a function model -> mean loss on them, in eval
    mode with no gradient: what a guarded jump compares before and after it. Prepared once, without random
    augmentation, so the same model always gets the same loss."""
    if not isinstance(data, TensorData):
        from .errors import ConfigError

        raise ConfigError("guard", "guarded jumps need an in-memory dataset (a streamed one has no fixed batches)")
    device = torch.device(device)
    gen = torch.Generator(device=data.x_train.device).manual_seed(10_007 * seed + 1)
    stream = data.train_batches(spec.batch_size, gen)
    fixed = []
    for _ in range(batches):
        x, y = next(stream)
        fixed.append((model_input(x, spec, device, train=False, generator=None), y.to(device)))
    autocast = autocast_for(spec, device)

    @torch.no_grad()
    def probe(model: nn.Module) -> float:
        was_training = model.training
        model.eval()
        total = torch.zeros((), device=device)
        for x, y in fixed:
            with autocast():
                total += nn.functional.cross_entropy(model(x), y).float()
        model.train(was_training)
        return total.item() / len(fixed)

    return probe


def _accuracy(logits: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "top5":
        k = min(5, logits.shape[1])
        return (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).sum()
    return (logits.argmax(dim=1) == y).sum()


def train(model: nn.Module, optimizer: torch.optim.Optimizer, data, spec: LoopSpec, *,
          scheduler=None, seed: int = 0, device: torch.device | str = "cpu",
          hooks: Sequence[StepHook] = (), progress: bool = True, desc: str = "train",
          on_eval: Callable[[dict], None] | None = None, checkpoint: Checkpoint | None = None,
          on_restore: Callable[[list[dict], list[dict]], None] | None = None,
          on_grid: Callable[[int, Callable[[], dict]], None] | None = None) -> RunResult:
    """Train for spec.steps; ``on_eval`` sees every evaluation as it lands on the curve (live tracking).

    Given a ``checkpoint``, the run resumes from the state saved there, if any (``on_restore`` then sees the
    restored curve and jump events, in place of the evaluations it will not see again), and saves its state there
    at grid evaluations while it trains; past the checkpoint's deadline it saves and raises TrialCut at the next
    grid evaluation. An in-memory dataset resumes exactly; a streamed one cannot place its
    loader's workers mid-epoch, so it is never checkpointed. ``on_grid(step, state)`` is called at each grid
    evaluation with a function giving the loop's state as a checkpoint would save it (a baseline's forks)."""
    device = torch.device(device)
    # Batches are drawn where the data lives: on the GPU for in-memory tensors there, else on the CPU.
    gen = torch.Generator(device=data.x_train.device if isinstance(data, TensorData) else "cpu")
    gen.manual_seed(seed)
    curve: list[dict] = []
    eval_seconds = 0.0
    start = time.perf_counter()
    # The loss is summed on the device and read only at evaluations: a .item() per step would stall a GPU.
    running_loss = torch.zeros((), dtype=torch.float32, device=device)
    running_n = 0
    step = 0
    autocast = autocast_for(spec, device)

    eval_batch = spec.eval_batch_size or EVAL_BATCH.get(device.type, EVAL_BATCH_DEFAULT)

    @torch.no_grad()
    def evaluate(phase: str = "eval") -> float:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=device)
        total = 0
        for x, y in data.test_batches(eval_batch):
            x = model_input(x, spec, device, train=False, generator=None)
            y = y.to(device, non_blocking=True)
            with autocast():
                logits = model(x)
            correct += _accuracy(logits, y, spec.metric)
            total += y.shape[0]
        model.train(was_training)
        acc = correct.item() / max(total, 1)
        loss = running_loss.item() / running_n if running_n else None
        curve.append({"step": step, "accuracy": acc, "loss": loss, "phase": phase,
                      "seconds": time.perf_counter() - start - eval_seconds})
        eval_seconds += time.perf_counter() - t0
        if on_eval is not None:
            on_eval(curve[-1])
        return acc

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batches = data.train_batches(spec.batch_size, gen)
    if checkpoint is not None and not hasattr(batches, "state_dict"):
        checkpoint.note = "a streamed dataset cannot resume mid-epoch: this run keeps no checkpoint"
        checkpoint = None
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        set_rng_state(saved["rng"], device)
        batches.load_state_dict(saved["batches"])
        curve.extend(saved["curve"])
        eval_seconds = saved["eval_seconds"]
        start -= saved["elapsed"]  # the curve's seconds go on from where they stood
        step = saved["step"]
    model.train()
    for hook in hooks:
        hook.on_start(model, optimizer)
    kept = [hook for hook in hooks if getattr(hook, "checkpointed", True)]
    if saved is not None:
        for hook, state in zip(kept, saved["hooks"], strict=True):
            hook.load_state_dict(state)
        if on_restore is not None:
            on_restore(list(curve), [e for h in hooks for e in getattr(h, "events", [])])
    else:
        evaluate("eval")
    status = "finished"
    stopped_at = None
    bar = _progress(spec.steps, desc, progress)
    bar.update(step)
    loss_fn = nn.CrossEntropyLoss()

    def state() -> dict:  # everything the rest of the run depends on, at the end of a grid step
        return {"step": step, "steps": spec.steps, "curve": curve, "eval_seconds": eval_seconds,
                "elapsed": time.perf_counter() - start, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "generator": gen.get_state(), "rng": rng_state(device), "batches": batches.state_dict(),
                "hooks": [hook.state_dict() for hook in kept]}

    for step in range(step + 1, spec.steps + 1):
        x, y = next(batches)
        x = model_input(x, spec, device, train=True, generator=gen)
        y = y.to(device, non_blocking=True)
        with autocast():
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running_loss += loss.detach().float()
        running_n += 1
        grid = step % spec.eval_every == 0 or step == spec.steps
        # NaN/inf is checked at grid evaluations, where the loop syncs anyway: one non-finite step poisons
        # the sum, so a diverged run is still recorded as diverged, at the first grid step after it.
        if grid and not math.isfinite(loss_value := running_loss.item()):
            status = "diverged"
            curve.append({"step": step, "accuracy": 0.0, "loss": loss_value, "phase": "diverged",
                          "seconds": time.perf_counter() - start - eval_seconds})
            break
        for hook in hooks:
            hook.on_step(step, model, optimizer, evaluate)
        if grid:
            mean_loss = loss_value / running_n
            if curve[-1]["step"] != step:  # a post-jump evaluation at this step already stands for it
                evaluate("eval")
            running_loss.zero_()
            running_n = 0
            bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{curve[-1]['accuracy']:.4f}")
            if on_grid is not None:
                on_grid(step, state)
            # this step's grid evaluation (or the post-jump one standing for it) is the scored one
            if spec.stop_at_target and spec.target is not None and curve[-1]["accuracy"] >= spec.target:
                stopped_at = step
                bar.update(1)
                break
            if checkpoint is not None and step < spec.steps:
                cut = checkpoint.past_deadline()  # stop here, and resume here on the next attempt
                if cut or checkpoint.due():
                    checkpoint.save(state())
                if cut:
                    raise TrialCut(step)
        bar.update(1)
    bar.close()

    summary = summarize(curve, spec, status)
    summary["stopped_at"] = stopped_at  # the run ended here, at its target: later steps were never trained
    summary["wall_clock"] = time.perf_counter() - start
    summary["eval_seconds"] = eval_seconds
    summary["peak_memory_bytes"] = _peak_memory(device)
    if saved is not None:
        summary["resumed_from"] = saved["step"]  # this process trained the steps after it
        summary["seconds_before_resume"] = saved["elapsed"]  # what the steps before it took
    for hook in hooks:
        summary.update(hook.summary())
    return RunResult(summary=summary, curve=curve, events=[e for h in hooks for e in getattr(h, "events", [])])


def logged_order(curve: list[dict], events: list[dict]) -> list[tuple[str, dict]]:
    """A run's evaluations and jump events in the order the loop reported them: at a jump's step its
    evaluations (pre-, post-jump) first, then the jump. ("eval", point) or ("jump", event)."""
    items = [(p["step"], 0, "eval", p) for p in curve] + [(e["step"], 1, "jump", e) for e in events]
    return [(kind, item) for _, _, kind, item in sorted(items, key=lambda x: x[:2])]


def summarize(curve: list[dict], spec: LoopSpec, status: str) -> dict:
    return {"status": status, **scoring.score_run(curve, target=spec.target, eval_every=spec.eval_every,
                                                  steps=spec.steps)}


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the whole process, in bytes


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, dynamic_ncols=True, leave=False)
