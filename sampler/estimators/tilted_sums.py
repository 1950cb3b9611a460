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

A block's ``a_gb`` is ``w_g @ points`` (the literal proposals), or whatever the proposal scheme
computes from the weights (``add(losses, weighted)`` with a function ``w [G, rows] -> [G,
dim]``: antithetic pairs in noise space, the marginalised scheme's coordinates after its first
layer, ``sampler.estimators.proposals``). A scheme that keeps further sums of its own (the
marginalised first layer) attaches them (``attach``): they are rescaled with these and merged
in the same reduction.

No host synchronisation while blocks arrive: ``f*`` and the count of failed samples are device
tensors (on a GPU the rescaling is applied at every block, with factor 1 when ``f*`` did not
move, which is exact; the CPU, where asking costs nothing, skips it then), so a GPU runs a
rank's whole block loop without waiting; ``finish`` reads the sums once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from sampler.estimators.control_variate import CrossSums, cross_term, spread
from sampler.mpi import Comm


class AttachedSums(Protocol):
    """Sums a proposal scheme keeps beside ``a, q, p`` (``sampler.estimators.marginal``)."""

    def rescale(self, factor: torch.Tensor) -> None:
        """``factor: [G]``: the linear sums times it, the quadratic ones times its square."""

    def payload(self, index: int) -> torch.Tensor:
        """The sums of grid point ``index`` as one flat float64 vector (summed over ranks)."""


@dataclass
class TiltedEstimate:
    index: int  # which beta of the grid
    beta: float
    target: torch.Tensor  # [dim], float64
    variance: torch.Tensor  # [dim], float64 (NaN with fewer than two blocks)
    s1: float
    s2: float
    min_loss: float
    failed: int
    blocks: int = 0
    r: float = math.nan  # sum_b W_b^2 of the chosen beta
    attached: list[torch.Tensor] = field(default_factory=list)  # merged payloads, in order
    count: float = math.nan  # with a control variate: the samples J (the plain row's s1)
    plain_r: float = math.nan  # with a control variate: sum_b n_b^2
    cross_v: float = math.nan  # with a control variate: sum_b W_b n_b of the chosen beta


