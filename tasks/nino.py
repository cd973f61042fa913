"""NiNo's five vision tasks (Knyazev et al., ICLR 2025; SPEC.md "NiNo's vision tasks"): the tasks the current
state of the art in weight forecasting reports on."""

from __future__ import annotations

import functools

import torch

from . import models
from .base import Task, register_task

NINO = [  # name, dataset, input channels, conv channels, AdamW lr, NiNo's published target
    ("fm16", "fashion_mnist", 1, (16, 32, 32), 0.006, 0.895, 60_000),
    ("c10_16", "cifar10", 3, (16, 32, 32), 0.003, 0.660, 50_000),
    ("fm32", "fashion_mnist", 1, (32, 64, 64), 0.006, 0.905, 60_000),
    ("c10_32", "cifar10", 3, (32, 64, 64), 0.003, 0.725, 50_000),
    ("c100_32", "cifar100", 3, (32, 64, 64), 0.003, 0.390, 50_000),
]


def _make(name, dataset, in_channels, channels, lr, target, train_size) -> Task:
    return Task(
        name=name, dataset=dataset,
        model=functools.partial(models.NiNoCNN, in_channels, channels),
        optimizer=lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.0),
        optimizer_desc=f"AdamW lr={lr:g} wd=0", batch_size=128, steps=10_000, jumps=(2000, 4000, 6000, 8000),
        target=target, eval_every=200,
        train_subset=train_size * 11 // 12, subset="first", normalize=True,  # NiNo holds out the last 1/12
        paper=f"NiNo: {target:.1%} test accuracy, reached in up to 50% fewer steps than AdamW (10 seeds)",
        reduced=dict(steps=30, jumps=(10, 15, 20), train_subset=2048, subset="balanced", test_subset=512,
                     eval_every=10),
    )


def _register(spec) -> None:
    def factory() -> Task:
        return _make(*spec)

    factory.__qualname__ = factory.__name__ = spec[0]
    register_task(spec[0])(factory)


for _spec in NINO:
    _register(_spec)
