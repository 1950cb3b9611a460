"""The runs of ``sampler reproduce``, ``--jobs`` at a time, each a real ``sampler train`` process.

A run lives in ``OUT/runs/NAME`` (``NAME``: method, hash of its flags, seed), its output in
``OUT/logs/NAME.log`` and what made it (flags, seed, ranks, the data folder) in
``OUT/runs/NAME.command.json``. Run again, the command keeps every finished run (its
``summary.json`` reached the run's last update, made the same way), resumes a cut one from its
last checkpoint (``sampler train --resume``: the same parameters as an uninterrupted run) and
starts the rest; a run made another way (other flags or data folder) is moved aside to
``OUT/replaced/`` and started afresh. A run on R ranks (``mpiexec -n R``) takes R of the job
slots. Each process runs one torch thread (``OMP_NUM_THREADS=1``), in its own session: on Ctrl-C
or SIGTERM the command sends each run one SIGTERM (``sampler train`` checkpoints and stops) and
waits for it. The wall time of every run, finished or cut, is kept in ``OUT/timings.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sampler.bench import timed_runs
from sampler.config.run_config import RunConfig
from sampler.models import DATASETS
from sampler.reproduce.experiment import RunSpec
from sampler.runs.atomic_file import write_text_atomic

CHECKPOINT_EVERY = "25"  # at most 25 updates lost to a kill -9 (SIGINT/SIGTERM lose none)
STOP_GRACE_SECONDS = 120  # a stopped run's last update and checkpoint; then it is killed


@dataclass
class Outcome:
    run: RunSpec
    status: str  # 'kept', 'done', 'resumed', 'failed'
    seconds: float
    message: str = ""


def run_dir(out: Path, run: RunSpec) -> Path:
    return out / "runs" / run.name


def train_command(run: RunSpec, directory: Path, data_dir: str | None) -> list[str]:
    """The ``sampler train`` command line of ``run`` (without a launcher)."""
    data = ["--data-dir", data_dir] if data_dir and reads_files(run.flags) else []
    return [
        "sampler",
        "train",
        *run.flags,
        "--seed",
        str(run.seed),
        *data,
        "--checkpoint-every",
        CHECKPOINT_EVERY,
        "--quiet",
        "--out",
        str(directory),
    ]


def reads_files(train_flags: tuple[str, ...]) -> bool:
    """Whether the data set of a run with these flags reads ``--data-dir`` (random patterns,
    say, do not, and ``sampler train`` refuses the flag for them)."""
    flags = list(train_flags)
    name = flags[flags.index("--data") + 1] if "--data" in flags else RunConfig.data
    return name not in DATASETS or DATASETS[name].reads_data_dir


def _finished(directory: Path, steps: int | None) -> bool:
    """The run's summary reached its last update, or the method's stopping rule ended it
    earlier (LAL, eLAL, fBP, ceSGD: the last metrics record says ``stop`` at the summary's
    update)."""
    try:
        summary = json.loads((directory / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return steps is None or summary.get("steps") in (steps, stopped_at(directory))


def stopped_at(directory: Path) -> int | None:
    """The update at which the method's stopping rule ended the run, if it did."""
    try:
        lines = (directory / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines[-3:]]  # an evaluation may follow it
    except (OSError, ValueError):
        return None
    stops = [r.get("step") for r in records if isinstance(r, dict) and r.get("stop")]
    return stops[-1] if stops else None


def _steps(run: RunSpec) -> int | None:
    flags = list(run.flags)
    return int(flags[flags.index("--steps") + 1]) if "--steps" in flags else None


def _launcher(ranks: int) -> list[str]:
    if ranks == 1:
        return [sys.executable, "-m"]
    executable = timed_runs.mpiexec()
    if executable is None:
        raise RuntimeError(f"a run on {ranks} ranks needs mpiexec: {timed_runs.mpi_missing()}")
    return [
        executable,
        *timed_runs.launcher_flags(executable),
        "-n",
        str(ranks),
        sys.executable,
        "-m",
    ]


