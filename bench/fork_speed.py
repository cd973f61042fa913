"""A jumped trial forked from its baseline (benchmark/forks.py) against the same trial trained from step 0, in one
run: the seconds of each, what the baseline's fork cost it, and whether the forked trial's curve and jumps are
bitwise the unforked one's.

    python bench/fork_speed.py --data-dir ../shared/data                          # cifar1 at 1/10 of its budget
    python bench/fork_speed.py --task mnist1 --steps 20000 --jumps 3000,4000,5000 --data-dir ../shared/data

Each run is `introbench run`'s run(), one torch thread, on the real data; times are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmark import forks
from benchmark.config import RunConfig
from benchmark.forks import ForksWritten
from benchmark.run import run

TIMING = ("seconds",)


def untimed(items):
    return [{k: v for k, v in item.items() if k not in TIMING} for item in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="cifar1")
    parser.add_argument("--forecaster", default="introspection")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--jumps", default="1200,1700", help="the jump points, comma-separated")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    torch.set_num_threads(1)
    jumps = tuple(int(j) for j in args.jumps.split(","))
    config = RunConfig(task=args.task, forecaster=args.forecaster, jumps=jumps, steps=args.steps,
                       eval_every=args.eval_every, data_dir=args.data_dir, threads=1)
    baseline = RunConfig(task=args.task, steps=args.steps, eval_every=args.eval_every, data_dir=args.data_dir,
                         threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        source = forks.source_for(config, results)
        if source is None:
            raise SystemExit(f"fork_speed: {args.task} with jumps {list(jumps)} cannot fork (its first jump comes "
                             f"before the first evaluation after step 0)")
        start = time.perf_counter()
        whole = run(config, progress=False)
        scratch = time.perf_counter() - start
        start = time.perf_counter()
        try:
            run(baseline, progress=False, checkpoint=results / "base.pt", forks=results, forks_only=True,
                fork_points={source.step: list(source.steps)})
        except ForksWritten:
            pass
        prefix = time.perf_counter() - start
        start = time.perf_counter()
        forked = run(config, progress=False, checkpoint=results / "trial.pt", forks=results)
        after = time.perf_counter() - start
    same = (forked.summary.get("forked_from") == source.step and untimed(forked.curve) == untimed(whole.curve)
            and untimed(forked.events) == untimed(whole.events))
    print("| task | steps | fork point | from step 0 | forked | saved | baseline to the fork point (once a seed) | "
          "curve and jumps bitwise the same |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.task} {args.forecaster} @{'/'.join(map(str, jumps))} | {args.steps} | {source.step} | "
          f"{scratch:.1f} s | {after:.1f} s | {1 - after / scratch:.0%} | {prefix:.1f} s | "
          f"{'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
