"""The run configuration: the run-level settings of ``sampler train``, and three option tables.

One dataclass is the single source: the command line, a TOML file (keys are the flag names,
with ``-`` or ``_``) and ``config.json`` of a run directory all map onto it. Precedence:
defaults < ``--config FILE`` < flags. ``validate`` rejects a bad value with one line that names
the flag and what it accepts, before any work starts.

Run-level settings are fields (model, data, method choice, steps, batch size, seed, output,
device, ...). What belongs to one model, data set or training method is a table of that owner's
declared options:

* ``model_options`` (``--model-opt KEY=VALUE``, TOML ``[model_options]``), see ``sampler models``;
* ``data_options`` (``--data-opt KEY=VALUE``, TOML ``[data_options]``); ``--gm-dim``,
  ``--gm-delta``, ``--gm-train``, ``--gm-test`` and ``--test-fraction`` remain as aliases of
  options of ``gaussian-mixture`` and ``mnist``;
* ``method_options``: each option is its own flag (``--samples``, ``--tau``, ...) or a TOML key
  (flat, or in a ``[method_options]`` table), see ``sampler methods`` and
  ``sampler.config.method_options``.

Giving an option whose owner is not selected is an error naming the flag and its owner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sampler.models.naming import TABLE_FLAGS, setting

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
    data_seed: int = 0
    # how: the method and its options (sampler.config.method_options)
    estimator: str = "is"
    baseline: str | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    steps: int = 300
    batch_size: int = 20
    seed: int = 0
    # where and what is written
    eval_every: int = 100
    signal_every: int = 0
    checkpoint_every: int = 100
    out: str | None = None
    device: str = "auto"
    threads: int = 0  # intra-op threads per process; 0: OMP_NUM_THREADS if set, else 1
    tensorboard: bool = False
    quiet: bool = False
    stop_on_divergence: bool = False  # stop on a run_health divergence warning

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def method(self) -> str:
        return f"baseline:{self.baseline}" if self.baseline else f"estimator:{self.estimator}"


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# Settings a resumed run may change; everything else must match the original run.
RESUMABLE = {
    "steps",
    "eval_every",
    "signal_every",
    "checkpoint_every",
    "device",
    "quiet",
    "stop_on_divergence",
}
RESUMABLE |= {"threads", "tensorboard"}  # how it runs, not what it trains
# Option tables: field -> its repeatable KEY=VALUE flag (method options have a flag each).
TABLES = dict(TABLE_FLAGS)
# Old flags that name a data set's option: alias -> (data set, option).
DATA_ALIASES = {
    "gm_dim": ("gaussian-mixture", "dim"),
    "gm_delta": ("gaussian-mixture", "delta"),
    "gm_train": ("gaussian-mixture", "train_size"),
    "gm_test": ("gaussian-mixture", "test_size"),
    "test_fraction": ("mnist", "test_fraction"),
}
# What a run directory's config.json records beside the settings: dropped when it is reused
# as --config (a rerun goes to a new directory).
RUN_RECORD_KEYS = ("objective", "num_params", "out")


def flag(name: str) -> str:
    """How messages name the setting ``name``: ``--batch-size``, or ``batch_size=`` inside the
    Python API (``sampler.models.naming``)."""
    return setting(name)


def _method_option_names() -> set[str]:
    from sampler.config.method_options import option_owners

    return set(option_owners())


def load_toml(path: str) -> dict[str, Any]:
    """Settings from ``--config``: a TOML file, or a run directory's ``config.json``."""
    try:
        with open(path, "rb") as handle:
            if str(path).endswith(".json"):
                table = _from_run_record(json.load(handle))
            else:
                table = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--config {path}: not valid TOML ({error})") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path}: not valid JSON ({error})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not UTF-8 text") from None
    if not isinstance(table, dict):
        raise ConfigError(f"--config {path}: must hold a table of settings")
    known = set(FIELDS) | set(DATA_ALIASES) | _method_option_names()
    settings = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(
                f"--config {path}: unknown setting {key!r}; accepted: "
                + ", ".join(sorted(f.replace("_", "-") for f in known))
            )
        settings[name] = value
    return settings


def _from_run_record(table: Any) -> Any:
    """A run's ``config.json`` as settings: its record keys dropped. A record of an earlier
    version (every method's and data set's setting at the top level) keeps only those that the
    recorded method and data set use."""
    if not isinstance(table, dict):
        return table
    table = {k: v for k, v in table.items() if k not in RUN_RECORD_KEYS and v is not None}
    if table.get("baseline") is not None:
        table.pop("estimator", None)  # recorded, but unused by a baseline run
    if "method_options" in table:
        return table
    from sampler.config.method_options import method

    chosen = method(table.get("estimator", "is"), table.get("baseline"))
    legacy_methods = _method_option_names()
    data = table.get("data", "mnist")
    kept = {}
    for key, value in table.items():
        if key in legacy_methods and key not in FIELDS and key not in chosen.options:
            continue
        if key in DATA_ALIASES and (
            DATA_ALIASES[key][0] != data or (key == "test_fraction" and table.get("data_dir"))
        ):
            continue
        kept[key] = value
    return kept


def coerce(name: str, value: Any) -> Any:
    """Bring a TOML/JSON value to the field's type."""
    if name in TABLES or name == "method_options":
        if (
            isinstance(value, (list, tuple))
            and name in TABLES
            and all(isinstance(item, str) for item in value)
        ):  # KEY=VALUE from the command line
            from sampler.models.options import OptionError, split_assignments

            try:
                return split_assignments(value, flag(name))
            except OptionError as error:
                raise ConfigError(str(error)) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{flag(name)}: must be a table of KEY = VALUE, got {value!r}")
        return {key.replace("-", "_"): v for key, v in value.items()}
    default = FIELDS[name].default
    kind = type(default) if default is not None else str
    if value is None:
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{flag(name)}: must be true or false, got {value!r}")
        return value
    if kind is int and isinstance(value, (bool, float)):
        raise ConfigError(f"{flag(name)}: must be an integer, got {value!r}")
    if kind is str and isinstance(value, (dict, list, bool)):
        raise ConfigError(f"{flag(name)}: must be text, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag(name)}: must be {kind.__name__}, got {value!r}") from None


