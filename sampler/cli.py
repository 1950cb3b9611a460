"""The command line: ``sampler train`` (flags, or ``--config FILE.toml``, or ``--resume DIR``)
and ``sampler models`` (the zoo and the data sets with their options).

Every flag is a field of ``sampler.config.RunConfig``; ``sampler train`` with no flags trains the
paper's linear network on the embedded MNIST with importance sampling and prints the final test
accuracy. Under ``mpirun`` the same command runs on every rank; an exception on any rank ends
the whole job (MPI abort) with a message naming the rank, never a hang.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from sampler.config import (
    FIELDS,
    RESUMABLE,
    SCHEDULE_FIELDS,
    TABLES,
    ConfigError,
    RunConfig,
    coerce,
    flag,
    load_toml,
    make_config,
    validate,
)
from sampler.run_directory import RunDirectory

ABORT_GRACE_SECONDS = 1.0

HELP = {
    "model": "network to train (list them with: sampler models)",
    "model_options": "an option of the model, repeatable (see: sampler models)",
    "data": "data set; mnist uses the embedded 5,000 images unless --data-dir is given",
    "data_options": "an option of the data set, repeatable (see: sampler models)",
    "data_dir": "directory of IDX files (mnist, fashion-mnist: train-*/t10k-*, gzipped or not; "
    "only t10k-* = mnist test set) or of cifar-10-batches-py (cifar10)",
    "test_fraction": "share of the embedded MNIST held out as test set (stratified)",
    "data_seed": "seed of the train/test split and of synthetic data",
    "gm_dim": "gaussian-mixture: dimension N",
    "gm_delta": "gaussian-mixture: variance of each cloud",
    "gm_train": "gaussian-mixture: training points",
    "gm_test": "gaussian-mixture: test points",
    "estimator": "estimator of the two-step target; the objective follows from it: is, sgld: "
    "local entropy; rm, rm-stein (gradient-free): heat regularization",
    "baseline": "run a backprop baseline instead of the two-step scheme",
    "samples": "samples J per update (is)",
    "block_size": "samples per noise block (fixed, independent of the number of ranks)",
    "tau": "variance tau: a number or a schedule (scoping:T0,T1 forward, reverse:T0,T1, "
    "exp:V0,R, ...), or per layer LAYER=SCHEDULE,... with * for the other layers, e.g. "
    "fc0=0.01,fc1=0.001",
    "beta": "inverse temperature of the tilted measure; a number or a schedule over updates",
    "lr": "outer step eta (default: tau, the paper's x <- m) or the baseline's learning rate "
    "(default 0.01); a number or a schedule",
    "optimizer": "outer optimizer fed with g = (x - m) / tau: sgd, momentum, nesterov (both "
    "use --momentum), adam (beta1 = --momentum or 0.9)",
    "momentum": "momentum of the baseline or of --optimizer momentum/nesterov/adam",
    "nesterov": "baseline Nesterov momentum",
    "chains": "sgld: independent Langevin chains C, averaged (chain c on rank c mod ranks)",
    "sgld_steps": "sgld: Langevin steps L per update",
    "sgld_eps": "sgld: step/temperature schedule eps_j over the inner steps j = 0..L-1 "
    "(paper: harmonic:1,1000 = 1/(1000+j))",
    "rm_samples": "rm: Gaussian samples M per Robbins-Monro iteration (rm-stein: M antithetic "
    "pairs)",
    "rm_iterations": "rm: Robbins-Monro iterations J per update",
    "rm_step": "rm: step schedule a_j over j = 0..J-1, power:C,ALPHA = C (j+1)^-ALPHA with "
    "ALPHA in (1/2, 1]",
    "init_from": "start from the parameters of the run directory DIR (warm start)",
    "switch_after": "run N plain SGD updates (--switch-lr), then --estimator (0: off)",
    "switch_lr": "learning rate of the SGD updates before --switch-after",
    "steps": "number of outer updates",
    "batch_size": "minibatch size",
    "seed": "seed of initialisation, minibatch order and all sampling noise",
    "eval_every": "test-set evaluation every N updates (0: only at the end)",
    "checkpoint_every": "checkpoint every N updates (0: only at the end)",
    "out": "run directory (default: runs/<time>-<method>-<model>)",
    "device": "auto (cuda:{local_rank %% n_gpus} if CUDA, else cpu), cpu, cuda or cuda:N",
    "quiet": "no progress bar",
}


def _choices(name: str) -> list[str] | None:
    if name == "model":
        from sampler.models import MODELS

        return list(MODELS)
    if name == "data":
        from sampler.models import DATASETS

        return list(DATASETS)
    if name == "estimator":
        from sampler.estimators import ESTIMATORS

        return list(ESTIMATORS)
    if name == "optimizer":
        from sampler.outer import OPTIMIZERS

        return list(OPTIMIZERS)
    if name == "baseline":
        from sampler.baselines import BASELINES

        return list(BASELINES)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sampler", description="Gradient-free sampling training of neural networks."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a network", argument_default=argparse.SUPPRESS)
    train.add_argument(
        "--config",
        metavar="FILE",
        help="settings: a TOML file or a run's config.json; flags override it",
    )
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR")
    commands.add_parser("models", help="list the models and data sets with their options")
    for name, field in FIELDS.items():
        option = flag(name)
        if name in TABLES:
            train.add_argument(
                option, dest=name, action="append", metavar="KEY=VALUE", help=HELP[name]
            )
            continue
        default = field.default
        if isinstance(default, bool):  # --quiet / --no-quiet: a flag can undo the file
            train.add_argument(option, action=argparse.BooleanOptionalAction, help=HELP[name])
            continue
        kind = type(default) if default is not None and name not in SCHEDULE_FIELDS else str
        choices = _choices(name)
        extra = {"choices": choices} if choices else {}
        train.add_argument(
            option,
            type=kind,
            metavar=name.upper() if not choices else None,
            help=f"{HELP[name]} (default: {default})".replace("%", "%%"),  # argparse formats %
            **extra,
        )
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[RunConfig, bool]:
    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    resume = getattr(args, "resume", None)
    if resume is None:
        toml = load_toml(args.config) if getattr(args, "config", None) else {}
        for layer in (toml, flags):
            if "estimator" in layer and "baseline" in layer:
                raise ConfigError("--estimator and --baseline exclude each other: choose one")
        if "baseline" in flags:  # a flag overrides the file's choice of method
            toml.pop("estimator", None)
        if "estimator" in flags:
            toml.pop("baseline", None)
        config = make_config(toml, flags)
        validate(config)
        return config, False
    if getattr(args, "config", None):
        raise ConfigError("--resume continues a run with its own config; drop --config")
    if "out" in flags and str(flags["out"]) != str(resume):
        raise ConfigError("--out: a resumed run stays in its directory; drop --out or --resume")
    stored = RunDirectory(resume).read_config()
    fixed = {k: v for k, v in flags.items() if k not in RESUMABLE and k != "out"}
    for name, value in fixed.items():
        if name in TABLES:  # KEY=VALUE flags against the stored table
            value = {**stored.get(name, {}), **coerce(name, value)}
        if stored.get(name) != value:
            raise ConfigError(
                f"{flag(name)}: cannot change on --resume (run has {stored.get(name)!r}); "
                f"only {', '.join(flag(n) for n in sorted(RESUMABLE))} may change"
            )
    settings = {k: v for k, v in stored.items() if k in FIELDS}
    config = make_config(settings, {k: v for k, v in flags.items() if k in RESUMABLE})
    config.out = resume
    validate(config, resuming=True)
    return config, True


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "models":
        from sampler.listing import zoo_listing

        print(zoo_listing())
        return 0
    try:
        config, resume = resolve_config(args)
    except (ConfigError, FileNotFoundError) as error:
        parser.error(str(error))

    from sampler.mpi import world_comm
    from sampler.run import train

    comm = world_comm()
    try:
        result = train(config, comm, resume=resume)
    except KeyboardInterrupt:
        if comm.rank == 0:
            print(
                f"\ninterrupted; continue with: sampler train --resume {config.out}",
                file=sys.stderr,
            )
        if comm.size > 1:  # a rank interrupted alone must not leave the others waiting
            sys.stderr.flush()
            time.sleep(ABORT_GRACE_SECONDS)
            comm.abort(130)
        return 130
    except Exception as error:  # noqa: BLE001 - every rank must report and end the job
        # our own errors (bad input, divergence, missing files) are one line; anything else
        # (a torch RuntimeError, a bug) also shows its traceback
        ours = type(error).__module__.split(".")[0] == "sampler"
        expected = ours or isinstance(error, (ValueError, OSError))
        where = f"rank {comm.rank}: " if comm.size > 1 else ""
        print(f"sampler train: error: {where}{error}", file=sys.stderr)
        if not expected:
            traceback.print_exc()
        if comm.size > 1:
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
