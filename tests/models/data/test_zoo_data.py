"""The zoo's data sets: binary patterns, the teacher, synthetic images, Fashion-MNIST IDX files
and CIFAR-10 python batches (small files written here; never the network)."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from sampler.models import DATASETS, DataOptions, OptionError
from sampler.models.data.binary_patterns import make_random_patterns, make_teacher
from sampler.models.data.idx import DataFileError
from sampler.models.streams import SPLIT, torch_generator


def test_random_patterns_are_pm1_with_alpha_n_patterns_and_test_is_train():
    data = DATASETS["random-patterns"](DataOptions(extra={"n": 40, "alpha": "0.75"}))
    assert data.train_x.shape == (30, 40) and data.num_classes == 2
    assert set(data.train_x.unique().tolist()) == {-1.0, 1.0}
    assert set(data.train_y.unique().tolist()) <= {0, 1}
    assert data.test_x is data.train_x and data.info["test_is_train"] == 1
    again = make_random_patterns(40, 0.75)
    assert torch.equal(again.train_x, data.train_x)
    assert not torch.equal(make_random_patterns(40, 0.75, data_seed=1).train_x, data.train_x)


def test_teacher_labels_come_from_a_seeded_perceptron():
    data = make_teacher(n=31, alpha=2.0, test_size=50, teacher_seed=4)
    teacher = torch.randn(31, generator=torch_generator(4, SPLIT, 1))
    assert data.train_x.shape == (62, 31) and data.test_x.shape == (50, 31)
    assert torch.equal(data.train_y, (data.train_x @ teacher > 0).long())
    assert torch.equal(data.test_y, (data.test_x @ teacher > 0).long())
    other = make_teacher(n=31, alpha=2.0, test_size=50, teacher_seed=5)
    assert torch.equal(other.train_x, data.train_x) and not torch.equal(other.train_y, data.train_y)


def test_synthetic_images_have_the_requested_shape():
    options = {"channels": 1, "height": 9, "width": 7, "classes": 4, "train_size": 20}
    data = DATASETS["synthetic-images"](DataOptions(extra={**options, "test_size": 8}))
    assert data.input_shape == (1, 9, 7) and data.num_classes == 4
    assert data.train_x.shape[0] == 20 and data.test_y.shape == (8,)
    assert int(data.train_y.max()) < 4


def test_unknown_data_options_are_one_line_errors():
    with pytest.raises(OptionError, match="--data teacher: unknown option 'm'; accepted: n, alpha"):
        DATASETS["teacher"](DataOptions(extra={"m": 3}))
    with pytest.raises(
        OptionError, match="--data mnist: unknown option 'n'; accepted: test_fraction"
    ):
        DATASETS["mnist"](DataOptions(extra={"n": 3}))


def write_idx(path, array):
    kind = 3 if array.ndim == 3 else 1
    header = bytes([0, 0, 8, kind]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_and_needs_both_splits(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(DataFileError, match="needs --data-dir"):
        DATASETS["fashion-mnist"](DataOptions())
    for prefix, n in (("t10k", 6), ("train", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        if prefix == "t10k":
            write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    with pytest.raises(DataFileError, match="train-labels"):
        DATASETS["fashion-mnist"](DataOptions(data_dir=str(tmp_path)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 10))
    data = DATASETS["fashion-mnist"](DataOptions(data_dir=str(tmp_path)))
    assert data.name == "fashion-mnist" and data.train_x.shape == (10, 1, 28, 28)
    assert data.test_y.shape == (6,)


def write_cifar(directory, n=4, corrupt=None):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"batch_label": name.encode(),
        }
        if name == corrupt:
            batch[b"labels"] = [11] * n
        with open(directory / name, "wb") as handle:
            pickle.dump(batch, handle)
    return directory


def test_cifar10_reads_the_python_batches_from_the_folder_or_its_parent(tmp_path):
    folder = write_cifar(tmp_path / "cifar-10-batches-py")
    for data_dir in (tmp_path, folder):
        data = DATASETS["cifar10"](DataOptions(data_dir=str(data_dir)))
        assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
        assert 0.0 <= float(data.train_x.min()) and float(data.train_x.max()) <= 1.0
    with open(folder / "data_batch_2", "rb") as handle:
        raw = pickle.load(handle)
    first = torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 255)
    torch.testing.assert_close(data.train_x[4], first)  # R, G, B planes, row-major
    assert data.train_y[4] == raw[b"labels"][0]


def test_cifar10_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(DataFileError, match="needs --data-dir"):
        DATASETS["cifar10"](DataOptions())
    folder = write_cifar(tmp_path / "c", corrupt="test_batch")
    with pytest.raises(DataFileError, match="test_batch: b'labels' must be 4 integers in 0..9"):
        DATASETS["cifar10"](DataOptions(data_dir=str(folder)))
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataFileError, match="CIFAR-10 files missing: data_batch_3"):
        DATASETS["cifar10"](DataOptions(data_dir=str(folder)))
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataFileError, match="data_batch_3: not a readable CIFAR-10 batch"):
        DATASETS["cifar10"](DataOptions(data_dir=str(folder)))
    with open(folder / "data_batch_3", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(DataFileError, match=r"must be uint8 \[n, 3072\], got uint8 \[2, 100\]"):
        DATASETS["cifar10"](DataOptions(data_dir=str(folder)))
