"""A fake two-step problem with a closed form: ``f(x) = 0.5 (x - a)^T A (x - a)``, A diagonal.

The tilted measure ``q_{x,tau}`` is Gaussian with precision ``P = beta A + diag(1/tau)`` and mean
``P^-1 (beta A a + x / tau)``; the heat root solves ``x - x_k + tau beta A (x - a) = 0``.
"""

from __future__ import annotations

import torch


class QuadraticProblem:
    def __init__(self, a: torch.Tensor, diag: torch.Tensor) -> None:
        self.a = a
        self.diag = diag
        self.loss_evals = 0
        self.grad_evals = 0

    @property
    def num_params(self) -> int:
        return self.a.shape[0]

    def losses(self, params: torch.Tensor) -> torch.Tensor:
        self.loss_evals += params.shape[0]
        r = params - self.a
        return 0.5 * (r * r * self.diag).sum(dim=1)

    def loss_and_grad(self, params: torch.Tensor):
        self.grad_evals += params.shape[0]
        r = params - self.a
        return 0.5 * (r * r * self.diag).sum(dim=1), r * self.diag

    def tilted_mean(self, center, tau, beta: float = 1.0) -> torch.Tensor:
        precision = beta * self.diag + 1.0 / tau
        return (beta * self.diag * self.a + center / tau) / precision

    def heat_root(self, center, tau, beta: float = 1.0) -> torch.Tensor:
        return (center + tau * beta * self.diag * self.a) / (1.0 + tau * beta * self.diag)


def mean_and_standard_error(samples: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    stacked = torch.stack([s.to(torch.float64) for s in samples])
    return stacked.mean(dim=0), stacked.std(dim=0) / len(samples) ** 0.5
