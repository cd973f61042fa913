"""Any timm architecture as a task: ``timm:<model>[@<dataset>]`` trains it from scratch on a registered dataset
(CIFAR-10 when none is named).

The model's pretrained config (a tag such as ``resnet18.a1_in1k`` picks one) gives the input size; batches are
resized to it on the device. The weights are not downloaded: like every task, it trains from scratch. Whether
the model runs on the dataset (its channels, at that size) is checked by a forward pass on PyTorch's meta
device when the task is built, so a suite that validates never crashes at its first step.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from benchmark.errors import ConfigError, IntrobenchError

from .base import Task

DEFAULT_DATASET = "cifar10"
STEPS = 20_000


def parse_timm_name(spec: str) -> tuple[str, str]:
    """'resnet18.a1_in1k@fashion_mnist' -> ('resnet18.a1_in1k', 'fashion_mnist'); the dataset defaults to CIFAR-10."""
    model, _, dataset = spec.partition("@")
    if not model:
        raise ConfigError("task", "timm tasks are named timm:<model>[@<dataset>], e.g. timm:resnet18@fashion_mnist")
    return model, dataset or DEFAULT_DATASET


def _pretrained_cfg(model_name: str):
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(model_name):
        base = model_name.split(".", 1)[0]
        close = timm.list_models(f"*{base}*")[:10]
        hint = f" close matches: {', '.join(close)}" if close else " see timm.list_models()"
        raise ConfigError("task", f"timm has no model '{model_name}';{hint}")
    try:
        return get_pretrained_cfg(model_name)
    except RuntimeError:  # an unknown tag on a known architecture
        tags = timm.list_pretrained(f"{model_name.split('.', 1)[0]}.*")[:8]
        raise ConfigError("task", f"timm model '{model_name}' has no such pretrained tag; known: "
                                  f"{', '.join(tags) or 'none'}") from None


@lru_cache(maxsize=256)
def _runs_at(model_name: str, in_chans: int, num_classes: int, size: int) -> str | None:
    """None if the model maps a (2, in_chans, size, size) batch to (2, num_classes) logits; else why not."""
    import timm

    try:
        with torch.device("meta"):  # shapes only: no memory, no compute
            model = timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
            out = model(torch.empty(2, in_chans, size, size))
    except Exception as exc:  # noqa: BLE001 - any failure here is the model refusing this input
        return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    if tuple(out.shape) != (2, num_classes):
        return f"it returns {tuple(out.shape)} for a batch of 2, not class logits"
    return None


def timm_task(spec: str) -> Task:
    import timm

    from benchmark.data import dataset_spec

    model_name, dataset = parse_timm_name(spec)
    cfg = _pretrained_cfg(model_name)
    try:
        data = dataset_spec(dataset)
    except IntrobenchError as exc:
        raise ConfigError("task", f"timm:{spec}: {exc}") from None
    in_chans = len(data.mean) if data.mean else 3
    classes = data.num_classes or 10  # an image folder's classes are known only once it is read
    native = data.native_size or cfg.input_size[-1]
    full = int(cfg.input_size[-1])
    why = _runs_at(model_name, in_chans, classes, full)
    if why:
        raise ConfigError("task", f"timm:{spec} cannot run on {dataset} ({in_chans} channel(s), {full} px from its "
                                  f"pretrained config): {why}")
    # The CPU smoke budget keeps the dataset's own size when the model takes it (a fixed-size ViT does not).
    small = native if native < full and not _runs_at(model_name, in_chans, classes, native) else full

    def build(num_classes: int):
        return timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_chans)

    return Task(
        name=f"timm:{spec}", dataset=dataset, model=build,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4),
        optimizer_desc="SGD lr=0.05 momentum=0.9 wd=5e-4, cosine",
        schedule=lambda opt: CosineAnnealingLR(opt, T_max=STEPS),
        batch_size=128, steps=STEPS, jumps=(6000, 8000, 10000), target=None, eval_every=500,
        augment="flip", image_size=full, normalize=bool(data.mean),
        paper="not in the paper",
        reduced=dict(steps=4, jumps=(2, 3), batch_size=8, train_subset=64, test_subset=32, eval_every=2,
                     image_size=small),
    )
