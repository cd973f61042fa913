"""Checks made before Ray starts, for the causes that would fail every trial of a suite the same way: no data
or unreadable data, no GPU for ``--gpus-per-trial``, an unwritable results folder. Each fails with one line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from .config import RunConfig
from .errors import IntrobenchError


def check_results_folder(results: Path) -> None:
    if results.exists() and not results.is_dir():
        raise IntrobenchError(f"--results {results} is a file, not a folder")
    try:
        results.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise IntrobenchError(f"--results {results} is not writable: {exc.strerror or exc}") from None


def check_data(configs: Iterable[RunConfig], progress: bool = True, seen: set | None = None) -> None:
    """Read every dataset the trials need once, here, so a missing or broken one is one line, not N tracebacks
    (a JPEG folder is decoded and cached now, once, instead of by several workers at the same time). ``seen``:
    the (dataset, data folder) pairs an earlier call of the same run read already, which are not read again."""
    from .data import load_dataset
    from .run import plan

    seen = set() if seen is None else seen
    for config in configs:
        task = plan(config)[0]
        key = (task.dataset, config.data_dir)
        if key not in seen:
            seen.add(key)
            load_dataset(task.dataset, config.data_dir, image_size=task.image_size, progress=progress)


def check_gpus(gpus_per_trial: float, address: str | None) -> None:
    """Without a GPU, Ray would keep every trial waiting for one forever."""
    if gpus_per_trial <= 0:
        return
    if address:
        import ray

        have = ray.cluster_resources().get("GPU", 0)
        where = f"the Ray cluster at {address} has {have:g} GPUs"
    else:
        import torch

        have = torch.cuda.device_count()
        where = f"torch sees {have} CUDA devices on this machine"
    if have < gpus_per_trial:
        raise IntrobenchError(f"--gpus-per-trial {gpus_per_trial:g} asks for a GPU, but {where}: "
                              "run with --gpus-per-trial 0, or on a machine with one")


def absolute_env_paths(names=("INTROBENCH_DATA", "INTROBENCH_CACHE")) -> dict[str, str]:
    """Path variables as absolute paths: Ray runs trials in another working directory."""
    return {k: str(Path(os.environ[k]).expanduser().resolve()) for k in names if os.environ.get(k)}
