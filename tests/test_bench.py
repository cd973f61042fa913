"""Every benchmark in bench/ still runs and prints its comparison, at a size that takes seconds: a GPU session
has minutes of device time, and a benchmark broken by a change in the code it measures must not cost them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

# script -> (tiny arguments, what its output must say); None: why it is not run here
RUNS = {
    "folder_throughput.py": (["--images", "64", "--batches", "2", "--batch", "8", "--workers", "0"],
                             ["supply/demand"]),
    # the forked trial must end bit for bit as the one trained from step 0
    "fork_speed.py": (["--task", "mnist3", "--steps", "30", "--jumps", "20,25", "--eval-every", "5"],
                      ["| mnist3 introspection @20/25 | 30 | 15 |", "| yes |"]),
    "jump_cost.py": (["--tasks", "mnist1"], ["introspection", "quadratic"]),
    "loop_speed.py": (["--tasks", "mnist3", "--steps", "5", "--repeats", "1"], ["bare", "introbench", "ratio"]),
    # the swapped-in nn.MaxPool2d must train to the same weights, bit for bit
    "pool_speed.py": (["--tasks", "n0", "--steps", "3", "--repeats", "1"], ["| n0 (batch 50) |", "| yes |"]),
    "suite_concurrency.py": (["--concurrency", "1", "--steps", "20"], ["suite run", "process/trial"]),
    "startup.py": (["--repeats", "1"], ["| introbench's load_dataset (cached) |", "saved per trial process"]),
    "suite_speedup.py": None,  # two whole Ray suite runs (minutes); tests/test_sweep.py runs the same path
}


def test_every_benchmark_is_listed():
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(RUNS), "add the new benchmark's tiny run to RUNS"


@pytest.mark.parametrize("script", [s for s, run in RUNS.items() if run])
def test_benchmark_runs(script, data_dir, tmp_path):
    args, says = RUNS[script]
    # the data by $INTROBENCH_DATA, absolute: the run's cwd is tmp_path
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INTROBENCH_DATA": str(data_dir)}
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for text in says:
        assert text in proc.stdout, proc.stdout
