"""The command line: ``sampler train`` (flags, or ``--config FILE.toml``, or ``--resume DIR``),
``sampler models`` (the zoo and the data sets with their options), ``sampler methods`` (the
estimators and baselines with theirs), ``sampler compare``, ``sampler flatness``, ``sampler
export`` (a run's parameters as a state_dict), ``sampler bench`` (the reference workloads) and
``sampler reproduce`` (the paper's experiments). ``sampler --version``, ``--help``, ``models``,
``methods`` and ``sampler`` alone are answered before this module is imported
(``sampler.cli.quick``). The Python API (``sampler.api``) is the same run loop without the flags.

``sampler train`` with no flags trains the paper's linear network on the embedded MNIST with
importance sampling and prints the final test accuracy. A bad command is refused before any
work with one line (exit 2); under ``mpirun`` every rank takes part in that verdict
(``sampler.cli.train_command``).
"""

from __future__ import annotations

from sampler.cli.listings import methods_listing, zoo_listing
from sampler.cli.parser import CommandLineError, build_parser
from sampler.cli.train_command import PROGRAM, refuse, run_train
from sampler.mpi import SerialComm, world_comm
from sampler.mpi.agreement import agree
from sampler.mpi.comm import launched_by_mpi

LISTINGS = {"models": zoo_listing, "methods": methods_listing}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    comm = world_comm() if launched_by_mpi() else None  # every rank takes part in the verdict
    try:
        args = parser.parse_args(argv)
    except CommandLineError as error:
        refusal = agree(comm, str(error), program=PROGRAM) if comm is not None else str(error)
        if comm is None or comm.rank == 0:
            refuse(refusal)
        raise SystemExit(2) from None
    if args.command in LISTINGS:
        print(LISTINGS[args.command]())
        return 0
    if args.command != "train":
        try:
            return args.handler(args)
        except CommandLineError as error:  # the command's own refusal (parser.error)
            refuse(str(error))
    return run_train(args, comm or SerialComm())
