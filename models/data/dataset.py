"""A data set as plain tensors, and the minibatch of step k as a pure function of (seed, k).

Minibatches walk through the training set epoch by epoch: epoch ``e`` is the permutation drawn
from the counter-based stream ``(seed, DATA, e)``, and step ``k`` takes slice ``k mod n_b`` of
epoch ``k div n_b`` (``n_b = floor(N / B)`` batches per epoch; the remainder of a permutation is
skipped). Every rank therefore sees the same minibatch at step k, as importance sampling
requires (all samples of one step are weighted on the same data: common random numbers).

A method that needs more than one minibatch per step (Entropy-SGD's inner steps, the replicas
of Replicated-SGD) asks for minibatch stream ``s``: stream 0 is the walk above, stream ``s >= 1``
walks the training set the same way along its own permutations ``(seed, BATCH_STREAMS, e, s)``.
So every stream visits each example once per epoch, and minibatch ``(seed, k, s)`` is a pure
function of its key.
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
    # (seed, stream) -> (epoch, permutation): the current epoch of each minibatch stream
    _epoch_cache: dict[tuple[int, int], tuple[int, torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

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

    def minibatch(self, seed: int, step: int, batch_size: int, stream: int = 0) -> Batch:
        """Minibatch ``step`` of minibatch stream ``stream`` (0: the run's own)."""
        n = self.train_x.shape[0]
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch size must be in [1, {n}] for {self.name}, got {batch_size}")
        if stream < 0:
            raise ValueError(f"minibatch stream must be >= 0, got {stream}")
        per_epoch = n // batch_size
        epoch, position = divmod(step, per_epoch)
        cached = self._epoch_cache.get((seed, stream))
        if cached is None or cached[0] != epoch:
            if stream == 0:
                generator = streams.numpy_generator(seed, streams.DATA, epoch)
            else:
                generator = streams.numpy_generator(seed, streams.BATCH_STREAMS, epoch, stream)
            order = torch.as_tensor(generator.permutation(n), device=self.train_x.device)
            cached = (epoch, order)
            self._epoch_cache[(seed, stream)] = cached
        index = cached[1][position * batch_size : (position + 1) * batch_size]
        return Batch(self.train_x[index], self.train_y[index])
