"""Schedules of a scalar over outer steps ``k = 0, 1, ...``, from a short textual spec.

``"0.01"`` is a constant; ``"NAME:A,B,..."`` picks a schedule from ``SCHEDULES``:

* ``const:V``           ``v_k = V``
* ``scoping:T0,T1``     ``v_k = T0 / (1 + T1)^k``: tau scoping of García Trillos, Kaplan,
  Sanz-Alonso (section 6.5.1), after Chaudhari et al.'s Entropy-SGD.

A schedule is a plain callable ``k -> float`` with a ``spec`` string, so it is stored in
``config.json`` as text and rebuilt from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    spec: str
    function: Callable[[int], float]

    def __call__(self, step: int) -> float:
        return self.function(step)


def _const(value: float) -> Callable[[int], float]:
    return lambda step: value


def _scoping(tau0: float, tau1: float) -> Callable[[int], float]:
    if tau1 <= -1:
        raise ValueError("scoping:T0,T1 needs T1 > -1")
    return lambda step: tau0 / (1.0 + tau1) ** step


SCHEDULES: dict[str, tuple[int, Callable[..., Callable[[int], float]], str]] = {
    "const": (1, _const, "const:V"),
    "scoping": (2, _scoping, "scoping:T0,T1 (T0 / (1 + T1)^k)"),
}


def parse_schedule(spec: str, flag: str, positive: bool = True) -> Schedule:
    """Parse ``spec`` or raise ``ValueError`` with a message naming ``flag`` and the forms."""
    forms = "a number or one of " + ", ".join(form for _, _, form in SCHEDULES.values())
    text = str(spec).strip()
    name, _, arguments = text.partition(":") if ":" in text else ("const", "", text)
    if name not in SCHEDULES:
        raise ValueError(f"{flag}: unknown schedule {name!r} in {text!r}; accepted: {forms}")
    arity, factory, form = SCHEDULES[name]
    try:
        values = [float(part) for part in arguments.split(",")]
    except ValueError:
        raise ValueError(f"{flag}: cannot read {text!r}; accepted: {forms}") from None
    if len(values) != arity or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{flag}: {text!r} needs {arity} finite number(s): {form}")
    try:
        function = factory(*values)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None
    if positive and function(0) <= 0:
        raise ValueError(f"{flag}: must be positive, got {text!r}")
    return Schedule(text, function)
