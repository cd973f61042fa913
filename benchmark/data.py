"""Datasets as tensors in memory (MNIST, CIFAR-10) or streamed from an ImageFolder (ImageNet).

Where data comes from: ``--data-dir``, else ``$INTROBENCH_DATA``, else a cache folder; torchvision
downloads MNIST/CIFAR-10 there when the machine is online. A CIFAR-10 ImageFolder of JPEGs is decoded
once and cached as safetensors, never per epoch.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from .errors import ConfigError, IntrobenchError
from .registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetSpec:
    """What the loop needs to know of a dataset: how to load it, its classes, its normalisation, its layout."""

    name: str
    load: Callable[[Path, bool, int | None], "TensorData | FolderData"]  # (data root, download?, image size)
    num_classes: int
    layout: str  # where it lives under the data folder, for messages and `introbench datasets`
    mean: tuple[float, ...] = ()  # per-channel normalisation of [0, 1] inputs, when a task asks for it
    std: tuple[float, ...] = ()
    in_memory: bool = True  # False: streamed from disk by DataLoader workers
    native_size: int | None = None  # the images' own side in pixels (in-memory datasets); None: any size

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.mean:
            raise ConfigError("normalize", f"dataset '{self.name}' has no per-channel mean/std to normalise with")
        shape = (1, -1, 1, 1)
        return (x - x.new_tensor(self.mean).view(shape)) / x.new_tensor(self.std).view(shape)


DATASETS: Registry[Callable[[], DatasetSpec]] = Registry("dataset")


def register_dataset(name: str):
    """Decorate a zero-argument function returning a DatasetSpec; tasks then name the dataset ``name``."""
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    return DATASETS.names() + ["imagefolder:<path>"]


def dataset_spec(name: str) -> DatasetSpec:
    if isinstance(name, str) and name.startswith("imagefolder:") and len(name) > len("imagefolder:"):
        return _imagefolder_spec(name.split(":", 1)[1])
    if name not in DATASETS:
        raise ConfigError("dataset", f"unknown dataset {name!r}; known: {', '.join(list_datasets())}")
    return DATASETS.get(name)()


class DataNotFoundError(IntrobenchError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("INTROBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "introbench"
    )
    return Path(base)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    chosen = data_dir or os.environ.get("INTROBENCH_DATA") or cache_dir() / "data"
    return Path(chosen).expanduser().resolve()


@dataclass
class TensorData:
    """A whole dataset as uint8 images [N, C, H, W] and int64 labels, on one device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def to(self, device: torch.device | str) -> "TensorData":
        return TensorData(*(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)),
                          self.num_classes)

    def subset(self, train: int | None, test: int | None, mode: str = "balanced") -> "TensorData":
        """N examples: ``balanced``, a fixed random, class-balanced subset (the same for every run); ``first``,
        the first N in the dataset's own order (NiNo's split)."""
        def pick(x, y, n):
            if n is None or n >= x.shape[0]:
                return x, y
            idx = torch.arange(n) if mode == "first" else balanced_indices(y, n)
            return x[idx], y[idx]

        return TensorData(*pick(self.x_train, self.y_train, train), *pick(self.x_test, self.y_test, test),
                          self.num_classes)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> "ShuffledBatches":
        """Endless shuffled minibatches, a fresh permutation each epoch (drawn on the data's device)."""
        n = self.x_train.shape[0]
        if batch_size > n:
            raise IntrobenchError(f"batch size {batch_size} is larger than the {n} training examples")
        return ShuffledBatches(self, batch_size, generator)

    def test_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, self.x_test.shape[0], batch_size):
            yield self.x_test[i:i + batch_size], self.y_test[i:i + batch_size]


