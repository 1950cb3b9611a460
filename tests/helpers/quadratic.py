"""A quadratic loss ``f(x) = 0.5 sum_i A_i (x_i - a_i)^2 + c`` as an estimator "problem".

Its tilted measure ``q ∝ exp(-beta f(x') - |x - x'|^2 / 2 tau)`` is Gaussian with precision
``P_i = beta A_i + 1/tau_i`` and mean ``(beta A_i a_i + x_i / tau_i) / P_i``; the heat root
(Algorithm 2) solves ``x - x_k + tau beta A (x - a) = 0`` (the Gaussian average of a linear
gradient is the gradient at the mean).
"""

from __future__ import annotations

import torch


class QuadraticProblem:
    def __init__(self, curvature, minimum, offset: float = 0.0, allow_grad: bool = True):
        self.curvature = torch.as_tensor(curvature, dtype=torch.float64).float()
        self.minimum = torch.as_tensor(minimum, dtype=torch.float64).float()
        self.offset = offset
        self.allow_grad = allow_grad
        self.loss_evals = 0
        self.grad_evals = 0

    def to(self, device) -> QuadraticProblem:
        """This problem with its curvature and minimum on ``device`` (in place)."""
        self.curvature, self.minimum = self.curvature.to(device), self.minimum.to(device)
        return self

    @property
    def num_params(self) -> int:
        return self.curvature.numel()

    def _values(self, params: torch.Tensor) -> torch.Tensor:
        """Computed in float64, returned in the dtype of ``params`` (``float32`` like a network)."""
        diff = params.double() - self.minimum.double()
        return (0.5 * (self.curvature.double() * diff * diff).sum(dim=1) + self.offset).to(
            params.dtype
        )

    def losses(self, params: torch.Tensor) -> torch.Tensor:
        self.loss_evals += params.shape[0]
        return self._values(params)

    def loss_and_grad(self, params: torch.Tensor):
        if not self.allow_grad:
            raise AssertionError("a gradient was requested from a gradient-free estimator")
        self.grad_evals += params.shape[0]
        diff = params.double() - self.minimum.double()
        return self._values(params), (self.curvature.double() * diff).to(params.dtype)

    def tilted_mean(self, center, tau, beta: float = 1.0) -> torch.Tensor:
        tau = torch.as_tensor(tau, dtype=torch.float64)
        a, m = self.curvature.double(), self.minimum.double()
        precision = beta * a + 1.0 / tau
        return (beta * a * m + center.double() / tau) / precision

    def heat_root(self, center, tau, beta: float = 1.0) -> torch.Tensor:
        tau = torch.as_tensor(tau, dtype=torch.float64)
        a, m = self.curvature.double(), self.minimum.double()
        return (center.double() + tau * beta * a * m) / (1.0 + tau * beta * a)


def mean_and_standard_error(samples: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    stacked = torch.stack([s.to(torch.float64) for s in samples])
    return stacked.mean(dim=0), stacked.std(dim=0) / len(samples) ** 0.5
