"""The marginalised first layer's sums per inverse temperature, with the quadratic sums of the
batch-means variance formed only for the beta the update keeps (``--proposal marginal``).

Setting (``sampler.estimators.marginal``): block ``b`` gives, for every beta ``g`` of the grid,
``S_gb = sum_{j in b} w_gj G_j`` ``[B, h]`` and its weight ``W_gb``. The estimate needs
``S_g = sum_b S_gb``, ``P_g = sum_b W_gb S_gb`` and, column ``i`` by column, the quadratic sums
``Q_g[i] = sum_b S_gb[:, i] S_gb[:, i]^T`` (``[h, B, B]``), all relative to the smallest loss seen
so far: when it drops, every sum is rescaled (``factor_g``, squared for ``P`` and ``Q``;
``sampler.estimators.tilted_sums``). ``S`` and ``P`` are as large as one block's sums and are
kept for every beta. ``Q`` is ``h B^2`` numbers per beta, more than a block's sums, and only the
beta chosen after the pass (``sampler.estimators.beta_search``) is ever read, so it is not formed
block by block: the blocks' sums and the rescaling factors are kept in order, and ``Q`` of the
chosen beta is formed from them at the end (``payload``) by the same multiplications and
additions, element by element and in the same order, as the running sum would have made, hence
bit for bit the same numbers. A grid of ``G`` betas thus forms ``1/G`` of the quadratic sums.
Memory stays bounded whatever J: once the kept blocks pass ``KEPT_BYTES``, they are folded into
running quadratic sums for every beta (the same operations again, so still the same numbers).

``Q`` is symmetric in ``(l, m)`` and the variance reads only its upper triangle
(``sampler.estimators.marginal``), so only the ``B (B + 1) / 2`` pairs ``l <= m`` are formed and
summed over ranks: ``Q[i, l, m]`` is the product ``S[l, i] S[m, i]``, the same number whichever
triangle it is taken from. ``pair_spread`` turns the merged sums of one beta into the blocks'
summed outer deviations over those pairs, what the variance of ``sampler.estimators.marginal``
reads.
"""

from __future__ import annotations

import torch

KEPT_BYTES = 8 * 2**20  # the blocks' sums kept for the chosen beta's Q before folding them


class FirstLayerSums:
    """``S``, ``P`` per beta; ``Q`` (upper pairs) for the chosen beta only, bit-exact."""

    def __init__(self, grid: int, batch: int, width: int, device, upper: torch.Tensor) -> None:
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.s, self.p = zeros(grid, batch, width), zeros(grid, batch, width)
        self.upper = upper  # [2, pairs]: the pairs l <= m
        self.events: list[tuple[str, torch.Tensor]] = []  # ("scale", factor^2) or ("block", S)
        self.kept_bytes = 0
        self.folded: torch.Tensor | None = None  # [G, h, pairs] once blocks were folded

    def rescale(self, factor: torch.Tensor) -> None:
        self.s.mul_(factor[:, None, None])
        squared = factor * factor
        self.p.mul_(squared[:, None, None])
        self.events.append(("scale", squared))

    def add(self, block: torch.Tensor, block_weight: torch.Tensor) -> None:
        """``block: [G, B, h]`` = ``sum_{j in b} w_gj G_j``, ``block_weight: [G]``."""
        self.s.add_(block)
        self.p.add_(block_weight[:, None, None] * block)
        self.events.append(("block", block))
        self.kept_bytes += block.numel() * block.element_size()
        if self.kept_bytes > KEPT_BYTES:
            self.folded = self._replay(self.folded, slice(None))
            self.events, self.kept_bytes = [], 0

    def _products(self, block: torch.Tensor) -> torch.Tensor:
        """``S[.., l, i] S[.., m, i]`` over the upper pairs, ``[..., h, pairs]``."""
        return block[..., self.upper[0], :].mul(block[..., self.upper[1], :]).transpose(-1, -2)

    def _replay(self, start: torch.Tensor | None, which) -> torch.Tensor:
        """The running quadratic sums of the betas ``which`` (a slice or an index) over the
        kept events, starting from ``start`` (``None``: zeros)."""
        grid, batch, width = self.s.shape
        pairs = self.upper.shape[1]
        shape = (grid, width, pairs) if isinstance(which, slice) else (width, pairs)
        q = (
            torch.zeros(shape, dtype=torch.float64, device=self.s.device)
            if start is None
            else start[which].clone()
        )
        for kind, value in self.events:
            if kind == "scale":
                factor = value[which]
                q.mul_(factor[:, None, None] if isinstance(which, slice) else factor)
            else:
                q.add_(self._products(value[which]))
        return q

    def quadratic(self, index: int) -> torch.Tensor:
        """``Q`` of beta ``index`` over the upper pairs, ``[h, pairs]`` float64."""
        return self._replay(self.folded, index)

    def payload(self, index: int) -> torch.Tensor:
        parts = (self.s[index], self.p[index], self.quadratic(index))
        return torch.cat([part.flatten() for part in parts])


def pair_spread(s, p, q, r: float, total: float, low, high) -> torch.Tensor:
    """``Q - (S P^T + P S^T) / s1 + S S^T R / s1^2`` per column over the pairs ``l <= m``
    (``[h, pairs]``): the blocks' summed outer deviations of one row of sums, times ``s1^2``;
    ``s, p [B, h]``, ``q [h, pairs]``. A view of ``pair_rows``' ``[pairs, h]``."""
    return pair_rows(s, p, q, r, total, low, high).T


def pair_rows(s, p, q, r: float, total: float, low, high) -> torch.Tensor:
    """``pair_spread`` as ``[pairs, h]``: the rows ``l`` and ``m`` of ``s`` and ``p`` gathered
    (contiguous rows, a fifth of the time of gathering columns of their transposes), the same
    operations in the same order on every element, so the same numbers."""
    s_l, s_m, p_l, p_m = s[low], s[high], p[low], p[high]
    return q.T - (s_l * p_m + p_l * s_m) / total + s_l * s_m * (r / (total * total))
