import pytest
import torch

from benchmark.data import DataNotFoundError, load_dataset, prepare_batch


def test_mnist_is_the_real_dataset(data_dir):
    data = load_dataset("mnist", data_dir)
    assert data.x_train.shape == (60_000, 1, 28, 28) and data.x_test.shape == (10_000, 1, 28, 28)
    assert data.x_train.dtype == torch.uint8
    assert torch.bincount(data.y_test).tolist()[:3] == [980, 1135, 1032]  # MNIST's known test class counts


def test_cifar_imagefolder_decoded_once_and_cached(data_dir, tmp_path, monkeypatch):
    folder = tmp_path / "data" / "cifar10-jpg"
    for split, n in (("train", 5), ("test", 2)):
        for cls in ("cat", "dog"):
            (folder / split / cls).mkdir(parents=True)
            for f in sorted((data_dir / "cifar10-jpg" / split / cls).glob("*.jpg"))[:n]:
                (folder / split / cls / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("INTROBENCH_CACHE", str(tmp_path / "cache"))
    first = load_dataset("cifar10", tmp_path / "data")
    assert first.x_train.shape == (10, 3, 32, 32) and first.num_classes == 2
    assert first.y_train.tolist() == [0] * 5 + [1] * 5
    cached = list((tmp_path / "cache").glob("cifar10-*.safetensors"))
    assert len(cached) == 1
    for f in folder.rglob("*.jpg"):  # the second load must not decode: make the JPEGs unreadable
        f.write_bytes(b"not a jpeg")
    second = load_dataset("cifar10", tmp_path / "data")
    assert torch.equal(first.x_train, second.x_train)


def test_missing_data_names_folder_and_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"MNIST not found in {tmp_path}.*train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match=r"cifar-10-batches-py.*cifar10-jpg"):
        load_dataset("cifar10", tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match=r"imagenet/train/<class>"):
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


def test_missing_data_folder_is_never_created(tmp_path):
    from benchmark.data import DataNotFoundError, load_dataset

    where = tmp_path / "not" / "there"
    with pytest.raises(DataNotFoundError, match=f"MNIST not found in {where}.*Expected {where}/MNIST/raw/"):
        load_dataset("mnist", where)
    assert not (tmp_path / "not").exists()
