"""Backprop baseline: minibatch SGD with optional (Nesterov) momentum, PyTorch's convention.

``v_{k+1} = mu v_k + grad f(x_k)``; ``x_{k+1} = x_k - eta v_{k+1}`` (heavy ball) or
``x_{k+1} = x_k - eta (grad f(x_k) + mu v_{k+1})`` (Nesterov). Runs through the same loop and
writes the same run directory as the sampling estimators.
"""

from __future__ import annotations

import torch

from sampler.mpi import Comm
from sampler.outer import OuterOptimizer
from sampler.problem import Problem
from sampler.schedules import Schedule


class SGDTrainer:
    """The heavy-ball / Nesterov update is ``sampler.outer``'s, fed with the minibatch gradient
    (with ``mu = 0`` both reduce to plain SGD); the state is the velocity."""

    objective = "loss"

    def __init__(self, lr: Schedule, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.lr = lr
        self.optimizer = OuterOptimizer("nesterov" if nesterov else "momentum", momentum)

    def init(self, params: torch.Tensor) -> dict:
        return self.optimizer.init(params)

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        _, grad = problem.loss_and_grad(params.unsqueeze(0))
        lr = self.lr(step)
        new_params, state = self.optimizer.update(params, grad[0], lr, state)
        return new_params, state, {"lr": lr, "loss_evals": 0, "grad_evals": 1}