class TiltedSums:
    def __init__(
        self, betas: list[float], dim: int, device, reference: torch.Tensor | None = None
    ) -> None:
        """``reference``: the known mean of the summed points, subtracted as a control variate
        (``sampler.estimators.control_variate``; ``None``: the plain self-normalised estimate).
        With it the sums keep one more row, ``beta = 0``, after the grid's."""
        self.grid = len(betas)
        self.reference = reference
        rows = [*betas, 0.0] if reference is not None else list(betas)
        self.betas = torch.tensor(rows, dtype=torch.float64, device=device)
        grid = len(rows)
        self.cross = None if reference is None else CrossSums(self.grid, (dim,), device)
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.min_loss = torch.full((), math.inf, dtype=torch.float64, device=device)
        self.s1, self.s2, self.r = zeros(grid), zeros(grid), zeros(grid)
        self.a, self.q, self.p = zeros(grid, dim), zeros(grid, dim), zeros(grid, dim)
        self.blocks = 0
        self.failed = torch.zeros((), dtype=torch.int64, device=device)
        self.attached: list[AttachedSums] = []

    def attach(self, sums: AttachedSums) -> None:
        self.attached.append(sums)

    def _rescale(self, new_min: torch.Tensor) -> None:
        """To the new ``f*`` (factor 1, exactly, where it did not move or nothing was summed)."""
        exponent = -self.betas * (self.min_loss - new_min)
        factor = torch.where(torch.isfinite(self.min_loss), torch.exp(exponent), 1.0)
        if factor.device.type == "cpu" and bool((factor == 1.0).all()):
            return  # nothing moved: skip the passes over the sums (free to ask on the CPU)
        self.s1.mul_(factor)
        self.a.mul_(factor[:, None])
        squared = factor * factor
        self.s2.mul_(squared)
        self.r.mul_(squared)
        self.q.mul_(squared[:, None])
        self.p.mul_(squared[:, None])
        if self.cross is not None:
            self.cross.rescale(factor)
        for sums in self.attached:
            sums.rescale(factor)

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        """One block's weights ``w [G, rows]`` float64 relative to the new ``f*`` (the earlier
        sums rescaled to it); ``losses: [rows]`` float64, a non-finite value fails its sample."""
        self.blocks += 1
        on_host = losses.device.type == "cpu"
        w = self._cpu_weights(losses) if on_host else self._device_weights(losses)
        if self.cross is not None:
            w[-1] = 1.0  # the plain row: every sample, a failed one too
        return w

    def _device_weights(self, losses: torch.Tensor) -> torch.Tensor:
        """``weights`` without a host synchronisation (module docstring)."""
        finite = torch.isfinite(losses)
        self.failed += (~finite).sum()
        block_min = torch.where(finite, losses, math.inf).min()
        new_min = torch.minimum(self.min_loss, block_min)
        self._rescale(new_min)
        self.min_loss = new_min
        shifted = torch.where(finite, losses - new_min, math.inf)
        return torch.exp(-self.betas[:, None] * shifted[None, :])  # [G, rows]

    def _cpu_weights(self, losses: torch.Tensor) -> torch.Tensor:
        """``weights`` where asking costs nothing: the same numbers, without the masks when
        every loss is finite and without the rescaling when ``f*`` did not drop."""
        finite = torch.isfinite(losses)
        every = bool(finite.all())
        if not every:
            self.failed += (~finite).sum()
        block_min = (losses if every else torch.where(finite, losses, math.inf)).min()
        new_min = torch.minimum(self.min_loss, block_min)
        if float(new_min) < float(self.min_loss) and math.isfinite(float(self.min_loss)):
            self._rescale(new_min)  # f* dropped (it skips a factor that rounds to 1 itself)
        self.min_loss = new_min
        shifted = losses - new_min
        if not every:
            shifted = torch.where(finite, shifted, math.inf)
        return torch.exp(-self.betas[:, None] * shifted[None, :])  # [G, rows]

    def add(
        self,
        losses: torch.Tensor,
        points: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """One block: ``losses: [rows]`` float64 (any non-finite value fails its sample) and
        ``points: [rows, dim]``, or a function of the weights ``w [G, rows]`` giving the
        block's ``sum_j w_gj x_j`` ``[G, dim]`` float64. Returns ``w``."""
        w = self.weights(losses)
        block_weight = w.sum(dim=1)
        if callable(points):
            block_sum = points(w)
        else:
            block_sum = (w.to(points.dtype) @ points).to(torch.float64)  # [G, dim]
        self.s1.add_(block_weight)
        self.s2.add_((w * w).sum(dim=1))
        self.r.add_(block_weight * block_weight)
        self.a.add_(block_sum)
        self.q.addcmul_(block_sum, block_sum)
        self.p.add_(block_weight[:, None] * block_sum)
        if self.cross is not None:
            self.cross.add(block_sum, block_weight)
        return w

    def finish(self, comm: Comm, choose: Callable[[torch.Tensor, torch.Tensor, int], int]):
        """Merge the ranks' sums; ``choose(s1 [G], s2 [G], failed) -> g`` picks the beta (the
        same on every rank, from the merged sums). ``None`` if no sample anywhere is finite."""
        global_min = -float(comm.allreduce_max((-self.min_loss).reshape(1))[0])
        if global_min == math.inf:
            return None
        if math.isfinite(float(self.min_loss)):
            self._rescale(torch.tensor(global_min, dtype=torch.float64, device=self.s1.device))
        # else: nothing finite on this rank, its sums are zero whatever the shift
        rows = self.betas.shape[0]
        blocks = torch.full((1,), float(self.blocks), dtype=torch.float64, device=self.s1.device)
        counts = torch.cat([self.failed.to(torch.float64).reshape(1), blocks])
        cross_v = [] if self.cross is None else [self.cross.v]
        scalars = comm.allreduce_sum(torch.cat([self.s1, self.s2, self.r, *cross_v, counts]))
        scalars = scalars.cpu()
        s1, s2, r = scalars[:rows], scalars[rows : 2 * rows], scalars[2 * rows : 3 * rows]
        failed, blocks = int(scalars[-2]), int(scalars[-1])
        index = choose(s1[: self.grid], s2[: self.grid], failed)
        dim = self.a.shape[1]
        payloads = [sums.payload(index) for sums in self.attached]
        parts = [self.a[index], self.q[index], self.p[index]]
        if self.cross is not None:
            parts += [self.a[-1], self.q[-1], self.p[-1], self.cross.payload(index)]
        merged = comm.allreduce_sum(torch.cat(parts + payloads)).to(self.a.device)
        a, q, p = merged[:dim], merged[dim : 2 * dim], merged[2 * dim : 3 * dim]
        offset = sum(part.numel() for part in parts)
        attached = []
        for payload in payloads:
            attached.append(merged[offset : offset + payload.numel()])
            offset += payload.numel()
        total, total_r = float(s1[index]), float(r[index])
        target = a / total
        deviations = spread(q, p, total_r, target)  # times s1^2 (plain estimate)
        plain = {}
        if self.cross is not None:
            count, plain_r = float(s1[-1]), float(r[-1])
            cross_v = float(scalars[3 * rows + index])
            a0, q0, p0 = (
                merged[3 * dim : 4 * dim],
                merged[4 * dim : 5 * dim],
                merged[5 * dim : 6 * dim],
            )
            plain_mean = a0 / count
            cross = cross_term(merged[6 * dim : 9 * dim], cross_v, target, plain_mean)
            deviations = (
                deviations
                + spread(q0, p0, plain_r, plain_mean) * (total * total / (count * count))
                - 2 * cross * (total / count)
            )
            target = target - plain_mean + self.reference.to(target)
            plain = {"count": count, "plain_r": plain_r, "cross_v": cross_v}
        if blocks >= 2:
            variance = deviations.clamp_min_(0.0) * (blocks / (blocks - 1)) / (total * total)
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
            blocks=blocks,
            r=total_r,
            attached=attached,
            **plain,
        )
