"""Launch real MPI jobs from the tests (``mpiexec -n R``), or say why they cannot run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers.checkout import ROOT


def mpiexec() -> str | None:
    beside_python = Path(sys.executable).with_name("mpiexec")
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install '.[mpi]')"
    if mpiexec() is None:
        return "no mpiexec on PATH (pip install mpich)"
    return None


requires_mpi = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def launcher_flags(executable: str) -> list[str]:
    """Open MPI refuses root and oversubscription unless told; MPICH's Hydra needs nothing."""
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    return ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []


def run_mpi(ranks: int, args: list[str], timeout: float = 120, cwd: Path | None = None):
    """``mpiexec -n ranks python ARGS`` in ``cwd`` (default: a temporary directory, so that
    nothing is written into the checkout)."""
    executable = mpiexec()
    command = [executable, *launcher_flags(executable), "-n", str(ranks), sys.executable, *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=cwd or scratch, env=env
        )
