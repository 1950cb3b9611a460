"""A long `sampler train` in a process of its own, for tests that signal or kill it. Every
process started here is killed when the tests end, whatever path they took (``atexit``), so a
failed test never leaves a training process behind."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.checkout import ROOT
from tests.helpers.mixture_runs import MIXTURE

STARTED: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    for process in STARTED:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def start_long_run(out: Path, *extra, ignore_sigint: bool = False) -> subprocess.Popen:
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
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    process = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=ignore
    )
    STARTED.append(process)
    return process


def wait_for_updates(out: Path, count: int, process: subprocess.Popen) -> None:
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 90
    while time.monotonic() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < count
    ):
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
