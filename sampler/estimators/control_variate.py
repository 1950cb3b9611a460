"""The proposals' own mean as a control variate for the self-normalised estimate
(``--control-variate proposal-mean``).

The proposals ``x_j = mu + sqrt(tau) e_j`` have a known mean ``mu`` (the centre, or the part of
it a scheme sums), so their plain average ``xbar = (1/J) sum_j x_j`` is an unbiased estimate of a
known quantity. Subtracting its error from the self-normalised estimate ``m = sum_j w_j x_j /
sum_j w_j`` (the classical control variate with coefficient 1; Owen, "Monte Carlo theory,
methods and examples", ch. 8.9)::

    m_cv = m - (xbar - mu) = mu + sum_j c_j (x_j - mu),     c_j = w_j / s1 - 1 / J,

has the same expectation as ``m`` for every J (``E[xbar] = mu`` exactly), and removes the part
of its error that does not depend on the weights. Near uniform weights (a small ``beta sqrt(tau)
|grad f|``, a high ESS) that part is almost all of it: ``m``'s error per coordinate has variance
about ``tau / ESS``, ``m_cv``'s about ``tau (1 / ESS - 1 / J)``, which vanishes as the weights
flatten, so the estimate's noise then falls with the minibatch's gradient instead of staying at
the noise floor ``tau / J`` of the proposal itself. ``sum_j c_j^2 = s2 / s1^2 - 1 / J``.

Streaming: the plain sums are the weighted sums at ``beta = 0`` (weight 1 for every sample,
failed ones included, and never rescaled), kept as one more row of ``TiltedSums``. Its variance
by batch means over the blocks, per coordinate, with ``D_b = (a_gb - m_g W_gb) / s1 - (a_0b -
m_0 n_b) / n`` (``m_0 = a_0 / n``, ``n_b`` the block's samples)::

    sum_b D_b^2 = A / s1^2 + Z / n^2 - 2 C / (s1 n),
    A = Q_g - 2 m_g P_g + m_g^2 R_g,    Z = Q_0 - 2 m_0 P_0 + m_0^2 R_0,
    C = X_g - m_0 N_g - m_g Y_g + m_g m_0 V_g,

with the cross sums kept here: ``X_g = sum_b a_gb a_0b``, ``N_g = sum_b n_b a_gb``, ``Y_g =
sum_b W_gb a_0b`` (``[G, dim]``) and ``V_g = sum_b W_gb n_b`` (``[G]``); all are linear in the
weights of ``beta_g``, so a new smallest loss rescales them by ``exp(-beta_g shift)``.
"""

from __future__ import annotations

import torch

CONTROL_VARIATES = ("none", "proposal-mean")
KEPT_BYTES = 8 * 2**20  # the first layer's kept block sums before they are folded


class CrossSums:
    """``X, N, Y`` ``[G, ...]`` and ``V`` ``[G]`` of the grid against the plain row (the last
    row of a block's sums); ``shape`` is one row's shape."""

    def __init__(self, grid: int, shape: tuple[int, ...], device) -> None:
        zeros = lambda *s: torch.zeros(*s, dtype=torch.float64, device=device)  # noqa: E731
        self.grid = grid
        self.x, self.n, self.y = zeros(grid, *shape), zeros(grid, *shape), zeros(grid, *shape)
        self.v = zeros(grid)

    def add(self, block_sum: torch.Tensor, block_weight: torch.Tensor) -> None:
        """``block_sum [G + 1, ...]``, ``block_weight [G + 1]``: one block's rows, the plain row
        last (its weight is the block's number of samples)."""
        grid, plain, count = self.grid, block_sum[-1], block_weight[-1]
        weighted, weight = block_sum[:grid], block_weight[:grid]
        self.x.addcmul_(weighted, plain.expand_as(weighted))
        self.n.add_(weighted, alpha=float(count))
        self.y.add_(weight.view(-1, *[1] * plain.dim()) * plain)
        self.v.add_(weight * count)

    def rescale(self, factor: torch.Tensor) -> None:
        """``factor [G + 1]`` (the plain row's is 1): the grid's rows times theirs."""
        grid = factor[: self.grid]
        for sums in (self.x, self.n, self.y):
            sums.mul_(grid.view(-1, *[1] * (sums.dim() - 1)))
        self.v.mul_(grid)

    def payload(self, index: int) -> torch.Tensor:
        return torch.cat(
            [self.x[index].flatten(), self.n[index].flatten(), self.y[index].flatten()]
        )


