"""The parts of ``sampler bench`` that need processes of their own: 1 against R ranks under a
real ``mpiexec``, and the peak memory of an importance-sampling update.

Scaling: ``mpiexec -n R python -m sampler train ...`` (one thread per rank) on the reference
workload, seconds per update read from ``metrics.jsonl`` (the median of the differences of its
``time`` over updates 2..N, so start-up is excluded); the 1- and R-rank runs alternated over
rounds, speedup the median over rounds of ``t_1 / t_R``, efficiency ``speedup / R``. A run has
at least ``steps`` updates and, for a short update, enough to last about ``seconds`` on one
rank (its N from a first one-rank run of ``steps`` updates, which is then run again with N):
on a shared 2-core machine one update of the default IS update (about 50 ms) varies by 10-30%
from one to the next, and the median of 10 of them gave two-rank efficiencies from 72% to 127%
in one bench (docs/benchmark.md, "Where the last points go").

Memory: a fresh interpreter builds the model, runs one update and reports its peak resident set
(``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would report the parent's high-water mark,
which Linux keeps across fork and exec), for two sample counts J: flat means the streaming
blocks keep memory independent of J.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def scaling_workloads(settings) -> dict[str, list[str]]:
    """The ``sampler train`` flags of each workload compared on 1 and R ranks: IS literal and
    with its defaults, SGLD with two chains (what it spreads over ranks), RM; SGLD and RM at a
    fixed beta (their cost does not depend on it; an automatic one could redo an update)."""
    samples = ["--samples", str(settings.samples)]
    rm = ["--rm-samples", str(settings.rm_samples), "--rm-iterations", str(settings.rm_iterations)]
    return {
        "is literal": ["--estimator", "is", "--proposal", "literal", "--beta", "1", *samples],
        "is defaults": ["--estimator", "is", *samples],
        "sgld, 2 chains": [
            *("--estimator", "sgld", "--chains", "2", "--sgld-steps", str(settings.sgld_steps)),
            *("--sgld-average", "position"),  # the in-process workload's chain
            *("--beta", "20"),
        ],
        "rm": ["--estimator", "rm", *rm, "--beta", "20"],
    }


def mpiexec() -> str | None:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def mpi_missing() -> str | None:
    """Why the rank comparison cannot run here (``None``: it can)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'local-entropy-sampler[mpi]')"
    if mpiexec() is None:
        return "no mpiexec (pip install mpich)"
    return None


def launcher_flags(executable: str) -> list[str]:
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    return ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []


def seconds_per_update(
    ranks: int, flags: list[str], model: str, steps: int, threads: int = 1
) -> float:
    """Seconds per update of ``sampler train --model MODEL FLAGS`` on ``ranks`` ranks with
    ``threads`` torch threads each (minibatch 20, tau 0.01 for the two-step scheme, unless
    ``flags`` say otherwise)."""
    executable = mpiexec()
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "run"
        command = [
            executable,
            *launcher_flags(executable),
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "sampler",
            "train",
            "--model",
            model,
            "--batch-size",
            "20",
            *([] if "--baseline" in flags else ["--tau", "0.01"]),  # baselines have no tau
            "--steps",
            str(steps),
            "--eval-every",
            "0",
            "--checkpoint-every",
            "0",
            "--quiet",
            "--out",
            str(out),
            *flags,
        ]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=directory)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
        lines = (out / "metrics.jsonl").read_text().splitlines()
        times = [json.loads(line)["time"] for line in lines]
    differences = [b - a for a, b in zip(times[:-1], times[1:])]
    return statistics.median(differences[1:] or differences)


RUN_SECONDS = 5.0  # a rank run of a short update lasts about this long on one rank


def run_length(steps: int, seconds: float, one_update: float, most: int = 200) -> int:
    """Updates per rank run: ``steps``, or more where ``steps`` updates of ``one_update``
    seconds would last less than ``seconds`` (at most ``most``)."""
    if one_update <= 0 or steps * one_update >= seconds:
        return steps
    return max(steps, min(most, math.ceil(seconds / one_update)))


def scaling(
    model: str,
    ranks: int,
    steps: int,
    workloads: dict[str, list[str]],
    rounds: int = 1,
    seconds: float = RUN_SECONDS,
) -> list[dict]:
    """Each workload on 1 and on ``ranks`` ranks, alternated ``rounds`` times (1, R, 1, R, ...)
    so that a slow spell of a shared machine falls on both sides of a pair; the speedup is the
    median over rounds of each pair's ``t_1 / t_R`` (``efficiencies``: every pair's), the
    seconds are the medians of each side. Each run has ``run_length`` updates (``steps`` in
    the result)."""
    results = []
    for name, flags in workloads.items():
        first = seconds_per_update(1, flags, model, steps)
        length = run_length(steps, seconds, first)
        ones, manys = [], []
        for round_ in range(rounds):
            kept = round_ == 0 and length == steps  # the first run already had its length
            ones.append(first if kept else seconds_per_update(1, flags, model, length))
            manys.append(seconds_per_update(ranks, flags, model, length))
        speedups = [one / many for one, many in zip(ones, manys)]
        speedup = statistics.median(speedups)
        results.append(
            {
                "model": model,
                "workload": name,
                "ranks": ranks,
                "rounds": rounds,
                "steps": length,
                "seconds_1": statistics.median(ones),
                "seconds_r": statistics.median(manys),
                "speedup": speedup,
                "efficiency": speedup / ranks,
                "efficiencies": [s / ranks for s in speedups],
            }
        )
    return results


PROBE = """
import resource, sys, torch
torch.set_num_threads(1)
from sampler.bench.workloads import reference_problem, TAU
from sampler.estimators import StepKey
from sampler.estimators.importance_sampling import ImportanceSampling
from sampler.mpi import SerialComm
from sampler.runs.device_usage import resident_peak_mb
model, problem = reference_problem(sys.argv[1])
estimator = ImportanceSampling(int(sys.argv[2]), 1.0, 100, proposal=sys.argv[3])
center = model.init_params(0)
estimator.step(StepKey(0, 0), {}, center, torch.tensor(TAU), problem, SerialComm())
# this process's own high-water mark, VmHWM (ru_maxrss keeps the parent's across fork + exec);
# ru_maxrss only where /proc does not say
peak = resident_peak_mb()
if peak is None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(peak)
"""


def peak_memory(model: str, samples: int, proposal: str) -> float:
    """Peak resident set in MB of a fresh process running one IS update."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, model, str(samples), proposal],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.split()[-1])  # MiB
