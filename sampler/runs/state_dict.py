"""A run's final parameters as a ``state_dict``: ``state_dict.pt`` beside ``checkpoint.pt``,
named tensors in the network's own layout (``models.interface.model_state_dict``), written
atomically before the run's ``summary.json``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from sampler.runs.file_kinds import replace_refusal
from sampler.runs.files import OURS, RunWriteError

STATE_DICT = "state_dict.pt"


def save_state_dict(state: dict[str, torch.Tensor], path: Path, role: str = "--out") -> None:
    """Write ``state`` (moved to the CPU) atomically: a temporary file, flushed, renamed.
    ``RunWriteError`` naming ``role`` and ``path`` if ``path`` is not a regular file, is one of
    a run's own files (``state_dict.pt`` excepted) or cannot be written."""
    path = Path(path)
    refusal = replace_refusal(path, OURS - {STATE_DICT})
    if refusal:
        raise RunWriteError(f"{role} {path}: {refusal}")
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save({name: tensor.detach().cpu() for name, tensor in state.items()}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:120]
        raise RunWriteError(f"{role} {path}: cannot write ({reason})") from None
