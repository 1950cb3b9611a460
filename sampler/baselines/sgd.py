"""Backprop baseline: minibatch SGD with optional (Nesterov) momentum, PyTorch's convention.

``v_{k+1} = mu v_k + grad f(x_k)``; ``x_{k+1} = x_k - eta v_{k+1}`` (heavy ball) or
``x_{k+1} = x_k - eta (grad f(x_k) + mu v_{k+1})`` (Nesterov). Runs through the same loop and
writes the same run directory as the sampling estimators.
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, within
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, check_range, parse_schedule, schedule_check
from sampler.scheme.optimizers import OuterOptimizer


class SGDTrainer:
    """The heavy-ball / Nesterov update is ``sampler.scheme.optimizers``'s, fed with the minibatch
    gradient (with ``mu = 0`` both reduce to plain SGD); the state is the velocity."""

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
        record = {"lr": lr, "loss_evals": 0, "grad_evals": 1}
        return new_params, state, {**record, "examples_seen": problem.batch_size}


OPTIONS = {
    "lr": Option(
        "any",
        "0.01",
        "learning rate; a number or a schedule over updates",
        check=schedule_check("--lr"),
        label="schedule",
    ),
    "momentum": Option("float", 0.0, "heavy-ball momentum mu", check=within(0.0, 1.0)),
    "nesterov": Option("bool", False, "Nesterov momentum (needs --momentum)"),
}


def check(values: dict[str, Any], steps: int) -> None:
    if values["nesterov"] and values["momentum"] == 0:
        raise OptionError(f"{setting('nesterov')}: needs {setting('momentum')} in (0, 1), e.g. 0.9")
    try:
        check_range(parse_schedule(values["lr"], "--lr"), "--lr", steps)
    except ValueError as error:
        raise OptionError(str(error)) from None


def build(values: dict[str, Any], run: RunContext | None = None) -> SGDTrainer:
    lr = parse_schedule(values["lr"], "--lr")
    return SGDTrainer(lr, values["momentum"], values["nesterov"])


SPEC = BaselineSpec(
    build=build,
    summary="minibatch SGD, optionally with (Nesterov) momentum",
    options=OPTIONS,
    check=check,
)
