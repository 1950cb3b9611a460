"""Schedules of a scalar over a counter ``i = 0, 1, ...``, from a short textual spec.

The counter is the outer step ``k`` for ``--tau``, ``--beta`` and ``--lr``, and the inner
iteration ``j`` (from 0, restarting at every outer step) for ``--sgld-eps`` and ``--rm-step``.
``"0.01"`` is a constant; ``"NAME:A,B,..."`` picks a form from ``SCHEDULES``:

* ``const:V``           ``v_i = V``
* ``scoping:T0,T1``     ``v_i = T0 / (1 + T1)^i``, forward tau scoping (tau shrinks) of García
  Trillos, Kaplan, Sanz-Alonso (section 6.5.1), after Chaudhari et al.'s Entropy-SGD
* ``reverse:T0,T1``     ``v_i = T0 (1 + T1)^i``, reverse scoping (tau grows); with ``gamma`` in
  place of ``tau`` it is the focusing schedule ``gamma_t = gamma0 (1 + gamma1)^t``
* ``exp:V0,R``          ``v_i = V0 exp(-R i)``
* ``harmonic:A,B``      ``v_i = A / (B + i)``, the SGLD temperatures of Algorithm 3
  (the paper's ``eps_j = 1/(1000 + j)`` is ``harmonic:1,1000``)
* ``power:C,ALPHA``     ``v_i = C (i + 1)^-ALPHA``, the Robbins–Monro steps ``a_j = c j^-alpha``
  of Algorithm 5 (``j = i + 1`` counts from 1)
* ``rising:C,ALPHA``    ``v_i = C (i + 1)^ALPHA``, growing: Algorithm 5's step as the paper prints
  it, ``a^l = c l^alpha`` (no minus sign); an explicit opt-in of ``--rm-step``

A schedule is a plain callable ``i -> float`` that keeps its ``spec`` text (stored in
``config.json`` and rebuilt from it), its form ``name`` and its ``values``. Every form is
monotone in ``i``, so ``check_range`` bounds a schedule over a run by its first and last value.

From Python (``sampler.api.train``) a schedule may also be any function ``i -> number``: it becomes
a ``Schedule`` of form ``python`` whose spec is ``python:MODULE.NAME`` (what ``config.json``
records; a run with one cannot be rerun from the command line), and ``check_range`` evaluates
it at every ``i`` of the run, since nothing says it is monotone. Messages name the setting
through ``sampler.models.naming`` (``--tau``, or ``tau=`` in the API).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampler.models.naming import setting
from sampler.models.options import OptionError

PYTHON = "python"  # the form of a schedule given as a Python function


class Recorded:
    """A setting typed at its check (a ``Schedule``, ``--tau``'s ``TauSchedule``, ``--beta
    auto``) whose identity is its record, what ``config.json`` holds (``recorded()``): two of
    one record are equal, and one equals its record itself (``"0.01"``)."""

    def recorded(self) -> Any:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Recorded):
            return self.recorded() == other.recorded()
        return isinstance(other, (str, Mapping)) and self.recorded() == other

    def __hash__(self) -> int:
        return hash(str(self.recorded()))


@dataclass(frozen=True, eq=False)
class Schedule(Recorded):
    """A parsed schedule; its record is its ``spec``."""

    spec: str
    function: Callable[[int], float]
    name: str = "const"
    values: tuple[float, ...] = ()

    def __call__(self, step: int) -> float:
        return self.function(step)

    def recorded(self) -> str:
        return self.spec


def _const(value: float) -> Callable[[int], float]:
    return lambda step: value


def _scoping(tau0: float, tau1: float) -> Callable[[int], float]:
    if tau1 <= -1:
        raise ValueError("scoping:T0,T1 needs T1 > -1")
    return lambda step: tau0 / (1.0 + tau1) ** step


def _reverse(tau0: float, tau1: float) -> Callable[[int], float]:
    if tau1 <= -1:
        raise ValueError("reverse:T0,T1 needs T1 > -1")
    return lambda step: tau0 * (1.0 + tau1) ** step


def _exp(value0: float, rate: float) -> Callable[[int], float]:
    return lambda step: value0 * math.exp(-rate * step)


def _harmonic(a: float, b: float) -> Callable[[int], float]:
    if b <= 0:
        raise ValueError("harmonic:A,B needs B > 0")
    return lambda step: a / (b + step)


def _power(c: float, alpha: float) -> Callable[[int], float]:
    if alpha < 0:
        raise ValueError("power:C,ALPHA needs ALPHA >= 0")
    return lambda step: c * (step + 1.0) ** (-alpha)


def _rising(c: float, alpha: float) -> Callable[[int], float]:
    if alpha < 0:
        raise ValueError("rising:C,ALPHA needs ALPHA >= 0")
    return lambda step: c * (step + 1.0) ** alpha


SCHEDULES: dict[str, tuple[int, Callable[..., Callable[[int], float]], str]] = {
    "const": (1, _const, "const:V"),
    "scoping": (2, _scoping, "scoping:T0,T1 (T0 / (1 + T1)^i)"),
    "reverse": (2, _reverse, "reverse:T0,T1 (T0 (1 + T1)^i)"),
    "exp": (2, _exp, "exp:V0,R (V0 exp(-R i))"),
    "harmonic": (2, _harmonic, "harmonic:A,B (A / (B + i))"),
    "power": (2, _power, "power:C,ALPHA (C (i + 1)^-ALPHA)"),
    "rising": (2, _rising, "rising:C,ALPHA (C (i + 1)^ALPHA)"),
}


def accepted_forms() -> str:
    return "a number or one of " + ", ".join(form for _, _, form in SCHEDULES.values())


def function_name(function: Callable) -> str:
    """``MODULE.QUALNAME`` of a function (or of a callable object's class)."""
    owner = function if hasattr(function, "__qualname__") else type(function)
    module = getattr(owner, "__module__", None)
    qualname = getattr(owner, "__qualname__", type(function).__name__)
    return f"{module}.{qualname}" if module else qualname


def python_schedule(function: Callable[[int], Any], flag: str, positive: bool = True) -> Schedule:
    """A Python function ``i -> number`` as a schedule; ``ValueError`` naming ``flag`` if it
    fails at ``i = 0``, gives no finite number there or (``positive``) not a positive one."""
    name = function_name(function)
    try:
        first = float(function(0))
    except Exception as error:  # noqa: BLE001 - whatever the caller's function raises
        raise ValueError(
            f"{setting(flag)}: the function {name} must map a step i = 0, 1, ... to a number; "
            f"at i = 0 it raised {type(error).__name__}: {error}"
        ) from None
    if not math.isfinite(first) or (positive and not first > 0):
        wanted = "a positive number" if positive else "a finite number"
        raise ValueError(f"{setting(flag)}: the function {name} must give {wanted}, got {first!r}")
    return Schedule(f"{PYTHON}:{name}", lambda step: float(function(step)), PYTHON)


def parse_schedule(spec: Any, flag: str, positive: bool = True) -> Schedule:
    """Parse ``spec`` (text, a number, a ``Schedule`` or a Python function ``i -> number``) or
    raise ``ValueError`` with a message naming ``flag`` and the forms."""
    if isinstance(spec, Schedule):
        return spec
    if callable(spec):
        return python_schedule(spec, flag, positive)
    forms = accepted_forms()
    label = setting(flag)
    text = str(spec).strip()
    name, _, arguments = text.partition(":") if ":" in text else ("const", "", text)
    name = name.strip()
    if name not in SCHEDULES:
        raise ValueError(f"{label}: unknown schedule {name!r} in {text!r}; accepted: {forms}")
    arity, factory, form = SCHEDULES[name]
    try:
        values = [float(part) for part in arguments.split(",")]
    except ValueError:
        raise ValueError(f"{label}: cannot read {text!r}; accepted: {forms}") from None
    if len(values) != arity or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{label}: {text!r} needs {arity} finite number(s): {form}")
    try:
        function = factory(*values)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None
    if positive and not function(0) > 0:
        raise ValueError(f"{label}: must be positive, got {text!r}")
    return Schedule(text, function, name, tuple(values))


def schedule_check(flag: str) -> Callable[[Any], Schedule]:
    """An option ``check``: the value (text, a TOML number, a ``Schedule`` or a Python
    function) parsed into its ``Schedule``, the typed value that the method is built from. A
    bad value raises ``OptionError`` naming ``flag``."""

    def check(value: Any) -> Schedule:
        try:
            if isinstance(value, Schedule) or callable(value):
                return parse_schedule(value, flag)
            return parse_schedule(str(value), flag)
        except ValueError as error:
            raise OptionError(str(error)) from None

    return check


def recorded(values: Any) -> Any:
    """Settings as a run records them (``config.json``, the checkpoint): a typed setting by its
    record (a ``Schedule`` by its spec text), a Python function as ``python:MODULE.NAME`` (at any
    depth of a table)."""
    if isinstance(values, Recorded):
        return values.recorded()
    if callable(values):
        return f"{PYTHON}:{function_name(values)}"
    if isinstance(values, dict):
        return {key: recorded(value) for key, value in values.items()}
    return values


SMALLEST = 1.2e-38  # float32's smallest normal number: a schedule below it is zero in float32
LARGEST = 3.4e38  # float32's largest number: the parameters' type cannot hold a step beyond it


def check_range(schedule: Schedule, flag: str, count: int) -> None:
    """``ValueError`` naming ``flag`` unless the schedule stays finite and within float32's
    range (``SMALLEST`` to ``LARGEST``) over ``i = 0..count-1``. The forms are monotone in
    ``i``, so the end points decide, in constant time whatever ``count``; a Python function is
    evaluated at every ``i``."""
    steps = range(max(count, 1)) if schedule.name == PYTHON else (0, max(count - 1, 0))
    for step in steps:
        try:
            value = schedule(step)
            reached = f"{value:g}"
        except OverflowError:
            value, reached = math.nan, "a value outside the float range"
        except Exception as error:  # noqa: BLE001 - a Python function may raise anything
            raise ValueError(
                f"{setting(flag)}: {schedule.spec} raised {type(error).__name__} at step "
                f"{step}: {error}"
            ) from None
        if not (math.isfinite(value) and SMALLEST < value <= LARGEST):
            raise ValueError(
                f"{setting(flag)}: {schedule.spec!r} reaches {reached} at step {step}; it must "
                f"stay finite and positive over the run, within float32's range ({SMALLEST:g} "
                f"to {LARGEST:g})"
            )