class ColumnCrossSums(CrossSums):
    """The same for the marginalised first layer's ``S_b [B, h]`` (``sampler.estimators.
    marginal``, ``sampler.estimators.first_layer_sums``), whose squares the variance reads per
    column ``i`` over the pairs ``l <= m``: ``X_g[l, m, i] = sum_b S_gb[l, i] S_0b[m, i]``
    (``[B, B, h]`` per beta) is sent symmetrised, ``X_g[l, m, i] + X_g[m, l, i]`` over the pairs
    (``[h, pairs]``), which is all the variance reads. Only the chosen beta's is ever read, so,
    as ``first_layer_sums`` does for the squares, the blocks' sums and the rescaling factors are
    kept in order and ``X`` of that beta is formed at the end; past ``KEPT_BYTES`` of kept
    blocks they are folded into ``X`` of every beta (memory flat in J). The payload also carries
    the plain row's own sums (``first.payload`` of that row)."""

    def __init__(self, grid: int, first, upper: torch.Tensor) -> None:
        _, batch, width = first.s.shape
        super().__init__(grid, (batch, width), first.s.device)
        self.first, self.upper = first, upper
        self.x = None  # [G, B, B, h] once kept blocks were folded
        self.events: list[tuple[str, torch.Tensor]] = []  # ("scale", factor) or ("block", S)
        self.kept_bytes = 0

    def add(self, block_sum: torch.Tensor, block_weight: torch.Tensor) -> None:
        grid, plain, count = self.grid, block_sum[-1], block_weight[-1]
        weighted, weight = block_sum[:grid], block_weight[:grid]
        self.events.append(("block", block_sum))
        self.kept_bytes += block_sum.numel() * block_sum.element_size()
        if self.kept_bytes > KEPT_BYTES:
            self.x = self._replay(slice(None))
            self.events, self.kept_bytes = [], 0
        self.n.add_(weighted, alpha=float(count))
        self.y.add_(weight[:, None, None] * plain)
        self.v.add_(weight * count)

    def rescale(self, factor: torch.Tensor) -> None:
        grid = factor[: self.grid]
        for sums in (self.n, self.y):
            sums.mul_(grid.view(-1, *[1] * (sums.dim() - 1)))
        self.v.mul_(grid)
        self.events.append(("scale", grid))

    def _replay(self, which) -> torch.Tensor:
        """``X`` of the betas ``which`` (a slice or an index) over the kept events."""
        _, batch, width = self.n.shape
        start = self.x[which].clone() if self.x is not None else None
        if start is None:
            shape = (batch, batch, width)
            shape = (self.grid, *shape) if isinstance(which, slice) else shape
            start = torch.zeros(shape, dtype=torch.float64, device=self.n.device)
        for kind, value in self.events:
            if kind == "scale":
                factor = value[which]
                start.mul_(factor[:, None, None, None] if isinstance(which, slice) else factor)
            else:
                weighted = value[: self.grid][which]
                start.addcmul_(weighted[..., :, None, :], value[-1][None, :, :])
        return start

    def payload(self, index: int) -> torch.Tensor:
        low, high = self.upper
        x = self._replay(index)
        pairs = (x[low, high, :] + x[high, low, :]).T  # [h, pairs]
        plain = self.first.payload(self.grid)
        return torch.cat([plain, pairs.flatten(), self.n[index].flatten(), self.y[index].flatten()])


def cross_term(parts: torch.Tensor, v: float, target: torch.Tensor, plain_mean: torch.Tensor):
    """``C = X - m_0 N - m Y + m m_0 V`` from the merged ``[X, N, Y]`` (flat, one row each)."""
    size = target.numel()
    x, n, y = parts[:size], parts[size : 2 * size], parts[2 * size : 3 * size]
    flat_target, flat_plain = target.reshape(-1), plain_mean.reshape(-1)
    cross = x - flat_plain * n - flat_target * y + flat_target * flat_plain * v
    return cross.view_as(target)


def spread(q: torch.Tensor, p: torch.Tensor, r: float, mean: torch.Tensor) -> torch.Tensor:
    """``Q - 2 m P + m^2 R``: the blocks' summed squared deviations, unnormalised."""
    return q - 2 * mean * p + mean * mean * r


def weight_square_sum(s1: float, s2: float, count: float) -> float:
    """``sum_j c_j^2 = s2 / s1^2 - 1 / J`` (never negative: ``J s2 >= s1^2``)."""
    return max(s2 / (s1 * s1) - 1.0 / count, 0.0)
