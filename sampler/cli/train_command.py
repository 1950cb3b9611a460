"""``sampler train``: the settings resolved and agreed by every rank, the run, its last line.

Under ``mpirun`` the same command runs on every rank: the ranks agree on the verdict first
(``sampler.mpi.agreement``), so a refusal on any rank ends the whole job (exit 2); an exception
on any rank during the run ends the whole job (MPI abort) with a message naming the rank, never
a hang. SIGTERM and SIGUSR1 stop a run as Ctrl-C does (``sampler.training.signals``):
checkpoint, how to resume, exit ``128 + signal``. Our own errors (bad input, divergence, missing
files) are one line (exit 1); anything else also shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from sampler.cli.train_settings import resolve_config
from sampler.config.resolution import Settings
from sampler.config.run_config import ConfigError
from sampler.mpi import Comm
from sampler.mpi.agreement import agree
from sampler.runs.files import RunFileError
from sampler.runs.lock import RunLockedError
from sampler.training import loop
from sampler.training.preflight import check_run_directory
from sampler.training.signals import resume_hint

ABORT_GRACE_SECONDS = 1.0
REFUSALS = (ConfigError, RunFileError, RunLockedError, FileNotFoundError)
# settings that may rightly differ per node (paths to the same data, the device): not compared
PER_NODE = frozenset({"data_dir", "init_from", "device", "quiet"})
PROGRAM = "sampler train"


def refuse(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def agreed_settings(args: argparse.Namespace, comm: Comm) -> tuple[Settings, bool]:
    """The run's settings and whether it resumes; exit 2 with one line on any rank's refusal."""
    refusal, settings, resume = None, None, False
    try:
        settings, resume = resolve_config(args, ranks=comm.size)
        check_run_directory(settings.config, resume, writer=comm.rank == 0)
    except REFUSALS as error:
        refusal = f"{PROGRAM}: error: {error}"
    given = settings.config.to_dict() if settings is not None else None
    refusal = agree(comm, refusal, given, PER_NODE, PROGRAM)
    if refusal is not None:
        if comm.rank == 0 or comm.size == 1:
            refuse(refusal)
        raise SystemExit(2)
    return settings, resume


def _abort(comm: Comm, code: int) -> None:
    # MPI_Abort tears the launcher down at once: give it a moment to forward our message first
    # (without the pause the message was lost in about 1 run of 5 on a loaded machine).
    sys.stderr.flush()
    time.sleep(ABORT_GRACE_SECONDS)
    comm.abort(code)


def _report_failure(error: Exception, comm: Comm) -> int:
    ours = type(error).__module__.split(".")[0] == "sampler"
    expected = ours or isinstance(error, (ValueError, OSError))
    agreed = getattr(error, "agreed", False)  # every rank raised it at the same update
    where = f"rank {comm.rank}: " if comm.size > 1 and not agreed else ""
    if comm.rank == 0 or not agreed:
        print(f"{PROGRAM}: error: {where}{error}", file=sys.stderr)
        if not expected:
            traceback.print_exc()
    if comm.size > 1 and not agreed:
        _abort(comm, 1)
    return 1


def _report_success(result) -> None:
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


def run_train(args: argparse.Namespace, comm: Comm) -> int:
    settings, resume = agreed_settings(args, comm)
    try:
        result = loop.train(settings, comm, resume=resume)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGUSR1 (sampler.training.signals)
        code = getattr(stop, "code", 130)
        if comm.rank == 0:
            print(resume_hint(settings.config.out, stop), file=sys.stderr)
        if comm.size > 1 and not getattr(stop, "agreed", False):
            _abort(comm, code)  # a rank interrupted alone must not leave the others waiting
        return code
    except Exception as error:  # noqa: BLE001 - every rank must report and end the job
        return _report_failure(error, comm)
    if comm.rank == 0:
        _report_success(result)
    return 0
