"""The data sets: a plain dict from ``--data`` name to a ``DatasetSpec``.

A spec is called with a ``DataOptions`` (the shared settings: ``--data-dir``, ``--data-seed``)
and reads its own options from ``DataOptions.extra`` (``--data-opt KEY=VALUE`` or a TOML
``[data_options]`` table), rejecting unknown ones. ``reads_data_dir`` says whether a data set
takes ``--data-dir`` at all (the synthetic ones do not); ``values`` (synthetic ones) counts the
numbers the data set will hold, from its typed options, so that a size no memory can hold is
refused before anything is drawn (``sampler.config.limits``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampler.models.data.binary_patterns import make_random_patterns, make_teacher
from sampler.models.data.cifar10 import load_cifar10
from sampler.models.data.dataset import Dataset
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.data.idx import DataFileError
from sampler.models.data.mnist import load_mnist
from sampler.models.data.synthetic_images import make_synthetic_images
from sampler.models.naming import setting
from sampler.models.options import Option, at_least, parse_options, within


@dataclass(frozen=True)
class DataOptions:
    data_dir: str | None = None
    data_seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # the data set's own options


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: Callable[..., Dataset]  # (DataOptions, **typed options) -> Dataset
    summary: str
    options: Mapping[str, Option] = field(default_factory=dict)
    reads_data_dir: bool = False
    # typed options (defaults filled) -> how many numbers the data set holds; None: from files
    values: Callable[[dict[str, Any]], int] | None = None

    def parse(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return parse_options(setting("data", self.name), self.options, options)

    def __call__(self, options: DataOptions) -> Dataset:
        return self.load(options, **self.parse(options.extra))


def _mnist(options: DataOptions, test_fraction: float = 0.2) -> Dataset:
    if options.data_dir is not None and "test_fraction" in options.extra:
        raise DataFileError(
            "--test-fraction: splits the embedded MNIST only; with --data-dir the test set is "
            "the t10k files"
        )
    return load_mnist(options.data_dir, test_fraction, options.data_seed)


def _fashion_mnist(options: DataOptions) -> Dataset:
    if options.data_dir is None:
        raise DataFileError(
            "--data fashion-mnist needs --data-dir: a directory with its IDX files "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...)"
        )
    return load_mnist(options.data_dir, name="fashion-mnist")


def _gaussian_mixture(options: DataOptions, **kwargs) -> Dataset:
    return make_gaussian_mixture(**kwargs, data_seed=options.data_seed)


def _random_patterns(options: DataOptions, **kwargs) -> Dataset:
    return make_random_patterns(**kwargs, data_seed=options.data_seed)


def _teacher(options: DataOptions, **kwargs) -> Dataset:
    return make_teacher(**kwargs, data_seed=options.data_seed)


def _synthetic_images(options: DataOptions, **kwargs) -> Dataset:
    return make_synthetic_images(**kwargs, data_seed=options.data_seed)


def _cifar10(options: DataOptions) -> Dataset:
    return load_cifar10(options.data_dir)


POSITIVE = at_least(1)
ABOVE_ZERO = within(0.0, math.inf, closed_low=False)
PATTERN_OPTIONS = {
    "n": Option("int", 1000, "input dimension N", check=POSITIVE),
    "alpha": Option("float", 0.5, "patterns per input, P = round(alpha N)", check=ABOVE_ZERO),
}


def _mixture_values(o: Mapping[str, Any]) -> int:
    return (o["train_size"] + o["test_size"] + 1) * o["dim"]


def _pattern_values(o: Mapping[str, Any]) -> int:
    return (max(1, round(o["alpha"] * o["n"])) + o.get("test_size", 0)) * o["n"]


def _image_values(o: Mapping[str, Any]) -> int:
    pixels = o["channels"] * o["height"] * o["width"]
    return (o["train_size"] + o["test_size"] + o["classes"]) * pixels


_SPECS = (
    DatasetSpec(
        "mnist",
        _mnist,
        "embedded 5,000 MNIST images, or IDX files in --data-dir",
        {
            "test_fraction": Option(
                "float",
                0.2,
                "share of the embedded images held out as test set, stratified (--test-fraction)",
                check=within(0.0, 1.0, closed_low=False),
            )
        },
        reads_data_dir=True,
    ),
    DatasetSpec(
        "fashion-mnist",
        _fashion_mnist,
        "Fashion-MNIST IDX files in --data-dir",
        reads_data_dir=True,
    ),
    DatasetSpec(
        "cifar10",
        _cifar10,
        "CIFAR-10 python batches (cifar-10-batches-py) in --data-dir",
        reads_data_dir=True,
    ),
    DatasetSpec(
        "gaussian-mixture",
        _gaussian_mixture,
        "two Gaussian clouds N(±v, delta I) with a known Bayes error",
        {
            "dim": Option("int", 50, "dimension N (--gm-dim)", check=POSITIVE),
            "delta": Option(
                "float", 0.25, "variance of each cloud (--gm-delta)", check=within(0, 1e6, False)
            ),
            "train_size": Option("int", 2000, "training points (--gm-train)", check=POSITIVE),
            "test_size": Option("int", 1000, "test points (--gm-test)", check=POSITIVE),
        },
        values=_mixture_values,
    ),
    DatasetSpec(
        "random-patterns",
        _random_patterns,
        "±1 patterns with random ±1 labels (storage problem; test set = training set)",
        PATTERN_OPTIONS,
        values=_pattern_values,
    ),
    DatasetSpec(
        "teacher",
        _teacher,
        "±1 patterns labelled by a random perceptron teacher",
        {
            **PATTERN_OPTIONS,
            "alpha": Option(
                "float", 2.0, "patterns per input, P = round(alpha N)", check=ABOVE_ZERO
            ),
            "test_size": Option("int", 1000, "test patterns", check=POSITIVE),
            "teacher_seed": Option(
                "int", 0, "seed of the teacher w_T ~ N(0, I)", check=at_least(0)
            ),
        },
        values=_pattern_values,
    ),
    DatasetSpec(
        "synthetic-images",
        _synthetic_images,
        "class templates plus Gaussian noise, any image shape (CNN tests without downloads)",
        {
            "channels": Option("int", 3, "image channels", check=POSITIVE),
            "height": Option("int", 32, "image height", check=POSITIVE),
            "width": Option("int", 32, "image width", check=POSITIVE),
            "classes": Option("int", 10, "number of classes", check=at_least(2)),
            "train_size": Option("int", 512, "training images", check=POSITIVE),
            "test_size": Option("int", 256, "test images", check=POSITIVE),
            "noise": Option(
                "float", 1.0, "noise standard deviation around the templates", check=at_least(0.0)
            ),
        },
        values=_image_values,
    ),
)
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}
