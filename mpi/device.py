"""The device of a rank: ``cuda:{local_rank % n_gpus}`` when CUDA is present, else the CPU.

With one GPU per rank on each node (the usual cluster layout) every rank gets its own GPU; with
more ranks than GPUs, ranks share them round-robin. ``--device`` overrides the choice.
"""

from __future__ import annotations

import torch

ACCEPTED = "auto, cpu, cuda or cuda:N"


def rank_device(local_rank: int, requested: str = "auto") -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available() and torch.cuda.device_count() > 0:
            return torch.device(f"cuda:{local_rank % torch.cuda.device_count()}")
        return torch.device("cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {requested}: CUDA is not available on this machine")
        if requested == "cuda":
            return torch.device(f"cuda:{local_rank % torch.cuda.device_count()}")
        index = requested.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return torch.device(requested)
    raise ValueError(f"--device must be {ACCEPTED}, got {requested!r}")
