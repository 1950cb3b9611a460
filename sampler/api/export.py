"""A run's parameters as a ``state_dict``: ``export_state_dict`` (and ``sampler export
RUN_DIR``, ``sampler.cli.export_command``).

Every run writes its final parameters as ``state_dict.pt`` beside ``checkpoint.pt`` (before its
``summary.json``): named tensors in the network's own layout (``models.interface.
model_state_dict``): an ``nn.Module``'s ``state_dict()`` names and shapes (buffers included),
``fc{i}.weight [n_out, n_in]`` / ``fc{i}.bias`` of the dense zoo networks (``nn.Linear``'s
layout), Keras variable paths, or one flat tensor per layer for the other models. So
``module.load_state_dict(torch.load("RUN_DIR/state_dict.pt"))`` loads a run into an
``nn.Module``. ``export_state_dict`` writes one from the run's last checkpoint (of an
unfinished run, or of one from before this file existed), rebuilding the model from
``config.json``; a run of a Python model (the API's ``python:...`` models) is exported from
Python, ``export_state_dict(RUN_DIR, module)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from sampler.api.inputs import as_model
from sampler.config.run_config import SUPPLIED
from sampler.models.interface import model_state_dict
from sampler.runs.directory import CHECKPOINT, CONFIG, RunDirectory
from sampler.runs.state_dict import STATE_DICT, save_state_dict
from sampler.setup.run_point import load_point, read_run_config


def export_state_dict(
    run_dir: str | os.PathLike, module=None, out: str | os.PathLike | None = None
) -> dict[str, torch.Tensor]:
    """The state_dict of the last checkpoint of the run in ``run_dir``, written to ``out`` if
    given. ``module``: the ``nn.Module`` (or Keras model) the run trained, or one of the same
    architecture, which names the tensors; without it the model is rebuilt from
    ``config.json``. ``ValueError`` (one line) if that cannot be done."""
    run_dir = Path(run_dir)
    if module is None:
        model, params = _rebuilt(run_dir)
    else:
        model, params = _into_module(run_dir, module)
    state = model_state_dict(model, params)
    if out is not None:
        save_state_dict(state, Path(out))
    return state


def _rebuilt(run_dir: Path):
    if not (run_dir / CONFIG).is_file():
        raise ValueError(f"RUN_DIR {run_dir}: not a run directory (no {CONFIG})")
    config = read_run_config(run_dir)
    if config.model.startswith(SUPPLIED):
        raise ValueError(
            f"RUN_DIR {run_dir}: trained on a Python model ({config.model}) that the command "
            f"line cannot rebuild; its final parameters are {run_dir / STATE_DICT}, and "
            "sampler.export_state_dict(RUN_DIR, module) exports its checkpoint"
        )
    point = load_point(str(run_dir))
    return point.model, point.params


def _into_module(run_dir: Path, module):
    if not (run_dir / CHECKPOINT).is_file():
        raise ValueError(f"RUN_DIR {run_dir}: no {CHECKPOINT} there")
    model = as_model(module, {})
    params = RunDirectory(run_dir).load_checkpoint()["params"].to(torch.float32)
    if params.shape != (model.num_params,):
        raise ValueError(
            f"RUN_DIR {run_dir}: its parameters have shape {tuple(params.shape)}, the module "
            f"has {model.num_params} parameters"
        )
    return model, params
