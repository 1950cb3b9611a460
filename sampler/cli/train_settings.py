"""From a parsed ``sampler train`` command line to the run's settings: the layers defaults <
``--config FILE`` < flags, or a run's own ``config.json`` for ``--resume`` (where only the
``RESUMABLE`` settings may change), validated before any work (``sampler.config.settings``)."""

from __future__ import annotations

import argparse

from sampler.config.settings import (
    FIELDS,
    RESUMABLE,
    TABLES,
    ConfigError,
    RunConfig,
    _from_run_record,
    blamed_on,
    flag,
    load_toml,
    make_config,
    method_values,
    validate,
)
from sampler.runs.directory import RunDirectory


def _given(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("command", "config", "resume")}


def resolve_config(args: argparse.Namespace, ranks: int = 1) -> tuple[RunConfig, bool]:
    flags = _given(args)
    resume = getattr(args, "resume", None)
    if resume is None:
        path = getattr(args, "config", None)
        toml = load_toml(path) if path else {}
        for layer, where in ((toml, f"--config {path}: "), (flags, "")):
            if "estimator" in layer and "baseline" in layer:
                raise ConfigError(
                    f"{where}--estimator and --baseline exclude each other: choose one"
                )
        if "baseline" in flags or "estimator" in flags:  # a flag overrides the file's method
            toml.pop("estimator" if "baseline" in flags else "baseline", None)
            toml = _drop_foreign_method_options(toml, flags)
        with blamed_on(f"--config {path}", toml, ranks):
            config = make_config(toml, flags)
            validate(config, ranks=ranks)
        return config, False
    if str(resume) == "":
        raise ConfigError("--resume: must name a run directory, got ''")
    if getattr(args, "config", None):
        raise ConfigError("--resume continues a run with its own config; drop --config")
    if "out" in flags and str(flags["out"]) != str(resume):
        raise ConfigError("--out: a resumed run stays in its directory; drop --out or --resume")
    stored = _from_run_record(RunDirectory(resume).read_config())
    with blamed_on(str(RunDirectory(resume).path / "config.json"), stored, ranks, resume):
        original = make_config(stored)
        fixed = {k: v for k, v in flags.items() if k not in RESUMABLE and k != "out"}
        refuse_changes(original, make_config(stored, fixed))
        config = make_config(stored, {k: v for k, v in flags.items() if k in RESUMABLE})
        config.out = resume
        validate(config, resuming=True, ranks=ranks)
    return config, True


def _drop_foreign_method_options(toml: dict, flags: dict) -> dict:
    """Options from the file of a method that a flag replaced, which the new method lacks."""
    from sampler.config.method_options import method

    layer = {**toml, **{k: v for k, v in flags.items() if k in ("estimator", "baseline")}}
    chosen = method(layer.get("estimator", "is"), layer.get("baseline"))
    table = {k: v for k, v in toml.get("method_options", {}).items() if k in chosen.options}
    kept = {k: v for k, v in toml.items() if k not in _method_names() or k in chosen.options}
    return {**kept, "method_options": table} if "method_options" in toml else kept


def _method_names() -> set[str]:
    from sampler.config.method_options import option_owners

    return set(option_owners()) - set(FIELDS)


def _typed_table(config: RunConfig, name: str) -> dict:
    from sampler.models import DATASETS, model_spec

    try:
        if name == "model_options":
            return model_spec(config.model).parse(config.model_options)
        return DATASETS[config.data].parse(config.data_options)
    except (KeyError, ValueError):  # an unknown name or option: compare as given
        return dict(getattr(config, name))


def refuse_changes(original: RunConfig, changed: RunConfig) -> None:
    """A resumed run keeps its settings: only the RESUMABLE ones may differ."""
    allowed = ", ".join(flag(n) for n in sorted(RESUMABLE))
    for name in FIELDS:
        if name in RESUMABLE or name == "out":
            continue
        before, after = getattr(original, name), getattr(changed, name)
        if name in TABLES:  # typed, so that hidden=3 from a flag equals the stored 3
            before, after = _typed_table(original, name), _typed_table(changed, name)
        if name == "method_options":
            before, after = method_values(original), method_values(changed)
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    raise ConfigError(
                        f"{flag(key)}: cannot change on {flag('resume')} (run has "
                        f"{before.get(key)!r}); only {allowed} may change"
                    )
        elif before != after:
            raise ConfigError(
                f"{flag(name)}: cannot change on {flag('resume')} (run has {before!r}); only "
                f"{allowed} may change"
            )
