"""What a run ran on, for ``summary.json`` (``metadata``): versions, commit, host, time, ranks.

* ``sampler``: the package's version; ``python``, ``torch``, ``numpy``, ``mpi4py`` (``None``
  when not installed): the versions in use (rank 0's);
* ``git_commit`` and ``git_dirty``: the commit of the checkout the package was imported from
  and whether its tracked files had changes, when it was imported from a git checkout (an
  editable install); ``None`` otherwise, or when git is missing or fails;
* ``host`` of rank 0, ``started_at`` (ISO 8601, UTC) of this invocation (a resumed run records
  when it was resumed), ``ranks`` and, gathered from every rank in rank order,
  ``rank_hosts``, ``rank_devices`` and ``rank_threads`` (torch's intra-op threads), and each
  rank's device use (``sampler.runs.device_usage``): ``rank_device_names``,
  ``rank_peak_memory_mb`` and ``rank_seconds_per_update`` (the rank's own seconds inside the
  trainer's steps per update).

``run_metadata`` is a collective: every rank calls it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
from datetime import datetime
from pathlib import Path

import numpy
import torch

import sampler
from sampler.runs.device_usage import usage

GIT_TIMEOUT_SECONDS = 5.0


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def checkout_root(package_dir: Path | None = None) -> Path | None:
    """The git checkout that holds the package (its ``.git`` beside ``sampler/``), else
    ``None``: an installed copy in a virtual environment inside some checkout does not
    count. ``package_dir``: the ``sampler`` folder (default: the imported one)."""
    package = Path(package_dir or Path(sampler.__file__).parent).resolve()
    root = package.parent
    return root if (root / ".git").exists() else None


def git_state(package_dir: Path | None = None) -> dict:
    root = checkout_root(package_dir)
    if root is None:
        return {"git_commit": None, "git_dirty": None}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def environment() -> dict:
    """This process's versions and checkout (no collective)."""
    return {
        "sampler": sampler.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "mpi4py": _version("mpi4py"),
        **git_state(),
    }


def run_metadata(
    comm, device, started: datetime, step_seconds: float = 0.0, steps: int = 0
) -> dict:
    """The ``metadata`` table of ``summary.json`` (a collective over ``comm``); ``step_seconds``:
    this rank's seconds inside the trainer's steps over ``steps`` updates."""
    ranks = comm.allgather(
        {
            "host": socket.gethostname(),
            "device": str(device),
            "threads": torch.get_num_threads(),
            **usage(torch.device(device), step_seconds),
        }
    )
    versions = comm.bcast(environment() if comm.rank == 0 else None)
    return {
        **versions,
        "host": ranks[0]["host"],
        "started_at": started.isoformat(timespec="seconds"),
        "ranks": comm.size,
        "rank_hosts": [r["host"] for r in ranks],
        "rank_devices": [r["device"] for r in ranks],
        "rank_threads": [r["threads"] for r in ranks],
        "rank_device_names": [r["device_name"] for r in ranks],
        "rank_peak_memory_mb": [r["peak_memory_mb"] for r in ranks],
        "rank_seconds_per_update": [r["step_seconds"] / steps if steps else None for r in ranks],
    }
