import io
import sys

import pytest
import torch

from benchmark.data import DataNotFoundError, load_dataset, prepare_batch


def test_mnist_is_the_real_dataset(data_dir):
    data = load_dataset("mnist", data_dir)
    assert data.x_train.shape == (60_000, 1, 28, 28) and data.x_test.shape == (10_000, 1, 28, 28)
    assert data.x_train.dtype == torch.uint8
    assert torch.bincount(data.y_test).tolist()[:3] == [980, 1135, 1032]  # MNIST's known test class counts


def _tiny_cifar_folder(data_dir, root):
    """A CIFAR-10 ImageFolder of 5 train and 2 test JPEGs of two classes, copied from the real one."""
    folder = root / "cifar10-jpg"
    for split, n in (("train", 5), ("test", 2)):
        for cls in ("cat", "dog"):
            (folder / split / cls).mkdir(parents=True)
            for f in sorted((data_dir / "cifar10-jpg" / split / cls).glob("*.jpg"))[:n]:
                (folder / split / cls / f.name).write_bytes(f.read_bytes())
    return folder


def test_cifar_imagefolder_decoded_once_and_cached(data_dir, tmp_path, monkeypatch, capfd):
    folder = _tiny_cifar_folder(data_dir, tmp_path / "data")
    monkeypatch.setenv("INTROBENCH_CACHE", str(tmp_path / "cache"))
    first = load_dataset("cifar10", tmp_path / "data")
    assert "decoding" not in capfd.readouterr().err  # not a terminal: no bar redrawn into a log file
    assert first.x_train.shape == (10, 3, 32, 32) and first.num_classes == 2
    assert first.y_train.tolist() == [0] * 5 + [1] * 5
    cached = list((tmp_path / "cache").glob("cifar10-*.safetensors"))
    assert len(cached) == 1
    for f in folder.rglob("*.jpg"):  # the second load must not decode: make the JPEGs unreadable
        f.write_bytes(b"not a jpeg")
    second = load_dataset("cifar10", tmp_path / "data")
    assert torch.equal(first.x_train, second.x_train)


