"""The reliability suite's fuzz: every generated bad invocation (``tests.helpers.bad_invocations``
and ``tests.helpers.bad_files``) is refused with a non-zero exit and one line naming the input,
no traceback, within a time bound.

Most cases run in this process through ``sampler.cli.main.main`` (an interpreter start costs about
two seconds of torch import each); a spread sample runs as real subprocesses of ``python -m
sampler``, as a user would. ``-s`` shows the figures: invocations tried, clean errors,
tracebacks, silent accepts, hangs.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sampler.cli.main import main
from sampler.models.keras.runtime import import_keras
from tests.helpers import bad_files, bad_invocations
from tests.helpers.bad_case import Case
from tests.helpers.checkout import ROOT

pytestmark = pytest.mark.reliability
IN_PROCESS_SECONDS = 20  # per case, on a loaded 2-core machine (the slowest took 7 s)
SUBPROCESS_SECONDS = 60  # per case, interpreter start and torch import included
SUBPROCESS_SAMPLE = 8


class Hang(BaseException):
    """The time bound of one case ran out (raised by SIGALRM)."""


@dataclass
class Outcome:
    code: object
    stderr: str
    seconds: float

    def verdict(self, names: str) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if self.code == "hang":
            return "hang"
        if self.code == 0:
            return "silent accept"
        if "Traceback" in self.stderr or self.code == "exception":
            return "traceback"
        if len(lines) != 1 or "error" not in lines[0]:
            return f"not one line ({len(lines)})"
        if names not in lines[0]:
            return "does not name the input"
        return "clean"


def _alarm(signum, frame):
    raise Hang()


def run_in_process(argv: list[str], bound: float = IN_PROCESS_SECONDS) -> Outcome:
    err, out = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, bound)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as stop:
        code = stop.code
    except Hang:
        code = "hang"
    except BaseException:  # noqa: BLE001 - an escaped exception is a finding, not a crash
        import traceback

        code = "exception"
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(code, err.getvalue(), time.perf_counter() - start)


def run_subprocess(argv: list[str], cwd: Path) -> Outcome:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sampler", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return Outcome("hang", "", time.perf_counter() - start)
    stderr = "\n".join(line for line in done.stderr.splitlines() if not _tensorflow_noise(line))
    return Outcome(done.returncode, stderr, time.perf_counter() - start)


def _tensorflow_noise(line: str) -> bool:
    """TensorFlow's own start-up logging (absl, oneDNN), not ours."""
    return line.startswith(("WARNING: All log messages", "I0000", "W0000", "E0000"))


def _prepare(case: Case, directory: Path) -> tuple[list[str], str]:
    directory.mkdir()
    if case.setup is not None:
        case.setup(directory)
    argv = ["train", *(a.replace("{dir}", str(directory)) for a in case.argv)]
    return argv, case.names.replace("{dir}", str(directory))


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    # TensorFlow's import (the keras: cases) can outlast a case's time bound on a loaded machine;
    # interrupted by the alarm, it leaves scipy half imported (NameError: _ndimage_api in every
    # later keras case), so it happens here, before any case is timed
    with contextlib.suppress(ImportError):  # without TensorFlow those cases import nothing
        import_keras()
    base = bad_files.base_run(tmp_path_factory.mktemp("fuzz-base") / "run")
    return (
        bad_invocations.all_cases()
        + bad_files.run_directory_cases(base)
        + bad_files.data_file_cases()
    )


def _report(kind: str, verdicts: Counter, failures: list[str], slowest: float) -> None:
    print(
        f"\n{kind}: {sum(verdicts.values())} invocations tried: {verdicts['clean']} clean errors, "
        f"{verdicts['traceback']} tracebacks, {verdicts['silent accept']} silent accepts, "
        f"{verdicts['hang']} hangs, "
        f"{sum(v for k, v in verdicts.items() if k.startswith(('not one', 'does not')))} "
        f"unclear messages; slowest {slowest:.1f} s"
    )
    for failure in failures[:40]:
        print("  ", failure)


def test_every_bad_invocation_is_refused_with_one_line(cases, tmp_path):
    assert len(cases) >= 200
    verdicts: Counter = Counter()
    failures, slowest = [], 0.0
    for index, case in enumerate(cases):
        argv, names = _prepare(case, tmp_path / f"case{index}")
        outcome = run_in_process(argv)
        verdict = outcome.verdict(names)
        verdicts[verdict] += 1
        slowest = max(slowest, outcome.seconds)
        if verdict != "clean":
            last = (outcome.stderr.strip().splitlines() or [""])[-1][:200]
            failures.append(f"{verdict}: {case.id} -> {outcome.code}: {last}")
        shutil.rmtree(tmp_path / f"case{index}", ignore_errors=True)
    _report("in process", verdicts, failures, slowest)
    assert not failures, "\n".join(failures[:40])


def test_a_sample_of_them_as_real_commands(cases, tmp_path):
    step = max(1, len(cases) // SUBPROCESS_SAMPLE)
    sample = cases[::step][:SUBPROCESS_SAMPLE]
    verdicts: Counter = Counter()
    failures, slowest = [], 0.0
    for index, case in enumerate(sample):
        argv, names = _prepare(case, tmp_path / f"case{index}")
        outcome = run_subprocess(argv, tmp_path)
        verdict = outcome.verdict(names)
        verdicts[verdict] += 1
        slowest = max(slowest, outcome.seconds)
        if verdict != "clean":
            failures.append(f"{verdict}: {case.id} -> {outcome.code}: {outcome.stderr[-300:]}")
    _report("subprocesses", verdicts, failures, slowest)
    assert not failures, "\n".join(failures)
