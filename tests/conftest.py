import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("INTROBENCH_DATA", str((ROOT.parent / "shared" / "data").resolve()))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
torch.set_num_threads(1)  # one torch thread per process: two threads slow ten-fold when a core is busy


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["INTROBENCH_DATA"]).resolve()  # as given relative, it means nothing from another cwd
    if not (path / "MNIST" / "raw").is_dir():
        pytest.fail(f"the real datasets are expected at {path} (set INTROBENCH_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_imagefolder(tmp_path_factory, data_dir) -> Path:
    """A small ImageFolder in the ImageNet layout, made from real CIFAR-10 JPEGs (ImageNet is not shipped)."""
    root = tmp_path_factory.mktemp("imagenet-data")
    for split, per_class in (("train", 8), ("val", 4)):
        for cls in ("airplane", "cat", "ship"):
            dst = root / "imagenet" / split / cls
            dst.mkdir(parents=True)
            src = sorted((data_dir / "cifar10-jpg" / ("train" if split == "train" else "test") / cls).glob("*.jpg"))
            for f in src[:per_class]:
                (dst / f.name).write_bytes(f.read_bytes())
    return root


# The files whose tests run suites under Ray or train for real, longest first: under `-n 2` (worksteal, in
# pyproject.toml) an idle worker takes tests from the end of the other's queue, and the end is then short tests,
# not a 2-minute one that keeps one core busy while the other sits idle.
SLOW_FIRST = ("test_sweep.py", "test_real_training.py", "test_report.py", "test_checkpoint.py", "test_bench.py",
              "test_cli.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: each file keeps its order
