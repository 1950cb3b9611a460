"""The two-step KL scheme (García Trillos, Kaplan, Sanz-Alonso, Algorithms 1 and 2).

At outer step k: (1) form the tilted measure ``q(x') ∝ exp(-beta f(x') - |x_k - x'|^2 / 2 tau_k)``
on the step's minibatch, (2) let an estimator produce the target ``m_k`` (its Gaussian KL fit:
``E_q[X]`` for local entropy, the root of ``x - x_k + tau E_{N(x,tau)} grad f`` for heat).
The outer update feeds ``g_k = (x_k - m_k) / tau_k`` (coordinatewise for a per-layer tau; for
local entropy ``g_k = grad F_tau(x_k)``) to an outer optimizer (``sampler.outer``). By default
(``sgd`` with ``eta_k = tau_k``) ``x_{k+1} = m_k``: the paper's algorithm, a
majorization-minimization scheme (``F_tau(x_k)`` non-increasing for an exact target, Thm 3.2).
"""

from __future__ import annotations

import torch

from sampler.estimators import Estimator, StepKey
from sampler.mpi import Comm
from sampler.outer import OuterOptimizer
from sampler.problem import Problem
from sampler.schedules import Schedule
from sampler.tau import TauSchedule


class TwoStepTrainer:
    def __init__(
        self,
        estimator: Estimator,
        tau: TauSchedule,
        lr: Schedule | None,
        seed: int,
        optimizer: OuterOptimizer | None = None,
    ) -> None:
        self.estimator = estimator
        self.tau = tau
        self.lr = lr  # None: eta = tau
        self.seed = seed
        self.optimizer = optimizer or OuterOptimizer("sgd")
        self.objective = estimator.objective

    def init(self, params: torch.Tensor) -> dict:
        return {"estimator": self.estimator.init(params), "outer": self.optimizer.init(params)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        tau = self.tau(step, device=params.device, dtype=params.dtype)
        target, estimator_state, info = self.estimator.step(
            StepKey(self.seed, step), state["estimator"], params, tau, problem, comm
        )
        outer = state.get("outer", {})
        if self.lr is None and self.optimizer.name == "sgd":
            new_params = target  # x_{k+1} = m_k exactly
        else:
            gradient = (params - target) / tau
            eta = tau if self.lr is None else self.lr(step)
            new_params, outer = self.optimizer.update(params, gradient, eta, outer)
        record = {**self.tau.record(step), **info._asdict()}
        if self.lr is not None:
            record["lr"] = self.lr(step)
        return new_params, {"estimator": estimator_state, "outer": outer}, record
