"""The marginalised first layer's sums per inverse temperature, with the quadratic sums of the
batch-means variance formed only for the beta the update keeps (``--proposal marginal``).

Setting (``sampler.estimators.marginal``): block ``b`` gives, for every beta ``g`` of the grid,
``S_gb = sum_{j in b} w_gj G_j`` ``[B, h]`` and its weight ``W_gb``. The estimate needs
``S_g = sum_b S_gb``, ``P_g = sum_b W_gb S_gb`` and, column ``i`` by column, the quadratic sums
``Q_g[i] = sum_b S_gb[:, i] S_gb[:, i]^T`` (``[h, B, B]``), all relative to the smallest loss seen
so far: when it drops, every sum is rescaled (``factor_g``, squared for ``P`` and ``Q``;
``sampler.estimators.tilted_sums``). Only the beta chosen after the pass
(``sampler.estimators.beta_search``) is ever read, so the sums are not formed block by block for
every beta (``Q`` alone is ``h B^2`` numbers per beta, more than a block's sums): the blocks'
sums and weights and the rescaling factors are kept in order, and the sums of the chosen beta are
formed from them at the end (``payload``) by the same multiplications and additions, element by
element and in the same order, as the running sums would have made, hence bit for bit the same
numbers. A grid of ``G`` betas thus forms ``1/G`` of the sums. Memory stays bounded whatever
J: once the kept blocks pass ``KEPT_BYTES``, they are folded into running sums for every beta
(the same operations again, so still the same numbers).

``Q`` is symmetric in ``(l, m)`` and the variance reads only its upper triangle
(``sampler.estimators.marginal``), so only the ``B (B + 1) / 2`` pairs ``l <= m`` are formed and
summed over ranks: ``Q[i, l, m]`` is the product ``S[l, i] S[m, i]``, the same number whichever
triangle it is taken from.
"""

from __future__ import annotations

import torch

KEPT_BYTES = 8 * 2**20  # the blocks' sums kept before they are folded for every beta


class FirstLayerSums:
    """``S``, ``P`` and ``Q`` (upper pairs) formed for the chosen beta only, bit-exact."""

    def __init__(self, grid: int, batch: int, width: int, device, upper: torch.Tensor) -> None:
        self.shape, self.device = (grid, batch, width), device
        self.upper = upper  # [2, pairs]: the pairs l <= m
        # ("scale", factor) or ("block", (S_b [G, B, h], W_b [G])), in the order they came
        self.events: list[tuple[str, object]] = []
        self.kept_bytes = 0
        self.folded: tuple[torch.Tensor, ...] | None = None  # (S, P, Q) of every beta

    def rescale(self, factor: torch.Tensor) -> None:
        self.events.append(("scale", factor))

    def add(self, block: torch.Tensor, block_weight: torch.Tensor) -> None:
        """``block: [G, B, h]`` = ``sum_{j in b} w_gj G_j``, ``block_weight: [G]``."""
        self.events.append(("block", (block, block_weight)))
        self.kept_bytes += block.numel() * block.element_size()
        if self.kept_bytes > KEPT_BYTES:
            self.folded = self._replay(slice(None))
            self.events, self.kept_bytes = [], 0

    def _products(self, block: torch.Tensor) -> torch.Tensor:
        """``S[.., l, i] S[.., m, i]`` over the upper pairs, ``[..., h, pairs]``."""
        return block[..., self.upper[0], :].mul(block[..., self.upper[1], :]).transpose(-1, -2)

    def _replay(self, which) -> tuple[torch.Tensor, ...]:
        """The running ``(S, P, Q)`` of the betas ``which`` (a slice, or an index) over the
        kept events, from the folded sums (zeros before any fold)."""
        grid, batch, width = self.shape
        pairs = self.upper.shape[1]
        every = isinstance(which, slice)
        if self.folded is None:
            zeros = lambda *shape: torch.zeros(  # noqa: E731
                *((grid,) if every else ()), *shape, dtype=torch.float64, device=self.device
            )
            s, p, q = zeros(batch, width), zeros(batch, width), zeros(width, pairs)
        else:
            s, p, q = (part[which].clone() for part in self.folded)
        for kind, value in self.events:
            if kind == "scale":
                factor = value[which]
                squared = factor * factor
                if every:
                    factor, squared = factor[:, None, None], squared[:, None, None]
                s.mul_(factor)
                p.mul_(squared)
                q.mul_(squared)
            else:
                block, weight = value[0][which], value[1][which]
                s.add_(block)
                p.add_((weight[:, None, None] if every else weight) * block)
                q.add_(self._products(block))
        return s, p, q

    def quadratic(self, index: int) -> torch.Tensor:
        """``Q`` of beta ``index`` over the upper pairs, ``[h, pairs]`` float64."""
        return self._replay(index)[2]

    def payload(self, index: int) -> torch.Tensor:
        return torch.cat([part.flatten() for part in self._replay(index)])
