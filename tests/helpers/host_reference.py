"""The estimators' inner loops as they were before the GPU path (host synchronisation per block,
a fresh tensor per step), kept as the reference that the restructured code must reproduce bit
for bit on the CPU (``tests/estimators/test_device_path.py``).

``HostTiltedSums`` is the previous ``sampler.estimators.tilted_sums.TiltedSums``: the smallest
loss a Python float read from the device at every block, a block without a finite loss skipped.
``host_run_chains`` and ``host_local_sums`` are the previous ``SGLD.run_chains`` and
``RobbinsMonro.local_sums``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sampler.estimators.batch_means import BatchMeans
from sampler.estimators.tilted_sums import TiltedEstimate
from sampler.models import streams
from sampler.mpi import Comm


class HostTiltedSums:
    def __init__(self, betas: list[float], dim: int, device, reference=None) -> None:
        assert reference is None, "the host reference has no control variate"
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


def host_run_chains(self, key, start, owned, center, tau, problem, beta):
    """The previous ``SGLD.run_chains``: ``(x - center) / tau`` a new tensor at every step, the
    float32 state added into the float64 batch sums directly."""
    generators = [
        streams.torch_generator(key.seed, streams.SGLD_NOISE, key.step, c, center.device)
        for c in owned
    ]
    x = start.clone()
    noise = torch.empty_like(x)
    batches = BatchMeans(x.shape, self.steps, x.device)
    losses = torch.zeros(len(owned))
    for j in range(self.steps):
        eps = self.eps(j)
        losses, grad = problem.loss_and_grad(x)
        for row, generator in enumerate(generators):
            noise[row].normal_(generator=generator)
        drift = grad.mul_(beta).add_((x - center) / tau)
        x = x.add_(drift, alpha=-0.5 * eps).add_(noise, alpha=math.sqrt(eps))
        batch = j * batches.count // batches.steps
        if batch != batches.batch:
            batches._close()
            batches.batch = batch
        batches.current.add_(x, alpha=eps)
        batches.current_weight += eps
    averages, variances = batches.finish()
    return averages, x, losses, variances


def host_local_sums(self, key, j, owned, x, scale, problem):
    """The previous ``RobbinsMonro.local_sums``: new noise, points and float64 gradients at
    every iteration."""
    if not owned:
        return torch.zeros(2, x.shape[0], dtype=torch.float64, device=x.device)
    noise = torch.empty(len(owned), x.shape[0], dtype=x.dtype, device=x.device)
    for row, m in enumerate(owned):
        generator = streams.torch_generator(
            key.seed, streams.RM_NOISE, key.step, j * self.samples + m, device=x.device
        )
        noise[row].normal_(generator=generator)
    step = noise * scale
    if not self.stein:
        _, grads = problem.loss_and_grad(x + step)
    else:
        rows = len(owned)
        values = problem.losses(torch.cat([x + step, x - step])).to(torch.float64)
        difference = ((values[:rows] - values[rows:]) / 2).to(x.dtype)
        grads = noise.mul_(difference[:, None]).div_(scale)
    grads = grads.to(torch.float64)
    return torch.stack([grads.sum(dim=0), (grads * grads).sum(dim=0)])
