"""The parser of the ``sampler`` command: its subcommands, and every flag of ``sampler train``.

A flag of ``sampler train`` is a run-level field of ``sampler.config.run_config.RunConfig``, an
option of a training method (``sampler.config.method_options``: one flag per option name,
refused for a method that lacks it) or an old alias of a data set's option (``--gm-dim``). Each
shows its default in ``--help``. Errors are one line (``OneLineParser``), reported by
``sampler.cli.command``.
"""

from __future__ import annotations

import argparse

from sampler import __version__
from sampler.baselines import BASELINES
from sampler.bench import command as bench_command
from sampler.cli import export_command
from sampler.cli.quick import COMMANDS, DESCRIPTION
from sampler.compare import command as compare_command
from sampler.config.method_options import option_owners, owner_labels
from sampler.config.run_config import DATA_ALIASES, FIELDS, TABLES, flag
from sampler.estimators import ESTIMATORS
from sampler.flatness import command as flatness_command
from sampler.models import DATASETS, MODELS
from sampler.models.keras.factory import FORM, is_keras_name
from sampler.reproduce import command as reproduce_command

HELP = {
    "model": "network to train (list them with: sampler models)",
    "model_options": "an option of the model, repeatable (see: sampler models)",
    "data": "data set; mnist uses the embedded 5,000 images unless --data-dir is given",
    "data_options": "an option of the data set, repeatable (see: sampler models)",
    "data_dir": "directory of IDX files (mnist, fashion-mnist: train-*/t10k-*, gzipped or not; "
    "only t10k-* = mnist test set) or of cifar-10-batches-py (cifar10)",
    "data_seed": "seed of the train/test split and of synthetic data",
    "estimator": "estimator of the two-step target; the objective follows from it: is, sgld: "
    "local entropy; rm, rm-stein (gradient-free): heat regularization",
    "baseline": "run a backprop baseline instead of the two-step scheme",
    "init_from": "start from the parameters of the run directory DIR (warm start)",
    "steps": "number of outer updates",
    "batch_size": "minibatch size (a model may declare its own for a method: sampler models)",
    "seed": "seed of initialisation, minibatch order and all sampling noise",
    "eval_every": "test-set evaluation every N updates (0: only at the end)",
    "checkpoint_every": "checkpoint every N updates (0: only at the end)",
    "signal_every": "log the per-layer training signal s_I (Musso) every N updates in "
    "metrics.jsonl (0: never; see sampler flatness)",
    "out": "run directory",
    "device": "auto (cuda:{local_rank % n_gpus} if CUDA, else cpu), cpu, cuda or cuda:N",
    "threads": "torch intra-op threads per process (0: OMP_NUM_THREADS if set, else 1)",
    "tensorboard": "also log the metrics as TensorBoard scalars in RUN_DIR/tensorboard "
    "(needs the tensorboard package)",
    "quiet": "no progress bar",
    "stop_on_divergence": "stop the run (checkpoint kept, exit 1) when it diverges: the IS ESS "
    "stuck at 1 or the parameters grown a thousandfold (a warning otherwise)",
}
METAVARS = {"data_dir": "DIR", "init_from": "DIR", "out": "DIR", "threads": "N"}
# What a setting without a default value does when not given (one default shown per flag).
UNSET = {
    "data_dir": "the embedded images",
    "baseline": "none, the two-step scheme",
    "init_from": "a fresh initialisation from --seed",
    "out": "runs/<time>-<method>-<model>",
}
# Subcommands beside train: each module's add_parser(commands) sets its handler.
TOOLS = (compare_command, flatness_command, export_command, bench_command, reproduce_command)


class CommandLineError(Exception):
    """A command line that argparse refuses (raised instead of argparse's usage dump)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line, reported by ``main`` (no usage dump)."""

    def error(self, message: str):
        raise CommandLineError(f"{self.prog}: error: {message}")


class ModelNames(list):
    """The zoo's names, and any ``keras:MODULE:FACTORY`` (its factory is checked later)."""

    def __contains__(self, value) -> bool:
        return is_keras_name(value) or super().__contains__(value)


CHOICES = {
    "model": ModelNames([*MODELS, FORM]),
    "data": list(DATASETS),
    "estimator": list(ESTIMATORS),
    "baseline": list(BASELINES),
}


def _default_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _method_flag_help(owners) -> str:
    """One help text for a flag that several methods declare: each distinct help once, with
    the methods that share it, then one default (naming the methods where they differ)."""
    helps: dict[str, list] = {}
    defaults: dict[str, list] = {}
    for owner, option in owners:
        helps.setdefault(option.help, []).append(owner)
        defaults.setdefault(_default_text(option.default), []).append(owner)
    text = "; ".join(f"{owner_labels(methods)}: {help}" for help, methods in helps.items())
    if len(defaults) == 1:
        default = next(iter(defaults))
    else:
        default = ", ".join(f"{v} for {owner_labels(m)}" for v, m in defaults.items())
    return f"{text} (default: {default})".replace("%", "%%")  # argparse formats %


def _add_run_setting(group, name: str, default) -> None:
    option = flag(name)
    if name in TABLES:
        group.add_argument(
            option,
            dest=name,
            action="append",
            metavar="KEY=VALUE",
            help=HELP[name] + " (default: none, the defaults of sampler models)",
        )
        return
    shown = f" (default: {UNSET[name] if default is None else _default_text(default)})"
    text = HELP[name].replace("%", "%%") + shown
    if isinstance(default, bool):  # --quiet / --no-quiet: a flag can undo the file
        group.add_argument(option, action=argparse.BooleanOptionalAction, help=text)
        return
    kind = type(default) if default is not None else str
    choices = CHOICES.get(name)
    if choices:
        group.add_argument(option, type=kind, help=text, choices=choices)
    else:
        group.add_argument(option, type=kind, metavar=METAVARS.get(name, name.upper()), help=text)


def _add_train_flags(train: argparse.ArgumentParser) -> None:
    run_level = train.add_argument_group("run settings")
    for name, field in FIELDS.items():
        if name != "method_options":
            _add_run_setting(run_level, name, field.default)
    methods = train.add_argument_group(
        "method options (each method's own: see sampler methods; refused for other methods)"
    )
    for name, owners in sorted(option_owners().items()):
        boolean = all(option.kind == "bool" for _, option in owners)
        kind = {"action": argparse.BooleanOptionalAction} if boolean else {"metavar": "VALUE"}
        methods.add_argument(flag(name), dest=name, help=_method_flag_help(owners), **kind)
    aliases = train.add_argument_group("data set options kept as flags (also --data-opt KEY=VALUE)")
    for name, (data, option) in DATA_ALIASES.items():
        default = _default_text(DATASETS[data].options[option].default)
        aliases.add_argument(
            flag(name),
            dest=name,
            metavar="VALUE",
            help=f"--data {data}: --data-opt {option}=VALUE (default: {default})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sampler", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"sampler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help=COMMANDS["train"], argument_default=argparse.SUPPRESS)
    train.add_argument(
        "--config",
        metavar="FILE",
        help="settings: a TOML file or a run's config.json; flags override it (default: "
        "none, the defaults below)",
    )
    train.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (default: none, a new run)"
    )
    commands.add_parser("models", help=COMMANDS["models"])
    commands.add_parser("methods", help=COMMANDS["methods"])
    for tool in TOOLS:
        tool.add_parser(commands)
    _add_train_flags(train)
    return parser
