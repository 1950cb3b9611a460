"""The device the device-path tests run on: ``SAMPLER_TEST_DEVICE`` (``cpu`` when unset;
``scripts/gpu_check.py`` sets ``cuda``). On the CPU the block loop and its reference agree bit
for bit; on a GPU both run there with the same device generators, but a GPU's reductions are
not bit-reproducible across differently shaped kernels, so values agree within ``RTOL`` / ``ATOL``
(float32 rounding of sums over a few hundred terms) and discrete choices exactly."""

from __future__ import annotations

import math
import os

import torch

DEVICE = torch.device(os.environ.get("SAMPLER_TEST_DEVICE", "cpu"))
EXACT = DEVICE.type == "cpu"
RTOL, ATOL = 1e-4, 1e-6


def assert_same_tensor(new: torch.Tensor, old: torch.Tensor) -> None:
    if EXACT:
        assert torch.equal(new, old)
    else:
        torch.testing.assert_close(new, old, rtol=RTOL, atol=ATOL)


def assert_same_value(new, old) -> None:
    """Numbers within the tolerance off the CPU; anything else (and on the CPU) equal."""
    numbers = isinstance(new, float) and isinstance(old, float)
    if EXACT or not numbers or not (math.isfinite(new) and math.isfinite(old)):
        assert new == old or (new != new and old != old)
    else:
        assert math.isclose(new, old, rel_tol=RTOL, abs_tol=ATOL)
