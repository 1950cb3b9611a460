"""What every proposal scheme of an importance-sampling update (``sampler.estimators.proposals``,
``sampler.estimators.marginal``) draws into and hands on: ``Drawn``, one group of blocks'
proposals; ``offsets_of``, where each block of a group starts; ``Reused``, a buffer kept between
groups and updates; ``dense_input``, the model's dense first layer that the antithetic and
marginalised schemes sample through (``models.interface.InputLayer``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Drawn:
    """One group's proposals: ``points [rows, d]`` for the forward pass and, where a scheme
    needs them for its sums, its standard normals ``noise``; ``offsets`` of each block."""

    blocks: list[tuple[int, int]]
    offsets: list[int]
    points: torch.Tensor
    noise: torch.Tensor | None = None
    products: torch.Tensor | None = None  # marginal: [rows, B, n_out]


def offsets_of(blocks: list[tuple[int, int]]) -> list[int]:
    offsets, total = [], 0
    for _, rows in blocks:
        offsets.append(total)
        total += rows
    return offsets


class Reused:
    """A buffer kept between blocks and updates, grown when a group needs more rows."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None

    def get(self, rows: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buffer = self.buffer
        if (
            buffer is None
            or buffer.shape[0] < rows
            or buffer.shape[1:] != shape
            or buffer.device != like.device
            or buffer.dtype != like.dtype
        ):
            buffer = self.buffer = torch.empty((rows, *shape), dtype=like.dtype, device=like.device)
        return buffer


def dense_input(model):
    """The model's dense first layer (``models.interface.InputLayer``), or ``None``."""
    layer = getattr(model, "input_layer", None)
    if layer is None or not hasattr(model, "losses_from_input_products"):
        return None
    return layer if layer.weight.start == 0 else None