class Timings:
    """``OUT/timings.json``: run name -> wall seconds of its processes, summed over sessions."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.values = json.loads(path.read_text())
        except (OSError, ValueError):
            self.values = {}

    def add(self, name: str, seconds: float) -> None:
        self.values[name] = self.values.get(name, 0.0) + seconds
        write_text_atomic(self.path, json.dumps(self.values, indent=1, sort_keys=True), role="")


def _record(run: RunSpec, data_dir: str | None) -> dict:
    return {
        "flags": list(run.flags),
        "seed": run.seed,
        "ranks": run.ranks,
        "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
    }


def _read_record(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _prepare(run: RunSpec, out: Path, data_dir: str | None) -> tuple[str, list[str] | None]:
    """('kept', None) for a finished run, else the status and the command to run."""
    directory = run_dir(out, run)
    record_path = directory.with_name(run.name + ".command.json")
    record = _record(run, data_dir)
    same = _read_record(record_path) == record
    if same and _finished(directory, _steps(run)):
        return "kept", None
    if same and (directory / "config.json").is_file():
        steps = ["--steps", str(_steps(run))] if _steps(run) is not None else []
        return "resumed", ["sampler", "train", "--resume", str(directory), *steps, "--quiet"]
    if directory.exists():  # made another way: kept aside, never deleted
        aside = out / "replaced" / f"{run.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        directory.rename(aside)
        if record_path.is_file():
            record_path.rename(aside.with_name(aside.name + ".command.json"))
    directory.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record_path, json.dumps(record), role="")
    return "done", train_command(run, directory, data_dir)


def launch(
    runs: list[RunSpec], out: Path, data_dir: str | None, jobs: int, say=print
) -> list[Outcome]:
    """Every run finished (or failed) when this returns; ``say`` gets one line per event."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    timings = Timings(out / "timings.json")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    pending, running, outcomes = list(runs), [], []
    try:
        _loop(pending, running, outcomes, out, data_dir, jobs, env, timings, say)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: every run checkpoints and stops
        _stop(running, timings, say)
        raise
    return outcomes


def _stop(running, timings, say) -> None:
    for _, _, process, _, _ in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for run, _, process, started, log in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        timings.add(run.name, time.perf_counter() - started)
    say(
        "interrupted: run the same command again to go on (finished runs are kept, cut ones "
        "resume from their checkpoint)"
    )


def _loop(pending, running, outcomes, out, data_dir, jobs, env, timings, say) -> None:
    while pending or running:
        busy = sum(entry[0].ranks for entry in running)
        for run in list(pending):
            if busy and busy + run.ranks > jobs:
                continue
            pending.remove(run)
            status, command = _prepare(run, out, data_dir)
            if command is None:
                outcomes.append(Outcome(run, status, timings.values.get(run.name, 0.0)))
                continue
            try:
                launcher = _launcher(run.ranks)
            except RuntimeError as error:
                outcomes.append(Outcome(run, "failed", 0.0, str(error)))
                say(f"FAILED {run.name}: {error}")
                continue
            log = open(out / "logs" / f"{run.name}.log", "a")
            say(f"start {run.name} ({run.label}, seed {run.seed}): {' '.join(command)}")
            process = subprocess.Popen(
                [*launcher, *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # signals reach it from this command only, once
            )
            running.append((run, status, process, time.perf_counter(), log))
            busy += run.ranks
        time.sleep(0.2)
        for entry in list(running):
            run, status, process, started, log = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            log.close()
            seconds = time.perf_counter() - started
            timings.add(run.name, seconds)
            if process.returncode == 0 and _finished(run_dir(out, run), _steps(run)):
                outcomes.append(Outcome(run, status, timings.values[run.name]))
                say(f"{status} {run.name} in {seconds:.0f} s")
            else:
                tail = (out / "logs" / f"{run.name}.log").read_text().strip().splitlines()[-1:]
                message = f"exit status {process.returncode}: {' '.join(tail)}"
                outcomes.append(Outcome(run, "failed", seconds, message))
                say(f"FAILED {run.name}: {message} (log: {out / 'logs' / (run.name + '.log')})")
