"""A run's final parameters as a ``state_dict``: ``state_dict.pt`` beside ``checkpoint.pt``,
named tensors in the network's own layout (``models.interface.model_state_dict``), written
atomically before the run's ``summary.json``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

STATE_DICT = "state_dict.pt"


def save_state_dict(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``state`` (moved to the CPU) atomically: a temporary file, flushed, renamed."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        torch.save({name: tensor.detach().cpu() for name, tensor in state.items()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
