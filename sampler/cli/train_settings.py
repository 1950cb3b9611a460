"""From a parsed ``sampler train`` command line to the run's resolved settings: the layers
defaults < the model's own for its method < ``--config FILE`` < flags, or a run's
own ``config.json`` for ``--resume`` (where only the ``RESUMABLE`` settings may change:
``sampler.config.resume_rules``), resolved once before any work (``sampler.config.resolution``)."""

from __future__ import annotations

import argparse

from sampler.config.method_options import exclusive_choice, method
from sampler.config.resolution import Settings, blamed_on, resolve_settings
from sampler.config.resume_rules import refuse_changes
from sampler.config.run_config import FIELDS, RESUMABLE, ConfigError
from sampler.config.sources import (
    from_run_record,
    load_toml,
    make_config,
    method_option_names,
    model_defaults,
)
from sampler.models.options import OptionError
from sampler.runs.directory import RunDirectory


def _given(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("command", "config", "resume")}


def resolve_config(args: argparse.Namespace, ranks: int = 1) -> tuple[Settings, bool]:
    """The settings of the run and whether it resumes; ``ConfigError`` naming the flag (or
    the file that gave the bad value)."""
    flags = _given(args)
    resume = getattr(args, "resume", None)
    if resume is None:
        return _new_run(flags, getattr(args, "config", None), ranks), False
    if str(resume) == "":
        raise ConfigError("--resume: must name a run directory, got ''")
    if getattr(args, "config", None):
        raise ConfigError("--resume continues a run with its own config; drop --config")
    if "out" in flags and str(flags["out"]) != str(resume):
        raise ConfigError("--out: a resumed run stays in its directory; drop --out or --resume")
    return _resumed_run(flags, resume, ranks), True


def _new_run(flags: dict, path: str | None, ranks: int) -> Settings:
    toml = load_toml(path) if path else {}
    for layer, where in ((toml, f"--config {path}: "), (flags, "")):
        try:
            exclusive_choice(layer)
        except OptionError as error:
            raise ConfigError(f"{where}{error}") from None
    toml = _drop_model_defaults(toml, flags)
    if "baseline" in flags or "estimator" in flags:  # a flag overrides the file's method
        toml.pop("estimator" if "baseline" in flags else "baseline", None)
        toml = _drop_foreign_method_options(toml, flags)
    with blamed_on(f"--config {path}", toml, ranks):
        return resolve_settings(make_config(toml, flags), ranks=ranks)


def _resumed_run(flags: dict, resume: str, ranks: int) -> Settings:
    directory = RunDirectory(resume)
    stored = from_run_record(directory.read_config())
    if "estimator" in flags and stored.get("baseline") is not None:  # else ignored silently
        raise ConfigError(
            f"--estimator: the run in {resume} trains --baseline {stored['baseline']}, and a "
            "resumed run keeps its method; drop --estimator"
        )
    with blamed_on(str(directory.path / "config.json"), stored, ranks, resume):
        original = make_config(stored)
        fixed = {k: v for k, v in flags.items() if k not in RESUMABLE and k != "out"}
        refuse_changes(original, make_config(stored, fixed))
        config = make_config(stored, {k: v for k, v in flags.items() if k in RESUMABLE})
        config.out = resume
        return resolve_settings(config, resuming=True, ranks=ranks)


def _model_and_method(layer: dict) -> tuple[str, str]:
    baseline = layer.get("baseline")
    method_name = baseline if baseline is not None else layer.get("estimator", "is")
    return layer.get("model", FIELDS["model"].default), method_name


def _drop_model_defaults(toml: dict, flags: dict) -> dict:
    """The file's settings that are its model's own defaults for its method (a run's
    ``config.json`` records them), dropped when a flag names another model or method: they
    belong to the model and method the file named, and the new pair brings its own."""
    before = _model_and_method(toml)
    layer = {**toml, **flags}
    if "estimator" in flags and "baseline" not in flags:  # the flag replaces the file's baseline
        layer.pop("baseline", None)
    after = _model_and_method(layer)
    own = model_defaults(*before)
    if not own or after == before:
        return toml

    def kept(table: dict) -> dict:
        return {k: v for k, v in table.items() if k not in own or str(v) != str(own[k])}

    dropped = kept(toml)
    if isinstance(toml.get("method_options"), dict):
        dropped["method_options"] = kept(toml["method_options"])
    return dropped


def _drop_foreign_method_options(toml: dict, flags: dict) -> dict:
    """Options from the file of a method that a flag replaced, which the new method lacks."""
    layer = {**toml, **{k: v for k, v in flags.items() if k in ("estimator", "baseline")}}
    chosen = method(layer.get("estimator", "is"), layer.get("baseline"))
    table = {k: v for k, v in toml.get("method_options", {}).items() if k in chosen.options}
    foreign = method_option_names() - set(FIELDS)
    kept = {k: v for k, v in toml.items() if k not in foreign or k in chosen.options}
    return {**kept, "method_options": table} if "method_options" in toml else kept
