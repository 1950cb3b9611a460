"""Backprop baseline: minibatch SGD with optional (Nesterov) momentum, PyTorch's convention.

``v_{k+1} = mu v_k + grad f(x_k)``; ``x_{k+1} = x_k - eta v_{k+1}`` (heavy ball) or
``x_{k+1} = x_k - eta (grad f(x_k) + mu v_{k+1})`` (Nesterov). Runs through the same loop and
writes the same run directory as the sampling estimators.
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.optimizer_options import check_optimizer, optimizer_options
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule
from sampler.scheme.optimizers import HeavyBall, Nesterov


class SGDTrainer:
    """The heavy-ball / Nesterov update is ``sampler.scheme.optimizers``', fed with the minibatch
    gradient (with ``mu = 0`` both reduce to plain SGD); the state is the velocity."""

    objective = "loss"

    def __init__(self, lr: Schedule, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.lr = lr
        self.optimizer = (Nesterov if nesterov else HeavyBall)(momentum)

    def init(self, params: torch.Tensor) -> dict:
        return self.optimizer.init(params)

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        _, grad = problem.loss_and_grad(params.unsqueeze(0))
        lr = self.lr(step)
        new_params, state = self.optimizer.update(params, grad[0], lr, state)
        record = {"lr": lr, "loss_evals": 0, "grad_evals": 1}
        return new_params, state, {**record, "examples_seen": problem.batch_size}


OPTIONS = optimizer_options("0.01", "learning rate", "heavy-ball momentum mu")


def build(values: dict[str, Any], run: RunContext | None = None) -> SGDTrainer:
    return SGDTrainer(values["lr"], values["momentum"], values["nesterov"])


SPEC = BaselineSpec(
    build=build,
    summary="minibatch SGD, optionally with (Nesterov) momentum",
    options=OPTIONS,
    check=check_optimizer,
)
