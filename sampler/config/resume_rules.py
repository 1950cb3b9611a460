"""What a resumed run may change: only the ``RESUMABLE`` settings (how it runs: steps,
evaluation and checkpoint intervals, device, threads, ...); everything that decides what it
trains must match the run's own record.

``refuse_changes`` compares two configurations field by field, the option tables and the
method's options typed (``hidden=3`` from a flag equals the stored ``3``; a schedule equals its
spec); ``comparable`` reduces a recorded configuration (a checkpoint's, a ``config.json``'s,
also of an earlier version) to what must not change; ``check_one_run`` refuses a checkpoint
whose recorded settings are not its ``config.json``'s (``sampler.training.preflight`` before a
resume, ``sampler.setup.run_point`` before a run's point is loaded).
"""

from __future__ import annotations

from sampler.config.record import config_record
from sampler.config.resolution import method_values
from sampler.config.run_config import (
    DATA_ALIASES,
    FIELDS,
    RESUMABLE,
    TABLES,
    ConfigError,
    RunConfig,
    flag,
)
from sampler.config.sources import from_run_record, make_config, method_option_names
from sampler.models import DATASETS, model_spec
from sampler.runs.files import CHECKPOINT, CONFIG, RunFileError
from sampler.schedules import recorded


def _typed_table(config: RunConfig, name: str) -> dict:
    try:
        if name == "model_options":
            return model_spec(config.model).parse(config.model_options)
        return DATASETS[config.data].parse(config.data_options)
    except (KeyError, ValueError):  # an unknown name or option: compare as given
        return dict(getattr(config, name))


def _differences(original: RunConfig, changed: RunConfig):
    """``(setting, the run's value, the new value)`` of every setting outside ``RESUMABLE``."""
    for name in FIELDS:
        if name in RESUMABLE or name == "out":
            continue
        if name == "method_options":
            before, after = method_values(original), method_values(changed)
            for key in sorted(set(before) | set(after)):
                yield key, before.get(key), after.get(key)
        elif name in TABLES:  # typed, so that hidden=3 from a flag equals the stored 3
            yield name, _typed_table(original, name), _typed_table(changed, name)
        else:
            yield name, getattr(original, name), getattr(changed, name)


def _same(before, after) -> bool:
    """Equal, or one number written two ways (``--tau 0.010`` is the recorded ``0.01``)."""
    if before == after:
        return True
    try:
        return float(recorded(before)) == float(recorded(after))
    except (TypeError, ValueError, OverflowError):
        return False


def refuse_changes(original: RunConfig, changed: RunConfig) -> None:
    """``ConfigError`` naming the first setting outside ``RESUMABLE`` that differs."""
    allowed = ", ".join(flag(n) for n in sorted(RESUMABLE))
    for name, before, after in _differences(original, changed):
        if not _same(before, after):
            raise ConfigError(
                f"{flag(name)}: cannot change on {flag('resume')} (run has "
                f"{recorded(before)!r}); only {allowed} may change"
            )


def comparable(
    settings: dict, supplied: frozenset[str] = frozenset(), options: dict | None = None
) -> dict:
    """A configuration's typed record without what a resume may change (a record of an earlier
    version is read as ``config.json`` is: ``from_run_record``). ``options``: for a
    checkpoint's record, which holds only the method options the run was given, the others
    (``config.json``'s, which records every one as the run ran)."""
    settings = dict(settings)
    if options is not None and isinstance(settings.get("method_options"), dict):
        settings["method_options"] = {**options, **settings["method_options"]}
    known = set(FIELDS) | set(DATA_ALIASES) | method_option_names()
    kept = {k: v for k, v in from_run_record(settings).items() if k in known}
    record = config_record(make_config(kept), supplied)
    return {k: v for k, v in record.items() if k not in RESUMABLE and k != "out"}


def check_one_run(
    directory, config: RunConfig, recorded_config: dict, supplied: frozenset[str] = frozenset()
) -> None:
    """``RunFileError`` if a checkpoint's recorded settings (``recorded_config``) are not those of
    ``config``, read from the ``config.json`` beside it in ``directory`` (an edited or emptied
    ``config.json`` would rebuild another model or data set, or resume another run)."""
    path, config_path = directory / CHECKPOINT, directory / CONFIG
    try:
        recorded = comparable(recorded_config, supplied, config.method_options)
    except (ValueError, TypeError) as error:
        raise RunFileError(f"{path}: its recorded settings are not a run's ({error})") from None
    current = comparable(config.to_dict(), supplied)
    for key in sorted(set(recorded) | set(current)):
        if recorded.get(key) != current.get(key):
            raise RunFileError(
                f"{path} and {config_path} are not of one run: {flag(key)} is "
                f"{recorded.get(key)!r} in the first, {current.get(key)!r} in the second"
            )