class ShuffledBatches:
    """TensorData's endless minibatches: a permutation drawn from ``generator`` at the start of each epoch, its
    examples in order of it, a last partial batch dropped. Its place (the epoch's permutation and how far into it)
    is a state that a trial checkpoint saves, so a resumed run draws exactly the batches it would have."""

    def __init__(self, data: TensorData, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, batch_size, generator
        self.perm: torch.Tensor | None = None  # drawn lazily: the first batch draws the first epoch's
        self.pos = 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.data.x_train.shape[0]
        if self.perm is None or self.pos + self.batch_size > n:
            self.perm = torch.randperm(n, generator=self.generator, device=self.generator.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.data.x_train[idx], self.data.y_train[idx]

    def state_dict(self) -> dict:
        return {"perm": None if self.perm is None else self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        perm = state["perm"]
        self.perm = None if perm is None else perm.to(self.generator.device)
        self.pos = int(state["pos"])


SUBSET_MODES = ("balanced", "first")


def balanced_indices(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """A fixed random subset of n indices with the classes as equal as their sizes allow, in index order."""
    labels = torch.as_tensor(labels)
    order = torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(seed))
    # rank of each example within its class, in the fixed random order: take the lowest ranks first
    rank = torch.empty_like(order)
    shuffled = labels[order]
    for c in shuffled.unique():
        where = (shuffled == c).nonzero().flatten()
        rank[where] = torch.arange(where.numel())
    chosen = order[torch.argsort(rank * labels.numel() + torch.arange(labels.numel()), stable=True)[:n]]
    return chosen.sort().values


@dataclass
class FolderData:
    """An ImageFolder too large for memory (ImageNet): decoded and augmented by DataLoader workers.

    Each loader is built once per run and its workers persist across epochs and evaluations: rebuilding the
    validation loader at every evaluation rescanned 50,000 files and restarted its workers each time.
    """

    train_dir: Path
    test_dir: Path
    image_size: int
    num_classes: int
    train_subset: int | None = None
    test_subset: int | None = None
    workers: int = 0  # the run's CPUs (run.available_cpus), never more than it was given
    pin_memory: bool = False  # page-locked batches copy to a GPU asynchronously
    _loaders: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def _dataset(self, train: bool):
        import torchvision.transforms as T
        from torchvision.datasets import ImageFolder

        size = self.image_size
        if train:
            tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(),
                            T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        else:
            tf = T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(),
                            T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        ds = ImageFolder(str(self.train_dir if train else self.test_dir), transform=tf)
        limit = self.train_subset if train else self.test_subset
        if limit is not None and limit < len(ds):  # never the first N files of a class-sorted folder
            ds = torch.utils.data.Subset(ds, balanced_indices(torch.tensor(ds.targets), limit).tolist())
        return ds

    def loader(self, train: bool, batch_size: int, generator: torch.Generator | None = None):
        """The run's one loader for a split (made on first use; the same object after)."""
        key = (train, batch_size)
        if key not in self._loaders:
            self._loaders[key] = torch.utils.data.DataLoader(
                self._dataset(train), batch_size=batch_size, shuffle=train, drop_last=train,
                num_workers=self.workers, generator=generator, pin_memory=self.pin_memory,
                persistent_workers=self.workers > 0, prefetch_factor=4 if self.workers > 0 else None)
        return self._loaders[key]

    def train_batches(self, batch_size: int, generator: torch.Generator):
        cpu_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator, device=generator.device)))
        loader = self.loader(True, batch_size, cpu_gen)
        if len(loader) == 0:
            raise IntrobenchError(f"batch size {batch_size} is larger than the training set in {self.train_dir}")
        while True:
            yield from loader

    def test_batches(self, batch_size: int):
        yield from self.loader(False, batch_size)


AUGMENTS = ("none", "flip", "crop_flip")  # flip: random horizontal flip; crop_flip: the TF CIFAR-10 tutorial's


def prepare_batch(x: torch.Tensor, *, train: bool, augment: str, image_size: int | None,
                  generator: torch.Generator | None, normalize=None) -> torch.Tensor:
    """uint8 images -> float network input, augmenting on the data's own device."""
    if x.dtype != torch.uint8:  # FolderData batches arrive already transformed
        return x
    x = x.float().div_(255.0)
    if normalize is not None:
        x = normalize(x)
    if augment == "flip" and train:
        flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if augment == "crop_flip":
        size = image_size or x.shape[-1]
        x = _crop_flip(x, size, train, generator)
        # Per-image standardisation, as the TF CIFAR-10 tutorial does for train and eval.
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1.0 / (x[0].numel() ** 0.5))
        x = (x - mean) / std
    elif image_size is not None and image_size != x.shape[-1]:  # resized here, on the data's device
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x


