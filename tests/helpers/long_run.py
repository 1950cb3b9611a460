"""A long `sampler train` in a process of its own, for tests that signal or kill it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.checkout import ROOT
from tests.helpers.mixture_runs import MIXTURE


def start_long_run(out: Path, *extra) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "sampler",
        "train",
        *MIXTURE,
        "--samples",
        "2000",
        "--steps",
        "100000",
        "--eval-every",
        "0",
        "--out",
        str(out),
        *map(str, extra),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_updates(out: Path, count: int, process: subprocess.Popen) -> None:
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 90
    while time.monotonic() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < count
    ):
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
