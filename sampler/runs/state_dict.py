"""A run's final parameters as a ``state_dict``: ``state_dict.pt`` beside ``checkpoint.pt``,
named tensors in the network's own layout (``models.interface.model_state_dict``), written
atomically before the run's ``summary.json``."""

from __future__ import annotations

from pathlib import Path

import torch

from sampler.runs.atomic_file import write_atomic
from sampler.runs.files import OURS

STATE_DICT = "state_dict.pt"


def save_state_dict(state: dict[str, torch.Tensor], path: Path, role: str = "--out") -> None:
    """Write ``state`` (moved to the CPU) atomically (``sampler.runs.atomic_file``).
    ``RunWriteError`` naming ``role`` and ``path`` if ``path`` is not a regular file, is one of
    a run's own files (``state_dict.pt`` excepted) or cannot be written."""
    tensors = {name: tensor.detach().cpu() for name, tensor in state.items()}
    write_atomic(path, lambda handle: torch.save(tensors, handle), role, OURS - {STATE_DICT})
