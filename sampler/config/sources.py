"""Where a run's settings come from, and how the layers merge: defaults < the model's own
defaults for its method < ``--config FILE`` < flags (later wins; option tables merge key by
key).

The model's own defaults are what a zoo entry declares it trains with under a method
(``ModelSpec.trains_with``, e.g. ``tiny-conv``'s ``--estimator is`` settings in
``sampler.models.cnn``): a setting no layer gives takes that value, and ``config.json`` records
it like any other. A Keras model or a model the Python API built declares none.

A ``--config`` file is TOML (keys are the flag names, with ``-`` or ``_``) or a run directory's
``config.json`` (its record keys dropped, ``from_run_record``). ``make_config`` brings every
value to its field's type and sorts the keys into run fields, option tables, data-set aliases
(``gm_dim``) and method options (``samples``); checking the values is
``sampler.config.resolution``'s work.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sampler.config.method_options import method, option_owners
from sampler.config.run_config import (
    DATA_ALIASES,
    FIELDS,
    RUN_RECORD_KEYS,
    TABLES,
    ConfigError,
    RunConfig,
    flag,
)
from sampler.models.naming import setting
from sampler.models.options import OptionError, split_assignments
from sampler.models.zoo import MODELS
from sampler.runs.file_kinds import TEXT_LIMIT, read_regular
from sampler.runs.files import unique_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def method_option_names() -> set[str]:
    """Every option name of every method (each is a flag and a TOML key of its own)."""
    return set(option_owners())


def load_toml(path: str) -> dict[str, Any]:
    """Settings from ``--config``: a TOML file, or a run directory's ``config.json``."""
    kind = "JSON" if str(path).endswith(".json") else "TOML"
    try:
        text = read_regular(path, TEXT_LIMIT).decode("utf-8")
        table = from_run_record(unique_json(text)) if kind == "JSON" else tomllib.loads(text)
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not UTF-8 text") from None
    except (ValueError, RecursionError) as error:  # a syntax error, a 5,000-digit integer, depth
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ConfigError(f"--config {path}: not valid {kind} ({reason})") from None
    if not isinstance(table, dict):
        raise ConfigError(f"--config {path}: must hold a table of settings")
    known = set(FIELDS) | set(DATA_ALIASES) | method_option_names()
    settings = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in settings:
            raise ConfigError(f"--config {path}: {key!r} is given twice (as {name!r})")
        if name not in known:
            raise ConfigError(
                f"--config {path}: unknown setting {key!r}; accepted: "
                + ", ".join(sorted(f.replace("_", "-") for f in known))
            )
        settings[name] = value
    return settings


def from_run_record(table: Any) -> Any:
    """A run's ``config.json`` as settings: its record keys dropped; an option of its method
    that a run's record (it holds ``num_params``) lacks, declared after it was written, at the
    value the run ran with (``Option.before``); a hand-written file's omissions stay defaults.
    A record of an earlier version (every method's and data set's setting at the top level)
    keeps only those that the recorded method and data set use."""
    if not isinstance(table, dict):
        return table
    complete = "num_params" in table  # a run's record (every option), not a hand-written file
    table = {k: v for k, v in table.items() if k not in RUN_RECORD_KEYS and v is not None}
    if table.get("baseline") is not None:
        table.pop("estimator", None)  # recorded, but unused by a baseline run
    if "method_options" in table:
        recorded = table["method_options"]
        if not complete or not isinstance(recorded, dict):  # a file's own choice; a bad table
            return table  # is refused with its name when the settings are read
        try:
            chosen = method(table.get("estimator", "is"), table.get("baseline"))
        except OptionError:  # the same
            return table
        return {**table, "method_options": {**_options_before(chosen, recorded), **recorded}}
    chosen = method(table.get("estimator", "is"), table.get("baseline"))
    legacy_methods = method_option_names()
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
    return {**_options_before(chosen, kept), **kept} if complete else kept


def _options_before(chosen, recorded: dict) -> dict:
    """The options of ``chosen`` that a complete record lacks (``config.json`` records every
    option of its method), at the value the run ran with before they existed
    (``Option.before``): resuming or reusing an old run keeps its law."""
    return {
        name: option.before
        for name, option in chosen.options.items()
        if option.before is not None and name not in recorded
    }


def _coerce_table(name: str, value: Any) -> dict[str, Any]:
    if (
        isinstance(value, (list, tuple))
        and name in TABLES
        and all(isinstance(v, str) for v in value)
    ):
        try:  # KEY=VALUE from the command line
            return split_assignments(value, flag(name))
        except OptionError as error:
            raise ConfigError(str(error)) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag(name)}: must be a table of KEY = VALUE, got {value!r}")
    return {key.replace("-", "_"): v for key, v in value.items()}


def coerce(name: str, value: Any) -> Any:
    """Bring a TOML/JSON value to the field's type."""
    if name in TABLES or name == "method_options":
        return _coerce_table(name, value)
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
    if kind is str and not isinstance(value, (str, os.PathLike)):  # not out = 5
        raise ConfigError(f"{flag(name)}: must be text, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{flag(name)}: must be {kind.__name__}, got {value!r}") from None


def make_config(*layers: dict[str, Any]) -> RunConfig:
    """Merge layers of settings (later wins; tables merge key by key). Keys are run fields,
    option tables, data-set aliases (``gm_dim``) or method options (``samples``)."""
    merged: dict[str, Any] = {"model_options": {}, "data_options": {}, "method_options": {}}
    aliases: dict[str, str] = {}  # data option -> the alias flag that gave it
    method_names = method_option_names()
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
    return _with_model_defaults(RunConfig(**merged), merged)


def model_defaults(model: str, method_name: str) -> dict[str, Any]:
    """The settings the zoo's ``model`` trains with under ``method_name`` unless given
    (``ModelSpec.trains_with``); none for a name outside the zoo."""
    spec = MODELS.get(model)
    return dict(spec.trains_with.get(method_name, {})) if spec is not None else {}


def _with_model_defaults(config: RunConfig, given: dict[str, Any]) -> RunConfig:
    """``config`` with the model's own defaults for its method where no layer gave the
    setting (``given``: the merged layers)."""
    for name, value in model_defaults(config.model, config.method_name).items():
        if name in FIELDS:
            if given.get(name) is None:
                setattr(config, name, coerce(name, value))
        elif name not in config.method_options:
            config.method_options[name] = value
    return config
