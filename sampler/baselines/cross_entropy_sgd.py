"""ceSGD: minibatch SGD on the cross-entropy loss ``f_gamma`` of a committee machine with
``tanh(beta h)`` units, beta and gamma grown per epoch, every unit kept at norm 1 (Baldassi,
Pittorino and Zecchina, PNAS 2020, Eq. 16, section "Numerical Studies" and Materials and
Methods). Two named presets of the same update, the paper's random-pattern settings:

* ``cesgd-fast``: ``eta = 1e-2``, ``beta0 = 1``, ``beta1 = 1e-3``, ``gamma0 = 3``, ``gamma1 = 0``;
  stops at zero training errors (sign units);
* ``cesgd-slow``: ``eta = 3e-3``, ``beta0 = 0.5``, ``gamma0 = 0.1``, ``gamma1 = 4e-4`` and
  ``beta1 = 4e-4`` (the paper's beta1 for this setting is not legible in our copy of the text;
  we take gamma1's value); stops when the cross-entropy loss reaches 1e-7.

The paper's eta is read as the step on the minibatch's summed loss: our loss is the minibatch
mean, so ``--lr`` defaults to ``100 eta`` (minibatches of 100): 1.0 and 0.3. Measured (K = 9,
N = 333, alpha = 0.6, B = 100): with ``--lr 0.01`` cesgd-fast had not reached zero errors after
15,000 updates (7,500 epochs; beta had grown to 1,834), with ``--lr 1`` it did in 548 updates
(274 epochs; the paper: 770 ± 150 epochs at N = 999, alpha = 1).

Update t in epoch e = floor(t / floor(P / B)): the model's ``beta = beta0 (1 + beta1)^e`` and
loss scale ``omega = gamma0 (1 + gamma1)^e`` (``models.committee``: ``s = (1/sqrt K) sum_u
tanh(beta h_u)``, ``h_u = w_u . xi_u / |w_u|``), then ``w <- normalise(w - eta grad)`` per unit.
The stopping rules are checked on the minibatches of one whole epoch, as LAL's
(``sampler.baselines.least_action``): zero errors of the sign network on every minibatch of an
epoch (fast), or every minibatch loss of an epoch at most ``--stop-loss`` (slow); the weights
move little once either holds, so these are the paper's criteria measured along the last epoch.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sampler.baselines.base import BaselineSpec, RunContext
from sampler.baselines.least_action import (
    CleanEpochs,
    check_lr,
    lal_update,
    normalise,
    per_epoch,
    sign_units,
)
from sampler.models.committee import Committee
from sampler.models.naming import setting
from sampler.models.options import Option, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule, schedule_check

LOG_LARGEST = 80.0  # beta and gamma stop growing at e^80 times their start


class CrossEntropySGD:
    objective = "loss"

    def __init__(self, values: dict[str, Any], name: str, model) -> None:
        if not isinstance(model, Committee):
            raise ValueError(
                f"{setting('baseline', name)}: needs --model committee (tanh(beta h) units), "
                f"got {type(model).__name__}"
            )
        self.values, self.model, self.units = values, model, sign_units(model, name)
        self.lr: Schedule = values["lr"]

    def grown(self, start: float, rate: float, epoch: int) -> float:
        return start * math.exp(min(epoch * math.log1p(rate), LOG_LARGEST))

    def init(self, params: torch.Tensor) -> dict:
        return {"clean_since": 0}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        v, epoch = self.values, step // per_epoch(problem)
        self.model.beta = self.grown(v["ce_beta0"], v["ce_beta1"], epoch)
        self.model.omega = self.grown(v["ce_gamma0"], v["ce_gamma1"], epoch)
        w = normalise(params, self.units)
        loss, grad = problem.loss_and_grad(w.unsqueeze(0))
        lr = self.lr(step)
        if v["stop_loss"] > 0:
            clean = float(loss[0]) <= v["stop_loss"]
        else:  # zero errors of the sign network on the minibatch (LAL's count, eta = 0)
            clean = lal_update(w, problem.minibatch(0), 0.0, self.units)[1] == 0
        clean_since = state["clean_since"] if clean else step + 1
        record: dict[str, Any] = {"lr": lr, "beta": self.model.beta, "gamma": self.model.omega}
        if CleanEpochs(per_epoch(problem)).done(step, clean_since):
            rule = "a loss at most --stop-loss" if v["stop_loss"] > 0 else "zero training errors"
            record["stop"] = f"{rule} on every minibatch of an epoch"
        record.update(loss_evals=0, grad_evals=1, examples_seen=problem.batch_size)
        new = normalise(w - lr * grad[0], self.units)
        return new, {"clean_since": clean_since}, record


def options(lr: str, beta0: float, beta1: float, gamma0: float, gamma1: float, stop: float):
    return {
        "lr": Option(
            "any",
            lr,
            "SGD step eta (units at norm 1); a number or a schedule",
            check=schedule_check("--lr"),
            label="schedule",
        ),
        "ce_beta0": Option("float", beta0, "beta of tanh(beta h) at epoch 0", check=at_least(1e-6)),
        "ce_beta1": Option(
            "float", beta1, "beta grows by (1 + beta1) per epoch", check=at_least(0.0)
        ),
        "ce_gamma0": Option(
            "float", gamma0, "gamma of the f_gamma loss at epoch 0", check=at_least(1e-6)
        ),
        "ce_gamma1": Option(
            "float", gamma1, "gamma grows by (1 + gamma1) per epoch", check=at_least(0.0)
        ),
        "stop_loss": Option(
            "float",
            stop,
            "stop when every minibatch loss of an epoch is at "
            "most this (0: stop at zero errors instead)",
            check=at_least(0.0),
        ),
    }


def check(values: dict[str, Any], steps: int) -> None:
    check_lr(values, steps)


def spec(name: str, summary: str, table: dict[str, Option]) -> BaselineSpec:
    def build(values: dict[str, Any], run: RunContext | None = None) -> CrossEntropySGD:
        return CrossEntropySGD(values, name, (run or RunContext()).model)

    return BaselineSpec(build=build, summary=summary, options=table, check=check)


FAST_SPEC = spec(
    "cesgd-fast",
    "ceSGD-fast: SGD on f_gamma with tanh(beta h) units, beta and gamma large and fast-growing",
    options("1.0", 1.0, 1e-3, 3.0, 0.0, 0.0),
)
SLOW_SPEC = spec(
    "cesgd-slow",
    "ceSGD-slow: SGD on f_gamma with tanh(beta h) units, beta and gamma small and slow-growing",
    options("0.3", 0.5, 4e-4, 0.1, 4e-4, 1e-7),
)
