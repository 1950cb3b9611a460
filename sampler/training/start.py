"""What a run starts from: its parts (the rank's device, the data set and the model on it, the
trainer, the health checks), built from the resolved settings and checked against each other
before any work, and its progress (a fresh start at update 0, or the checkpoint it resumes).

Resuming restores the parameters, the trainer's state, the update count, the totals and the
times of the checkpoint; since every random draw is a function of (seed, stream, step, index),
the resumed run gives the parameters of an uninterrupted one (on the same device type).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from sampler.config.limits import check_model
from sampler.config.record import settings_record
from sampler.config.resolution import Settings
from sampler.config.run_config import ConfigError, flag
from sampler.models import Batch, Dataset, Model
from sampler.mpi import Comm, rank_device, set_threads
from sampler.runs.directory import RunDirectory
from sampler.setup.initial_params import initial_params
from sampler.setup.model_and_data import load_dataset, model_on
from sampler.setup.trainer import build_trainer
from sampler.training.health import RunHealth
from sampler.training.preflight import check_data, check_resume

TOTALS = ("loss_evals", "grad_evals", "examples_seen")


@dataclass
class RunParts:
    device: torch.device
    dataset: Dataset
    model: Model
    trainer: Any  # sampler.setup.trainer: init(params) and step(k, params, state, problem, comm)
    health: RunHealth


@dataclass
class Progress:
    """Where a run stands after ``step`` updates (what a checkpoint holds)."""

    step: int
    params: torch.Tensor  # [d], on the run's device
    state: Any  # the trainer's state
    totals: dict[str, int]
    elapsed: float = 0.0  # wall seconds of the run before this process's start
    step_seconds: float = 0.0  # seconds inside the trainer's steps


def to_device(state, device):
    """A trainer state (tensors in dicts, lists, tuples) on ``device``."""
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: to_device(v, device) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_device(v, device) for v in state)
    return state


def assemble(
    settings: Settings, comm: Comm, model: Model | None = None, dataset: Dataset | None = None
) -> RunParts:
    """The run's parts on this rank's device; a ``model`` or ``dataset`` given (by the Python
    API) replaces the one the settings name."""
    config = settings.config
    device = rank_device(comm.local_rank, config.device)
    set_threads(config.threads)
    dataset = (dataset if dataset is not None else load_dataset(config)).to(device)
    if config.batch_size > dataset.train_x.shape[0]:
        raise ConfigError(
            f"{flag('batch_size')}: must be at most the {dataset.train_x.shape[0]} training "
            f"examples of {config.data}, got {config.batch_size}"
        )
    model = model_on(config, model, dataset.input_shape, dataset.num_classes, device)
    check_model(config, settings.options, model.num_params)  # before a parameter is allocated
    check_data(
        dataset, f"--data-dir {config.data_dir}" if config.data_dir else f"--data {config.data}"
    )
    trainer = build_trainer(settings, model, Batch(dataset.train_x, dataset.train_y))
    return RunParts(device, dataset, model, trainer, RunHealth(config, settings.options))


def start(
    settings: Settings, parts: RunParts, run_dir: RunDirectory, comm: Comm, resume: bool
) -> Progress:
    """Update 0 of a new run (rank 0 creates its directory), or the checkpoint of a resumed
    one (rank 0 cuts its metrics back to the checkpoint's update)."""
    params = initial_params(settings.config, parts.model, parts.device, resume)
    progress = Progress(0, params, parts.trainer.init(params), dict.fromkeys(TOTALS, 0))
    if resume:
        return _resumed(settings, parts, run_dir, comm, progress)
    if comm.rank == 0:
        record = settings_record(settings)
        run_dir.create(
            {**record, "objective": parts.trainer.objective, "num_params": parts.model.num_params}
        )
    return progress


def _resumed(
    settings: Settings, parts: RunParts, run_dir: RunDirectory, comm: Comm, progress: Progress
) -> Progress:
    checkpoint = run_dir.load_checkpoint()
    check_resume(
        settings.config, checkpoint, run_dir.path, parts.model.num_params, settings.supplied
    )
    parts.health.restore(checkpoint.get("health"))
    device = parts.device
    started_on = checkpoint.get("device_type", device.type)
    if started_on != device.type and comm.rank == 0:
        print(
            f"note: resuming on {device.type}, the run started on {started_on}; random "
            "streams depend on the device type, so the continuation is a valid run but not "
            "bit-identical to an uninterrupted one",
            file=sys.stderr,
        )
    if comm.rank == 0:
        run_dir.truncate_metrics(checkpoint["step"])
    return Progress(
        checkpoint["step"],
        checkpoint["params"].to(device),
        to_device(checkpoint["state"], device),
        {**progress.totals, **checkpoint["totals"]},
        checkpoint["elapsed"],
        checkpoint["step_seconds"],
    )
