"""What a finished run reports (``summary.json``, the command's last line): the final test
accuracy, loss and errors, the updates done, the seconds per update (inside the trainer's
steps) and in all, the totals of loss and gradient evaluations and examples seen, the data
set's counts, the health warnings that fired, and the run's metadata (``sampler.runs.metadata``).
Rank 0 writes the parameters as ``state_dict.pt`` first: a summary marks a run done."""

from __future__ import annotations

import math
from datetime import datetime

from sampler.config.resolution import Settings
from sampler.models.interface import model_state_dict
from sampler.mpi import Comm
from sampler.runs.directory import RunDirectory
from sampler.runs.metadata import run_metadata
from sampler.runs.state_dict import STATE_DICT, save_state_dict
from sampler.training.evaluation import evaluate
from sampler.training.start import Progress, RunParts


def final_evaluation(parts: RunParts, progress: Progress) -> dict:
    """The test evaluation of the final parameters (when none was due at the last update)."""
    dataset = parts.dataset
    return evaluate(parts.model, progress.params, dataset.test_x, dataset.test_y)


def summarize(
    settings: Settings,
    parts: RunParts,
    progress: Progress,
    last_eval: dict,
    total_seconds: float,
    comm: Comm,
    started: datetime,
) -> dict:
    config, done = settings.config, progress.step
    return {
        "final_test_accuracy": last_eval["accuracy"],
        "final_test_loss": last_eval["loss"],
        "final_test_errors": last_eval["errors"],
        "steps": done,
        "seconds_per_update": progress.step_seconds / done if done else math.nan,
        "total_seconds": total_seconds,
        "objective": parts.trainer.objective,
        "method": config.method,
        "model": config.model,
        "num_params": parts.model.num_params,
        "ranks": comm.size,
        "device": str(parts.device),
        **{f"total_{k}": v for k, v in progress.totals.items()},
        **{f"dataset_{k}": v for k, v in parts.dataset.info.items() if isinstance(v, (int, float))},
        "warnings": parts.health.summary(),
        "metadata": run_metadata(comm, parts.device, started, progress.step_seconds, done),
    }


def write_result(run_dir: RunDirectory, parts: RunParts, progress: Progress, summary: dict):
    """Rank 0's last writes: the parameters as a state_dict, then the summary."""
    state = model_state_dict(parts.model, progress.params.cpu())
    save_state_dict(state, run_dir.path / STATE_DICT)
    run_dir.write_summary(summary)
