"""The two-step KL scheme (García Trillos, Kaplan, Sanz-Alonso, Algorithms 1 and 2).

At outer step k: (1) form the tilted measure ``q(x') ∝ exp(-beta f(x') - |x_k - x'|^2 / 2 tau_k)``
on the step's minibatch, (2) let an estimator produce the target ``m_k`` (its Gaussian KL fit).
The outer update is ``x_{k+1} = x_k - eta_k g_k`` with ``g_k = (x_k - m_k) / tau_k``
(for local entropy ``g_k = grad F_tau(x_k)``). By default ``eta_k = tau_k``, i.e.
``x_{k+1} = m_k``: the paper's algorithm, a majorization-minimization scheme.
"""

from __future__ import annotations

import torch

from mpi import Comm
from sampler.estimators import Estimator, StepKey
from sampler.problem import Problem
from sampler.schedules import Schedule


class TwoStepTrainer:
    def __init__(self, estimator: Estimator, tau: Schedule, lr: Schedule | None, seed: int) -> None:
        self.estimator = estimator
        self.tau = tau
        self.lr = lr  # None: eta = tau
        self.seed = seed
        self.objective = estimator.objective

    def init(self, params: torch.Tensor) -> dict:
        return {"estimator": self.estimator.init(params)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        tau = self.tau(step)
        target, estimator_state, info = self.estimator.step(
            StepKey(self.seed, step), state["estimator"], params, torch.tensor(tau), problem, comm
        )
        if self.lr is None:
            new_params = target
        else:
            gradient = (params - target) / tau
            new_params = params - self.lr(step) * gradient
        record = {"tau": tau, **info._asdict()}
        return new_params, {"estimator": estimator_state}, record
