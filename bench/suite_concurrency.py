"""Trials per hour through `introbench suite run` at several concurrencies on one device, against one process
per trial (as the old shell loop ran them: `introbench run` processes, as many at once), in one run.

    python bench/suite_concurrency.py --device cuda --task mnist3 --concurrency 1,4,8,16
    python bench/suite_concurrency.py --task mnist3 --concurrency 1,2 --steps 300      # CPU, a quick check

Each point runs 2 x C trials of TASK (seeds 0..2C-1, baseline, STEPS steps, evaluated every STEPS/4) so
every slot runs twice. On a GPU each suite trial gets 1/C of it (`--gpus-per-trial`) with its data on the
device. Trials/hour counts whole trials from the command's start to its end (Ray's start-up included, as a
user pays it); the process loop starts a fresh Python, CUDA context and dataset per trial.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml


def suite_file(folder: Path, task: str, trials: int, steps: int) -> Path:
    path = folder / "concurrency.yaml"
    path.write_text(yaml.safe_dump({"name": "concurrency", "experiments": [
        {"task": task, "forecasters": ["none"], "seeds": trials, "steps": steps, "eval_every": max(1, steps // 4)}]}))
    return path


def through_suite(folder: Path, task: str, c: int, steps: int, device: str, env: dict) -> float:
    trials = 2 * c
    gpu = ["--gpus-per-trial", f"{1 / c:.6f}", "--device", "cuda"] if device == "cuda" else ["--device", "cpu"]
    cmd = [sys.executable, "-m", "benchmark.cli", "suite", "run", str(suite_file(folder, task, trials, steps)),
           "--workers", str(c), "--results", str(folder / f"suite-{c}"), "--wandb", "disabled", "--no-progress",
           *gpu]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"suite run failed at concurrency {c}: {done.stderr.strip().splitlines()[-1:]}")
    return trials * 3600 / seconds


def one_process_per_trial(task: str, c: int, steps: int, device: str, env: dict) -> float:
    trials = 2 * c

    def one(seed: int) -> None:
        cmd = [sys.executable, "-m", "benchmark.cli", "run", task, "--seed", str(seed), "--steps", str(steps),
               "--eval-every", str(max(1, steps // 4)), "--device", device, "--threads", "1", "--no-progress",
               "--json"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"introbench run failed: {done.stderr.strip().splitlines()[-1:]}")

    start = time.perf_counter()
    with ThreadPoolExecutor(c) as pool:
        list(pool.map(one, range(trials)))
    return trials * 3600 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--task", default="mnist3")
    parser.add_argument("--concurrency", default="1,2", help="comma-separated, e.g. 1,4,8,16 on a GPU")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--data-dir", default=os.environ.get("INTROBENCH_DATA"))
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    if args.data_dir:
        env["INTROBENCH_DATA"] = str(Path(args.data_dir).resolve())
    print(f"{args.task}, {args.steps} steps per trial, device {args.device}; trials/hour (2 x C trials per point)")
    print(f"{'C':>3s} {'suite run':>12s} {'process/trial':>14s} {'ratio':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for c in (int(v) for v in args.concurrency.split(",")):
            ours = through_suite(Path(tmp), args.task, c, args.steps, args.device, env)
            procs = one_process_per_trial(args.task, c, args.steps, args.device, env)
            print(f"{c:3d} {ours:12.1f} {procs:14.1f} {ours / procs:7.2f}", flush=True)


if __name__ == "__main__":
    main()
