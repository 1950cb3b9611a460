"""The Python API's arguments typed before anything else is done with them.

A numpy scalar (``np.float32(0.01)``, ``np.int64(5)``, ``np.bool_(True)``) is accepted where a
number or a flag is, as the Python number it holds (so that it is recorded and checkpointed as
plain data); everything else of the wrong type is refused with one line naming the argument
(``ArgumentError``): counts must be integers (not ``True``, not ``10.0``), flags ``True`` or
``False``, names strings, paths non-blank strings or ``os.PathLike``, a method option a number,
a string, a flag, a function (a schedule), or a list or per-layer table of them, never a complex
or a container of other things, and ``comm=`` a communicator (``sampler.mpi``). Values are checked
afterwards where the command line's are (``sampler.config.resolution``).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

from sampler.api.inputs import ArgumentError
from sampler.config.run_config import FIELDS
from sampler.models.naming import setting

PATHS = frozenset({"out", "init_from", "data_dir"})
OBJECTS = frozenset({"model", "data", "model_options", "data_options"})  # checked on their own
NAMES = frozenset({"estimator", "baseline", "device"})
COMM_METHODS = ("rank", "size", "bcast", "allreduce")


def plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; anything else as it is."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _refuse(name: str, wanted: str, value: Any) -> ArgumentError:
    return ArgumentError(f"{setting(name)}: must be {wanted}, got {type(value).__name__} {value!r}")


def typed_field(name: str, value: Any) -> Any:
    """One run setting (a ``RunConfig`` field) of the API, typed; ``ArgumentError`` if not."""
    value = plain(value)
    if value is None or name in OBJECTS:
        return value
    default = FIELDS[name].default
    if name in PATHS:
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
            raise _refuse(name, "a path (a non-blank string or os.PathLike)", value)
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise _refuse(name, "True or False", value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(name, "an integer", value)
    elif (name in NAMES or isinstance(default, str)) and not isinstance(value, str):
        raise _refuse(name, "a name (a string)", value)
    return value


def typed_count(name: str, value: Any) -> int | None:
    """An optional count (``num_classes=``, ``train_size=``): None or a positive integer."""
    value = plain(value)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise _refuse(name, "a positive integer", value)
    return value


def typed_flag(name: str, value: Any) -> bool:
    value = plain(value)
    if not isinstance(value, bool):
        raise _refuse(name, "True or False", value)
    return value


def _option_value(name: str, value: Any, depth: int = 0) -> Any:
    value = plain(value)
    if isinstance(value, (bool, str)) or value is None or callable(value):
        return value
    if isinstance(value, numbers.Real):
        return value
    if isinstance(value, (bytes, bytearray, range)):
        raise _refuse(name, "a number, a string, a flag, a function, or a list of them", value)
    if isinstance(value, Mapping) and depth == 0:  # per layer: {"fc0": 0.01, "*": 0.02}
        return {key: _option_value(name, item, 1) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, Mapping) and depth == 0:
        items = [_option_value(name, item, 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    wanted = "a number, a string, a flag, a function, or a list or per-layer table of them"
    raise _refuse(name, wanted, value)


def typed_method_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A method's options (``**method_options``) with numpy scalars as Python numbers."""
    return {name: _option_value(name, value) for name, value in options.items()}


def check_comm(comm: Any) -> None:
    if comm is not None and not all(hasattr(comm, name) for name in COMM_METHODS):
        raise _refuse("comm", "None or a communicator (sampler.world_comm())", comm)
