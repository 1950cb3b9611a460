"""CIFAR-10 (Krizhevsky 2009) from the standard "python version" directory
``cifar-10-batches-py``: pickled dicts ``data_batch_1`` .. ``data_batch_5`` (training) and
``test_batch``, each with ``b"data"``, a uint8 array ``[10000, 3072]`` (rows are R, G, B planes of
32x32, row-major), and ``b"labels"``, a list of ints in 0..9. Pixels are scaled to [0, 1];
inputs are ``[N, 3, 32, 32]``. ``data_dir`` may be that directory or its parent.

The files are Python pickles: only open a directory you trust (unpickling runs code).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from sampler.models.data.dataset import Dataset
from sampler.models.data.idx import DataFileError
from sampler.models.naming import setting

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
FOLDER = "cifar-10-batches-py"


def find_cifar10_dir(data_dir: str | None) -> Path:
    if data_dir is None:
        raise DataFileError(
            f"--data cifar10 needs --data-dir: the {FOLDER} directory (data_batch_1..5, "
            "test_batch) or its parent"
        )
    directory = Path(data_dir)
    if not (directory / TEST_FILE).is_file() and (directory / FOLDER).is_dir():
        directory = directory / FOLDER
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (directory / name).is_file()]
    if missing:
        raise DataFileError(
            f"{setting('data_dir', data_dir)}: CIFAR-10 files missing: {', '.join(missing)}"
        )
    return directory


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images [n, 3, 32, 32] uint8, labels [n] int64)`` of one pickled batch."""
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise DataFileError(f"{path}: not a readable CIFAR-10 batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: expected a dict with b'data' and b'labels'")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFileError(
            f"{path}: b'data' must be uint8 [n, 3072], got {data.dtype} {list(data.shape)}"
        )
    valid = labels.shape == (data.shape[0],) and np.issubdtype(labels.dtype, np.integer)
    if not valid or labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        raise DataFileError(f"{path}: b'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0)


def load_cifar10(data_dir: str | None) -> Dataset:
    directory = find_cifar10_dir(data_dir)
    parts = [read_batch(directory / name) for name in TRAIN_FILES]
    test_x, test_y = read_batch(directory / TEST_FILE)
    return Dataset(
        "cifar10",
        _to_tensor(np.concatenate([p[0] for p in parts])),
        torch.from_numpy(np.concatenate([p[1] for p in parts])),
        _to_tensor(test_x),
        torch.from_numpy(test_y),
        10,
        {"source": str(directory)},
    )
