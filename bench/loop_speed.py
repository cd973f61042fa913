"""The training loop's steps/s against a bare hand-written PyTorch loop (same model, data, threads).

    python bench/loop_speed.py [--steps 300] [--repeats 3]

Prints both rates and their ratio (target >= 0.95) for mnist1 and mnist3 on the real MNIST.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from benchmark import loop
from benchmark.data import load_dataset, prepare_batch
from tasks import create_task


def bare(task, data, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = task.model(10)
    opt = task.optimizer(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    n = data.x_train.shape[0]
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    perm, pos = torch.randperm(n, generator=gen), 0
    for _ in range(steps):
        if pos + task.batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + task.batch_size]
        pos += task.batch_size
        x = data.x_train[idx].float().div_(255.0)
        loss = loss_fn(model(x), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # the loop reads the loss each step too (NaN check, progress bar)
    return steps / (time.perf_counter() - start)


def ours(task, data, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = task.model(10)
    opt = task.optimizer(model.parameters())
    spec = loop.LoopSpec(steps=steps, batch_size=task.batch_size, eval_every=steps, target=None)
    result = loop.train(model, opt, data, spec, seed=seed, progress=False)
    return steps / (result.summary["wall_clock"] - result.summary["eval_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist", test_subset=100)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} steps x {args.repeats} repeats (median)")
    for name in ("mnist3", "mnist1"):
        task = create_task(name)
        bare(task, data, 20, 0), ours(task, data, 20, 0)  # warm-up
        b, o = [], []
        for r in range(args.repeats):  # interleaved, so drift hits both alike
            b.append(bare(task, data, args.steps, r))
            o.append(ours(task, data, args.steps, r))
        mb, mo = statistics.median(b), statistics.median(o)
        print(f"{name}: bare {mb:8.1f} steps/s   introbench {mo:8.1f} steps/s   ratio {mo / mb:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