def make_config(*layers: dict[str, Any]) -> RunConfig:
    """Merge layers of settings (later wins; tables merge key by key). Keys are run fields,
    option tables, data-set aliases (``gm_dim``) or method options (``samples``)."""
    merged: dict[str, Any] = {"model_options": {}, "data_options": {}, "method_options": {}}
    aliases: dict[str, str] = {}  # data option -> the alias flag that gave it
    method_names = _method_option_names()
    for layer in layers:
        for key, value in layer.items():
            name = key.replace("-", "_")
            if name in merged and name.endswith("_options"):
                merged[name].update(coerce(name, value))
            elif name in FIELDS:
                merged[name] = coerce(name, value)
            elif name in DATA_ALIASES:
                option = DATA_ALIASES[name][1]
                merged["data_options"][option] = value
                aliases[option] = name
            elif name in method_names:
                merged["method_options"][name] = value
            else:
                raise ConfigError(f"{flag(name)}: unknown setting")
    data = merged.get("data", FIELDS["data"].default)
    for alias in aliases.values():
        owner = DATA_ALIASES[alias][0]
        if owner != data:
            raise ConfigError(
                f"{flag(alias)}: an option of {setting('data', owner)}, not of "
                f"{setting('data', data)}"
            )
    return RunConfig(**merged)


def _require(condition: bool, name: str, accepted: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{flag(name)}: must be {accepted}, got {value!r}")


def method_values(config: RunConfig) -> dict[str, Any]:
    """The selected method's typed options, defaults filled and checked
    (``sampler.config.method_options``)."""
    from sampler.config.method_options import method, resolve
    from sampler.models.options import OptionError

    try:
        return resolve(
            method(config.estimator, config.baseline), config.method_options, config.steps
        )
    except OptionError as error:
        raise ConfigError(str(error)) from None


def validate(
    config: RunConfig,
    resuming: bool = False,
    supplied: frozenset[str] = frozenset(),
    ranks: int = 1,
) -> dict[str, Any]:
    """Check every setting against the registries (imported here: ``models`` never imports
    us) and the sizes against the machine (``sampler.config.limits``, for ``ranks`` processes);
    returns the method's typed option values. ``supplied`` names the parts (``"model"``,
    ``"data"``) that the caller built itself (the Python API): their names are labels, not
    registry entries, and are not looked up."""
    from sampler.models import DATASETS, OptionError, model_spec
    from sampler.mpi.device import ACCEPTED as DEVICES

    c = config
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
    for name in ("steps", "batch_size"):
        _require(getattr(c, name) >= 1, name, "a positive integer", getattr(c, name))
    for name in ("eval_every", "checkpoint_every"):
        value = getattr(c, name)
        _require(value >= 0, name, "0 (only at the end) or a positive integer", value)
    _require(c.signal_every >= 0, "signal_every", "0 (never) or a positive integer", c.signal_every)
    _require(c.seed >= 0, "seed", "a non-negative integer", c.seed)
    _require(c.data_seed >= 0, "data_seed", "a non-negative integer", c.data_seed)
    _require(c.threads >= 0, "threads", "0 (automatic) or a positive integer", c.threads)
    if c.tensorboard:
        from sampler.runs.tensorboard import INSTALL_HINT, available

        if not available():
            raise ConfigError(
                f"{flag('tensorboard')}: needs the tensorboard package; {INSTALL_HINT}"
            )
    _require(
        c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"),
        "device",
        DEVICES,
        c.device,
    )
    for name in ("out", "data_dir", "init_from"):  # Path('') would be the current directory
        if getattr(c, name) is not None and str(getattr(c, name)) == "":
            raise ConfigError(f"{flag(name)}: must name a directory, got ''")
    values = method_values(c)
    from sampler.config.limits import check_settings

    check_settings(c, values, ranks, registry_data="data" not in supplied)
    # a resumed run has its parameters already: its --init-from source may be gone
    if (
        c.init_from is not None
        and not resuming
        and not (Path(c.init_from) / "checkpoint.pt").is_file()
    ):
        raise ConfigError(
            f"{flag('init_from')}: {c.init_from!r} is not a run directory (no checkpoint.pt)"
        )
    return values


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
        validate(config, resuming=resume is not None, ranks=ranks)
    except ConfigError as error:
        return str(error)
    return None


def config_record(config: RunConfig, supplied: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What ``config.json`` holds: every run setting, the model's and data set's given options
    typed, and all of the method's options (defaults included, so a rerun does not depend on
    the defaults of a later version; a Python function given as a schedule is recorded by its
    name). A ``supplied`` part (see ``validate``) keeps its options as given."""
    from sampler.models import DATASETS, model_spec
    from sampler.schedules import recorded

    record = {**recorded(config.to_dict()), "method_options": recorded(method_values(config))}
    if "model" not in supplied:
        record["model_options"] = model_spec(config.model).parse(config.model_options)
    if "data" not in supplied:
        record["data_options"] = DATASETS[config.data].parse(config.data_options)
    return record


def replace(config: RunConfig, **changes: Any) -> RunConfig:
    return dataclasses.replace(config, **changes)


__all__ = ["ConfigError", "RunConfig", "load_toml", "make_config", "method_values", "validate"]
