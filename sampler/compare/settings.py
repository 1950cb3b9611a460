"""The settings of runs side by side: which differ, how a run is labelled, which runs are
repetitions of one another (the same settings but ``--seed``).

A run's settings are its ``config.json`` flattened: run-level fields (``model``, ``steps``,
``batch_size``, ...), the method's options (``method_options``: ``tau``, ``samples``, ...), and
the model's and data set's options as ``model.KEY`` and ``data.KEY``. Bookkeeping that does not
change what is trained (``out``, ``quiet``, ``device``, ``eval_every``, ``checkpoint_every``,
``signal_every``) is left out. A setting *differs* if two runs that have it give it different
values; a run-level setting also differs if some runs lack it. A method option that only one
method has (``samples`` of ``is``) does not differ by itself: the method's name says it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sampler.compare.runs import Run
from sampler.config.sources import from_run_record, make_config

BOOKKEEPING = {
    "out",
    "quiet",
    "device",
    "eval_every",
    "checkpoint_every",
    "signal_every",
    "objective",
    "num_params",
}
METHOD_NAMES = ("estimator", "baseline")
REPEAT = "seed"  # runs that differ only here are repetitions


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _as_settings(config: dict) -> dict:
    """The record as this version reads it (defaults filled, the earlier flat layout and its
    alias keys moved into the option tables); a record it cannot read (a method or option of a
    newer version), as written."""
    try:
        return make_config(from_run_record(dict(config))).to_dict()
    except (ValueError, KeyError, TypeError):
        return dict(config)


def flatten(config: dict) -> tuple[dict[str, str], set[str]]:
    """``(settings, method option names)`` of a run's config.json."""
    table = _as_settings(config)
    settings: dict[str, str] = {}
    method_keys: set[str] = set()
    for key, value in table.items():
        if key in BOOKKEEPING or value is None:
            continue
        if key == "method_options":
            for name, option in value.items():
                settings[name] = _text(option)
                method_keys.add(name)
        elif key in ("model_options", "data_options"):
            prefix = key.split("_")[0]
            settings.update({f"{prefix}.{name}": _text(v) for name, v in value.items()})
        else:
            settings[key] = _text(value)
    if table.get("baseline") is not None:
        settings.pop("estimator", None)  # recorded, but unused by a baseline run
    return settings, method_keys


def differing(runs: Sequence[Run]) -> list[str]:
    """The settings (but the seed) whose value is not the same for all runs, in first-seen
    order."""
    flat = [flatten(run.config) for run in runs]
    keys: list[str] = []
    for settings, _ in flat:
        keys += [k for k in settings if k not in keys and k != REPEAT]
    result = []
    for key in keys:
        having = [(settings, method) for settings, method in flat if key in settings]
        values = {settings[key] for settings, _ in having}
        is_method_option = any(key in method for _, method in having)
        if len(values) > 1 or (len(having) < len(flat) and not is_method_option):
            result.append(key)
    return result


def repetition_key(run: Run) -> tuple:
    """Equal for runs that differ at most by ``--seed``."""
    settings, _ = flatten(run.config)
    return tuple(sorted((k, v) for k, v in settings.items() if k != REPEAT))


def describe(run: Run, keys: Sequence[str]) -> str:
    """``key=value`` of the differing ``keys`` that the run has (its method named apart)."""
    settings, _ = flatten(run.config)
    return " ".join(
        f"{key}={settings[key]}" for key in keys if key in settings and key not in METHOD_NAMES
    )
