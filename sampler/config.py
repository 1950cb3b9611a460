"""The run configuration: every setting of ``sampler train``, its default and its check.

One dataclass is the single source: the command line, a TOML file (keys are the flag names,
with ``-`` or ``_``) and ``config.json`` of a run directory all map onto it. Precedence:
defaults < ``--config FILE.toml`` < flags. ``validate`` rejects a bad value with one line that
names the flag and what it accepts, before any work starts.

A model's and a data set's own options are two tables, ``model_options`` and ``data_options``:
``--model-opt KEY=VALUE`` / ``--data-opt KEY=VALUE`` (repeatable) or TOML tables
``[model_options]`` / ``[data_options]``; flags override single keys of the file's table.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad setting; the message names the flag."""


@dataclass
class RunConfig:
    # what is trained
    model: str = "linear"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str = "mnist"
    data_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    test_fraction: float = 0.2
    data_seed: int = 0
    gm_dim: int = 50
    gm_delta: float = 0.25
    gm_train: int = 2000
    gm_test: int = 1000
    # how
    estimator: str = "is"
    baseline: str | None = None
    samples: int = 1000
    block_size: int = 100
    tau: str = "0.01"  # a schedule, or LAYER=SCHEDULE,... (sampler.tau)
    beta: str = "1"
    lr: str | None = None  # two-step: eta (default: tau); baselines: their learning rate
    optimizer: str = "sgd"  # outer optimizer of the two-step scheme (sampler.outer)
    momentum: float = 0.0
    nesterov: bool = False
    # sgld (Algorithm 3)
    chains: int = 1
    sgld_steps: int = 1000
    sgld_eps: str = "harmonic:1,1000"
    # rm, rm-stein (Algorithm 5)
    rm_samples: int = 30
    rm_iterations: int = 30
    rm_step: str = "power:1,1"
    # warm start (paper section 6.3)
    init_from: str | None = None
    switch_after: int = 0
    switch_lr: str = "0.01"
    steps: int = 300
    batch_size: int = 20
    seed: int = 0
    # where and what is written
    eval_every: int = 100
    checkpoint_every: int = 100
    out: str | None = None
    device: str = "auto"
    quiet: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def method(self) -> str:
        return f"baseline:{self.baseline}" if self.baseline else f"estimator:{self.estimator}"


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# Settings given as a schedule spec (sampler.schedules); kept as text.
SCHEDULE_FIELDS = ("tau", "beta", "lr", "sgld_eps", "rm_step", "switch_lr")
# Settings a resumed run may change; everything else must match the original run.
RESUMABLE = {"steps", "eval_every", "checkpoint_every", "device", "quiet"}


# Option tables: field -> its repeatable KEY=VALUE flag.
TABLES = {"model_options": "--model-opt", "data_options": "--data-opt"}


def flag(name: str) -> str:
    return TABLES.get(name) or "--" + name.replace("_", "-")


# What a run directory's config.json records beside the settings: dropped when it is reused
# as --config (a rerun goes to a new directory).
RUN_RECORD_KEYS = ("objective", "num_params", "out")


def load_toml(path: str) -> dict[str, Any]:
    """Settings from ``--config``: a TOML file, or a run directory's ``config.json``."""
    try:
        with open(path, "rb") as handle:
            if str(path).endswith(".json"):
                table = json.load(handle)
                table = {k: v for k, v in table.items() if k not in RUN_RECORD_KEYS}
                if table.get("baseline") is not None:
                    table.pop("estimator", None)  # recorded, but unused by a baseline run
                table = {k: v for k, v in table.items() if v is not None}
            else:
                table = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--config {path}: not valid TOML ({error})") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path}: not valid JSON ({error})") from None
    settings = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(
                f"--config {path}: unknown setting {key!r}; accepted: "
                + ", ".join(f.replace("_", "-") for f in FIELDS)
            )
        settings[name] = value
    return settings


def coerce(name: str, value: Any) -> Any:
    """Bring a TOML/JSON value to the field's type (``tau = 0.01`` in TOML is a float)."""
    if name in TABLES:
        if isinstance(value, (list, tuple)):  # KEY=VALUE strings from the command line
            from sampler.models.options import OptionError, split_assignments

            try:
                return split_assignments(value, flag(name))
            except OptionError as error:
                raise ConfigError(str(error)) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{flag(name)}: must be a table of KEY = VALUE, got {value!r}")
        return dict(value)
    default = FIELDS[name].default
    kind = type(default) if default is not None else str
    if name in SCHEDULE_FIELDS and value is not None:
        from sampler.tau import tau_spec_text

        return tau_spec_text(value) if name == "tau" else str(value)
    if value is None:
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{flag(name)}: must be true or false, got {value!r}")
        return value
    if kind is int and isinstance(value, bool) or kind is int and isinstance(value, float):
        raise ConfigError(f"{flag(name)}: must be an integer, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag(name)}: must be {kind.__name__}, got {value!r}") from None


def make_config(*layers: dict[str, Any]) -> RunConfig:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            value = coerce(key, value)
            merged[key] = {**merged.get(key, {}), **value} if key in TABLES else value
    return RunConfig(**merged)


