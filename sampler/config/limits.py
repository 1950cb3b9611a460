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
* **memory** (of one process, against the memory available to it now: the smallest of
  ``MemAvailable`` in ``/proc/meminfo``, the cgroup's limit less its usage (v2 ``memory.max``
  and ``memory.current``, v1 ``memory.limit_in_bytes`` and ``memory.usage_in_bytes``), the
  address-space limit (``ulimit -v``) less the process's size, and physical memory): the data
  set (``DatasetSpec.values``: numbers it holds, 8 bytes each, the float64 or int64 draws
  before their float32 copy); the list of importance-sampling blocks
  (``ceil(J / --block-size) x 100`` bytes); and, once the model is built (on the meta device:
  no memory yet), ``d`` parameters times ``BYTES_PER_PARAMETER`` (32: eight float32 copies of
  the vector: parameters, update, optimizer state, checkpoint copy, float64 reductions) plus,
  for every per-parameter multiplier option, ``value x d x PER_UNIT[option]`` bytes (a block of
  J samples, a chain, a replica, ...; a block's buffers hold ``--block-size`` rows even when
  ``--samples`` is smaller, ``sampler.estimators.proposals``).
  Importance sampling adds its weighted sums, three float64 vectors per beta it weighs
  (``TILTED_BYTES = 24`` bytes per parameter and beta: 5 betas under ``--beta auto`` with
  ``--beta-search grid``, else 1), and ``--beta-search two-pass`` keeps every sample's loss
  (``TWO_PASS_BYTES = 16`` per sample: the float32 losses, their host copy, gathered copy and
  concatenation).

An allocation that still fails during the run (torch's ``DefaultCPUAllocator: can't allocate
memory``, ``MemoryError``) is one line naming these settings (``sampler.training.out_of_memory``).

