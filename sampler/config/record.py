"""What a run directory's ``config.json`` holds: every run setting, the model's and data set's
given options typed, and all of the method's options, defaults included (so that a rerun does
not depend on the defaults of a later version); a typed value is recorded by its spec (a
``Schedule`` by its text, a Python function given as a schedule by ``python:MODULE.NAME``:
``sampler.schedules.recorded``). A part built by the Python API (``supplied``) keeps its
options as given."""

from __future__ import annotations

from typing import Any

from sampler.config.resolution import Settings, method_values
from sampler.config.run_config import RunConfig
from sampler.models import DATASETS, model_spec
from sampler.schedules import recorded


def record_of(config: RunConfig, values: dict[str, Any], supplied: frozenset[str]) -> dict:
    record = {**recorded(config.to_dict()), "method_options": recorded(values)}
    if "model" not in supplied:
        record["model_options"] = model_spec(config.model).parse(config.model_options)
    if "data" not in supplied:
        record["data_options"] = DATASETS[config.data].parse(config.data_options)
    return record


def settings_record(settings: Settings) -> dict[str, Any]:
    """The record of the resolved settings of a run."""
    return record_of(settings.config, settings.options, settings.supplied)


def config_record(config: RunConfig, supplied: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The record of a configuration that is compared, not run (``--resume``'s checks)."""
    return record_of(config, method_values(config), supplied)
