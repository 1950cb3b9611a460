"""Importance-sampling estimate of the local-entropy target ``m = E_q[X]`` (Algorithm 4 of
García Trillos, Kaplan, Sanz-Alonso, "Variational characterizations of local entropy and heat
regularization in deep learning").

Proposals ``x_j = x + sqrt(tau) e_j``, ``e_j ~ N(0, I)``, ``j = 1..J``, all weighted on the same
minibatch with ``log w_j = -beta f(x_j)``; the self-normalised estimate is
``m = sum_j w_j x_j / sum_j w_j``. No gradient is ever evaluated. ``tau`` may be a ``[d]``
vector (per-layer tau): ``x_j = x + sqrt(tau) * e_j`` coordinatewise; ``beta`` may follow a
schedule over outer steps.

Streaming and parallel: the J samples form blocks of ``block_size`` (the last may be shorter),
block ``b`` drawing its noise from the counter-based stream ``(seed, IS_NOISE, step, b)``; rank
``r`` owns the blocks with ``b mod R = r``. Each block yields, relative to its own largest log
weight ``M_b``: ``s1 = sum w``, ``s2 = sum w^2`` and ``a = sum w x`` (float64). Blocks are merged
by a running log-sum-exp, then ranks by one max and one sum reduction in float64, so memory does
not grow with J and one seed gives the same update on any number of ranks.
A sample whose loss is NaN or infinite gets weight 0; if all J fail, the step raises.

Diagnostics: ``ess = (sum w)^2 / sum w^2``, the largest normalised weight, and
``free_energy = -log((1/J) sum_j exp(-beta f(x_j)))``, the IS estimate of ``F_tau(x)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sampler.estimators.base import EstimatorSpec, StepKey, as_schedule
from sampler.models import streams
from sampler.models.options import Option, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, parse_schedule


class ISInfo(NamedTuple):
    ess: float
    max_weight: float
    free_energy: float
    failed_samples: int
    loss_evals: int
    grad_evals: int


class NoFiniteSampleError(RuntimeError):
    pass


class ImportanceSampling:
    objective = "local-entropy"

    def __init__(self, samples: int, beta: float | Schedule, block_size: int) -> None:
        self.samples = samples
        self.beta = as_schedule(beta)
        self.block_size = block_size
        self._buffer: torch.Tensor | None = None

    def init(self, center: torch.Tensor) -> dict:
        return {}

    def blocks(self) -> list[tuple[int, int]]:
        """``(block index, number of samples)`` for all blocks of a step, on every rank."""
        count = math.ceil(self.samples / self.block_size)
        return [(b, min(self.block_size, self.samples - b * self.block_size)) for b in range(count)]

    def _noise_buffer(self, rows: int, center: torch.Tensor) -> torch.Tensor:
        shape = (self.block_size, center.shape[0])
        buffer = self._buffer
        if buffer is None or buffer.shape != shape or buffer.device != center.device:
            buffer = self._buffer = torch.empty(shape, dtype=center.dtype, device=center.device)
        return buffer[:rows]

    def block_sums(
        self, key: StepKey, block: int, rows: int, center: torch.Tensor, scale, problem: Problem
    ) -> tuple[float, float, float, torch.Tensor, int]:
        """``(M_b, s1, s2, a [d] float64, failed)`` of one block; ``M_b = -inf`` if all failed."""
        generator = streams.torch_generator(
            key.seed, streams.IS_NOISE, key.step, block, center.device
        )
        points = self._noise_buffer(rows, center).normal_(generator=generator)
        points.mul_(scale).add_(center)  # x_j = x + sqrt(tau) e_j, in place
        log_w = -self.beta(key.step) * problem.losses(points).to(torch.float64)
        finite = torch.isfinite(log_w)
        failed = int(rows - finite.sum())
        log_w = torch.where(finite, log_w, -math.inf)
        top = float(log_w.max())
        if top == -math.inf:
            return top, 0.0, 0.0, torch.zeros_like(center, dtype=torch.float64), failed
        w = torch.exp(log_w - top)
        weighted = (w.to(points.dtype) @ points).to(torch.float64)
        return top, float(w.sum()), float((w * w).sum()), weighted, failed

    def step(self, key, state, center, tau, problem: Problem, comm: Comm):
        scale = torch.sqrt(torch.as_tensor(tau, dtype=center.dtype, device=center.device))
        top, s1, s2 = -math.inf, 0.0, 0.0
        total = torch.zeros_like(center, dtype=torch.float64)
        failed = 0
        for block, rows in self.blocks()[comm.rank :: comm.size]:
            b_top, b_s1, b_s2, b_sum, b_failed = self.block_sums(
                key, block, rows, center, scale, problem
            )
            failed += b_failed
            if b_top == -math.inf:
                continue
            new_top = max(top, b_top)
            old, new = math.exp(top - new_top), math.exp(b_top - new_top)
            s1, s2 = s1 * old + b_s1 * new, s2 * old * old + b_s2 * new * new
            total.mul_(old).add_(b_sum, alpha=new)
            top = new_top
        global_top = float(comm.allreduce_max(torch.tensor([top], dtype=torch.float64))[0])
        if global_top == -math.inf:
            raise NoFiniteSampleError(
                f"update {key.step + 1}: all {self.samples} importance samples have a "
                "non-finite loss; "
                "lower --tau or check the model and data"
            )
        factor = math.exp(top - global_top) if top > -math.inf else 0.0
        packed = torch.cat(
            [
                torch.tensor(
                    [s1 * factor, s2 * factor * factor, float(failed)], dtype=torch.float64
                ),
                (total * factor).cpu(),
            ]
        )
        packed = comm.allreduce_sum(packed).cpu()
        s1, s2, failed = float(packed[0]), float(packed[1]), int(packed[2])
        target = (packed[3:] / s1).to(device=center.device, dtype=center.dtype)
        info = ISInfo(
            ess=s1 * s1 / s2,
            max_weight=1.0 / s1,
            free_energy=-(global_top + math.log(s1 / self.samples)),
            failed_samples=failed,
            loss_evals=self.samples,
            grad_evals=0,
        )
        return target, state, info


OPTIONS = {
    "samples": Option("int", 1000, "samples J per update", check=at_least(1)),
    "block_size": Option(
        "int",
        100,
        "samples per noise block (fixed, independent of the number of ranks)",
        check=at_least(1),
    ),
}


def build(values) -> ImportanceSampling:
    return ImportanceSampling(
        values["samples"], parse_schedule(values["beta"], "--beta"), values["block_size"]
    )


SPEC = EstimatorSpec(
    objective="local-entropy",
    needs_gradients=False,
    build=build,
    summary="importance sampling of E_q[X] (Algorithm 4), gradient-free",
    options=OPTIONS,
)