These are lower bounds of what a run needs, so a refusal is certain to be right (the run would
not fit in the memory available when it starts); a run that passes may still be too big for
the machine (that is the allocator's to report, in the one line above).
"""

from __future__ import annotations

import math
import os
import resource
import shutil
from pathlib import Path
from typing import Any

from sampler.config.run_config import ConfigError, RunConfig
from sampler.estimators.temperature import candidate_betas, is_auto
from sampler.models import DATASETS
from sampler.models.naming import setting
from sampler.runs.device_usage import STATUS_FILE, proc_kib

MAX_EVALUATIONS = 10**14
METRICS_LINE_BYTES = 100
BYTES_PER_VALUE = 8
BLOCK_BYTES = 100
BYTES_PER_PARAMETER = 32
TILTED_BYTES = 24  # importance sampling's sums a, q, p: float64, per parameter and beta
TWO_PASS_BYTES = 16  # --beta-search two-pass: every sample's loss, four float32 copies
# option -> bytes per parameter per unit of the option (each unit holds vectors of d numbers)
PER_UNIT = {
    "block_size": 8,  # noise block [B, d] float32 and the forward pass's copy
    "chains": 44,  # chain state, noise, gradient, drift (float32), average and sums (float64)
    "rm_samples": 16,  # samples and their gradients
    "replicas": 24,  # replica, momentum, gradient (float32), the coupling's float64 sum
    "perturbations": 12,  # perturbed copies and their gradients
}


CGROUP = Path("/sys/fs/cgroup")
CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    (CGROUP / "memory.max", CGROUP / "memory.current"),
    (CGROUP / "memory" / "memory.limit_in_bytes", CGROUP / "memory" / "memory.usage_in_bytes"),
)
MEMINFO = Path("/proc/meminfo")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _process_size() -> int:
    """The process's virtual size (``VmSize`` in ``/proc/self/status``), 0 if unknown."""
    return (proc_kib(STATUS_FILE, "VmSize") or 0) * 1024


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 50


def machine_memory() -> int:
    """Bytes of memory this process may use now: the smallest of ``MemAvailable``, the
    cgroup's limit less its usage, and physical memory."""
    known = [physical_memory()]
    available = proc_kib(MEMINFO, "MemAvailable")
    if available is not None:
        known.append(available * 1024)
    address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
    if address_space != resource.RLIM_INFINITY:  # ulimit -v: less what is mapped already
        known.append(max(address_space - _process_size(), 0))
    for limit_file, usage_file in CGROUP_FILES:
        limit = _read_int(limit_file)
        if limit is not None and limit < known[0]:  # v1 reports "no limit" as about 2^63
            known.append(max(limit - (_read_int(usage_file) or 0), 0))
    return min(known)


def memory_text(memory: int) -> str:
    """How a message states the memory there is: ``20.1 GB of memory available``."""
    return f"{size_text(memory)} of memory available"


def _number(value: float) -> str:
    """``value`` in 3 significant digits, also beyond the range of a float (a huge setting)."""
    if value > 1e300:
        return f"about 1e{len(str(int(value))) - 1}"
    return f"{value:.3g}"


def size_text(count: float) -> str:
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
            f"{size_text(config.steps * METRICS_LINE_BYTES)} of metrics.jsonl "
            f"({METRICS_LINE_BYTES} bytes a line), more than the {size_text(disk)} file system "
            "that holds --out"
        )
    memory = machine_memory()
    if "samples" in values and "block_size" in values:
        blocks = -(-values["samples"] // values["block_size"])  # exact for any size
        if blocks * BLOCK_BYTES > memory:
            raise ConfigError(
                f"{setting('samples')}: {values['samples']} samples in blocks of "
                f"{values['block_size']} "
                f"are {blocks} blocks, whose list alone needs {size_text(blocks * BLOCK_BYTES)} "
                f"({BLOCK_BYTES} bytes each); this machine has {memory_text(memory)} "
                "(raise --block-size or lower --samples)"
            )
    if values.get("beta_search") == "two-pass" and is_auto(values.get("beta")):
        need = values["samples"] * TWO_PASS_BYTES
        if need > memory:
            raise ConfigError(
                f"{setting('samples')}: {values['samples']} samples under "
                f"{setting('beta_search', 'two-pass')} keep every sample's loss, "
                f"{size_text(need)} ({TWO_PASS_BYTES} bytes each); this machine has "
                f"{memory_text(memory)} (lower --samples or use --beta-search grid)"
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
            f"{size_text(count * BYTES_PER_VALUE)} at {BYTES_PER_VALUE} bytes each; this machine "
            f"has {memory_text(memory)}"
        )


def memory_units(values: dict[str, Any]) -> dict[str, int]:
    """Option -> how many vectors of ``d`` numbers it makes the run hold (``PER_UNIT`` bytes per
    parameter each; ``beta_search``: the betas importance sampling weighs, ``TILTED_BYTES``)."""
    units = {name: values[name] for name in PER_UNIT if name in values}
    if "samples" in values and "beta" in values:
        grid = is_auto(values["beta"]) and values.get("beta_search") == "grid"
        units["beta_search"] = len(candidate_betas(1.0)) if grid else 1
    return units


def check_model(config: RunConfig, values: dict[str, Any], num_params: int) -> None:
    """The memory of ``num_params`` parameters under the method's options (``PER_UNIT``)."""
    memory = machine_memory()
    need = num_params * BYTES_PER_PARAMETER
    largest, largest_bytes = None, 0
    for name, units in memory_units(values).items():
        part = units * num_params * (PER_UNIT.get(name) or TILTED_BYTES)
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
            f"{model}: {num_params} parameters need at least {size_text(own)} "
            f"({BYTES_PER_PARAMETER} bytes each: copies of the parameter vector); this machine "
            f"has {memory_text(memory)}"
        )
    units, per_unit = memory_units(values)[largest], PER_UNIT.get(largest) or TILTED_BYTES
    raise ConfigError(
        f"{setting(largest)}: {units} x {num_params} parameters ({model}) x "
        f"{per_unit} bytes = {size_text(largest_bytes)}; this machine has "
        f"{memory_text(memory)}"
    )
