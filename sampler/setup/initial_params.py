"""Where a run starts: the seeded initialisation of ``--model`` (``Model.init_params(seed)``),
or the parameters of another run's checkpoint (``--init-from DIR``, the warm start of García
Trillos, Kaplan, Sanz-Alonso, section 6.3)."""

from __future__ import annotations

import torch

from sampler.models import Model
from sampler.models.naming import setting
from sampler.runs.directory import RunDirectory


def load_initial_params(run_dir: str, model: Model, device) -> torch.Tensor:
    """``[d]`` parameters of the run in ``run_dir``; ``ValueError`` naming the flag if unfit."""
    checkpoint = RunDirectory(run_dir).load_checkpoint()
    params = checkpoint.get("params")
    if not isinstance(params, torch.Tensor) or params.shape != (model.num_params,):
        shape = tuple(params.shape) if isinstance(params, torch.Tensor) else None
        raise ValueError(
            f"{setting('init_from', run_dir)}: its parameters have shape {shape}, this model "
            f"needs ({model.num_params},); use a run of the same {setting('model')} and "
            f"{setting('data')}"
        )
    return params.to(device=device, dtype=torch.float32)


def initial_params(config, model: Model, device, resuming: bool) -> torch.Tensor:
    """The parameters of update 0: ``--init-from``'s (not on a resume: the checkpoint's come
    next), else the seeded initialisation."""
    if config.init_from is not None and not resuming:
        return load_initial_params(config.init_from, model, device)
    return model.init_params(config.seed).to(device)
