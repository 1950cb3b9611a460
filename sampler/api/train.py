"""The Python API: ``sampler.train(...)``, the command line's ``sampler train`` as one call.

    import sampler
    result = sampler.train(net, (x, y), test=(x_test, y_test), estimator="is", samples=1000,
                           tau=0.01, steps=300)
    result.module          # net, with the trained parameters loaded back into it
    result.summary         # summary.json as a dict; result.metrics: metrics.jsonl as dicts

The settings are those of ``sampler train`` under their Python names, with the same defaults
(``RunConfig``, and a zoo model's own for its method: ``batch_size=None`` is 20, or what the
model declares, ``ModelSpec.trains_with``), and a method's options (``samples=``, ``tau=``,
``lr=``, ... : ``sampler methods``) are keyword arguments; they go through the same
``make_config`` and ``resolve_settings`` as the flags, and the run is
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

from sampler.api.argument_types import (
    check_comm,
    typed_count,
    typed_field,
    typed_flag,
    typed_method_options,
)
from sampler.api.inputs import (
    RUN_FIELDS,
    ArgumentError,
    as_dataset,
    as_model,
    check_data_arguments,
    check_outputs,
    model_label,
    same_on_every_rank,
)
from sampler.config.method_options import exclusive_choice
from sampler.config.resolution import Settings, resolve_settings
from sampler.config.resume_rules import refuse_changes
from sampler.config.run_config import RunConfig
from sampler.config.sources import make_config
from sampler.models.interface import model_state_dict
from sampler.models.naming import arguments, setting
from sampler.mpi import Comm, world_comm
from sampler.runs.directory import CHECKPOINT, METRICS
from sampler.setup.run_point import read_run_config
from sampler.training import loop
from sampler.training.health import DivergenceStop

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


def train(
    model: Any = _DEFAULT.model,
    data: Any = _DEFAULT.data,
    *,
    test: Any = None,
    estimator: str | None = None,
    baseline: str | None = None,
    steps: int = _DEFAULT.steps,
    batch_size: int | None = None,
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
    given = {name: value for name, value in locals().items() if name in RUN_FIELDS}
    with arguments():
        check_comm(comm)
        given = {name: typed_field(name, value) for name, value in given.items()}
        method_options = typed_method_options(method_options)
        resume, num_classes = typed_flag("resume", resume), typed_count("num_classes", num_classes)
    comm = comm or world_comm()
    threads_before = torch.get_num_threads()
    with arguments():
        exclusive_choice(given)
        if resume and out is None:
            raise ArgumentError("resume=: continues the run in out=; give out=")
        adapter = as_model(model, dict(model_options or {}))
        dataset = as_dataset(data, test, num_classes)
        check_data_arguments(data, data_options, data_dir, num_classes)
        settings = _settings(given, adapter, dataset, resume, method_options)
        if dataset is not None:
            same_on_every_rank(dataset, comm)
            if adapter is not None:
                check_outputs(adapter, dataset)
        _place_out(settings.config, out, resume, comm)
        try:
            result = loop.train(settings, comm, resume=resume, model=adapter, dataset=dataset)
            metrics = comm.bcast(_read_metrics(settings.config.out) if comm.rank == 0 else None)
        except DivergenceStop as stop:
            if out is not None:
                raise
            # the temporary run directory goes below: say how to keep the checkpoint instead
            raise DivergenceStop(stop.reason, "give out= to keep the run's checkpoint") from None
        finally:
            torch.set_num_threads(threads_before)
            if out is None and comm.rank == 0:
                shutil.rmtree(settings.config.out, ignore_errors=True)
    module = None
    if adapter is not None and hasattr(adapter, "load_into"):
        module = adapter.load_into(model, result.params)
    trained = adapter if adapter is not None else result.model
    where = None if out is None else Path(settings.config.out)
    return TrainResult(module, trained, result.params, result.summary, metrics, where, comm.rank)


def _settings(given: dict, adapter, dataset, resume: bool, method_options: dict) -> Settings:
    """The run's settings from the API's arguments, through the command's own resolution."""
    parts = (("model", adapter), ("data", dataset))
    supplied = frozenset(name for name, part in parts if part is not None)
    data, every = given["data"], given["checkpoint_every"]
    fields = {
        **given,
        "model": model_label(given["model"]),
        "data": data if isinstance(data, str) else dataset.name,
        "checkpoint_every": every if every is not None else _default_checkpoints(given["out"]),
        "init_from": None if given["init_from"] is None else str(given["init_from"]),
        "data_dir": None if given["data_dir"] is None else str(given["data_dir"]),
        "model_options": given["model_options"] if adapter is None else None,
        "out": None,  # placed after the checks (_place_out)
    }
    config = make_config({k: v for k, v in fields.items() if v is not None}, method_options)
    return resolve_settings(config, resuming=resume, supplied=supplied)


def _default_checkpoints(out) -> int:
    return _DEFAULT.checkpoint_every if out is not None else 0


def _place_out(config: RunConfig, out, resume: bool, comm: Comm) -> None:
    """``out=``, checked against ``resume=``; without one a temporary directory that rank 0
    creates (and removes at the end) and every rank knows."""
    if out is None:
        config.out = comm.bcast(tempfile.mkdtemp(prefix="sampler-") if comm.rank == 0 else None)
        return
    config.out = str(out)
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
    if resume:  # the command's rule for --resume
        refuse_changes(read_run_config(config.out), config)


def _read_metrics(out: str) -> list[dict]:
    path = Path(out) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
