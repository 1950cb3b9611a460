"""Two Gaussian clouds: ``u ~ N(+v, delta I)`` (class 1) or ``N(-v, delta I)`` (class 0), equal
priors, in N dimensions, with ``v`` uniform on the unit sphere.

The Bayes-optimal classifier is ``sign(v . u)``; its error is ``Phi(-|v| / sqrt(delta)) =
Phi(-1/sqrt(delta))``, reported as ``info["bayes_error"]``. Small and fast: for tests.
"""

from __future__ import annotations

import math

import torch

from sampler.models import streams
from sampler.models.data.dataset import Dataset


def bayes_error(delta: float) -> float:
    return 0.5 * math.erfc(1.0 / math.sqrt(2.0 * delta))


def make_gaussian_mixture(
    dim: int = 50,
    delta: float = 0.25,
    train_size: int = 2000,
    test_size: int = 1000,
    data_seed: int = 0,
) -> Dataset:
    generator = streams.torch_generator(data_seed, streams.SPLIT)
    direction = torch.randn(dim, generator=generator, dtype=torch.float64)
    direction /= direction.norm()

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 2, (n,), generator=generator)
        signs = (2 * labels - 1).to(torch.float64).unsqueeze(1)
        noise = torch.randn(n, dim, generator=generator, dtype=torch.float64)
        return (signs * direction + math.sqrt(delta) * noise).float(), labels

    train_x, train_y = draw(train_size)
    test_x, test_y = draw(test_size)
    info = {"bayes_error": bayes_error(delta), "dim": dim, "delta": delta}
    return Dataset("gaussian-mixture", train_x, train_y, test_x, test_y, 2, info)
