"""A suite of 8 small trials under Ray Tune with 1 and with 2 workers: the speed-up and Ray's fixed cost.

    python bench/suite_speedup.py [--steps 2000]

Prints the wall-clock of each, the speed-up (target >= 1.6x on 2 cores), and Ray's start-up cost
(ray.init + shutdown with nothing to run), all measured in this one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmark.suites import parse_suite
from benchmark.sweep import SweepOptions, run_suite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    data = {"name": "bench", "experiments": [{"task": "mnist3", "reduced": True, "steps": args.steps,
                                              "eval_every": args.steps, "forecasters": ["none", "extrapolate"],
                                              "seeds": 4}]}
    suite = parse_suite(data, "bench")
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    startup = time.perf_counter() - t0
    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as results:
            t0 = time.perf_counter()
            outcome = run_suite(suite, SweepOptions(results=results, workers=workers, wandb="disabled", progress=False))
            times[workers] = time.perf_counter() - t0
            assert outcome["finished"] == 8, outcome
    print(f"8 trials (mnist3 reduced, {args.steps} steps each), W&B off")
    print(f"ray.init + shutdown alone: {startup:.1f} s")
    print(f"1 worker: {times[1]:.1f} s   2 workers: {times[2]:.1f} s   speed-up {times[1] / times[2]:.2f}x (target >= 1.6x)")


if __name__ == "__main__":
    main()