def test_decoding_bar_shows_on_a_terminal_unless_progress_is_off(data_dir, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    _tiny_cifar_folder(data_dir, tmp_path / "data")
    for progress in (True, False):
        monkeypatch.setenv("INTROBENCH_CACHE", str(tmp_path / f"cache-{progress}"))  # each decodes afresh
        monkeypatch.setattr(sys, "stderr", Terminal())
        load_dataset("cifar10", tmp_path / "data", progress=progress)
        assert ("decoding CIFAR-10 train" in sys.stderr.getvalue()) is progress


def test_missing_data_names_folder_and_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"MNIST not found in {tmp_path}.*train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match=r"cifar-10-batches-py.*cifar10-jpg"):
        load_dataset("cifar10", tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match=r"imagenet/\{train,val\}/<class>"):
        load_dataset("imagenet", tmp_path)


def test_subset_is_fixed_and_mixes_classes(data_dir):
    a = load_dataset("cifar10", data_dir, train_subset=200, test_subset=100)
    b = load_dataset("cifar10", data_dir, train_subset=200, test_subset=100)
    assert torch.equal(a.y_train, b.y_train)
    assert len(a.y_train.unique()) == 10  # not the first 200 files of one class


def test_crop_flip_is_seeded_and_standardised():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    a = prepare_batch(x, train=True, augment="crop_flip", image_size=24, generator=torch.Generator().manual_seed(1))
    b = prepare_batch(x, train=True, augment="crop_flip", image_size=24, generator=torch.Generator().manual_seed(1))
    assert a.shape == (16, 3, 24, 24) and torch.equal(a, b)
    assert a.mean(dim=(1, 2, 3)).abs().max() < 1e-4
    centre = prepare_batch(x, train=False, augment="crop_flip", image_size=24, generator=None)
    raw = x[:, :, 4:28, 4:28].float() / 255
    expected = (raw - raw.mean(dim=(1, 2, 3), keepdim=True)) / raw.std(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(centre, expected, atol=1e-5)


def write_idx(folder, n=20, rows=28):
    """A tiny, valid MNIST in IDX format (the real layout, made in the test)."""
    import numpy as np

    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, (n, rows, rows), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            (0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + rows.to_bytes(4, "big") * 2 + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(
            (0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes())
    return raw


def test_bad_mnist_files_are_one_line_naming_the_file(tmp_path):
    from benchmark.data import DataCorruptError, load_dataset

    raw = write_idx(tmp_path)
    assert load_dataset("mnist", tmp_path).x_train.shape == (20, 1, 28, 28)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(DataCorruptError, match=f"^{images}: 5000 bytes where its header promises 15696 \\(truncated\\)$"):
        load_dataset("mnist", tmp_path)
    labels = write_idx(tmp_path / "other") / "t10k-labels-idx1-ubyte"
    labels.write_bytes(b"GIF89a" + labels.read_bytes()[6:])
    with pytest.raises(DataCorruptError, match=f"^{labels}: magic number 0x47494638, expected 0x00000801"):
        load_dataset("mnist", tmp_path / "other")


def test_mnist_is_read_once_then_each_process_loads_its_cache_without_importing_torchvision(tmp_path, monkeypatch):
    import os
    import subprocess

    raw = write_idx(tmp_path / "data")
    monkeypatch.setenv("INTROBENCH_CACHE", str(tmp_path / "cache"))
    first = load_dataset("mnist", tmp_path / "data")
    assert len(list((tmp_path / "cache").glob("mnist-*.safetensors"))) == 1
    # a fresh process, as each Ray worker and each command is: torchvision's import alone is about 2 s of CPU there
    code = ("import sys, torch; from benchmark.data import load_dataset; "
            "torch.save(load_dataset('mnist', sys.argv[1]).x_train, sys.argv[2]); print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data"), str(tmp_path / "x.pt")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
    assert torch.equal(torch.load(tmp_path / "x.pt"), first.x_train)
    # a file replaced since is read again, not the stale cache
    images = raw / "train-images-idx3-ubyte"
    flipped = images.read_bytes()[:16] + bytes(255 - b for b in images.read_bytes()[16:])
    images.write_bytes(flipped)
    os.utime(images, ns=(images.stat().st_atime_ns, images.stat().st_mtime_ns + 10**9))
    assert torch.equal(load_dataset("mnist", tmp_path / "data").x_train, 255 - first.x_train)


def test_missing_data_folder_is_never_created(tmp_path):
    from benchmark.data import DataNotFoundError, load_dataset

    where = tmp_path / "not" / "there"
    with pytest.raises(DataNotFoundError, match=f"MNIST not found in {where}.*Expected {where}/MNIST/raw/"):
        load_dataset("mnist", where)
    assert not (tmp_path / "not").exists()


def make_tiny_copy(name, root, data_dir):
    """A tiny copy of a registered dataset in its real on-disk layout (CIFAR-100 is not on this machine)."""
    import pickle

    import numpy as np

    if name in ("mnist", "fashion_mnist"):
        folder = "MNIST" if name == "mnist" else "FashionMNIST"
        write_idx(root / "_tmp")
        (root / "_tmp" / "MNIST").rename(root / folder)
    elif name in ("cifar10", "cifar100"):
        rng = np.random.default_rng(0)
        classes = 10 if name == "cifar10" else 100
        folder = root / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
        folder.mkdir(parents=True)
        key = "labels" if name == "cifar10" else "fine_labels"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if name == "cifar10" else ["train", "test"]
        for f in files:
            labels = [i % classes for i in range(2 * classes)]
            blob = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), key: labels}
            (folder / f).write_bytes(pickle.dumps(blob))
        meta = ("batches.meta", "label_names") if name == "cifar10" else ("meta", "fine_label_names")
        (folder / meta[0]).write_bytes(pickle.dumps({meta[1]: [f"c{i}" for i in range(classes)]}))
    elif name == "imagenet":
        for split in ("train", "val"):
            for cls in ("airplane", "cat"):
                (root / "imagenet" / split / cls).mkdir(parents=True)
                for f in sorted((data_dir / "cifar10-jpg" / "train" / cls).glob("*.jpg"))[:3]:
                    (root / "imagenet" / split / cls / f.name).write_bytes(f.read_bytes())


@pytest.mark.parametrize("name", [n for n in __import__("benchmark.data", fromlist=["x"]).list_datasets()
                                  if not n.endswith("<path>")])
def test_every_registered_dataset_loads_from_its_layout(name, tmp_path, data_dir, monkeypatch):
    from unittest import mock

    from benchmark.data import FolderData, dataset_spec, load_dataset

    make_tiny_copy(name, tmp_path, data_dir)
    spec = dataset_spec(name)
    with mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):  # tiny copies: no md5
        data = load_dataset(name, tmp_path, image_size=32)
    if spec.in_memory:
        assert data.x_train.dtype == torch.uint8 and data.x_train.shape[0] == data.y_train.shape[0] > 0
        assert data.num_classes == spec.num_classes and int(data.y_train.max()) < spec.num_classes
        assert len(spec.mean) == len(spec.std) == data.x_train.shape[1]
    else:
        assert isinstance(data, FolderData) and data.num_classes == 2
        x, y = next(data.test_batches(2))
        assert x.shape == (2, 3, 32, 32)
    with pytest.raises(DataNotFoundError, match=f"not found (in|at) {tmp_path / 'empty'}"):
        load_dataset(name, tmp_path / "empty", download=False)


def test_subsets_say_what_they_are(data_dir):
    from benchmark.data import balanced_indices

    labels = torch.arange(1000) // 100  # class-sorted, as a folder lists them
    idx = balanced_indices(labels, 50)
    assert torch.equal(idx, balanced_indices(labels, 50)) and torch.bincount(labels[idx]).tolist() == [5] * 10
    first = load_dataset("fashion_mnist", data_dir, train_subset=55_000, subset="first")
    full = load_dataset("fashion_mnist", data_dir)
    assert torch.equal(first.x_train, full.x_train[:55_000])  # NiNo's split: the first 11/12
    assert torch.bincount(load_dataset("mnist", data_dir, train_subset=100).y_train).tolist() == [10] * 10


def test_imagefolder_subset_is_class_balanced(tiny_imagefolder):
    data = load_dataset("imagenet", tiny_imagefolder, image_size=32, train_subset=6)
    labels = torch.cat([y for _, y in data.loader(True, 6, torch.Generator().manual_seed(0))])
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_unknown_dataset_fails_validation_naming_the_known(tmp_path):
    from benchmark.errors import ConfigError
    from tasks import create_task

    with pytest.raises(ConfigError, match="^dataset: unknown dataset 'svhn'; known: cifar10, cifar100, fashion_mnist"):
        create_task("mnist3", dataset="svhn")


def test_a_streamed_dataset_builds_each_loader_once_and_keeps_its_workers(tiny_imagefolder):
    data = load_dataset("imagenet", tiny_imagefolder, image_size=32, workers=1)
    assert data.workers == 1 and not data.pin_memory  # pinned only for a GPU
    first = [y.tolist() for _, y in data.test_batches(4)]
    val = data.loader(False, 4)
    assert val.persistent_workers and val.num_workers == 1
    workers = val._iterator._workers if val._iterator is not None else None  # alive after the first pass
    assert workers and all(w.is_alive() for w in workers)
    assert [y.tolist() for _, y in data.test_batches(4)] == first  # the same loader, not a rescan
    assert data.loader(False, 4) is val and val._iterator._workers == workers
    train = data.train_batches(2, torch.Generator().manual_seed(0))
    next(train)
    assert data.loader(True, 2) is data.loader(True, 2) and data.loader(True, 2).num_workers == 1
    assert load_dataset("imagenet", tiny_imagefolder, image_size=32).workers == 0  # given none, starts none


def test_a_trial_uses_the_cpus_ray_gave_it_not_the_machines():
    """torch threads and a streamed dataset's loader workers follow the trial's allocation (--cpus-per-trial)."""
    import ray

    from benchmark.environment import available_cpus

    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        given = {n: ray.get(ray.remote(num_cpus=n)(available_cpus).remote()) for n in (1, 3)}
    finally:
        ray.shutdown()
    assert given == {1: 1, 3: 3}
