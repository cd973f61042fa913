"""One jump (every forecaster) against one training step, and the history's peak extra memory.

    python bench/jump_cost.py [--alexnet-batch 16] [--tasks mnist1]   # CPU, 1 thread
    python bench/jump_cost.py --device cuda --alexnet-batch 128

For mnist1 (3.3M parameters) and alexnet (62M): seconds per jump for each registered forecaster beside the
seconds of one training step of the same task (its paper batch for mnist1; a smaller batch for AlexNet on a
CPU, stated in the output), and the peak extra memory of the snapshot history over the paper's jump
schedule, in parameter-copies and bytes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from benchmark.jumps import JumpEngine
from predictors import create_forecaster, list_forecasters
from tasks import count_parameters, create_task


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_seconds(task, model, batch: int, size: int, device, repeats: int = 5) -> float:
    opt = task.optimizer(model.parameters())
    x = torch.randn(batch, *size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    for _ in range(repeats + 2):  # the first two warm cuDNN and the allocator up
        sync(device)
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def jump_seconds(model, forecaster, jumps) -> tuple[float, float]:
    """Walk the schedule without training (weights drift a little by hand) and time the last jump."""
    engine = JumpEngine(forecaster, jumps, steps=jumps[-1])
    engine.on_start(model, None)
    params = [p for p in model.parameters() if p.requires_grad]
    for step in range(1, jumps[-1] + 1):
        if engine.history.wants(step) or step in jumps:
            with torch.no_grad():
                for p in params:
                    p.mul_(1.0001)
        engine.on_step(step, model, None, evaluate=lambda phase: 0.0)
    seconds = [e["seconds"] for e in engine.events]
    return statistics.median(seconds), engine.summary()["history_peak_copies"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alexnet-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--tasks", default="mnist1,alexnet", help="comma-separated, of mnist1, alexnet")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in ("mnist1", "alexnet")]
    if unknown:
        raise SystemExit(f"bench/jump_cost.py: --tasks: unknown {', '.join(unknown)}; allowed: mnist1, alexnet")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/jump_cost.py: --device cuda, but torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"torch {torch.__version__}, {where}")
    for name, batch, size, classes in (("mnist1", 50, (1, 28, 28), 10),
                                       ("alexnet", args.alexnet_batch, (3, 224, 224), 1000)):
        if name not in tasks:
            continue
        task = create_task(name)
        torch.manual_seed(0)
        model = task.model(classes).to(device)
        n = count_parameters(model)
        step = step_seconds(task, model, batch, size, device)
        # Jump points scaled down (same fractions of t) so walking the schedule stays quick.
        jumps = [int(j / 100) for j in task.jumps]
        print(f"\n{name}: {n:,} parameters ({n * 4 / 2**20:.0f} MiB); one training step at batch {batch}: "
              f"{step * 1000:.1f} ms; jumps {jumps} (paper's / 100)")
        print(f"  {'forecaster':22s} {'jump ms':>9s} {'jump/step':>10s} {'peak history copies':>20s}")
        for fname in list_forecasters():
            f = create_forecaster(fname)
            if not f.jumps:
                continue
            torch.manual_seed(0)
            fresh = task.model(classes).to(device)
            secs, copies = jump_seconds(fresh, f, jumps)
            print(f"  {fname:22s} {secs * 1000:9.1f} {secs / step:10.2f} {copies:14.1f} "
                  f"({copies * n * 4 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
