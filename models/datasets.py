"""The data sets: a plain dict from ``--data`` name to a loader returning ``models.Dataset``.

Every loader takes the same keyword arguments (a ``DataOptions``) and uses the ones it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from models.dataset import Dataset
from models.gaussian_mixture import make_gaussian_mixture
from models.mnist import load_mnist


@dataclass(frozen=True)
class DataOptions:
    data_dir: str | None = None
    test_fraction: float = 0.2
    data_seed: int = 0
    gm_dim: int = 50
    gm_delta: float = 0.25
    gm_train: int = 2000
    gm_test: int = 1000


def _mnist(options: DataOptions) -> Dataset:
    return load_mnist(options.data_dir, options.test_fraction, options.data_seed)


def _gaussian_mixture(options: DataOptions) -> Dataset:
    return make_gaussian_mixture(
        options.gm_dim, options.gm_delta, options.gm_train, options.gm_test, options.data_seed
    )


DATASETS: dict[str, Callable[[DataOptions], Dataset]] = {
    "mnist": _mnist,
    "gaussian-mixture": _gaussian_mixture,
}
