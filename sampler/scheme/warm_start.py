"""Warm start (García Trillos, Kaplan, Sanz-Alonso, section 6.3): begin the sampling scheme
from trained parameters instead of a fresh initialisation.

* ``--init-from DIR`` takes the parameters of another run's ``checkpoint.pt``
  (``sampler.setup.initial_params``);
* ``--switch-after N`` runs N backprop SGD updates, then the two-step scheme, in one run. The
  estimator's state (e.g. the SGLD chains) and the outer optimizer's state are created at the
  switch, from the parameters reached by SGD, and are checkpointed like any other state.
"""

from __future__ import annotations

from typing import Any

import torch

from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least
from sampler.mpi import Comm
from sampler.problem import Problem
from sampler.schedules import check_range, schedule_check

OPTIONS = {
    "switch_after": Option(
        "int",
        0,
        "run N plain SGD updates (--switch-lr), then the estimator (0: off)",
        check=at_least(0),
    ),
    "switch_lr": Option(
        "any",
        "0.01",
        "learning rate of the SGD updates before --switch-after",
        check=schedule_check("--switch-lr"),
        label="schedule",
    ),
}


def check_options(values: dict[str, Any], steps: int, given: set[str]) -> None:
    switch_after = values["switch_after"]
    # a run's config.json records every value, so "given" means "differs from the default"
    if switch_after == 0 and values["switch_lr"] != OPTIONS["switch_lr"].default:
        raise OptionError(
            f"{setting('switch_lr')}: has no effect without {setting('switch_after')} N"
        )
    if switch_after >= steps:
        raise OptionError(
            f"{setting('switch_after')}: must be less than {setting('steps')} ({steps}), got "
            f"{switch_after}"
        )
    if switch_after > 0:
        try:
            check_range(values["switch_lr"], "--switch-lr", switch_after)
        except ValueError as error:
            raise OptionError(str(error)) from None


class SwitchTrainer:
    """``first`` for steps ``k < switch_after``, then ``then`` (state created at the switch).

    Both phases count the global update k: the estimator's schedules (``--tau scoping:...``)
    and random streams continue from k = switch_after, they do not restart at the switch."""

    def __init__(self, first, then, switch_after: int) -> None:
        self.first = first
        self.then = then
        self.switch_after = switch_after
        self.objective = then.objective

    def init(self, params: torch.Tensor) -> dict:
        return {"first": self.first.init(params)}

    def step(self, step: int, params, state, problem: Problem, comm: Comm):
        if step < self.switch_after:
            new_params, inner, record = self.first.step(step, params, state["first"], problem, comm)
            return new_params, {"first": inner}, {"phase": "sgd", **record}
        inner = state.get("then")
        if inner is None:
            inner = self.then.init(params)
        new_params, inner, record = self.then.step(step, params, inner, problem, comm)
        return new_params, {"then": inner}, {"phase": "estimator", **record}