def _crop_flip(x: torch.Tensor, size: int, train: bool, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = x.shape
    if size > h:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if not train:
        top, left = (h - size) // 2, (w - size) // 2
        return x[:, :, top:top + size, left:left + size]
    dev = x.device
    tops = torch.randint(0, h - size + 1, (n,), generator=generator, device=dev)
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator, device=dev)
    rows = (tops[:, None] + torch.arange(size, device=dev))[:, None, :, None]
    cols = (lefts[:, None] + torch.arange(size, device=dev))[:, None, None, :]
    out = x[torch.arange(n, device=dev)[:, None, None, None], torch.arange(x.shape[1], device=dev)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


# Whether a loader may draw a bar (decoding a folder once) while load_dataset runs it: set per call, so a
# registered loader's (root, download, size) signature, which plugins implement, needs no progress argument.
_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("introbench_data_progress", default=True)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, image_size: int | None = None,
                 train_subset: int | None = None, test_subset: int | None = None, subset: str = "balanced",
                 device: str | torch.device = "cpu", download: bool = True,
                 workers: int = 0, progress: bool = True) -> TensorData | FolderData:
    """A dataset on ``device`` (in memory), or its streamed loaders with ``workers`` DataLoader processes;
    ``progress=False``: no bar even on a terminal."""
    spec = dataset_spec(name)
    if subset not in SUBSET_MODES:
        raise ConfigError("subset", f"must be one of {', '.join(SUBSET_MODES)}, got {subset!r}")
    token = _PROGRESS.set(progress)
    try:
        data = spec.load(resolve_data_dir(data_dir), download, image_size)
    finally:
        _PROGRESS.reset(token)
    if isinstance(data, FolderData):
        return dataclasses.replace(data, train_subset=train_subset, test_subset=test_subset, workers=workers,
                                   pin_memory=torch.device(device).type == "cuda")
    return data.subset(train_subset, test_subset, subset).to(device)


class DataCorruptError(IntrobenchError):
    pass


def _download(fn, dest: Path):
    """Run a torchvision download into ``dest``; on failure leave no folder behind that it made, and return
    the exception instead of raising (an offline machine fails fast: no hang, no console noise)."""
    import contextlib
    import io
    import shutil

    made = dest
    while not made.parent.exists():
        made = made.parent
    made = None if made.exists() else made  # the topmost folder this download would create
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return fn()
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError variously
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        return exc
    finally:
        socket.setdefaulttimeout(old)


def _why(got) -> str:
    """A failed download's cause, on one line."""
    if got is None:
        return ""
    text = " ".join(str(got).split())
    return f" (download failed: {text[:160]}{'...' if len(text) > 160 else ''})"


IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}