def _require(condition: bool, name: str, accepted: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{flag(name)}: must be {accepted}, got {value!r}")


def validate(config: RunConfig, resuming: bool = False) -> None:
    """Check every setting against the registries (imported here: ``models`` never imports us)."""
    from sampler.baselines import BASELINES
    from sampler.estimators import ESTIMATORS
    from sampler.models import DATASETS, MODELS, OptionError
    from sampler.mpi.device import ACCEPTED as DEVICES
    from sampler.outer import OPTIMIZERS
    from sampler.schedules import parse_schedule
    from sampler.tau import TauSchedule

    c = config
    _require(c.model in MODELS, "model", "one of " + ", ".join(MODELS), c.model)
    _require(c.data in DATASETS, "data", "one of " + ", ".join(DATASETS), c.data)
    try:
        MODELS[c.model].parse(c.model_options)
        DATASETS[c.data].parse(c.data_options)
    except OptionError as error:
        raise ConfigError(str(error)) from None
    if c.data_dir is not None and not Path(c.data_dir).is_dir():
        raise ConfigError(f"--data-dir: {c.data_dir!r} is not a directory")
    _require(0.0 < c.test_fraction < 1.0, "test_fraction", "in (0, 1)", c.test_fraction)
    positive = ("gm_dim", "gm_train", "gm_test", "samples", "block_size", "steps", "batch_size")
    positive += ("chains", "sgld_steps", "rm_samples", "rm_iterations")
    for name in positive:
        _require(getattr(c, name) >= 1, name, "a positive integer", getattr(c, name))
    for name in ("eval_every", "checkpoint_every"):
        _require(
            getattr(c, name) >= 0,
            name,
            "0 (only at the end) or a positive integer",
            getattr(c, name),
        )
    _require(c.gm_delta > 0, "gm_delta", "positive", c.gm_delta)
    _require(c.seed >= 0, "seed", "a non-negative integer", c.seed)
    _require(c.data_seed >= 0, "data_seed", "a non-negative integer", c.data_seed)
    _require(c.estimator in ESTIMATORS, "estimator", "one of " + ", ".join(ESTIMATORS), c.estimator)
    if c.baseline is not None:
        _require(c.baseline in BASELINES, "baseline", "one of " + ", ".join(BASELINES), c.baseline)
    _require(0.0 <= c.momentum < 1.0, "momentum", "in [0, 1)", c.momentum)
    _require(c.optimizer in OPTIMIZERS, "optimizer", "one of " + ", ".join(OPTIMIZERS), c.optimizer)
    if c.optimizer in ("momentum", "nesterov") and c.momentum == 0:
        raise ConfigError(f"--optimizer {c.optimizer}: needs --momentum in (0, 1), e.g. 0.9")
    _validate_warm_start(c, resuming)
    _require(
        c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"),
        "device",
        DEVICES,
        c.device,
    )
    if c.baseline is None and c.optimizer == "sgd" and c.momentum > 0:
        raise ConfigError(
            "--momentum: the two-step --optimizer sgd has none; use --optimizer momentum, "
            "nesterov or adam (or --baseline sgd)"
        )
    if c.baseline is None and c.nesterov:
        raise ConfigError(
            "--nesterov: a --baseline sgd flag; the two-step scheme has --optimizer nesterov"
        )
    if c.baseline is not None and c.optimizer != "sgd":
        raise ConfigError(
            f"--optimizer {c.optimizer}: chooses the two-step outer update; --baseline sgd "
            "takes --momentum and --nesterov"
        )
    try:
        tau = TauSchedule(c.tau, "--tau")
        for layer, schedule in tau.schedules.items():
            _check_range(schedule, "--tau" if layer == "*" else f"--tau ({layer})", c.steps)
        lengths = {"sgld_eps": c.sgld_steps, "rm_step": c.rm_iterations}
        for name in SCHEDULE_FIELDS[1:]:
            if getattr(c, name) is not None:
                schedule = parse_schedule(getattr(c, name), flag(name))
                _check_range(schedule, flag(name), lengths.get(name, c.steps))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    rm_step = parse_schedule(c.rm_step, "--rm-step")
    if rm_step.name == "power" and not 0.5 < rm_step.values[1] <= 1.0:
        raise ConfigError(
            f"--rm-step: power:C,ALPHA needs ALPHA in (1/2, 1] (Robbins-Monro), got {c.rm_step!r}"
        )


def _check_range(schedule, name: str, count: int) -> None:
    """A schedule must stay finite and positive (above float32's smallest normal number) at
    every step it will be used, not only at step 0: checked before any work."""
    tiny = 1.2e-38
    for step in range(count):
        try:
            value = schedule(step)
        except OverflowError:
            value = math.inf
        if not (math.isfinite(value) and value > tiny):
            raise ValueError(
                f"{name}: {schedule.spec!r} reaches {value:g} at step {step}; it must stay "
                "finite and positive over the run"
            )


def _validate_warm_start(c: RunConfig, resuming: bool) -> None:
    _require(c.switch_after >= 0, "switch_after", "0 (off) or a positive integer", c.switch_after)
    if c.switch_after > 0 and c.baseline is not None:
        raise ConfigError("--switch-after: switches from SGD to --estimator; drop --baseline")
    if c.switch_after >= c.steps:
        raise ConfigError(
            f"--switch-after: must be less than --steps ({c.steps}), got {c.switch_after}"
        )
    # a resumed run has its parameters already: its --init-from source may be gone
    if (
        c.init_from is not None
        and not resuming
        and not (Path(c.init_from) / "checkpoint.pt").is_file()
    ):
        raise ConfigError(f"--init-from: {c.init_from!r} is not a run directory (no checkpoint.pt)")


def replace(config: RunConfig, **changes: Any) -> RunConfig:
    return dataclasses.replace(config, **changes)


__all__ = ["ConfigError", "RunConfig", "load_toml", "make_config", "validate"]
