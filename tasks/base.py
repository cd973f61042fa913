"""The task contract: model + data + optimizer + schedule + budget + target, as one dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from benchmark.config import PRECISIONS
from benchmark.data import AUGMENTS, SUBSET_MODES, dataset_spec
from benchmark.errors import ConfigError
from benchmark.registry import Registry

ModelFn = Callable[[int], nn.Module]
OptimizerFn = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
ScheduleFn = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


@dataclass(frozen=True)
class Task:
    """Everything the loop needs to train one network; the loop knows nothing else of it."""

    name: str
    dataset: str  # a registered dataset (`introbench datasets`), or "imagefolder:<path>"
    model: ModelFn  # num_classes -> freshly initialised module
    optimizer: OptimizerFn
    optimizer_desc: str
    batch_size: int
    steps: int
    jumps: tuple[int, ...] = ()
    target: float | None = None  # accuracy in [0, 1]; None: no fixed target
    schedule: ScheduleFn | None = None
    metric: str = "top1"  # "top1" or "top5"
    eval_every: int = 100
    augment: str = "none"  # one of benchmark.data.AUGMENTS
    image_size: int | None = None  # None: the dataset's own size
    train_subset: int | None = None  # use only N training examples (see subset)
    test_subset: int | None = None
    subset: str = "balanced"  # "balanced": a fixed random, class-balanced N; "first": the first N (NiNo's split)
    normalize: bool = False  # normalise inputs with the dataset's per-channel mean and std
    precision: str = "fp32"  # "bf16": bfloat16 autocast (off for the paper's tasks, so their numbers compare)
    channels_last: bool = False  # channels_last model and image batches (faster convolutions on a GPU)
    paper: str = ""
    reduced: dict = field(default_factory=dict)  # overrides that make a CPU smoke run take seconds

    def with_reduced_budget(self) -> "Task":
        return self.replace(**self.reduced)

    def replace(self, **overrides) -> "Task":
        names = {f.name for f in dataclasses.fields(self)}
        for key in overrides:
            if key not in names:
                raise ConfigError(key, f"not a task setting; allowed: {', '.join(sorted(names))}")
        task = dataclasses.replace(self, **overrides)
        task.validate()
        return task

    def validate(self) -> None:
        if self.steps <= 0:
            raise ConfigError("steps", f"must be a positive integer, got {self.steps}")
        if self.batch_size <= 0:
            raise ConfigError("batch_size", f"must be a positive integer, got {self.batch_size}")
        if self.eval_every <= 0:
            raise ConfigError("eval_every", f"must be a positive integer, got {self.eval_every}")
        if self.metric not in ("top1", "top5"):
            raise ConfigError("metric", f"must be top1 or top5, got {self.metric!r}")
        if self.target is not None and not 0 < self.target <= 1:
            raise ConfigError("target", f"must be an accuracy in (0, 1], got {self.target}")
        if self.augment not in AUGMENTS:
            raise ConfigError("augment", f"must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", f"must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.subset not in SUBSET_MODES:
            raise ConfigError("subset", f"must be one of {', '.join(SUBSET_MODES)}, got {self.subset!r}")
        spec = dataset_spec(self.dataset)  # an unknown dataset fails here, naming the known ones
        if self.normalize and not spec.mean:
            raise ConfigError("normalize", f"dataset '{self.dataset}' has no per-channel mean/std")

    def describe(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "optimizer": self.optimizer_desc,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "jumps": list(self.jumps),
            "target": self.target,
            "metric": self.metric,
            "eval_every": self.eval_every,
            "paper": self.paper,
        }


TaskFactory = Callable[[], Task]
TASKS: Registry[TaskFactory] = Registry("task")


def register_task(name: str):
    """Decorate a zero-argument function returning a Task; it is listed under ``name``."""
    return TASKS.register(name)


def list_tasks(pattern: str = "*") -> list[str]:
    return TASKS.names(pattern)


def create_task(name: str, *, reduced: bool = False, **overrides) -> Task:
    if name.startswith("timm:"):
        from .timm_tasks import timm_task

        task = timm_task(name.split(":", 1)[1])  # timm:<model>[@<dataset>]
    else:
        task = TASKS.get(name)()
    task.validate()
    if reduced:
        task = task.with_reduced_budget()
    return task.replace(**overrides) if overrides else task


OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def parse_optimizer(spec: str) -> tuple[OptimizerFn, str]:
    """'adam:1e-4' -> (factory, description): the paper's Adam comparisons (4.4) swap only the optimizer."""
    name, _, lr = str(spec).partition(":")
    if name not in OPTIMIZERS:
        raise ConfigError("optimizer", f"must be NAME:LR with NAME one of {', '.join(OPTIMIZERS)}, got {spec!r}")
    try:
        rate = float(lr)
    except ValueError:
        raise ConfigError("optimizer", f"must be NAME:LR with a number LR, got {spec!r}") from None
    if not rate > 0:
        raise ConfigError("optimizer", f"the learning rate must be > 0, got {spec!r}")
    cls = OPTIMIZERS[name]
    return (lambda params: cls(params, lr=rate)), f"{cls.__name__} lr={rate:g}"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
