"""What a fresh process pays to get MNIST-style data in memory, as every Ray worker of a suite and every
`introbench` command does: introbench's cached tensors against reading the IDX files through torchvision's
dataset class (what each trial did before), with a bare `import torch` as the floor, in one run.

    python bench/startup.py --data-dir ../shared/data
    python bench/startup.py --dataset fashion_mnist --repeats 9 --data-dir ../shared/data

Each case is a new Python process, timed from outside (wall) and by the CPU it used (user + system); cases are
interleaved so drift hits each alike, and the median is reported. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def cases(name: str, root: str) -> dict[str, str]:
    title = FOLDERS[name]
    return {
        "import torch (the floor)": "import torch",
        "introbench's load_dataset (cached)": f"from benchmark.data import load_dataset; load_dataset({name!r}, {root!r})",
        "torchvision's reader (before)": (f"from torchvision import datasets; c = datasets.{title}; "
                                          f"c({root!r}, train=True); c({root!r}, train=False)"),
    }


def measure(code: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter running ``code``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="mnist")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats: must be at least 1, got {args.repeats}")
    from benchmark.data import load_dataset, resolve_data_dir

    root = str(resolve_data_dir(args.data_dir).resolve())
    load_dataset(args.dataset, root)  # the cache made (a suite's preflight does this once, in its driver)
    runs = cases(args.dataset, root)
    times: dict[str, list[tuple[float, float]]] = {c: [] for c in runs}
    for _ in range(args.repeats):
        for case, code in runs.items():
            times[case].append(measure(code))
    median = {c: (statistics.median(w for w, _ in t), statistics.median(u for _, u in t)) for c, t in times.items()}
    before = median["torchvision's reader (before)"]
    print(f"{args.dataset} in a fresh process, median of {args.repeats}:\n")
    print("| case | wall s | CPU s | CPU vs before |")
    print("| --- | --- | --- | --- |")
    for case, (wall, cpu) in median.items():
        print(f"| {case} | {wall:.2f} | {cpu:.2f} | {cpu / before[1]:.2f}x |")
    now = median["introbench's load_dataset (cached)"]
    print(f"\nsaved per trial process: {before[1] - now[1]:.2f} s of CPU, {before[0] - now[0]:.2f} s of wall")


if __name__ == "__main__":
    main()
