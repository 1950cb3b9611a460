"""Entropic least-action learning (eLAL): y replicas of LAL coupled elastically to their mean
(Baldassi, Pittorino and Zecchina, "Shaping the learning landscape in neural networks around
wide flat minima", PNAS 2020, section "LAL and eLAL" and Materials and Methods; the replicated
local-entropy system of their Eq. 13, after Baldassi et al., PNAS 2016).

Update t (from 0): replica a takes one LAL update (``sampler.baselines.least_action``) on its
own minibatch stream a (a permutation of the training set per epoch and per replica; replica 0
on the run's own stream), giving ``w^a``; then with the mean ``w_bar = (1/y) sum_a w^a`` of the
updated replicas each is pushed towards it and renormalised per unit::

    w^a <- normalise(w^a + c (w_bar - w^a)),    c = min(1, lambda_e eta),

``lambda_e = lambda0 (1 + lambda1)^e`` grown once per epoch e = floor(t / floor(P / B)) (the
paper multiplies lambda by 1 + lambda1 after each epoch); c is capped at 1, the limit where the
replicas are set onto their mean. The mean is taken after the LAL updates, so that y = 1 is LAL
bit for bit (a single replica is not coupled). The run's parameters (evaluated and saved) are
the mean of the coupled replicas (the sign network's output does not depend on a unit's norm).

Stopping rule (the paper's): the replicas have collapsed, ``sum_a |w^a - w_bar|^2 <= --collapse``
(1e-7), measured after the coupling, with no wrong output on any replica's minibatch at that
update; the trainer then reports ``stop`` and the run loop ends the run. With y = 1 the
collapse is immediate, so a single replica stops as LAL does (an epoch without an error).

MPI: replica a runs on rank ``a mod R``; after the LAL updates one float64 sum reduction of the
``[y, d]`` replicas (each rank fills its own rows, zeros elsewhere, so the sum is exact) gives
every rank every replica, and each forms the mean and couples in the same order: the run is the
same for any rank count, bit for bit (each replica's update is its own computation).

Defaults (the paper's random-pattern settings): y = 20, ``eta = 1e-2``, ``lambda0 = 0.5``,
``lambda1 = 1e-4``, minibatches of 100 (``--batch-size``).
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
    lr_option,
    normalise,
    per_epoch,
    sign_units,
)
from sampler.baselines.rsgd import owned, replica_seed
from sampler.models import Model
from sampler.models.options import Option, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import Schedule

LOG_LARGEST = 690.0  # lambda's growth stops at e^690 (c is capped at 1 long before)


class EntropicLeastAction:
    objective = "local-entropy"

    def __init__(
        self,
        lr: Schedule,
        replicas: int,
        lambda0: float,
        lambda1: float,
        collapse: float,
        seed: int,
        model: Model | None,
    ) -> None:
        self.units = sign_units(model, "elal")
        self.lr, self.replicas = lr, replicas
        self.lambda0, self.lambda1, self.collapse = lambda0, lambda1, collapse
        self.seed, self.model = seed, model

    def init(self, params: torch.Tensor) -> dict:
        rows = [params]
        for a in range(1, self.replicas):
            start = self.model.init_params(replica_seed(self.seed, a))
            rows.append(start.to(device=params.device, dtype=params.dtype))
        return {"replicas": torch.stack(rows), "clean_since": 0}

    def coupling(self, step: int, epoch_length: int, lr: float) -> tuple[float, float]:
        """``(lambda_e, c)`` at update ``step``."""
        growth = min((step // epoch_length) * math.log1p(self.lambda1), LOG_LARGEST)
        strength = self.lambda0 * math.exp(growth)
        return strength, min(1.0, strength * lr)

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        lr, mine = self.lr(step), owned(self.replicas, comm)
        replicas = state["replicas"].clone()
        errors = torch.zeros(self.replicas, dtype=torch.float64)
        for a in mine:
            start = normalise(replicas[a], self.units)
            replicas[a], errors[a] = lal_update(start, problem.minibatch(a), lr, self.units)
        if comm.size > 1:
            replicas, errors = _share(replicas, errors, mine, comm)
        epoch_length = per_epoch(problem)
        strength, c = self.coupling(step, epoch_length, lr)
        if self.replicas > 1:  # one replica has nothing to be pulled to
            pulled = replicas + c * (_center(replicas) - replicas)
            replicas = normalise(pulled, self.units)
        center = _center(replicas)
        spread = float(((replicas.double() - center.double()) ** 2).sum())
        wrong = int(errors.sum())
        clean_since = state["clean_since"] if wrong == 0 else step + 1
        record: dict[str, Any] = {"lr": lr, "lambda": strength, "coupling": c, "spread": spread}
        record["batch_errors"] = wrong
        if wrong == 0 and spread <= self.collapse:
            if self.replicas > 1 or CleanEpochs(epoch_length).done(step, clean_since):
                record["stop"] = f"the replicas collapsed (spread {spread:.3g})"
        record.update(
            loss_evals=self.replicas,
            grad_evals=0,
            examples_seen=problem.batch_size * self.replicas,
        )
        new_state = {"replicas": replicas, "clean_since": clean_since}
        return center, new_state, record


def _center(replicas: torch.Tensor) -> torch.Tensor:
    """``[y, d] -> [d]``: the mean in float64, in replica order (the same on every rank)."""
    return (replicas.double().sum(dim=0) / replicas.shape[0]).to(replicas.dtype)


def _share(replicas: torch.Tensor, errors: torch.Tensor, mine: list[int], comm: Comm):
    """Every replica and error count on every rank: a float64 sum of the ranks' own rows."""
    own = torch.zeros(replicas.shape[0], replicas.shape[1] + 1, dtype=torch.float64)
    if mine:
        rows = torch.tensor(mine)
        own[rows, :-1] = replicas[rows].double()
        own[rows, -1] = errors[rows]
    total = comm.allreduce_sum(own)
    return total[:, :-1].to(replicas.dtype), total[:, -1]


OPTIONS = {
    "lr": lr_option("0.01"),
    "replicas": Option("int", 20, "y: number of replicas (paper: 20)", check=at_least(1)),
    "lambda0": Option("float", 0.5, "coupling lambda at epoch 0", check=at_least(0.0)),
    "lambda1": Option(
        "float", 1e-4, "lambda grows by (1 + lambda1) per epoch", check=at_least(0.0)
    ),
    "collapse": Option(
        "float",
        1e-7,
        "stop when sum_a |w^a - w_bar|^2 (units at norm 1) falls to this",
        check=at_least(0.0),
    ),
}


def check(values: dict[str, Any], steps: int) -> None:
    check_lr(values, steps)


def build(values: dict[str, Any], run: RunContext | None = None) -> EntropicLeastAction:
    run = run or RunContext()
    return EntropicLeastAction(
        values["lr"],
        values["replicas"],
        values["lambda0"],
        values["lambda1"],
        values["collapse"],
        run.seed,
        run.model,
    )


SPEC = BaselineSpec(
    build=build,
    summary="entropic LAL: y LAL replicas on their own minibatches, pulled to their mean",
    options=OPTIONS,
    check=check,
    objective="local-entropy",
)
