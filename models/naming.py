"""How a message names a setting: as a command-line flag (``--batch-size``, ``--model mlp``) or,
inside the Python API, as a keyword argument (``batch_size=``, ``model='mlp'``).

Every message about a bad setting names it through ``setting(name, value)``. ``name`` is the
setting's Python name (``batch_size``) or its flag (``--batch-size``, as older call sites pass
it), optionally followed by a qualifier after a space (``--tau (fc0)``). The naming in force is
a context variable: flags by default, keyword arguments inside ``with arguments():`` (which
``sampler.api.train`` enters), so one message text serves both front ends and nothing rewrites
messages afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# Option tables whose command-line flag is not the field name (``--model-opt KEY=VALUE``).
TABLE_FLAGS = {"model_options": "--model-opt", "data_options": "--data-opt"}
_TABLE_NAMES = {flag[2:].replace("-", "_"): name for name, flag in TABLE_FLAGS.items()}


def python_name(name: str) -> str:
    """``--batch-size`` or ``batch_size`` -> ``batch_size``, ``--model-opt`` -> ``model_options``"""
    key = name.strip().lstrip("-").replace("-", "_")
    return _TABLE_NAMES.get(key, key)


def as_flag(name: str, value: Any = None) -> str:
    """The command line's form: ``--batch-size``, ``--model mlp``."""
    key = python_name(name)
    text = TABLE_FLAGS.get(key) or "--" + key.replace("_", "-")
    return text if value is None else f"{text} {value}"


def as_flags(settings: Mapping[str, Any]) -> list[str]:
    """``settings`` as command-line arguments: ``{"batch_size": 40}`` is ``["--batch-size",
    "40"]`` (whatever naming messages use)."""
    return [part for name, value in settings.items() for part in (as_flag(name), str(value))]


def as_argument(name: str, value: Any = None) -> str:
    """The Python API's form: ``batch_size=``, ``model='mlp'``."""
    key = python_name(name)
    return f"{key}=" if value is None else f"{key}={value!r}"


_NAMING: ContextVar[Callable[[str, Any], str]] = ContextVar("naming", default=as_flag)


def setting(name: str, value: Any = None) -> str:
    """``name`` (and ``value``) as the naming in force names it; a qualifier after the first
    space is kept: ``setting("--tau (fc0)")`` is ``tau= (fc0)`` inside ``arguments()``."""
    head, space, qualifier = name.strip().partition(" ")
    return _NAMING.get()(head, value) + space + qualifier


@contextmanager
def arguments() -> Iterator[None]:
    """Messages raised inside name settings as keyword arguments (``tau=``)."""
    token = _NAMING.set(as_argument)
    try:
        yield
    finally:
        _NAMING.reset(token)
