"""The Python API: ``sampler.train(...)``, the command line's ``sampler train`` as one call.

    import sampler
    result = sampler.train(net, (x, y), test=(x_test, y_test), estimator="is", samples=1000,
                           tau=0.01, steps=300)
    result.module          # net, with the trained parameters loaded back into it
    result.summary         # summary.json as a dict; result.metrics: metrics.jsonl as dicts

The settings are those of ``sampler train`` under their Python names, with the same defaults
(``RunConfig``), and a method's options (``samples=``, ``tau=``, ``lr=``, ... : ``sampler
methods``) are keyword arguments; they go through the same ``make_config``, ``validate`` and
``sampler.config.method_options.resolve`` as the flags, and the run is
``sampler.training.loop.train``, the command's own loop. Differences: a schedule may also be a
Python function ``step -> value`` (``tau=lambda k: 0.01 * 0.99**k``; recorded as
``python:MODULE.NAME``), errors name the argument (``tau=``) instead of the flag
(``sampler.models.naming``), and without ``out=`` the run directory is a temporary one, removed at
the end (``out=DIR`` keeps it; ``resume=True`` continues the run in ``out``). Under ``mpiexec -n R
python script.py`` every rank runs the same call on the world communicator (``comm=`` overrides) and
gets the same result; rank 0 writes. The process's torch threads are set for the call (``threads=``:
the rule of ``sampler.mpi.threads``) and restored afterwards.

What the model and the data may be: ``sampler.api.inputs``; the lower-level ``build``/``init``/
``step`` API: ``sampler.api.build``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sampler.api.inputs import (
    ArgumentError,
    as_dataset,
    as_model,
    check_data_arguments,
    check_outputs,
    model_label,
    same_on_every_rank,
)
from sampler.config.settings import RunConfig, make_config, validate
from sampler.models.interface import model_state_dict
from sampler.models.naming import arguments, setting
from sampler.mpi import Comm, world_comm
from sampler.runs.directory import CHECKPOINT, METRICS, RunDirectory

_DEFAULT = RunConfig()


@dataclass
class TrainResult:
    """``module``: the caller's ``nn.Module`` or ``keras.Model`` with the trained parameters
    loaded (``None`` for a zoo name); ``model``: the flat-vector model; ``params [d]``: the
    final parameters; ``summary`` and ``metrics`` as in the run directory ``out`` (``None``
    when it was temporary); ``rank``: this process's rank (print on rank 0 only)."""

    module: Any
    model: Any
    params: torch.Tensor
    summary: dict
    metrics: list[dict] = field(default_factory=list)
    out: Path | None = None
    rank: int = 0

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The final parameters as named tensors (``sampler.api.export``)."""
        return model_state_dict(self.model, self.params)


def _settings(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def train(
    model: Any = _DEFAULT.model,
    data: Any = _DEFAULT.data,
    *,
    test: Any = None,
    estimator: str | None = None,
    baseline: str | None = None,
    steps: int = _DEFAULT.steps,
    batch_size: int = _DEFAULT.batch_size,
    seed: int = _DEFAULT.seed,
    eval_every: int = _DEFAULT.eval_every,
    checkpoint_every: int | None = None,
    signal_every: int = _DEFAULT.signal_every,
    out: str | Path | None = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    device: str = _DEFAULT.device,
    threads: int = _DEFAULT.threads,
    tensorboard: bool = _DEFAULT.tensorboard,
    quiet: bool = _DEFAULT.quiet,
    model_options: dict | None = None,
    data_options: dict | None = None,
    data_dir: str | Path | None = None,
    data_seed: int = _DEFAULT.data_seed,
    num_classes: int | None = None,
    comm: Comm | None = None,
    **method_options: Any,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``estimator`` (default ``is``) or ``baseline`` and the
    method's options; see the module docstring. ``checkpoint_every`` defaults to the command's
    100 with ``out=``, to 0 (only at the end) in a temporary directory."""
    comm = comm or world_comm()
    threads_before = torch.get_num_threads()
    with arguments():
        if estimator is not None and baseline is not None:
            raise ArgumentError("estimator= and baseline= exclude each other")
        if resume and out is None:
            raise ArgumentError("resume=: continues the run in out=; give out=")
        adapter = as_model(model, dict(model_options or {}))
        dataset = as_dataset(data, test, num_classes)
        check_data_arguments(data, data_options, data_dir, num_classes)
        parts = (("model", adapter), ("data", dataset))
        supplied = frozenset(name for name, part in parts if part is not None)
        every = _DEFAULT.checkpoint_every if out is not None else 0
        config = make_config(
            _settings(
                model=model_label(model),
                data=data if isinstance(data, str) else dataset.name,
                estimator=estimator,
                baseline=baseline,
                steps=steps,
                batch_size=batch_size,
                seed=seed,
                eval_every=eval_every,
                checkpoint_every=every if checkpoint_every is None else checkpoint_every,
                signal_every=signal_every,
                init_from=None if init_from is None else str(init_from),
                device=device,
                threads=threads,
                tensorboard=tensorboard,
                quiet=quiet,
                model_options=model_options if adapter is None else None,
                data_options=data_options,
                data_dir=None if data_dir is None else str(data_dir),
                data_seed=data_seed,
            ),
            method_options,
        )
        validate(config, resuming=resume, supplied=supplied)
        if dataset is not None:
            same_on_every_rank(dataset, comm)
            if adapter is not None:
                check_outputs(adapter, dataset)
        temporary = out is None
        if temporary:  # rank 0 alone writes; every rank knows where
            config.out = comm.bcast(tempfile.mkdtemp(prefix="sampler-") if comm.rank == 0 else None)
        else:
            config.out = str(out)
            _check_out(config, resume)
        try:
            from sampler.training.loop import train as run_loop

            result = run_loop(config, comm, resume=resume, model=adapter, dataset=dataset)
            metrics = comm.bcast(_read_metrics(config.out) if comm.rank == 0 else None)
        finally:
            torch.set_num_threads(threads_before)
            if temporary and comm.rank == 0:
                shutil.rmtree(config.out, ignore_errors=True)
    module = None
    if adapter is not None and hasattr(adapter, "load_into"):
        module = adapter.load_into(model, result.params)
    return TrainResult(
        module,
        adapter if adapter is not None else result.model,
        result.params,
        result.summary,
        metrics,
        None if temporary else Path(config.out),
        comm.rank,
    )


def _check_out(config: RunConfig, resume: bool) -> None:
    holds_run = (Path(config.out) / CHECKPOINT).is_file()
    if resume and not holds_run:
        raise ArgumentError(
            f"{setting('resume')}: {config.out!r} holds no run to continue (no {CHECKPOINT})"
        )
    if not resume and holds_run:
        raise ArgumentError(
            f"{setting('out')}: {config.out!r} already holds a run; continue it with "
            "resume=True or choose another out="
        )
    if resume:
        from sampler.cli.train_settings import refuse_changes  # the command's rule for --resume
        from sampler.config.settings import _from_run_record

        stored = make_config(_from_run_record(RunDirectory(config.out).read_config()))
        refuse_changes(stored, config)


def _read_metrics(out: str) -> list[dict]:
    path = Path(out) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
