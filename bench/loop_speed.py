"""The training loop's steps/s against a bare, sync-free PyTorch loop doing the same work, in one run.

    python bench/loop_speed.py                         # CPU, 1 thread: mnist3 and mnist1 at their paper batch
    python bench/loop_speed.py --device cuda           # GPU: mnist1, cifar1, alexnet at batch 128 (+ bf16, channels_last)
    python bench/loop_speed.py --tasks mnist1 --variants fp32,bf16   # a CPU with AMX: what bf16 autocast gains
    python bench/loop_speed.py --tasks mnist1 --eval-batches 100,250,1000   # what one evaluation costs, in steps,
                                                                            # and whether its logits change

Both loops train the same model from the same seed on the same batches (in-memory data on the device; AlexNet on
synthetic 224 px images, 1000 classes), prepared by the same `prepare_batch`. The bare loop never reads a value
back from the device; the introbench loop is `benchmark.loop.train` with one evaluation at each end, timed
from its first step to its last (a device sync at both ends, evaluations excluded). Repeats are interleaved so
drift hits both alike; the median is reported with the ratio (target >= 0.95). On a GPU, the variants
bf16 / channels_last / both are timed through the introbench loop against its own fp32 (speed-up).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from torch import nn

from benchmark import loop
from benchmark.data import TensorData, dataset_spec, load_dataset, prepare_batch
from tasks import create_task

VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "channels_last": ("fp32", True),
            "bf16+channels_last": ("bf16", True)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def task_data(name: str, device: torch.device, data_dir: str | None):
    task = create_task(name)
    if dataset_spec(task.dataset).in_memory:
        return task, load_dataset(task.dataset, data_dir, test_subset=1000, device=device)
    # ImageNet is not here: synthetic images of the task's size, 1000 classes, held on the device
    g = torch.Generator().manual_seed(0)
    size = task.image_size or 224
    x = torch.randint(0, 256, (1280, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 1000, (1280,), generator=g)
    return task, TensorData(x, y, x[:256], y[:256], 1000).to(device)


def spec_of(task, steps: int, batch: int, precision: str = "fp32", channels_last: bool = False) -> loop.LoopSpec:
    return loop.LoopSpec(steps=steps, batch_size=batch, eval_every=steps, target=None, metric=task.metric,
                         augment=task.augment, image_size=task.image_size,
                         normalize=dataset_spec(task.dataset).normalize if task.normalize else None,
                         precision=precision, channels_last=channels_last)


def fresh(task, data, device, seed: int, channels_last: bool = False):
    torch.manual_seed(seed)
    model = task.model(data.num_classes).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, task.optimizer(model.parameters())


def bare(task, data, spec: loop.LoopSpec, device, seed: int) -> float:
    """A hand-written loop: the same batches and preparation, no hooks, no reads back from the device."""
    model, opt = fresh(task, data, device, seed, spec.channels_last)
    return bare_steps(model, opt, data, spec, device, seed)


def bare_steps(model: nn.Module, opt, data, spec: loop.LoopSpec, device, seed: int) -> float:
    """``spec.steps`` steps of ``model`` by the bare loop, from the seed's batch order; steps/s."""
    gen = torch.Generator(device=data.x_train.device).manual_seed(seed)
    batches = data.train_batches(spec.batch_size, gen)
    loss_fn = nn.CrossEntropyLoss()
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if spec.precision == "bf16" \
        else contextlib.nullcontext
    layout = torch.channels_last if spec.channels_last else torch.contiguous_format
    model.train()
    sync(device)
    start = time.perf_counter()
    for _ in range(spec.steps):
        x, y = next(batches)
        x = prepare_batch(x, train=True, augment=spec.augment, image_size=spec.image_size, generator=gen,
                          normalize=spec.normalize).contiguous(memory_format=layout)
        with autocast():
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return spec.steps / (time.perf_counter() - start)


class Clock:
    """A loop hook that times the training steps alone: from after the first evaluation to the last step."""

    def __init__(self, device, last: int):
        self.device, self.last = device, last

    def on_start(self, model, optimizer):
        sync(self.device)
        self.start = time.perf_counter()

    def on_step(self, step, model, optimizer, evaluate):
        if step == self.last:
            sync(self.device)
            self.seconds = time.perf_counter() - self.start

    def summary(self):
        return {}


def ours(task, data, spec: loop.LoopSpec, device, seed: int) -> float:
    model, opt = fresh(task, data, device, seed, spec.channels_last)
    clock = Clock(device, spec.steps)
    loop.train(model, opt, data, spec, seed=seed, device=device, hooks=[clock], progress=False)
    return spec.steps / clock.seconds


