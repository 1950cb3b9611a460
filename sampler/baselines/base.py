"""What every backprop baseline looks like: a registry entry that builds a trainer from its own
typed options and the run it belongs to.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) -> (params,
state, record)``, exactly as the two-step trainer, so baselines run through the same loop and
write the same run directory. ``record`` holds at least ``loss_evals``, ``grad_evals`` and
``examples_seen`` (training examples of the distinct minibatches the update used, over all
ranks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampler.models import Batch, Model
from sampler.models.options import Option


@dataclass(frozen=True)
class RunContext:
    """What a baseline may need of its run beside its options: the seed of its random streams,
    the number of updates (for schedules fitted to the run) and the model (its layer names,
    the initialisation of further replicas) and the whole training set (focusing BP's patterns);
    ``model`` and ``train`` are None where the caller has none."""

    seed: int = 0
    steps: int = 1
    model: Model | None = None
    train: Batch | None = None


@dataclass(frozen=True)
class BaselineSpec:
    """``build(values, run)`` from the typed options; ``check(values, steps)`` tests settings
    that only make sense together (raising ``OptionError``); ``check_model(values, model,
    batch_size)`` the same once the model is built; ``objective`` is what it minimises."""

    build: Callable[[dict[str, Any], RunContext], Any]
    summary: str
    options: Mapping[str, Option] = field(default_factory=dict)
    check: Callable[[dict[str, Any], int], None] | None = None
    objective: str = "loss"
    check_model: Callable[[dict[str, Any], Model, int], None] | None = None
