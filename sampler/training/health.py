"""Watching a run for runaway behaviour: warnings in the progress line and in ``summary.json``,
and, with ``--stop-on-divergence``, a stop (checkpoint kept, non-zero exit) on a divergence.

A run can finish "successfully" while doing nothing useful: with ``--tau 1e30`` every
importance-sampling update puts all weight on one sample (ESS 1), so the parameters jump to a
random point of a huge Gaussian; with ``--baseline sgd --lr 1e30`` they grow to 1e29. Both are
finite, so the run loop's non-finite check does not fire.

How to add a check: write a class with the ``Check`` interface below and add its factory to
``CHECKS``. A factory takes the run's config and the method's typed option values and returns a
check, or None when the check does not apply to that method. A check's ``observe(step, record,
params)`` sees every completed update (``step`` counts from 1, ``record`` is the update's
metrics line as the loop writes it, ``params`` the new parameters) and returns a message when
its condition holds at this update, else None. ``name`` identifies it (in ``summary.json`` and
the progress line), ``fix`` names the settings that would cure it (as flags, or as keyword
arguments in the Python API: build it when read, with ``sampler.models.naming.setting``),
``divergence`` says whether ``--stop-on-divergence`` stops the run on it.
``state()``/``restore()`` keep what the check needs across a ``--resume`` (plain numbers: they
go into the checkpoint); an optional ``begin(params)`` sees the parameters before the first
update (of this run segment).

``summary.json`` gets ``warnings``: one entry per check that fired, ``{name, message, fix,
first_update, last_update, updates}`` (the message of its first firing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from sampler.models.naming import setting
from sampler.scheme.mc_error import monte_carlo_check

ESS_WINDOW = 20  # the last updates the ESS check looks at
ESS_SHARE = 0.5  # ... of which at least this share had an ESS of about 1: the median ESS is 1
ESS_ONE = 1.5  # an ESS below this: one sample carries (almost) all the weight
GROWTH = 1e3  # the parameter norm grown by this factor over its start: orders of magnitude


class Check(Protocol):
    name: str
    fix: str
    divergence: bool

    def observe(self, step: int, record: dict, params: torch.Tensor) -> str | None: ...
    def state(self) -> dict: ...
    def restore(self, state: dict) -> None: ...


class DivergenceStop(RuntimeError):
    """``--stop-on-divergence`` ended the run; every rank sees the same numbers, so every rank
    raises it after the same update (``agreed``: no MPI abort needed). ``reason``: what fired and
    its fix; ``kept``: where the last checkpoint is (empty where nothing is kept)."""

    agreed = True

    def __init__(self, reason: str, kept: str = "") -> None:
        super().__init__(f"{reason} ({kept})" if kept else reason)
        self.reason = reason


class EssStuckAtOne:
    """The median ESS of the last ``ESS_WINDOW`` updates is 1 (the ESS flickers up on the
    updates where every sample has the same loss, e.g. zero)."""

    name = "ess-collapsed"
    divergence = True

    @property
    def fix(self) -> str:  # named when read: flags, or keyword arguments in the Python API
        return f"lower {setting('tau')} or {setting('beta')}, or raise {setting('samples')}"

    def __init__(self) -> None:
        self.recent: list[int] = []  # 1 where the update's ESS was about 1, last ESS_WINDOW

    def observe(self, step, record, params):
        ess = record.get("ess")
        if not isinstance(ess, (int, float)):
            return None
        self.recent = [*self.recent, int(ess < ESS_ONE)][-ESS_WINDOW:]
        ones = sum(self.recent)
        if len(self.recent) < ESS_WINDOW or ones < ESS_SHARE * ESS_WINDOW:
            return None
        return (
            f"the importance-sampling ESS was 1 in {ones} of the last {ESS_WINDOW} updates: one "
            "sample carries all the weight, so an update jumps to a random sample"
        )

    def state(self):
        return {"recent": list(self.recent)}

    def restore(self, state):
        self.recent = [int(v) for v in state.get("recent", [])][-ESS_WINDOW:]


class ParameterGrowth:
    name = "parameters-growing"
    divergence = True

    @property
    def fix(self) -> str:
        return f"lower {setting('lr')} or {setting('tau')}"

    def __init__(self) -> None:
        self.start: float | None = None  # the norm of the parameters before the first update

    def begin(self, params: torch.Tensor) -> None:
        if self.start is None:
            self.start = float(params.detach().double().norm())

    def observe(self, step, record, params):
        norm = float(params.detach().double().norm())
        reference = self.start if self.start else 1.0
        if norm <= GROWTH * reference:
            return None
        return (
            f"the parameter norm grew from {reference:.3g} to {norm:.3g} "
            f"({norm / reference:.2g} times)"
        )

    def state(self):
        return {"start": self.start}

    def restore(self, state):
        start = state.get("start")
        self.start = float(start) if start is not None else self.start


def _ess_check(config, values) -> Check | None:
    return EssStuckAtOne() if values.get("samples", 0) > 1 else None


CHECKS: list[Callable[[Any, dict], Check | None]] = [
    _ess_check,
    lambda config, values: ParameterGrowth(),
    monte_carlo_check,
]


class RunHealth:
    """The checks of one run: ``begin(params)`` before the first update, ``observe`` after each
    one (returns the checks that fired at it), ``summary()`` for ``summary.json``."""

    def __init__(self, config, values: dict) -> None:
        self.checks = [c for c in (factory(config, values) for factory in CHECKS) if c]
        self.fired: dict[str, dict] = {}
        self.active: list[str] = []

    def begin(self, params: torch.Tensor) -> None:
        for check in self.checks:
            if hasattr(check, "begin"):
                check.begin(params)

    def observe(self, step: int, record: dict, params: torch.Tensor) -> list[tuple[Check, str]]:
        now = []
        for check in self.checks:
            message = check.observe(step, record, params)
            if message is None:
                continue
            now.append((check, message))
            entry = self.fired.setdefault(
                check.name,
                {
                    "name": check.name,
                    "message": message,
                    "fix": check.fix,
                    "first_update": step,
                    "updates": 0,
                },
            )
            entry["last_update"] = step
            entry["updates"] += 1
        self.active = [check.name for check, _ in now]
        return now

    def summary(self) -> list[dict]:
        return list(self.fired.values())

    def state(self) -> dict:
        return {"checks": {c.name: c.state() for c in self.checks}, "fired": self.fired}

    def restore(self, state: dict | None) -> None:
        if not isinstance(state, dict):
            return
        for check in self.checks:
            check.restore(state.get("checks", {}).get(check.name, {}))
        self.fired = {k: dict(v) for k, v in state.get("fired", {}).items()}
