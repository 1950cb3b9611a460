"""``all_finite`` (the divergence check after every update) agrees with ``isfinite().all()``."""

import math

import pytest
import torch

from sampler.training.updates import all_finite


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [1, 15, 16, 17, 1000, 159010])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_all_finite_matches_isfinite(dtype, size, bad):
    generator = torch.Generator().manual_seed(size)
    values = torch.randn(size, dtype=dtype, generator=generator)
    assert all_finite(values) and all_finite(values[::2])
    for position in {0, size // 2, size - 1}:
        broken = values.clone()
        broken[position] = bad
        assert all_finite(broken) == bool(torch.isfinite(broken).all()) is False
        strided = broken[position % 2 :: 2]
        assert all_finite(strided) == bool(torch.isfinite(strided).all())


def test_all_finite_of_nothing():
    assert all_finite(torch.zeros(0))
