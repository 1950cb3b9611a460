"""A run's parameters as a ``state_dict``: ``sampler export RUN_DIR`` and ``export_state_dict``.

Every run writes its final parameters as ``state_dict.pt`` beside ``checkpoint.pt`` (before its
``summary.json``): named tensors in the network's own layout (``models.interface.
model_state_dict``): an ``nn.Module``'s ``state_dict()`` names and shapes (buffers included),
``fc{i}.weight [n_out, n_in]`` / ``fc{i}.bias`` of the dense zoo networks (``nn.Linear``'s
layout), Keras variable paths, or one flat tensor per layer for the other models. So
``module.load_state_dict(torch.load("RUN_DIR/state_dict.pt"))`` loads a run into an
``nn.Module``. ``sampler export RUN_DIR`` writes one from the run's last checkpoint (of an
unfinished run, or of one from before this file existed), rebuilding the model from
``config.json``; a run of a Python model (the API's ``python:...`` models) is exported from
Python, ``export_state_dict(RUN_DIR, module)``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

STATE_DICT = "state_dict.pt"
SUPPLIED = "python:"  # the label of a model or data set given as a Python object (the API)


def save_state_dict(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``state`` (moved to the CPU) atomically: a temporary file, flushed, renamed."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        torch.save({name: tensor.detach().cpu() for name, tensor in state.items()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def export_state_dict(
    run_dir: str | os.PathLike, module=None, out: str | os.PathLike | None = None
) -> dict[str, torch.Tensor]:
    """The state_dict of the last checkpoint of the run in ``run_dir``, written to ``out`` if
    given. ``module``: the ``nn.Module`` (or Keras model) the run trained, or one of the same
    architecture, which names the tensors; without it the model is rebuilt from
    ``config.json``. ``ValueError`` (one line) if that cannot be done."""
    from sampler.models.interface import model_state_dict

    model, params = _model_and_params(Path(run_dir), module)
    state = model_state_dict(model, params)
    if out is not None:
        save_state_dict(state, Path(out))
    return state


def _model_and_params(run_dir: Path, module):
    from sampler.config.settings import _from_run_record, make_config
    from sampler.flatness.report import load_point
    from sampler.runs.directory import CHECKPOINT, CONFIG, RunDirectory

    if module is None:
        if not (run_dir / CONFIG).is_file():
            raise ValueError(f"RUN_DIR {run_dir}: not a run directory (no {CONFIG})")
        config = make_config(_from_run_record(RunDirectory(run_dir).read_config()))
        if config.model.startswith(SUPPLIED):
            raise ValueError(
                f"RUN_DIR {run_dir}: trained on a Python model ({config.model}) that the command "
                f"line cannot rebuild; its final parameters are {run_dir / STATE_DICT}, and "
                "sampler.export_state_dict(RUN_DIR, module) exports its checkpoint"
            )
        _, model, _, params, _ = load_point(str(run_dir))
        return model, params
    if not (run_dir / CHECKPOINT).is_file():
        raise ValueError(f"RUN_DIR {run_dir}: no {CHECKPOINT} there")
    from sampler.api.inputs import as_model

    model = as_model(module, {})
    params = RunDirectory(run_dir).load_checkpoint()["params"].to(torch.float32)
    if params.shape != (model.num_params,):
        raise ValueError(
            f"RUN_DIR {run_dir}: its parameters have shape {tuple(params.shape)}, the module "
            f"has {model.num_params} parameters"
        )
    return model, params


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "export", help="write a run's parameters as a state_dict (torch.load-able)"
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run directory (sampler train --out)")
    parser.add_argument(
        "--out", metavar="FILE", help=f"where to write it (default: RUN_DIR/{STATE_DICT})"
    )
    parser.set_defaults(handler=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.out) if args.out else Path(args.run) / STATE_DICT
    try:
        state = export_state_dict(args.run, out=out)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    count = sum(t.numel() for t in state.values())
    print(f"wrote {out}: {len(state)} tensors, {count:,} numbers")
    return 0
