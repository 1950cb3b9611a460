"""The root of the checkout the tests run from (``PYTHONPATH`` and working directory of the
subprocesses that run ``python -m sampler``, ``mpiexec`` jobs and scripts)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
