"""The CPU max pool (tasks/pooling.py) against nn.MaxPool2d, in one run: training steps/s and one evaluation's
time for each task whose network pools, and whether the weights after the steps are bitwise the same.

    python bench/pool_speed.py --data-dir ../shared/data                       # cifar1, mnist1, mnist2, n0
    python bench/pool_speed.py --tasks cifar1 --steps 40 --repeats 3 --data-dir ../shared/data

Both variants train the same model from the same seed on the same real batches by loop_speed's bare loop, one
torch thread; repeats are interleaved so drift hits both alike, and the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loop_speed import bare_steps, fresh, spec_of, task_data  # noqa: E402

from benchmark import loop  # noqa: E402
from tasks.pooling import MaxPool2d  # noqa: E402


def with_nn_pools(model: nn.Module) -> nn.Module:
    """The same model with every CPU max pool swapped for nn.MaxPool2d (what the networks used before)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, MaxPool2d):
                setattr(module, name, nn.MaxPool2d(child.kernel_size, child.stride, child.padding, child.dilation,
                                                   ceil_mode=child.ceil_mode))
    return model


def train(task, data, steps: int, old: bool, seed: int = 0) -> tuple[float, float, list[torch.Tensor]]:
    """(steps/s, seconds of one evaluation of the test set, the weights after the steps)."""
    cpu = torch.device("cpu")
    model, opt = fresh(task, data, cpu, seed)
    if old:
        model = with_nn_pools(model)  # a pool holds no parameters: the optimizer still holds them all
    spec = spec_of(task, steps, task.batch_size)
    rate = bare_steps(model, opt, data, spec, cpu, seed)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for x, _ in data.test_batches(loop.EVAL_BATCH["cpu"]):
            model(loop.model_input(x, spec, cpu, train=False, generator=None))
    return rate, time.perf_counter() - start, [p.detach().clone() for p in model.parameters()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="cifar1,mnist1,mnist2,n0")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| task | nn.MaxPool2d steps/s | CPU max pool steps/s | speed-up | one evaluation (1000 test images) | "
          "weights bitwise the same |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.tasks.split(","):
        task, data = task_data(name, torch.device("cpu"), args.data_dir)
        runs = {True: [], False: []}
        for _ in range(args.repeats):
            for old in (True, False):
                runs[old].append(train(task, data, args.steps, old))
        same = all(torch.equal(a, b) for a, b in zip(runs[True][0][2], runs[False][0][2]))
        rate = {old: statistics.median(r[0] for r in runs[old]) for old in runs}
        evals = {old: statistics.median(r[1] for r in runs[old]) for old in runs}
        print(f"| {name} (batch {task.batch_size}) | {rate[True]:.1f} | {rate[False]:.1f} | "
              f"{rate[False] / rate[True]:.2f}x | {evals[True]:.2f} s -> {evals[False]:.2f} s | "
              f"{'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
