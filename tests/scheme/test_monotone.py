"""Theorem 3.2 (García Trillos, Kaplan, Sanz-Alonso): with an exact target ``m_k = E_q[X]`` the
two-step scheme ``x_{k+1} = m_k`` never increases ``F_tau``. Checked on a non-convex 1-d loss,
the target and ``F_tau`` computed by quadrature, the update made by the real ``TwoStepTrainer``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from sampler.mpi import SerialComm
from sampler.scheme.tau import TauSchedule
from sampler.scheme.two_step import TwoStepTrainer

GRID = torch.linspace(-8.0, 8.0, 40001, dtype=torch.float64)


def loss(x: torch.Tensor) -> torch.Tensor:
    """Non-convex: a double well with ripples."""
    return x**4 / 4 - x**2 + 0.6 * torch.sin(4 * x)


def log_tilted(center: float, tau: float) -> torch.Tensor:
    """``log`` of ``exp(-f(x')) N(x'; x, tau)`` on the grid."""
    return -loss(GRID) - (GRID - center) ** 2 / (2 * tau) - 0.5 * math.log(2 * math.pi * tau)


def free_energy(center: float, tau: float) -> float:
    """``F_tau(x) = -log ∫ exp(-f(x')) N(x'; x, tau) dx'`` by the trapezoid rule."""
    h = float(GRID[1] - GRID[0])
    return -float(torch.logsumexp(log_tilted(center, tau), 0)) - math.log(h)


class ExactInfo(NamedTuple):
    loss_evals: int
    grad_evals: int


class QuadratureEstimator:
    objective = "local-entropy"

    def init(self, center):
        return {}

    def step(self, key, state, center, tau, problem, comm):
        weights = torch.softmax(log_tilted(float(center[0]), float(tau)), 0)
        return (weights * GRID).sum().reshape(1), state, ExactInfo(0, 0)


@pytest.mark.parametrize("start", [-2.5, 0.4, 2.2])
@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_free_energy_is_non_increasing_with_an_exact_target(start, tau):
    trainer = TwoStepTrainer(QuadratureEstimator(), TauSchedule(str(tau)), None, seed=0)
    params = torch.tensor([start], dtype=torch.float64)
    state = trainer.init(params)
    energies = [free_energy(start, tau)]
    for step in range(40):
        params, state, _ = trainer.step(step, params, state, None, SerialComm())
        energies.append(free_energy(float(params[0]), tau))
    increases = [b - a for a, b in zip(energies[:-1], energies[1:])]
    assert max(increases) <= 1e-10, increases
    assert energies[-1] < energies[0] - 1e-3  # it moved
