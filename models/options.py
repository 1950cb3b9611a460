"""Named, typed options of a model or a data set (``--model-opt KEY=VALUE``, ``--data-opt``).

An ``Option`` has a kind (``int``, ``float``, ``bool``, ``str``, ``ints`` = a comma-separated
list of integers, or one of fixed ``choices``), a default, a one-line help and an optional
``check``: a function of the typed value that returns it (possibly normalised) or raises
``ValueError`` whose text says what is accepted (``at_least(1)`` gives "an integer >= 1").
``parse_options`` turns what the command line or a TOML table gives (text, or already-typed TOML
values) into the keyword arguments of a builder, and rejects an unknown key or a bad value with
one line that names the owner (model, data set or training method) and what it accepts. The
same ``Option`` serves the models, the data sets and the training methods
(``sampler.config.method_options``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FLOAT32_TINY = 1.1754943508222875e-38  # float32's smallest normal number (torch.finfo.tiny)


class OptionError(ValueError):
    """An unknown option or a bad value; the message names the owner and the accepted options."""


@dataclass(frozen=True)
class Option:
    kind: str  # "int", "float", "bool", "str", "ints", or "any" (the check reads the value)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None
    label: str = ""  # what ``describe`` shows as the kind (e.g. "schedule"); default: the kind
    # what a run recorded before the option existed ran with (its config.json lacks the option),
    # where that differs from ``default``: a resumed or reused old run keeps its law
    before: Any = None

    def parse(self, value: Any) -> Any:
        """The typed value; ``ValueError`` with the accepted form if ``value`` does not fit."""
        typed = self._typed(value)
        return self.check(typed) if self.check is not None else typed

    def _typed(self, value: Any) -> Any:
        if self.kind == "any":  # the check alone reads the value (schedules, tau tables)
            return value
        if self.kind == "ints":
            if isinstance(value, str):
                parts = [p for p in value.split(",") if p.strip()]
                value = [int(p) for p in parts]
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            if (
                not isinstance(value, (list, tuple))
                or not value  # 'widths= ' is no list, not a network without hidden layers
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
            ):
                raise ValueError("a comma-separated list of positive integers")
            return tuple(value)
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("true or false")
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError("an integer")
            return int(value)
        if self.kind == "float":
            if isinstance(value, bool):
                raise ValueError("a finite number")
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ValueError("a finite number") from None
            if not math.isfinite(number):
                raise ValueError("a finite number")
            return number
        value = str(value)
        if self.choices and value not in self.choices:
            raise ValueError("one of " + ", ".join(self.choices))
        return value

    def describe(self) -> str:
        default = ",".join(map(str, self.default)) if self.kind == "ints" else self.default
        kind = "|".join(self.choices) if self.choices else self.label or self.kind
        return f"{kind}, default {default}: {self.help}"


def at_least(low: float) -> Callable[[Any], Any]:
    """A ``check``: the value must be ``>= low``."""

    def check(value):
        if not value >= low:
            raise ValueError(f"{'an integer' if isinstance(value, int) else 'a number'} >= {low}")
        return value

    return check


def within(
    low: float, high: float, closed_low: bool = True, closed_high: bool = False
) -> Callable[[Any], Any]:
    """A ``check``: ``value`` in the interval from ``low`` to ``high`` (closed where said)."""

    def check(value):
        above = low <= value if closed_low else low < value
        below = value <= high if closed_high else value < high
        left, right = "[" if closed_low else "(", "]" if closed_high else ")"
        if not (above and below):
            raise ValueError(f"in {left}{low}, {high}{right}")
        if low == 0 and not closed_low and value < FLOAT32_TINY:
            # positive, but float32 (the parameters' type) holds it as a subnormal or as 0
            raise ValueError(
                f"in {left}{low}, {high}{right} and >= {FLOAT32_TINY:.4g} "
                "(float32's smallest normal number)"
            )
        return value

    return check


def parse_options(
    owner: str, accepted: Mapping[str, Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Typed values of the ``given`` options (keys may use ``-`` or ``_``), defaults omitted."""
    parsed = {}
    for key, value in given.items():
        name = key.replace("-", "_")
        if name not in accepted:
            names = ", ".join(accepted) if accepted else "none"
            raise OptionError(f"{owner}: unknown option {key!r}; accepted: {names}")
        try:
            parsed[name] = accepted[name].parse(value)
        except OptionError:
            raise
        except (TypeError, ValueError) as error:
            wanted = str(error) if str(error) and "invalid literal" not in str(error) else None
            wanted = wanted or accepted[name].kind
            raise OptionError(f"{owner}: option {name} must be {wanted}, got {value!r}") from None
    return parsed


def split_assignments(items: list[str] | tuple[str, ...], flag: str) -> dict[str, str]:
    """``["a=1", "b=x"] -> {"a": "1", "b": "x"}``; a later key overrides an earlier one."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{flag}: expected KEY=VALUE, got {item!r}")
        result[key.strip()] = value.strip()
    return result
