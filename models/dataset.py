"""A data set as plain tensors, and the minibatch of step k as a pure function of (seed, k).

Minibatches walk through the training set epoch by epoch: epoch ``e`` is the permutation drawn
from the counter-based stream ``(seed, DATA, e)``, and step ``k`` takes slice ``k mod n_b`` of
epoch ``k div n_b`` (``n_b = floor(N / B)`` batches per epoch; the remainder of a permutation is
skipped). Every rank therefore sees the same minibatch at step k, as importance sampling
requires (all samples of one step are weighted on the same data: common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sampler.models import streams
from sampler.models.interface import Batch


@dataclass
class Dataset:
    """``train_x: [N, ...]`` float32, ``train_y: [N]`` int64, likewise the test set."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    info: dict = field(default_factory=dict)  # e.g. the Bayes-optimal test error
    _epoch_cache: tuple[int, int, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.name,
            self.train_x.to(device),
            self.train_y.to(device),
            self.test_x.to(device),
            self.test_y.to(device),
            self.num_classes,
            dict(self.info),
        )

    def minibatch(self, seed: int, step: int, batch_size: int) -> Batch:
        n = self.train_x.shape[0]
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch size must be in [1, {n}] for {self.name}, got {batch_size}")
        per_epoch = n // batch_size
        epoch, position = divmod(step, per_epoch)
        cached = self._epoch_cache
        if cached is None or cached[:2] != (seed, epoch):
            order = streams.numpy_generator(seed, streams.DATA, epoch).permutation(n)
            cached = (seed, epoch, torch.as_tensor(order, device=self.train_x.device))
            self._epoch_cache = cached
        index = cached[2][position * batch_size : (position + 1) * batch_size]
        return Batch(self.train_x[index], self.train_y[index])
