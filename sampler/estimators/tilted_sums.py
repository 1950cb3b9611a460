"""Streaming sums of the self-normalised importance-sampling estimate, for several inverse
temperatures at once, with its batch-means standard error.

For each ``beta_g`` of a grid and samples ``x_j`` with losses ``f_j`` (all on one minibatch),
relative to the smallest loss seen so far ``f*`` (so that no weight overflows)::

    w_gj = exp(-beta_g (f_j - f*)),   s1_g = sum_j w_gj,   s2_g = sum_j w_gj^2,
    a_g = sum_j w_gj x_j  [d],        m_g = a_g / s1_g,    ESS_g = s1_g^2 / s2_g.

A sample with a non-finite loss has weight 0. The samples arrive in blocks ``b = 1..n`` (fixed
size, independent of the number of ranks) that are independent given the center, so the
ratio-estimator (batch-means, delta-method) variance of ``m_g`` per coordinate is::

    Var(m_g) ≈ n / (n - 1) * sum_b (a_gb - m_g W_gb)^2 / s1_g^2,    W_gb = sum_{j in b} w_gj,
             = n / (n - 1) * (Q_g - 2 m_g P_g + m_g^2 R_g) / s1_g^2,

with ``Q_g = sum_b a_gb^2``, ``P_g = sum_b W_gb a_gb``, ``R_g = sum_b W_gb^2`` kept as running
sums (Cochran, "Sampling Techniques", ch. 6, the ratio estimator over clusters). It needs
``n >= 2`` blocks; with one block it is reported as NaN. All sums are float64; when ``f*``
drops, the earlier sums are rescaled by ``exp(-beta_g (f*_old - f*_new))`` (squared for the
quadratic ones). Ranks merge their sums by one max and two sum reductions, so one seed gives
the same estimate on any number of ranks up to float64 summation order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sampler.mpi import Comm


@dataclass
class TiltedEstimate:
    index: int  # which beta of the grid
    beta: float
    target: torch.Tensor  # [d], float64
    variance: torch.Tensor  # [d], float64 (NaN with fewer than two blocks)
    s1: float
    s2: float
    min_loss: float
    failed: int


class TiltedSums:
    def __init__(self, betas: list[float], dim: int, device) -> None:
        self.betas = torch.tensor(betas, dtype=torch.float64, device=device)
        grid = len(betas)
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.min_loss = math.inf
        self.s1, self.s2, self.r = zeros(grid), zeros(grid), zeros(grid)
        self.a, self.q, self.p = zeros(grid, dim), zeros(grid, dim), zeros(grid, dim)
        self.blocks = 0
        self.failed = 0

    def _rescale(self, new_min: float) -> None:
        if self.min_loss == math.inf:
            return
        factor = torch.exp(-self.betas * (self.min_loss - new_min))
        self.s1.mul_(factor)
        self.a.mul_(factor[:, None])
        squared = factor * factor
        self.s2.mul_(squared)
        self.r.mul_(squared)
        self.q.mul_(squared[:, None])
        self.p.mul_(squared[:, None])

    def add(self, losses: torch.Tensor, points: torch.Tensor) -> None:
        """One block: ``losses: [rows]`` float64 (any non-finite value fails its sample),
        ``points: [rows, d]``."""
        self.blocks += 1
        finite = torch.isfinite(losses)
        self.failed += int(losses.shape[0] - finite.sum())
        if not bool(finite.any()):
            return
        block_min = float(losses[finite].min())
        if block_min < self.min_loss:
            self._rescale(block_min)
            self.min_loss = block_min
        shifted = torch.where(finite, losses - self.min_loss, math.inf)
        w = torch.exp(-self.betas[:, None] * shifted[None, :])  # [G, rows]
        block_weight = w.sum(dim=1)
        block_sum = (w.to(points.dtype) @ points).to(torch.float64)  # [G, d]
        self.s1.add_(block_weight)
        self.s2.add_((w * w).sum(dim=1))
        self.r.add_(block_weight * block_weight)
        self.a.add_(block_sum)
        self.q.addcmul_(block_sum, block_sum)
        self.p.add_(block_weight[:, None] * block_sum)

    def finish(self, comm: Comm, choose: Callable[[torch.Tensor, torch.Tensor, int], int]):
        """Merge the ranks' sums; ``choose(s1 [G], s2 [G], failed) -> g`` picks the beta (the
        same on every rank, from the merged sums). ``None`` if no sample anywhere is finite."""
        local_min = torch.tensor([-self.min_loss], dtype=torch.float64)
        global_min = -float(comm.allreduce_max(local_min)[0])
        if global_min == math.inf:
            return None
        if self.min_loss != math.inf:
            self._rescale(global_min)
        else:  # nothing finite on this rank: its sums are zero whatever the shift
            self.min_loss = global_min
        grid = self.betas.shape[0]
        scalars = torch.cat(
            [
                self.s1.cpu(),
                self.s2.cpu(),
                self.r.cpu(),
                torch.tensor([self.failed, self.blocks], dtype=torch.float64),
            ]
        )
        scalars = comm.allreduce_sum(scalars).cpu()
        s1, s2, r = scalars[:grid], scalars[grid : 2 * grid], scalars[2 * grid : 3 * grid]
        failed, blocks = int(scalars[-2]), int(scalars[-1])
        index = choose(s1, s2, failed)
        vectors = torch.stack([self.a[index], self.q[index], self.p[index]]).cpu()
        a, q, p = comm.allreduce_sum(vectors).to(self.a.device).unbind(0)
        total, total_r = float(s1[index]), float(r[index])
        target = a / total
        if blocks >= 2:
            spread = (q - 2 * target * p + target * target * total_r).clamp_min_(0.0)
            variance = spread * (blocks / (blocks - 1)) / (total * total)
        else:
            variance = torch.full_like(target, math.nan)
        return TiltedEstimate(
            index=index,
            beta=float(self.betas[index]),
            target=target,
            variance=variance,
            s1=total,
            s2=float(s2[index]),
            min_loss=global_min,
            failed=failed,
        )
