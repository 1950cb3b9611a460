"""The trained point of a run directory: its settings from ``config.json``, the model and the
data set rebuilt from them, and the parameters of its last ``checkpoint.pt`` (an unfinished run
is taken where it stands). What ``sampler flatness`` probes and ``sampler export`` writes."""

from __future__ import annotations

from typing import NamedTuple

import torch

from sampler.config.resume_rules import check_one_run
from sampler.config.run_config import RunConfig
from sampler.config.sources import from_run_record, make_config
from sampler.models import Dataset, Model
from sampler.runs.directory import CHECKPOINT, CONFIG, RunDirectory
from sampler.runs.files import RunFileError
from sampler.setup.model_and_data import build_model, load_dataset


class RunPoint(NamedTuple):
    config: RunConfig
    model: Model
    dataset: Dataset
    params: torch.Tensor  # [d], float32
    step: int  # the updates done


def read_run_config(run_dir: str | object) -> RunConfig:
    """The settings of the run in ``run_dir`` (its ``config.json``, of any version)."""
    return make_config(from_run_record(RunDirectory(run_dir).read_config()))


def load_point(run_dir: str) -> RunPoint:
    """``(config, model, dataset, params [d], step)`` of the run's last checkpoint;
    ``ValueError`` (one line) if the directory holds no run or no checkpoint yet."""
    directory = RunDirectory(run_dir)
    if not (directory.path / CONFIG).is_file():
        raise ValueError(f"RUN_DIR {run_dir}: not a run directory (no {CONFIG})")
    if not (directory.path / CHECKPOINT).is_file():
        raise ValueError(
            f"RUN_DIR {run_dir}: no {CHECKPOINT} yet (a run writes one every --checkpoint-every "
            "updates)"
        )
    config = read_run_config(run_dir)
    checkpoint = directory.load_checkpoint()
    check_one_run(directory.path, config, checkpoint["config"])
    dataset = load_dataset(config)
    model = build_model(config, dataset.input_shape, dataset.num_classes)
    params = checkpoint["params"].to(torch.float32)
    if params.numel() != model.num_params:
        raise RunFileError(
            f"{directory.path / CHECKPOINT}: holds {params.numel()} parameters, the model of "
            f"{directory.path / CONFIG} has {model.num_params}"
        )
    return RunPoint(config, model, dataset, params, int(checkpoint["step"]))
