"""An allocation that fails during a run, as one line naming the settings that size it.

The sizes known before the run are checked up front (``sampler.config.limits``, lower bounds),
so what still fails is a run whose real footprint exceeds its bound: torch's ``RuntimeError``
"DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes", CUDA's
``torch.OutOfMemoryError`` ("CUDA out of memory"), a C++ ``std::bad_alloc``, Python's
``MemoryError`` (whose text is often empty). Each becomes ``RunOutOfMemoryError`` (a
``MemoryError``) whose one line says how much was asked for, the memory available now, and the
settings the run's memory grows with: the model and its options (the parameters ``d``), the
data set and its options, ``--batch-size``, and the method's multipliers of ``d``
(``sampler.config.limits.memory_units``: ``--block-size``, ``--chains``, ``--replicas``, ...),
named as flags on the command line and as keyword arguments in the Python API
(``sampler.models.naming.setting``). The run directory keeps its last checkpoint.
"""

from __future__ import annotations

import re
from typing import Any

from sampler.config.limits import machine_memory, memory_text, memory_units, size_text
from sampler.config.run_config import RunConfig
from sampler.models.naming import setting

ALLOCATION_FAILURES = (
    "can't allocate memory",
    "Cannot allocate memory",
    "out of memory",
    "bad_alloc",
)
ASKED = re.compile(r"tried to allocate (\d+(?:\.\d+)?) ?(bytes|[KMGT]i?B)")


class RunOutOfMemoryError(MemoryError):
    """The run ran out of memory; the message names the settings that size it."""


def is_allocation_failure(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(t in str(error) for t in ALLOCATION_FAILURES)


def sizing_settings(config: RunConfig, values: dict[str, Any]) -> list[str]:
    """The settings a run's memory grows with, as the naming in force writes them."""
    model = setting("model", config.model)
    if config.model_options:
        model += f" ({', '.join(f'{k}={v}' for k, v in sorted(config.model_options.items()))})"
    data = setting("data", config.data)
    if config.data_options:
        data += f" ({', '.join(f'{k}={v}' for k, v in sorted(config.data_options.items()))})"
    named = [model, data, setting("batch_size", config.batch_size)]
    for name, units in memory_units(values).items():
        named.append(setting(name, values.get(name, units)))
    if "samples" in values:
        named.append(setting("samples", values["samples"]))
    return named


def out_of_memory_message(error: BaseException, config: RunConfig, values: dict) -> str:
    asked = ASKED.search(str(error))
    what = f" allocating {asked.group(1)} {asked.group(2)}" if asked else ""
    if asked and asked.group(2) == "bytes":
        what = f" allocating {size_text(int(float(asked.group(1))))}"
    return (
        f"out of memory{what} (this machine has {memory_text(machine_memory())}); the run's "
        f"memory grows with {', '.join(sizing_settings(config, values))}: lower one of them"
    )


def as_out_of_memory(error: BaseException, config: RunConfig, values: dict) -> BaseException:
    """``RunOutOfMemoryError`` for an allocation failure, ``error`` itself otherwise."""
    if isinstance(error, RunOutOfMemoryError) or not is_allocation_failure(error):
        return error
    return RunOutOfMemoryError(out_of_memory_message(error, config, values))