def check_idx(path: Path, kind: str) -> None:
    """An MNIST-style IDX file must have its magic number and exactly the bytes its header promises."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(16 if kind == "images" else 8)
    if len(header) < 8:
        raise DataCorruptError(f"{path}: {size} bytes, too short for an IDX header (truncated?)")
    magic, count = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    if magic != IDX_MAGIC[kind]:
        raise DataCorruptError(f"{path}: magic number {magic:#010x}, expected {IDX_MAGIC[kind]:#010x} for IDX {kind} "
                               "(not an uncompressed IDX file?)")
    expected = 8 + count
    if kind == "images":
        if len(header) < 16:
            raise DataCorruptError(f"{path}: {size} bytes, too short for an IDX image header (truncated?)")
        rows, cols = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
        expected = 16 + count * rows * cols
    if size != expected:
        raise DataCorruptError(f"{path}: {size} bytes where its header promises {expected} "
                               f"({'truncated' if size < expected else 'trailing bytes'})")


MNIST_FILES = {"train-images-idx3-ubyte": "images", "train-labels-idx1-ubyte": "labels",
               "t10k-images-idx3-ubyte": "images", "t10k-labels-idx1-ubyte": "labels"}


def _idx_dataset(title: str, root: Path, download: bool) -> TensorData:
    """MNIST and Fashion-MNIST: torchvision's <Name>/raw/ IDX layout, checked file by file before it is read
    once; later loads read the tensors cached from it. Importing torchvision alone costs each process about 2 s
    of CPU (bench/startup.py), paid by every command and Ray worker, while a cached file loads in milliseconds."""
    raw = root / title / "raw"

    def read(dl: bool):
        from torchvision import datasets

        cls = getattr(datasets, title)
        train, test = cls(str(root), train=True, download=dl), cls(str(root), train=False, download=dl)
        return TensorData(train.data[:, None].contiguous(), train.targets.long(), test.data[:, None].contiguous(),
                          test.targets.long(), 10)

    found = [raw / f if (raw / f).exists() else raw / f"{f}.gz" for f in MNIST_FILES]
    if all(f.exists() for f in found):
        def checked_read() -> TensorData:
            for f, kind in zip(found, MNIST_FILES.values()):
                if f.suffix != ".gz":  # torchvision unpacks a .gz itself
                    check_idx(f, kind)
            try:
                return read(False)
            except Exception as exc:
                raise DataCorruptError(f"{title} in {raw} could not be read: {type(exc).__name__}: "
                                       f"{' '.join(str(exc).split())[:200]}") from None

        # the files as they are now: one replaced or touched is read (and checked) again
        stamp = "|".join(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}" for f, st in ((f, f.stat()) for f in found))
        return _cached(f"{title.lower()}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}", 10, checked_read)
    got = _download(lambda: read(True), raw) if download else None
    if not isinstance(got, TensorData):
        raise DataNotFoundError(
            f"{title} not found in {root}{_why(got)}. Expected {raw}/ holding {', '.join(MNIST_FILES)} "
            f"(point --data-dir or $INTROBENCH_DATA at the folder that holds {title}/)")
    return got


def _cifar10(root: Path, download: bool) -> TensorData:
    # torchvision is imported only where it reads: the JPEG folder's cache loads without it (_idx_dataset)
    if (root / "cifar-10-batches-py").is_dir():
        from torchvision.datasets import CIFAR10

        try:
            return _cifar_from_torchvision(CIFAR10(str(root), train=True), CIFAR10(str(root), train=False))
        except Exception as exc:
            raise DataCorruptError(f"CIFAR-10 in {root / 'cifar-10-batches-py'} could not be read: "
                                   f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    jpg = root / "cifar10-jpg"
    if (jpg / "train").is_dir() and (jpg / "test").is_dir():
        return _cifar_from_folder(jpg)
    from torchvision.datasets import CIFAR10

    got = _download(lambda: (CIFAR10(str(root), train=True, download=True),
                             CIFAR10(str(root), train=False, download=True)), root / "cifar-10-batches-py") \
        if download else None
    if isinstance(got, tuple):
        return _cifar_from_torchvision(*got)
    raise DataNotFoundError(
        f"CIFAR-10 not found in {root}{_why(got)}. Expected either torchvision's {root}/cifar-10-batches-py/ "
        f"or an ImageFolder {root}/cifar10-jpg/{{train,test}}/<class>/*.jpg "
        "(point --data-dir or $INTROBENCH_DATA at the folder that holds it)")


def _cifar100(root: Path, download: bool) -> TensorData:
    from torchvision.datasets import CIFAR100

    if (root / "cifar-100-python").is_dir():
        try:
            return _cifar_from_torchvision(CIFAR100(str(root), train=True), CIFAR100(str(root), train=False), 100)
        except Exception as exc:
            raise DataCorruptError(f"CIFAR-100 in {root / 'cifar-100-python'} could not be read: "
                                   f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    got = _download(lambda: (CIFAR100(str(root), train=True, download=True),
                             CIFAR100(str(root), train=False, download=True)), root / "cifar-100-python") \
        if download else None
    if isinstance(got, tuple):
        return _cifar_from_torchvision(*got, 100)
    raise DataNotFoundError(f"CIFAR-100 not found in {root}{_why(got)}. Expected torchvision's "
                            f"{root}/cifar-100-python/{{train,test,meta}} "
                            "(point --data-dir or $INTROBENCH_DATA at the folder that holds it)")


def _cifar_from_torchvision(train, test, num_classes: int = 10) -> TensorData:
    def conv(ds):
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets, dtype=torch.long)

    return TensorData(*conv(train), *conv(test), num_classes)


def _cifar_from_folder(folder: Path) -> TensorData:
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    files = {split: sorted((folder / split).glob("*/*.jpg")) for split in ("train", "test")}
    key = hashlib.sha256(f"{folder}|{len(files['train'])}|{len(files['test'])}|{classes}".encode()).hexdigest()[:16]

    def decode() -> TensorData:
        tensors = [t for split in ("train", "test")
                   for t in _decode_folder(files[split], classes, f"decoding CIFAR-10 {split} (once; cached)")]
        return TensorData(*tensors, len(classes))

    return _cached(f"cifar10-{key}", len(classes), decode)


def _cached(name: str, num_classes: int, build: Callable[[], TensorData]) -> TensorData:
    """``build``'s dataset, made once and kept as ``<cache>/<name>.safetensors``; later loads read that file."""
    from safetensors.torch import load_file, save_file

    cached = cache_dir() / f"{name}.safetensors"
    if cached.exists():
        t = load_file(str(cached))
        return TensorData(t["x_train"], t["y_train"], t["x_test"], t["y_test"], num_classes)
    data = build()
    tensors = {"x_train": data.x_train, "y_train": data.y_train, "x_test": data.x_test, "y_test": data.y_test}
    cached.parent.mkdir(parents=True, exist_ok=True)
    # a file of its own: trials starting together on a fresh machine each build, and each write is whole
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, cached)  # atomic: a killed run never leaves a half-written cache
    return data


