"""Binary pattern data sets with ±1 inputs for the perceptron and the committee machine (Gardner
1988; Engel & Van den Broeck, "Statistical Mechanics of Learning", ch. 2-3 and 12).

* ``random-patterns``: ``P = round(alpha N)`` patterns ``xi in {-1, +1}^N`` with independent
  uniform labels: the storage (capacity) problem. Nothing generalises, so the test set *is* the
  training set and the test error counts the training patterns still misclassified
  (``info["test_is_train"] = 1``).
* ``teacher``: the same inputs labelled by a random perceptron teacher, ``y = sign(w_T . xi)``
  with ``w_T ~ N(0, I)`` drawn from ``teacher_seed``; a fresh test set of ``test_size`` patterns.
Labels are stored as classes ``{0, 1}`` (``y = 2t - 1``); inputs are float32 ``[P, N]``.
"""

from __future__ import annotations

import torch

from sampler.models import streams
from sampler.models.data.dataset import Dataset


def _patterns(generator: torch.Generator, count: int, n: int) -> torch.Tensor:
    return torch.randint(0, 2, (count, n), generator=generator).float().mul_(2).sub_(1)


def _size(alpha: float, n: int, name: str) -> int:
    if n < 1 or alpha <= 0:
        raise ValueError(f"--data {name}: needs n >= 1 and alpha > 0, got n={n}, alpha={alpha}")
    return max(1, round(alpha * n))


def make_random_patterns(n: int = 1000, alpha: float = 0.5, data_seed: int = 0) -> Dataset:
    count = _size(alpha, n, "random-patterns")
    generator = streams.torch_generator(data_seed, streams.SPLIT)
    inputs = _patterns(generator, count, n)
    labels = torch.randint(0, 2, (count,), generator=generator)
    info = {"n": n, "alpha": alpha, "patterns": count, "test_is_train": 1}
    return Dataset("random-patterns", inputs, labels, inputs, labels, 2, info)


def make_teacher(
    n: int = 1000,
    alpha: float = 2.0,
    test_size: int = 1000,
    teacher_seed: int = 0,
    data_seed: int = 0,
) -> Dataset:
    count = _size(alpha, n, "teacher")
    if test_size < 1:
        raise ValueError(f"--data teacher: test_size must be positive, got {test_size}")
    teacher = torch.randn(n, generator=streams.torch_generator(teacher_seed, streams.SPLIT, 1))
    generator = streams.torch_generator(data_seed, streams.SPLIT)
    train_x, test_x = _patterns(generator, count, n), _patterns(generator, test_size, n)
    info = {"n": n, "alpha": alpha, "patterns": count, "teacher_seed": teacher_seed}
    return Dataset(
        "teacher",
        train_x,
        (train_x @ teacher > 0).long(),
        test_x,
        (test_x @ teacher > 0).long(),
        2,
        info,
    )
