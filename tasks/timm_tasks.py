"""Any timm architecture as a task: ``timm:<model>`` trains it from scratch on CIFAR-10."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from benchmark.errors import ConfigError

from .base import Task


def timm_task(model_name: str) -> Task:
    import timm

    if model_name not in timm.list_models():
        close = timm.list_models(f"*{model_name}*")[:10]
        hint = f" close matches: {', '.join(close)}" if close else " see timm.list_models()"
        raise ConfigError("task", f"timm has no model '{model_name}';{hint}")
    steps = 20_000

    def build(num_classes: int):
        return timm.create_model(model_name, pretrained=False, num_classes=num_classes)

    return Task(
        name=f"timm:{model_name}", dataset="cifar10", model=build,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4),
        optimizer_desc="SGD lr=0.05 momentum=0.9 wd=5e-4, cosine",
        schedule=lambda opt: CosineAnnealingLR(opt, T_max=steps),
        batch_size=128, steps=steps, jumps=(6000, 8000, 10000), target=None, eval_every=500,
        augment="crop_flip", image_size=32,
        paper="not in the paper",
        reduced=dict(steps=4, jumps=(2, 3), batch_size=8, train_subset=64, test_subset=32, eval_every=2),
    )
