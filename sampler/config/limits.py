"""Limits of a run's sizes, checked before any work so that an absurd setting is one line, not a
hang, a C++ allocator dump or a MemoryError half a minute in.

Three resources, each with the formula its message states:

* **time**: evaluations per rank over the run, ``steps x (evaluations per update) / ranks``, at
  most ``MAX_EVALUATIONS = 1e14``: more than a day even at 1 ns per loss or gradient
  evaluation, a thousand times faster than the fastest measured on the development machine
  (1 us per loss evaluation of a 10-parameter network in a batch of 10,000; 400 us per
  gradient). Evaluations per update: ``--samples`` J (is), ``--chains x --sgld-steps`` (sgld),
  ``--rm-samples x --rm-iterations`` (rm, rm-stein), ``--esgd-steps`` (esgd), ``--replicas``
  (rsgd), ``1 + --perturbations`` (pla, plea), ``--population`` (es), 1 otherwise.
* **disk**: ``metrics.jsonl`` grows by at least ``METRICS_LINE_BYTES = 100`` bytes per update
  (an SGD line is about 150, an importance-sampling line about 250), so ``--steps`` must fit
  the file system that holds ``--out``.
* **memory** (of one process, against the machine's memory: physical memory, or a cgroup limit
  where lower): the data set (``DatasetSpec.values``: numbers it holds, 8 bytes each, the
  float64 or int64 draws before their float32 copy); the list of importance-sampling blocks
  (``ceil(J / --block-size) x 100`` bytes); and, once the model is built (on the meta device:
  no memory yet), ``d`` parameters times ``BYTES_PER_PARAMETER`` (32: eight float32 copies of
  the vector: parameters, update, optimizer state, checkpoint copy, float64 reductions) plus,
  for every per-parameter multiplier option, ``value x d x PER_UNIT[option]`` bytes (a block of
  J samples, a chain, a replica, ...).

These are lower bounds of what a run needs, so a refusal is certain to be right; a run that
passes may still be too big for the machine (that is the allocator's to report).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

from sampler.config.run_config import ConfigError, RunConfig, flag
from sampler.models import DATASETS
from sampler.models.naming import setting

MAX_EVALUATIONS = 10**14
METRICS_LINE_BYTES = 100
BYTES_PER_VALUE = 8
BLOCK_BYTES = 100
BYTES_PER_PARAMETER = 32
# option -> bytes per parameter per unit of the option (each unit holds vectors of d numbers)
PER_UNIT = {
    "block_size": 8,  # noise block [B, d] float32 and the forward pass's copy
    "chains": 44,  # chain state, noise, gradient, drift (float32), average and sums (float64)
    "rm_samples": 16,  # samples and their gradients
    "replicas": 24,  # replica, momentum, gradient (float32), the coupling's float64 sum
    "perturbations": 12,  # perturbed copies and their gradients
}


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a lower cgroup limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        total = 1 << 50
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def _number(value: float) -> str:
    """``value`` in 3 significant digits, also beyond the range of a float (a huge setting)."""
    if value > 1e300:
        return f"about 1e{len(str(int(value))) - 1}"
    return f"{value:.3g}"


def _size(count: float) -> str:
    if count > 1e300:
        return f"{_number(count)} bytes"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} bytes"


def evaluations_per_update(method: str, values: dict[str, Any]) -> tuple[int, str]:
    """``(evaluations, the flag that sets them)`` of one update of ``method``."""
    name = method.split(":", 1)[1]
    get = values.get
    if name == "is":
        return get("samples", 1), "--samples"
    if name == "sgld":
        inner = "--sgld-steps" if get("sgld_steps", 1) >= get("chains", 1) else "--chains"
        return get("chains", 1) * get("sgld_steps", 1), inner
    if name in ("rm", "rm-stein"):
        inner = (
            "--rm-iterations"
            if get("rm_iterations", 1) >= get("rm_samples", 1)
            else ("--rm-samples")
        )
        return get("rm_samples", 1) * get("rm_iterations", 1), inner
    if name == "esgd":
        return get("esgd_steps", 1), "--esgd-steps"
    if name == "rsgd":
        return get("replicas", 1), "--replicas"
    if name in ("pla", "plea"):
        return 1 + get("perturbations", 0), "--perturbations"
    if name == "es":
        return get("population", 1), "--population"
    return 1, "--steps"


def _out_file_system(out: str | None) -> Path:
    path = Path(out) if out else Path("runs")
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_settings(
    config: RunConfig, values: dict[str, Any], ranks: int = 1, registry_data: bool = True
) -> None:
    """Time, disk and the memory known from the settings alone; ``ConfigError`` naming the
    flag and the bound. ``registry_data``: the data set is one of ``DATASETS`` (not the
    Python API's own tensors, which are already in memory)."""
    per_update, inner = evaluations_per_update(config.method, values)
    total = config.steps * per_update // max(ranks, 1)  # integers: exact for any size
    if total > MAX_EVALUATIONS:
        name = "--steps" if config.steps > per_update else inner
        given = config.steps if name == "--steps" else _given(values, inner)
        raise ConfigError(
            f"{setting(name)}: {given} makes the run need {_number(total)} evaluations per rank "
            f"({config.steps} updates x {per_update} each / {ranks} rank(s)), more than a day even "
            f"at 1 ns each; at most {MAX_EVALUATIONS:.0e}"
        )
    try:
        disk = shutil.disk_usage(_out_file_system(config.out)).total
    except OSError:  # cannot look: the run's own writes will tell
        disk = math.inf
    if config.steps * METRICS_LINE_BYTES > disk:
        raise ConfigError(
            f"{setting('steps')}: {config.steps} updates need at least "
            f"{_size(config.steps * METRICS_LINE_BYTES)} of metrics.jsonl "
            f"({METRICS_LINE_BYTES} bytes a line), more than the {_size(disk)} file system "
            "that holds --out"
        )
    memory = machine_memory()
    if "samples" in values and "block_size" in values:
        blocks = -(-values["samples"] // values["block_size"])  # exact for any size
        if blocks * BLOCK_BYTES > memory:
            raise ConfigError(
                f"{setting('samples')}: {values['samples']} samples in blocks of "
                f"{values['block_size']} "
                f"are {blocks} blocks, whose list alone needs {_size(blocks * BLOCK_BYTES)} "
                f"({BLOCK_BYTES} bytes each); this machine has {_size(memory)} of memory "
                "(raise --block-size or lower --samples)"
            )
    if registry_data:
        _check_data(config, memory)


def _given(values: dict[str, Any], name: str) -> Any:
    return values.get(name.lstrip("-").replace("-", "_"))


def _check_data(config: RunConfig, memory: int) -> None:
    spec = DATASETS[config.data]
    if spec.values is None:
        return  # read from files: as big as they are
    given = spec.parse(config.data_options)
    options = {name: given.get(name, option.default) for name, option in spec.options.items()}
    count = spec.values(options)
    if count * BYTES_PER_VALUE > memory:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(given.items())) or "its defaults"
        raise ConfigError(
            f"{setting('data', config.data)} ({shown}): holds {count:.3g} numbers, "
            f"{_size(count * BYTES_PER_VALUE)} at {BYTES_PER_VALUE} bytes each; this machine "
            f"has {_size(memory)} of memory"
        )


def check_model(config: RunConfig, values: dict[str, Any], num_params: int) -> None:
    """The memory of ``num_params`` parameters under the method's options (``PER_UNIT``)."""
    memory = machine_memory()
    need = num_params * BYTES_PER_PARAMETER
    largest, largest_bytes = None, 0
    for name, per_unit in PER_UNIT.items():
        if name in values:
            part = values[name] * num_params * per_unit
            need += part
            if part > largest_bytes:
                largest, largest_bytes = name, part
    if need <= memory:
        return
    own = num_params * BYTES_PER_PARAMETER
    options = ", ".join(f"{k}={v}" for k, v in sorted(config.model_options.items()))
    model = f"{setting('model', config.model)}{f' ({options})' if options else ''}"
    if own > memory or largest is None:
        raise ConfigError(
            f"{model}: {num_params} parameters need at least {_size(own)} "
            f"({BYTES_PER_PARAMETER} bytes each: copies of the parameter vector); this machine "
            f"has {_size(memory)} of memory"
        )
    raise ConfigError(
        f"{setting(flag(largest))}: {values[largest]} x {num_params} parameters ({model}) x "
        f"{PER_UNIT[largest]} bytes = {_size(largest_bytes)}; this machine has "
        f"{_size(memory)} of memory"
    )
