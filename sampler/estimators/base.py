"""What every estimator of the two-step scheme's target looks like.

An estimator is built from the run configuration and is a pair of functions with explicit state
(modelled on blackjax/optax), so checkpointing is "save the state"::

    est = ESTIMATORS[name].build(values)  # values: typed options (sampler.config.method_options)
    state = est.init(center)
    target, state, info = est.step(key, state, center, tau, problem, comm)

``key`` names the step's random streams, ``tau: [] or [d]`` is the step's (possibly per
coordinate) variance, ``info`` a small NamedTuple of diagnostics with at least ``loss_evals`` and
``grad_evals`` counted over all ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch

from sampler.models.options import Option
from sampler.mpi import Comm
from sampler.problem import Problem


class StepKey(NamedTuple):
    seed: int
    step: int


class Estimator(Protocol):
    objective: str  # "local-entropy" or "heat"

    def init(self, center: torch.Tensor) -> Any: ...

    def step(
        self,
        key: StepKey,
        state: Any,
        center: torch.Tensor,
        tau: torch.Tensor,
        problem: Problem,
        comm: Comm,
    ) -> tuple[torch.Tensor, Any, NamedTuple]: ...


@dataclass(frozen=True)
class EstimatorSpec:
    """A registry entry: what it estimates, whether it needs gradients, how to build it from
    its typed option values, its own options (beside the two-step scheme's) and ``check``, a
    test of settings that only make sense together (``check(values, steps)``, raising
    ``OptionError``); ``check_model`` the same once the model is built
    (``sampler.setup.trainer``)."""

    objective: str
    needs_gradients: bool
    build: Callable[[dict[str, Any]], Estimator]
    summary: str
    options: Mapping[str, Option] = field(default_factory=dict)
    check: Callable[[dict[str, Any], int], None] | None = None
    # settings that need the built model: check_model(values, model, batch_size)
    check_model: Callable[[dict[str, Any], Any, int], None] | None = None
