"""Named, typed options of a model or a data set (``--model-opt KEY=VALUE``, ``--data-opt``).

An ``Option`` has a kind (``int``, ``float``, ``bool``, ``str``, ``ints`` = a comma-separated
list of integers, or one of fixed ``choices``), a default and a one-line help. ``parse_options``
turns what the command line or a TOML table gives (text, or already-typed TOML values) into the
keyword arguments of a builder, and rejects an unknown key or a bad value with one line that
names the model or data set and what it accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class OptionError(ValueError):
    """An unknown option or a bad value; the message names the owner and the accepted options."""


@dataclass(frozen=True)
class Option:
    kind: str  # "int", "float", "bool", "str" or "ints"
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    def parse(self, value: Any) -> Any:
        if self.kind == "ints":
            if isinstance(value, str):
                parts = [p for p in value.split(",") if p.strip()]
                if not parts:
                    return ()
                value = [int(p) for p in parts]
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, (list, tuple)) or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
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
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError("an integer")
            return int(value)
        if self.kind == "float":
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise ValueError("a finite number")
            return float(value)
        value = str(value)
        if self.choices and value not in self.choices:
            raise ValueError("one of " + ", ".join(self.choices))
        return value

    def describe(self) -> str:
        default = ",".join(map(str, self.default)) if self.kind == "ints" else self.default
        kind = "|".join(self.choices) if self.choices else self.kind
        return f"{kind}, default {default}: {self.help}"


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
