"""Stopping a run on a signal as on Ctrl-C: checkpoint the last completed update, say how to
resume, exit non-zero (``128 + signal number``: 130 for SIGINT, 143 for SIGTERM, 138 for
SIGUSR1).

Batch schedulers send SIGTERM (Slurm: to every task) some seconds before SIGKILL, and many can
be asked for SIGUSR1 earlier still; ``mpiexec`` forwards SIGINT, SIGTERM and SIGUSR1 to every
rank. While ``handled(comm)`` is active:

* one process (``comm.size == 1``): SIGTERM and SIGUSR1 raise ``RunStopped`` (a
  ``KeyboardInterrupt``) at once, exactly as Ctrl-C does; the run loop checkpoints the last
  completed update. SIGINT keeps Python's own handler (``KeyboardInterrupt``), installed for
  the run when the process inherited SIGINT ignored (started in the background by a script).
* under MPI: the first SIGINT, SIGTERM or SIGUSR1 on any rank only records the request; at the
  top of every update the ranks agree on it with one max-reduction (``stop_requested``), so they
  all stop after the same update, rank 0 checkpoints it, and every rank exits with the same code.
  A second signal on a rank raises at once (the job then ends by MPI abort, as an error does).

Outside the main thread (a library caller's worker thread) nothing is installed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import torch

SIGNALS = ("SIGTERM", "SIGUSR1")


class RunStopped(KeyboardInterrupt):
    """The run was asked to stop by a signal; ``code`` is the exit status to end with."""

    def __init__(self, signum: int, agreed: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = 128 + signum
        self.agreed = agreed  # all ranks stopped together (no MPI abort needed)
        self.checkpointed = False


class _State:
    requested = 0  # the signal number of the first request, 0 if none
    immediate = True


_state = _State()


def _handler(signum, frame) -> None:
    if _state.requested and not _state.immediate:
        raise RunStopped(signum)  # a second signal under MPI: stop now
    first = not _state.requested
    _state.requested = _state.requested or signum
    if _state.immediate and first:
        raise RunStopped(signum)
    # a later signal in one process arrives while the first one's checkpoint is written: ignored


@contextlib.contextmanager
def handled(comm):
    """Install the handlers for the duration of a run (restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = SIGNALS + (("SIGINT",) if comm.size > 1 else ())
    chosen = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {signum: signal.getsignal(signum) for signum in chosen}
    _state.requested, _state.immediate = 0, comm.size == 1
    for signum in chosen:
        signal.signal(signum, _handler)
    if comm.size == 1 and signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        # started in the background by a script, a process inherits SIGINT ignored (and Python
        # then installs no handler): Ctrl-C, or kill -INT, must still stop the run cleanly
        previous.setdefault(signal.SIGINT, signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state.requested = 0


def stop_requested(comm) -> RunStopped | None:
    """``RunStopped`` (agreed by every rank) if a signal reached any rank, else None. One scalar
    max-reduction per call under MPI; nothing in one process."""
    requested = _state.requested
    if comm.size > 1:
        value = torch.tensor([float(requested)], dtype=torch.float64)
        requested = int(comm.allreduce_max(value)[0])
    return RunStopped(requested, agreed=True) if requested else None


def resume_hint(out, stop: KeyboardInterrupt) -> str:
    """What the command says when a run stopped on ``stop`` (its ``out``: the run directory)."""
    signum = getattr(stop, "signum", None)
    why = f"stopped by {stop.args[0]}" if signum not in (None, signal.SIGINT) else "interrupted"
    if out is None or not (Path(out) / "checkpoint.pt").is_file():
        return f"\n{why} before the first checkpoint; nothing to resume"
    return f"\n{why}; continue with: sampler train --resume {out}"
