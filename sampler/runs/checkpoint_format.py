"""What a checkpoint of sampler holds: plain data only (tensors, dicts, lists, tuples, numbers,
strings, None: ``check_plain``, checked on writing, so that it loads with
``torch.load(weights_only=True)`` and loading one never runs foreign code), and the keys and
shapes a run writes (``check_checkpoint``, checked on reading)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sampler.runs.files import RunFileError

CHECKPOINT_KEYS = {"step", "params", "state", "elapsed", "step_seconds", "totals", "config"}
PLAIN = (bool, int, float, str, type(None), torch.Tensor)


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """``TypeError`` if ``value`` holds anything a weights-only load would refuse."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a string or an integer")
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, PLAIN):
        raise TypeError(f"{where}: a {type(value).__name__} has no place in a checkpoint")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_checkpoint(checkpoint: Any, path: Path) -> dict:
    """The checkpoint if it has the shape sampler writes; ``RunFileError`` naming it if not."""
    what = "not a checkpoint of sampler"
    if not isinstance(checkpoint, dict):
        raise RunFileError(f"{path}: {what} (holds a {type(checkpoint).__name__})")
    missing = sorted(CHECKPOINT_KEYS - set(checkpoint))
    if missing:
        raise RunFileError(f"{path}: {what} (no {', '.join(missing)})")
    step, params = checkpoint["step"], checkpoint["params"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunFileError(f"{path}: {what} (step {step!r} is not a count of updates)")
    if not isinstance(params, torch.Tensor) or params.dim() != 1 or not params.is_floating_point():
        raise RunFileError(f"{path}: {what} (params is not a vector of numbers)")
    if not bool(torch.isfinite(params).all()):
        raise RunFileError(f"{path}: its parameters are not all finite")
    if not (_number(checkpoint["elapsed"]) and _number(checkpoint["step_seconds"])):
        raise RunFileError(f"{path}: {what} (elapsed times are not numbers)")
    totals, config = checkpoint["totals"], checkpoint["config"]
    if not isinstance(totals, dict) or not all(_number(v) for v in totals.values()):
        raise RunFileError(f"{path}: {what} (totals are not counts)")
    if not isinstance(config, dict):
        raise RunFileError(f"{path}: {what} (config is not a table)")
    return checkpoint
