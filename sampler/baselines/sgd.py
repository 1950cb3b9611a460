"""Backprop baseline: minibatch SGD with optional (Nesterov) momentum, PyTorch's convention.

``v_{k+1} = mu v_k + grad f(x_k)``; ``x_{k+1} = x_k - eta v_{k+1}`` (heavy ball) or
``x_{k+1} = x_k - eta (grad f(x_k) + mu v_{k+1})`` (Nesterov). Runs through the same loop and
writes the same run directory as the sampling estimators.
"""

from __future__ import annotations

import torch

from mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule


class SGDTrainer:
    objective = "loss"

    def __init__(self, lr: Schedule, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov

    def init(self, params: torch.Tensor) -> dict:
        return {"velocity": torch.zeros_like(params)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        _, grad = problem.loss_and_grad(params.unsqueeze(0))
        grad = grad[0]
        velocity = state["velocity"].mul(self.momentum).add_(grad)
        direction = grad + self.momentum * velocity if self.nesterov else velocity
        new_params = params - self.lr(step) * direction
        record = {"lr": self.lr(step), "loss_evals": 0, "grad_evals": 1}
        return new_params, {"velocity": velocity}, record
