"""The run of ``sampler train`` (and of ``sampler.train``): its parts assembled and checked,
started fresh or resumed from its checkpoint, its updates, its summary.

Rank 0 holds the run directory's lock for the whole run (``sampler.runs.lock``) and alone
writes the directory; SIGTERM and SIGUSR1 stop the run as Ctrl-C does
(``sampler.training.signals``). Before the first update the sizes are checked against memory
(``sampler.config.limits``) and the data against the model (``sampler.training.preflight``);
the updates themselves: ``sampler.training.updates``. An allocation that fails during the run
is one line naming the settings that size it (``sampler.training.out_of_memory``). The Python
API (``sampler.api.train``) runs this same loop on a model and data set it built itself.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from sampler.config.resolution import Settings
from sampler.mpi import Comm
from sampler.runs.directory import RunDirectory, RunWriteError
from sampler.runs.lock import RunLock
from sampler.runs.new_directory import check_new_out, default_out
from sampler.training import signals
from sampler.training.out_of_memory import as_out_of_memory
from sampler.training.start import assemble, start
from sampler.training.summary import final_evaluation, summarize, write_result
from sampler.training.updates import UpdateLoop


@dataclass
class RunResult:
    params: torch.Tensor
    summary: dict
    out: Path | None
    model: object = None  # the flat-vector model the run trained


def train(
    settings: Settings, comm: Comm, resume: bool = False, model=None, dataset=None
) -> RunResult:
    """Run (or continue, with ``resume``) the training that ``settings`` describe; rank 0 holds
    the run directory's lock throughout. A ``model`` or ``dataset`` given (by
    ``sampler.api``) replaces the one the settings name."""
    config = settings.config
    made = config.out is None or (comm.rank == 0 and not Path(config.out).exists())
    if config.out is None:
        name = default_out(config.method_name, config.model) if comm.rank == 0 else None
        config.out = comm.bcast(name)
    lock = nullcontext()
    if comm.rank == 0:
        if not resume:
            _make_out(config.out)
        lock = RunLock(config.out, "--resume" if resume else "--out")
    try:
        with lock, signals.handled(comm):
            return _train(settings, comm, resume, model, dataset)
    except Exception as error:  # an allocation that failed: one line naming the sizes
        failure = as_out_of_memory(error, config, settings.options)
        if failure is error:
            raise
        raise failure from None
    finally:
        if made and comm.rank == 0 and not resume:
            _remove_if_empty(Path(config.out))  # a run that failed before writing anything


def _make_out(out: str) -> None:
    check_new_out(Path(out))
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunWriteError(f"--out {out}: cannot create ({error.strerror})") from None


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty (the run wrote its files) or already gone


def _train(settings: Settings, comm: Comm, resume: bool, model, dataset) -> RunResult:
    started = datetime.now(timezone.utc)
    parts = assemble(settings, comm, model, dataset)
    run_dir = RunDirectory(settings.config.out)
    progress = start(settings, parts, run_dir, comm, resume)
    comm.barrier()
    parts.health.begin(progress.params)
    updates = UpdateLoop(settings, parts, run_dir, progress, comm, resume)
    last_eval = updates.run() or final_evaluation(parts, progress)
    total_seconds = progress.elapsed + time.perf_counter() - updates.clock
    summary = summarize(settings, parts, progress, last_eval, total_seconds, comm, started)
    if comm.rank == 0:
        write_result(run_dir, parts, progress, summary)
    return RunResult(progress.params, summary, run_dir.path, parts.model)
