"""Inputs for comparing a Keras model with torch: a seeded image batch, parameter vectors
perturbed around a model's initialisation, and a flat vector in Keras' variable layout turned
into the torch DenseNet's (kernels transposed)."""

from __future__ import annotations

import math

import torch

from sampler.models import Batch
from sampler.models.streams import torch_generator


def image_batch(shape=(1, 28, 28), n=8, classes=10, seed=0) -> Batch:
    g = torch_generator(seed, 97)
    return Batch(torch.rand(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g))


def perturbed(model, k=5, scale=0.05, seed=1) -> torch.Tensor:
    g = torch_generator(seed, 96)
    return model.init_params(seed) + scale * torch.randn(k, model.num_params, generator=g)


def to_torch_layout(flat: torch.Tensor, shapes) -> torch.Tensor:
    """``[K, d]`` in Keras' variable layout -> the torch DenseNet's (kernels transposed)."""
    parts, offset = [], 0
    for shape in shapes:
        block = flat[:, offset : offset + math.prod(shape)]
        offset += math.prod(shape)
        if len(shape) == 2:
            block = block.reshape(-1, *shape).transpose(1, 2).reshape(flat.shape[0], -1)
        parts.append(block)
    return torch.cat(parts, dim=1)
