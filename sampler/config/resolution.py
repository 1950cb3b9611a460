"""A run's settings resolved once: every value checked against the registries and the
machine, the method's options typed, before any work starts.

``resolve_settings(config)`` gives the ``Settings`` that everything downstream takes: the
``RunConfig`` as given (what ``config.json`` records), the chosen ``Method`` and its options as
typed values (a schedule as a ``Schedule``, ``--tau`` as a ``TauSchedule``, defaults filled,
checked together: ``sampler.config.method_options``). A bad value is refused with one line that
names the flag and what it accepts (``ConfigError``). ``supplied`` names the parts (``"model"``,
``"data"``) that the Python API built itself: their names are labels, not registry entries,
and are not looked up.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sampler.config.limits import check_settings
from sampler.config.method_options import Method, method, resolve
from sampler.config.run_config import ConfigError, RunConfig, flag
from sampler.config.sources import make_config
from sampler.models import DATASETS, OptionError, model_spec
from sampler.models.naming import setting
from sampler.mpi.device import ACCEPTED as DEVICES
from sampler.runs import tensorboard


@dataclass(frozen=True)
class Settings:
    """A run's settings, resolved: ``config`` as given, the chosen ``method`` and its typed
    ``options``; ``supplied``: the parts the Python API built itself."""

    config: RunConfig
    method: Method
    options: dict[str, Any]
    supplied: frozenset[str] = frozenset()


def _method_and_values(config: RunConfig) -> tuple[Method, dict[str, Any]]:
    """``config``'s method (an unknown one refused) and its typed options, defaults filled and
    checked; ``ConfigError`` naming the flag."""
    try:
        chosen = method(config.estimator, config.baseline)
        return chosen, resolve(chosen, config.method_options, config.steps)
    except OptionError as error:
        raise ConfigError(str(error)) from None


def method_values(config: RunConfig) -> dict[str, Any]:
    """The typed options of ``config``'s method (for a configuration that is compared, not
    run: a stored run's, on ``--resume``)."""
    return _method_and_values(config)[1]


# intra-op threads per process: libgomp aborts the process near 4096, and no CPU has that many
MAX_THREADS = 1024


def _require(condition: bool, name: str, accepted: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{flag(name)}: must be {accepted}, got {value!r}")


def _check_named_parts(c: RunConfig, supplied: frozenset[str]) -> None:
    """The model and the data set exist and take the options given; ``--data-dir`` fits."""
    if "data" not in supplied:
        _require(c.data in DATASETS, "data", "one of " + ", ".join(DATASETS), c.data)
    try:
        if "model" not in supplied:
            model_spec(c.model).parse(c.model_options)  # a keras: model's factory is looked up
        if "data" not in supplied:
            DATASETS[c.data].parse(c.data_options)
    except OptionError as error:
        raise ConfigError(str(error)) from None
    if c.data_dir is not None and "data" not in supplied:
        if not DATASETS[c.data].reads_data_dir:
            name = flag("data_dir")
            raise ConfigError(f"{name}: {setting('data', c.data)} reads no files; drop {name}")
        if str(c.data_dir) == "" or not Path(c.data_dir).is_dir():
            raise ConfigError(f"{flag('data_dir')}: {c.data_dir!r} is not a directory")


def _check_run_fields(c: RunConfig) -> None:
    """Counts, seeds, the device, TensorBoard and the paths of the run's own fields."""
    for name in ("steps", "batch_size"):
        _require(getattr(c, name) >= 1, name, "a positive integer", getattr(c, name))
    for name in ("eval_every", "checkpoint_every"):
        value = getattr(c, name)
        _require(value >= 0, name, "0 (only at the end) or a positive integer", value)
    _require(c.signal_every >= 0, "signal_every", "0 (never) or a positive integer", c.signal_every)
    _require(c.seed >= 0, "seed", "a non-negative integer", c.seed)
    _require(c.data_seed >= 0, "data_seed", "a non-negative integer", c.data_seed)
    _require(c.threads >= 0, "threads", "0 (automatic) or a positive integer", c.threads)
    _require(c.threads <= MAX_THREADS, "threads", f"at most {MAX_THREADS}", c.threads)
    if c.tensorboard and not tensorboard.available():
        raise ConfigError(
            f"{flag('tensorboard')}: needs the tensorboard package; {tensorboard.INSTALL_HINT}"
        )
    _require(
        c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"),
        "device",
        DEVICES,
        c.device,
    )
    for name in ("out", "data_dir", "init_from"):  # Path('') would be the current directory
        value = getattr(c, name)
        if value is None:
            continue
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise ConfigError(f"{flag(name)}: must name a directory, got {value!r}")
        if "\0" in str(value):
            raise ConfigError(f"{flag(name)}: a path cannot hold a NUL character, got {value!r}")


def resolve_settings(
    config: RunConfig,
    resuming: bool = False,
    supplied: frozenset[str] = frozenset(),
    ranks: int = 1,
) -> Settings:
    """Check every setting against the registries and the sizes against the machine
    (``sampler.config.limits``, for ``ranks`` processes); ``ConfigError`` naming the flag."""
    _check_named_parts(config, supplied)
    _check_run_fields(config)
    chosen, values = _method_and_values(config)
    check_settings(config, values, ranks, registry_data="data" not in supplied)
    # a resumed run has its parameters already: its --init-from source may be gone
    if (
        config.init_from is not None
        and not resuming
        and not (Path(config.init_from) / "checkpoint.pt").is_file()
    ):
        raise ConfigError(
            f"{flag('init_from')}: {config.init_from!r} is not a run directory (no checkpoint.pt)"
        )
    return Settings(config, chosen, values, supplied)


@contextlib.contextmanager
def blamed_on(source: str, layer: dict, ranks: int, resume: str | None = None):
    """A ``ConfigError`` that the settings of ``layer`` (a ``--config`` file, a run's
    ``config.json``) give on their own as well is prefixed with ``source``, naming the file."""
    try:
        yield
    except ConfigError as error:
        if layer and str(error) == _refusal_of(layer, ranks, resume):
            raise ConfigError(f"{source}: {error}") from None
        raise


def _refusal_of(layer: dict, ranks: int, resume: str | None) -> str | None:
    try:
        config = make_config(layer)
        if resume is not None:
            config.out = resume
        resolve_settings(config, resuming=resume is not None, ranks=ranks)
    except ConfigError as error:
        return str(error)
    return None
