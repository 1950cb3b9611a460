"""What every backprop baseline looks like: a registry entry that builds a trainer from its own
typed options.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) -> (params,
state, record)``, exactly as the two-step trainer, so baselines run through the same loop and
write the same run directory. ``record`` holds at least ``loss_evals`` and ``grad_evals``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampler.models.options import Option


@dataclass(frozen=True)
class BaselineSpec:
    """``build(values)`` from the typed options; ``check(values, steps)`` tests settings that
    only make sense together (raising ``OptionError``); ``objective`` is what it minimises."""

    build: Callable[[dict[str, Any]], Any]
    summary: str
    options: Mapping[str, Option] = field(default_factory=dict)
    check: Callable[[dict[str, Any], int], None] | None = None
    objective: str = "loss"