def eval_seconds(task, data, device, batch: int, eval_batch: int, repeats: int) -> float:
    """Seconds of one evaluation of the whole test set by the introbench loop at ``eval_batch`` (its summary's
    eval_seconds over a 1-step run evaluated at both ends), the median of ``repeats``."""
    import dataclasses

    times = []
    for r in range(repeats):
        spec = dataclasses.replace(spec_of(task, 1, batch), eval_batch_size=eval_batch)
        model, opt = fresh(task, data, device, r)
        run = loop.train(model, opt, data, spec, seed=r, device=device, progress=False)
        evals = sum(p["phase"] == "eval" for p in run.curve)
        times.append(run.summary["eval_seconds"] / evals)
    return statistics.median(times)


@torch.no_grad()
def logits_at(task, data, device, eval_batch: int) -> torch.Tensor:
    """A fresh model's logits on the whole test set, evaluated as the loop does at ``eval_batch``."""
    model, _ = fresh(task, data, device, 0)
    model.eval()
    spec = spec_of(task, 1, eval_batch)
    return torch.cat([model(loop.model_input(x, spec, device, train=False, generator=None))
                      for x, _ in data.test_batches(eval_batch)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--tasks", help="comma-separated (default: mnist3,mnist1 on cpu; mnist1,cifar1,alexnet on cuda)")
    parser.add_argument("--batch", type=int, help="batch size (default: the task's on cpu, 128 on cuda)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default 300 cpu, 200 cuda)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir")
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)} (default: all on cuda, fp32 on "
                                           "cpu; bf16 pays on a CPU with AMX or AVX512-BF16)")
    parser.add_argument("--eval-batches", help="also time one evaluation of the whole test set at each of these "
                                               "batch sizes, e.g. 100,250,1000 (the loop's: 100 on a CPU, 1000 on "
                                               "a GPU), in training steps, and whether its logits are bitwise "
                                               "those at 1000")
    args = parser.parse_args()
    chosen = args.variants.split(",") if args.variants else None
    if chosen and (set(chosen) - set(VARIANTS) or "fp32" not in chosen):
        raise SystemExit(f"bench/loop_speed.py: --variants: {args.variants!r}; allowed: {', '.join(VARIANTS)}, "
                         "fp32 among them (the others are measured against it)")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/loop_speed.py: --device cuda, but torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # as a run does unless asked to be deterministic
    gpu = device.type == "cuda"
    names = args.tasks.split(",") if args.tasks else (["mnist1", "cifar1", "alexnet"] if gpu else ["mnist3", "mnist1"])
    steps = args.steps or (200 if gpu else 300)
    where = torch.cuda.get_device_name(device) if gpu else f"CPU, {args.threads} thread(s)"
    print(f"torch {torch.__version__}, {where}; {steps} steps x {args.repeats} repeats (median)")
    for name in names:
        task, data = task_data(name, device, args.data_dir)
        batch = args.batch or (128 if gpu else task.batch_size)
        variants = chosen or (list(VARIANTS) if gpu else ["fp32"])
        rates = {}
        for variant in variants:
            spec = spec_of(task, steps, batch, *VARIANTS[variant])
            warm = spec_of(task, 20, batch, *VARIANTS[variant])
            bare(task, data, warm, device, 0), ours(task, data, warm, device, 0)  # cuDNN autotuning, allocator
            b, o = [], []
            for r in range(args.repeats):
                b.append(bare(task, data, spec, device, r))
                o.append(ours(task, data, spec, device, r))
            rates[variant] = (statistics.median(b), statistics.median(o))
        for variant, (mb, mo) in rates.items():
            gain = f"   vs fp32 {mo / rates['fp32'][1]:.2f}x" if variant != "fp32" else ""
            print(f"{name:8s} batch {batch:4d} {variant:19s} bare {mb:8.1f} steps/s   introbench {mo:8.1f} steps/s"
                  f"   ratio {mo / mb:.3f} (target >= 0.95){gain}")
        if args.eval_batches and dataset_spec(task.dataset).in_memory:
            full = load_dataset(task.dataset, args.data_dir, device=device)  # the whole test set, as a trial has
            reference = logits_at(task, full, device, 1000)
            for eb in (int(b) for b in args.eval_batches.split(",")):
                secs = eval_seconds(task, full, device, batch, eb, args.repeats)
                got = logits_at(task, full, device, eb)
                same = "yes" if torch.equal(got, reference) else f"no (max |diff| {(got - reference).abs().max():.1e})"
                print(f"{name:8s} evaluation of {full.x_test.shape[0]} test images at batch {eb:5d}: {secs:6.2f} s "
                      f"= {secs * rates['fp32'][1]:5.0f} training steps (fp32); logits bitwise those at 1000: {same}")


if __name__ == "__main__":
    main()
