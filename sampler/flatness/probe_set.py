"""The training examples a probe of a trained point evaluates on.

A probe (local energy, local entropy, Hessian, per-layer signal) measures the *training* loss
``E_train(w) = (1/N) sum_{n <= N} loss(w; u_n, y_n)`` on ``N`` training examples: the first
``N`` of a permutation of the training set drawn from the stream ``(seed, PROBE_SET)``, so the
set is a pure function of the seed, the same for every probe and for every run of one data set.
``N`` at least the training set size means the whole training set.
"""

from __future__ import annotations

import torch

from sampler.models import Batch, Dataset, streams


def probe_batch(dataset: Dataset, seed: int, examples: int) -> Batch:
    """``examples`` training examples (all of them if there are fewer): ``inputs [N, ...]``,
    ``targets [N]``."""
    n = dataset.train_x.shape[0]
    if examples >= n:
        return Batch(dataset.train_x, dataset.train_y)
    order = streams.numpy_generator(seed, streams.PROBE_SET).permutation(n)[:examples]
    index = torch.as_tensor(order, device=dataset.train_x.device)
    return Batch(dataset.train_x[index], dataset.train_y[index])
