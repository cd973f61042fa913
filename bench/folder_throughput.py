"""The streamed ImageFolder path (ImageNet's) in images/s against what a training step consumes, in one run.

    python bench/folder_throughput.py                               # CPU: a synthetic folder of JPEGs
    python bench/folder_throughput.py --device cuda --workers 1,4,8,15 [--folder /data/imagenet]

Supply: the run's own loader (`load_dataset("imagefolder:...", workers=W)`: persistent workers, pinned memory
on a GPU, RandomResizedCrop + flip + normalise at 224 px), batches moved to the device, for each worker count.
Demand: AlexNet's training steps/s at the same batch on the same device (synthetic input) x the batch. The
path keeps up when supply >= demand. Without --folder, a folder of 500x375 JPEGs (ImageNet's typical size)
is written to a temporary directory first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmark.data import load_dataset
from tasks import create_task


def synthetic_folder(root: Path, images: int, classes: int = 10) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", images), ("val", classes)):
        for i in range(n):
            folder = root / split / f"c{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            # smooth noise compresses like a photo does, not like white noise
            small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            Image.fromarray(small).resize((500, 375), Image.BILINEAR).save(folder / f"{i}.jpg", quality=90)
    return root


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def supply(folder: Path, workers: int, batch: int, batches: int, device) -> float:
    data = load_dataset(f"imagefolder:{folder}", None, image_size=224, workers=workers, device=device)
    it = data.train_batches(batch, torch.Generator().manual_seed(0))
    for _ in range(workers * 4 + 1):  # workers up and their prefetched batches drained: a steady state is timed
        next(it)
    sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        x, y = next(it)
        x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    sync(device)
    return batches * batch / (time.perf_counter() - start)


def demand(batch: int, steps: int, device) -> float:
    task = create_task("alexnet")
    torch.manual_seed(0)
    model = task.model(1000).to(device)
    opt = task.optimizer(model.parameters())
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    for i in range(steps + 3):
        if i == 3:
            sync(device)
            start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--folder", help="an ImageFolder with train/ and val/ (default: a synthetic one)")
    parser.add_argument("--workers", default="0,1", help="comma-separated loader worker counts")
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on cuda, 16 on cpu")
    parser.add_argument("--batches", type=int, default=None, help="timed batches (default: 30 cuda, 20 cpu)")
    parser.add_argument("--images", type=int, default=2000, help="images in the synthetic folder")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process (its step's too)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/folder_throughput.py: --device cuda, but torch sees no CUDA device")
    torch.backends.cudnn.benchmark = True
    gpu = device.type == "cuda"
    batch = args.batch or (128 if gpu else 16)
    batches = args.batches or (30 if gpu else 20)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else synthetic_folder(Path(tmp), args.images)
        need = demand(batch, 20 if gpu else 3, device)
        where = torch.cuda.get_device_name(device) if gpu else "CPU"
        print(f"torch {torch.__version__}, {where}; batch {batch}; folder {folder if args.folder else 'synthetic 500x375 JPEGs'}")
        print(f"demand: alexnet training consumes {need:8.1f} images/s")
        for w in (int(v) for v in args.workers.split(",")):
            got = supply(folder, w, batch, batches, device)
            print(f"supply: {w:2d} loader worker(s)      {got:8.1f} images/s   supply/demand {got / need:.2f}"
                  f" ({'keeps up' if got >= need else 'starves the step'})")


if __name__ == "__main__":
    main()
