"""Data sets: the embedded MNIST, IDX files, the Gaussian mixture, minibatches of (seed, k)."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

from sampler.models import DATASETS, DataOptions
from sampler.models.data.gaussian_mixture import bayes_error, make_gaussian_mixture
from sampler.models.data.idx import DataFileError
from sampler.models.data.mnist import load_mnist


@pytest.fixture(scope="module")
def embedded():
    return load_mnist()


def test_embedded_mnist_is_a_stratified_seeded_split(embedded):
    assert embedded.train_x.shape == (4000, 1, 28, 28)
    assert embedded.test_x.shape == (1000, 1, 28, 28)
    assert torch.equal(embedded.train_y.bincount(), torch.full((10,), 400))
    assert torch.equal(embedded.test_y.bincount(), torch.full((10,), 100))
    assert 0.0 <= float(embedded.train_x.min()) and float(embedded.train_x.max()) == 1.0
    again = load_mnist()
    assert torch.equal(again.test_x, embedded.test_x)
    other = load_mnist(data_seed=1)
    assert not torch.equal(other.test_x, embedded.test_x)


def test_minibatch_is_a_pure_function_of_seed_and_step(embedded):
    a = embedded.minibatch(seed=3, step=17, batch_size=20)
    b = load_mnist().minibatch(seed=3, step=17, batch_size=20)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.targets, embedded.minibatch(4, 17, 20).targets)


def test_one_epoch_visits_every_training_example_once(tiny_mixture):
    n = tiny_mixture.train_x.shape[0]
    seen = torch.cat([tiny_mixture.minibatch(0, k, 20).inputs for k in range(n // 20)])
    assert torch.equal(seen.sort(0).values, tiny_mixture.train_x.sort(0).values)
    with pytest.raises(ValueError, match="batch size"):
        tiny_mixture.minibatch(0, 0, n + 1)


def write_idx(path, array, gz):
    kind = 3 if array.ndim == 3 else 1
    header = bytes([0, 0, 8, kind]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as handle:
        handle.write(payload)


def make_idx_dir(directory, splits=("train", "t10k"), gz=True, n=30):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix in splits:
        write_idx(
            directory / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz
        )
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), gz)
    return directory


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_are_read_gzipped_or_not(tmp_path, gz):
    data = load_mnist(str(make_idx_dir(tmp_path, gz=gz)))
    assert data.train_x.shape == (30, 1, 28, 28) and data.test_y.shape == (30,)
    rng = np.random.default_rng(0)  # make_idx_dir's draws, in order
    images, labels = rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30)
    np.testing.assert_allclose(data.train_x[:, 0].numpy(), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.train_y.numpy(), labels)


def test_directory_with_only_test_files_is_a_test_set(tmp_path):
    data = load_mnist(str(make_idx_dir(tmp_path, splits=("t10k",))))
    assert data.train_x.shape[0] == 5000 and data.test_x.shape[0] == 30


def test_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(DataFileError, match="no test set"):
        load_mnist(str(tmp_path))
    make_idx_dir(tmp_path, splits=("t10k",))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match="t10k-labels"):
        load_mnist(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataFileError, match="not an IDX labels file"):
        load_mnist(str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(29), gz=False)
    with pytest.raises(DataFileError, match="30 test images but 29 labels"):
        load_mnist(str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(30, 12), gz=False)
    with pytest.raises(DataFileError, match="label 12 outside 0..9"):
        load_mnist(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"x" * 100)[:30] + b"junk")
    with pytest.raises(DataFileError, match="cannot read"):
        load_mnist(str(tmp_path))


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_an_idx_file_with_no_items_is_refused_naming_the_file(tmp_path, split):
    make_idx_dir(tmp_path, n=0 if split == "t10k" else 30)
    if split == "train":
        write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28)), gz=True)
    with pytest.raises(DataFileError, match=rf"{split}-images-idx3-ubyte\.gz: holds no images"):
        load_mnist(str(tmp_path))


def test_gaussian_mixture_bayes_error_and_balance():
    data = make_gaussian_mixture(dim=20, delta=0.5, train_size=4000, test_size=4000)
    assert data.info["bayes_error"] == pytest.approx(0.5 * math.erfc(1 / math.sqrt(1.0)))
    direction = (data.train_x * (2 * data.train_y - 1)[:, None].float()).mean(0)
    direction /= direction.norm()
    predicted = (data.test_x @ direction > 0).long()
    error = float((predicted != data.test_y).float().mean())
    assert abs(error - bayes_error(0.5)) < 4 * math.sqrt(0.25 / 4000) + 0.01
    assert set(DATASETS) >= {"mnist", "gaussian-mixture"}
    assert DATASETS["gaussian-mixture"](DataOptions(extra={"dim": 7})).input_shape == (7,)
