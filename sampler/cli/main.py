"""The command line: ``sampler train`` (flags, or ``--config FILE.toml``, or ``--resume DIR``),
``sampler models`` (the zoo and the data sets with their options), ``sampler methods`` (the
estimators and baselines with theirs), ``sampler compare``, ``sampler flatness``, ``sampler
export`` (a run's parameters as a state_dict) and ``sampler bench`` (the reference workloads,
``sampler.bench.command``); ``sampler --version``. The Python API
(``sampler.api.train``) is the same run loop without the flags.

A flag is a run-level field of ``sampler.config.settings.RunConfig``, an option of a training method
(``sampler.config.method_options``: one flag per option name, refused for a method that lacks it) or
an old alias of a data set's option (``--gm-dim``); ``sampler train`` with no flags trains the
paper's linear network on the embedded MNIST with importance sampling and prints the final test
accuracy. A bad command is refused before any work with one line (exit 2). Under ``mpirun`` the
same command runs on every rank: the ranks agree on the verdict first (``rank_agreement``), so a
refusal on any rank ends the whole job; an exception on any rank during the run ends the whole
job (MPI abort) with a message naming the rank, never a hang. SIGTERM and SIGUSR1 stop a run as
Ctrl-C does (``run_signals``): checkpoint, how to resume, exit ``128 + signal``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from sampler import __version__
from sampler.api import export
from sampler.bench import command as bench
from sampler.cli.train_settings import resolve_config
from sampler.compare import command as compare_command
from sampler.config.settings import DATA_ALIASES, FIELDS, TABLES, ConfigError, flag
from sampler.flatness import command as flatness_command
from sampler.mpi.agreement import agree
from sampler.reproduce import command as reproduce_command
from sampler.runs.directory import RunFileError
from sampler.runs.lock import RunLockedError
from sampler.training.signals import resume_hint

ABORT_GRACE_SECONDS = 1.0

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
    "batch_size": "minibatch size",
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

REFUSALS = (ConfigError, RunFileError, RunLockedError, FileNotFoundError)


class CommandLineError(Exception):
    """A command line that argparse refuses (raised instead of argparse's usage dump)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line, reported by ``main`` (no usage dump)."""

    def error(self, message: str):
        raise CommandLineError(f"{self.prog}: error: {message}")


def _choices(name: str) -> list[str] | None:
    if name == "model":
        from sampler.models import MODELS
        from sampler.models.keras.factory import FORM, is_keras_name

        class ModelNames(list):  # the zoo, and any keras:MODULE:FACTORY (checked by validate)
            def __contains__(self, value) -> bool:
                return is_keras_name(value) or super().__contains__(value)

        return ModelNames([*MODELS, FORM])
    if name == "data":
        from sampler.models import DATASETS

        return list(DATASETS)
    if name == "estimator":
        from sampler.estimators import ESTIMATORS

        return list(ESTIMATORS)
    if name == "baseline":
        from sampler.baselines import BASELINES

        return list(BASELINES)
    return None


def _default_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _method_flag_help(owners) -> str:
    """One help text for a flag that several methods declare: each distinct help once, with
    the methods that share it, then one default (naming the methods where they differ)."""
    from sampler.config.method_options import _owner_labels

    helps: dict[str, list] = {}
    defaults: dict[str, list] = {}
    for owner, option in owners:
        helps.setdefault(option.help, []).append(owner)
        defaults.setdefault(_default_text(option.default), []).append(owner)
    text = "; ".join(f"{_owner_labels(methods)}: {help}" for help, methods in helps.items())
    if len(defaults) == 1:
        default = next(iter(defaults))
    else:
        default = ", ".join(f"{v} for {_owner_labels(m)}" for v, m in defaults.items())
    return f"{text} (default: {default})".replace("%", "%%")  # argparse formats %


def build_parser() -> argparse.ArgumentParser:
    from sampler.config.method_options import option_owners

    parser = OneLineParser(
        prog="sampler", description="Gradient-free sampling training of neural networks."
    )
    parser.add_argument("--version", action="version", version=f"sampler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help="train a network", argument_default=argparse.SUPPRESS)
    train.add_argument(
        "--config",
        metavar="FILE",
        help="settings: a TOML file or a run's config.json; flags override it (default: "
        "none, the defaults below)",
    )
    train.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (default: none, a new run)"
    )
    commands.add_parser("models", help="list the models and data sets with their options")
    commands.add_parser("methods", help="list the estimators and baselines with their options")
    compare_command.add_parser(commands)
    flatness_command.add_parser(commands)
    export.add_parser(commands)
    bench.add_parser(commands)
    reproduce_command.add_parser(commands)
    run_level = train.add_argument_group("run settings")
    for name, field in FIELDS.items():
        if name == "method_options":
            continue
        option = flag(name)
        if name in TABLES:
            run_level.add_argument(
                option,
                dest=name,
                action="append",
                metavar="KEY=VALUE",
                help=HELP[name] + " (default: none, the defaults of sampler models)",
            )
            continue
        default = field.default
        shown = f" (default: {UNSET[name] if default is None else _default_text(default)})"
        if isinstance(default, bool):  # --quiet / --no-quiet: a flag can undo the file
            run_level.add_argument(
                option,
                action=argparse.BooleanOptionalAction,
                help=HELP[name].replace("%", "%%") + shown,
            )
            continue
        kind = type(default) if default is not None else str
        choices = _choices(name)
        extra = {"choices": choices} if choices else {}
        run_level.add_argument(
            option,
            type=kind,
            metavar=METAVARS.get(name, name.upper()) if not choices else None,
            help=HELP[name].replace("%", "%%") + shown,
            **extra,
        )
    methods = train.add_argument_group(
        "method options (each method's own: see sampler methods; refused for other methods)"
    )
    for name, owners in sorted(option_owners().items()):
        boolean = all(option.kind == "bool" for _, option in owners)
        kind = {"action": argparse.BooleanOptionalAction} if boolean else {"metavar": "VALUE"}
        methods.add_argument(flag(name), dest=name, help=_method_flag_help(owners), **kind)
    aliases = train.add_argument_group("data set options kept as flags (also --data-opt KEY=VALUE)")
    from sampler.models import DATASETS

    for name, (data, option) in DATA_ALIASES.items():
        default = _default_text(DATASETS[data].options[option].default)
        aliases.add_argument(
            flag(name),
            dest=name,
            metavar="VALUE",
            help=f"--data {data}: --data-opt {option}=VALUE (default: {default})",
        )
    return parser


def _refuse(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    comm = None
    try:
        from sampler.mpi.comm import launched_by_mpi

        if launched_by_mpi():  # before parsing, so that every rank takes part in the verdict
            from sampler.mpi import world_comm

            comm = world_comm()
        args = parser.parse_args(argv)
    except CommandLineError as error:
        refusal = agree(comm, str(error)) if comm is not None else str(error)
        if comm is None or comm.rank == 0:
            _refuse(refusal)
        raise SystemExit(2) from None
    if args.command == "models":
        from sampler.cli.listings import zoo_listing

        print(zoo_listing())
        return 0
    if args.command == "methods":
        from sampler.config.method_options import listing

        print(listing())
        return 0
    if args.command in ("compare", "flatness", "export", "bench", "reproduce"):
        try:
            return args.handler(args)
        except CommandLineError as error:  # the command's own refusal (parser.error)
            _refuse(str(error))
    from sampler.mpi import SerialComm
    from sampler.training.preflight import check_run_directory

    comm = comm or SerialComm()
    refusal, config, resume = None, None, False
    try:
        config, resume = resolve_config(args, ranks=comm.size)
        check_run_directory(config, resume, writer=comm.rank == 0)
    except REFUSALS as error:
        refusal = f"sampler train: error: {error}"
    refusal = agree(comm, refusal, config.to_dict() if config is not None else None)
    if refusal is not None:
        if comm.rank == 0 or comm.size == 1:
            _refuse(refusal)
        raise SystemExit(2)

    from sampler.training.loop import train

    try:
        result = train(config, comm, resume=resume)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGUSR1 (sampler.training.signals)
        code = getattr(stop, "code", 130)
        if comm.rank == 0:
            print(resume_hint(getattr(config, "out", None), stop), file=sys.stderr)
        if comm.size > 1 and not getattr(stop, "agreed", False):
            # a rank interrupted alone must not leave the others waiting
            sys.stderr.flush()
            time.sleep(ABORT_GRACE_SECONDS)
            comm.abort(code)
        return code
    except Exception as error:  # noqa: BLE001 - every rank must report and end the job
        # our own errors (bad input, divergence, missing files) are one line; anything else
        # (a torch RuntimeError, a bug) also shows its traceback
        ours = type(error).__module__.split(".")[0] == "sampler"
        expected = ours or isinstance(error, (ValueError, OSError))
        agreed = getattr(error, "agreed", False)  # every rank raised it at the same update
        where = f"rank {comm.rank}: " if comm.size > 1 and not agreed else ""
        if comm.rank == 0 or not agreed:
            print(f"sampler train: error: {where}{error}", file=sys.stderr)
            if not expected:
                traceback.print_exc()
        if comm.size > 1 and not agreed:
            sys.stderr.flush()
            # MPI_Abort tears the launcher down at once: give it a moment to forward our
            # message first (without the pause the message was lost in about 1 run of 5
            # on a loaded machine).
            time.sleep(ABORT_GRACE_SECONDS)
            comm.abort(1)
        return 1
    if comm.rank == 0:
        s = result.summary
        print(
            f"final test accuracy {s['final_test_accuracy']:.4f} after {s['steps']} updates "
            f"({s['seconds_per_update']:.4g} s/update, {s['ranks']} rank(s), {s['device']}); "
            f"run directory: {result.out}"
        )
        for warning in s.get("warnings", []):
            print(
                f"warning: {warning['name']} (updates {warning['first_update']}-"
                f"{warning['last_update']}): {warning['message']}; {warning['fix']}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