def _decode_folder(files: list[Path], classes: list[str], desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    index = {c: i for i, c in enumerate(classes)}

    def decode(f: Path):
        try:
            return np.asarray(Image.open(f).convert("RGB"))
        except Exception as exc:
            raise DataCorruptError(f"{f}: not a readable image ({type(exc).__name__}: {exc})") from None

    # a bar only on a terminal (in a run's log file its redraws are kilobytes of noise), and only if asked for
    images = [decode(f) for f in tqdm(files, desc=desc, leave=False, disable=None if _PROGRESS.get() else True)]
    odd = next((f for f, im in zip(files, images) if im.shape != images[0].shape), None)
    if odd is not None:
        raise DataCorruptError(f"{odd}: an image of another size than the folder's first "
                               f"({images[0].shape[1]}x{images[0].shape[0]})")
    images = np.stack(images)
    labels = torch.tensor([index[f.parent.name] for f in files], dtype=torch.long)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def _folder(path: Path, image_size: int, train_subset, test_subset, layout: str) -> FolderData:
    train = path / "train"
    test = next((path / s for s in ("val", "test") if (path / s).is_dir()), None)
    if not train.is_dir() or test is None:
        raise DataNotFoundError(f"image folder not found at {path}. Expected {layout}")
    classes = [p for p in train.iterdir() if p.is_dir()]
    return FolderData(train, test, image_size, len(classes), train_subset, test_subset)


# ---------------------------------------------------------------- the built-in datasets

MNIST_LAYOUT = "{name}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte (torchvision's)"
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@register_dataset("mnist")
def mnist() -> DatasetSpec:
    return DatasetSpec("mnist", lambda root, dl, size: _idx_dataset("MNIST", root, dl), 10,
                       MNIST_LAYOUT.format(name="MNIST"), (0.1307,), (0.3081,), native_size=28)


@register_dataset("fashion_mnist")
def fashion_mnist() -> DatasetSpec:
    # NiNo normalises Fashion-MNIST with MNIST's statistics (SPEC.md "NiNo's vision tasks")
    return DatasetSpec("fashion_mnist", lambda root, dl, size: _idx_dataset("FashionMNIST", root, dl), 10,
                       MNIST_LAYOUT.format(name="FashionMNIST"), (0.1307,), (0.3081,), native_size=28)


@register_dataset("cifar10")
def cifar10() -> DatasetSpec:
    return DatasetSpec("cifar10", lambda root, dl, size: _cifar10(root, dl), 10,
                       "cifar-10-batches-py/ (torchvision's) or cifar10-jpg/{train,test}/<class>/*.jpg",
                       CIFAR_MEAN, CIFAR_STD, native_size=32)


@register_dataset("cifar100")
def cifar100() -> DatasetSpec:
    return DatasetSpec("cifar100", lambda root, dl, size: _cifar100(root, dl), 100,
                       "cifar-100-python/ (torchvision's)", CIFAR_MEAN, CIFAR_STD, native_size=32)


@register_dataset("imagenet")
def imagenet() -> DatasetSpec:
    layout = "imagenet/{train,val}/<class>/*.JPEG (never downloaded)"
    return DatasetSpec("imagenet", lambda root, dl, size: _folder(root / "imagenet", size or 224, None, None, layout),
                       1000, layout, IMAGENET_MEAN, IMAGENET_STD, in_memory=False)


def _imagefolder_spec(path: str) -> DatasetSpec:
    layout = f"{path}/train/<class>/*.jpg and {path}/val (or test)/<class>/*.jpg (absolute, or under the data folder)"

    def load(root: Path, dl: bool, size: int | None) -> FolderData:
        where = Path(path).expanduser()
        return _folder(where if where.is_absolute() else root / where, size or 224, None, None, layout)

    return DatasetSpec(f"imagefolder:{path}", load, 0, layout, IMAGENET_MEAN, IMAGENET_STD, in_memory=False)
