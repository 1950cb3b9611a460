"""Real MPI faults: a refusal on one rank ends the whole job within seconds (the ranks agree on
the verdict before any work), and SIGTERM on one rank or on the launcher stops every rank after
the same update with a checkpoint, from which the run resumes bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from sampler.cli.main import main
from tests.helpers.mpi_launch import ROOT, launcher_flags, mpiexec, requires_mpi, run_mpi

pytestmark = [pytest.mark.reliability, requires_mpi]
SMALL = [
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "10",
    "--gm-train",
    "400",
    "--gm-test",
    "100",
    "--samples",
    "100",
    "--quiet",
]
REFUSAL_SECONDS = 10  # interpreter starts and torch imports of both ranks included


def launch(per_rank: list[list[str]], timeout: float = 60):
    """``mpiexec -n 1 python ARGS0 : -n 1 python ARGS1 ...``; ``(result, seconds)``."""
    executable = mpiexec()
    command = [executable, *launcher_flags(executable)]
    for rank, args in enumerate(per_rank):
        command += ([":"] if rank else []) + ["-n", "1", sys.executable, *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )
    return result, time.perf_counter() - started


@pytest.mark.parametrize(
    "case",
    ["--resume missing on rank 1", "--data-dir missing on rank 0", "settings differ"],
)
def test_a_refusal_on_one_rank_ends_the_job_within_seconds(case, tmp_path):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--steps", "2", "--out", str(run)]) == 0
    train = ["-m", "sampler", "train"]
    if case == "--resume missing on rank 1":
        good = [*train, "--resume", str(run), "--steps", "4", "--quiet"]
        per_rank = [good, [*train, "--resume", "/nonexistent/run", "--steps", "4", "--quiet"]]
        expected = "rank 1: --resume /nonexistent/run: no config.json there"
    elif case == "--data-dir missing on rank 0":
        good = [*train, "--steps", "4", "--quiet", "--out", str(tmp_path / "new")]
        per_rank = [[*good, "--data-dir", "/nonexistent/dir"], good]
        expected = "rank 0: --data-dir: '/nonexistent/dir' is not a directory"
    else:
        good = [*train, *SMALL, "--out", str(tmp_path / "new")]
        per_rank = [[*good, "--steps", "5"], [*good, "--steps", "6"]]
        expected = "--steps is 5 on rank 0 and 6 on rank 1"
    result, seconds = launch(per_rank)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert seconds < REFUSAL_SECONDS, f"{case}: the job took {seconds:.1f} s to end"
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [
        1,
        2,
    ]  # nothing ran
    assert not (tmp_path / "new").exists()
    print(f"\n{case}: mpiexec ended {seconds:.2f} s after it was started")


LONG = [*SMALL, "--samples", "2000", "--checkpoint-every", "0", "--eval-every", "0"]


def start_job(tmp_path, out, args=None) -> subprocess.Popen:
    script = tmp_path / "long.py"
    script.write_text(
        textwrap.dedent("""
        import os, sys
        from sampler.mpi import world_comm
        open(f"pid{world_comm().rank}", "w").write(str(os.getpid()))
        from sampler.cli.main import main
        raise SystemExit(main(sys.argv[1:]))
    """)
    )
    executable = mpiexec()
    command = [executable, *launcher_flags(executable), "-n", "2", sys.executable, str(script)]
    command += ["train", *(args or LONG), "--steps", "100000", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_updates(out, count: int, job: subprocess.Popen) -> None:
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 90
    while time.monotonic() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < count
    ):
        assert job.poll() is None, job.stderr.read()
        time.sleep(0.05)


@pytest.mark.parametrize("target", ["rank 1", "mpiexec"])
def test_sigterm_stops_every_rank_with_a_checkpoint_and_resume_is_bit_exact(target, tmp_path):
    out = tmp_path / "run"
    job = start_job(tmp_path, out)
    wait_for_updates(out, 3, job)
    pid = job.pid if target == "mpiexec" else int((tmp_path / "pid1").read_text())
    sent = time.perf_counter()
    os.kill(pid, signal.SIGTERM)
    _, stderr = job.communicate(timeout=60)  # a hang would fail here
    seconds = time.perf_counter() - sent
    assert job.returncode == 128 + signal.SIGTERM, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]  # no abort, no error
    assert lines == [f"stopped by SIGTERM; continue with: sampler train --resume {out}"], stderr
    done = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert done >= 3 and steps == list(range(1, done + 1))
    print(f"\nSIGTERM to {target}: exit 143 {seconds:.2f} s after the signal, at update {done}")
    if target == "mpiexec":
        return  # the same path as one rank's signal; the resume is checked there
    target_steps = str(done + 2)
    resumed = run_mpi(2, ["-m", "sampler", "train", "--resume", str(out), "--steps", target_steps])
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    args = ["-m", "sampler", "train", *LONG, "--steps", target_steps, "--out", str(whole)]
    uninterrupted = run_mpi(2, args)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert torch.equal(
        torch.load(out / "checkpoint.pt", weights_only=True)["params"],
        torch.load(whole / "checkpoint.pt", weights_only=True)["params"],
    )


RSGD = [
    *SMALL[: SMALL.index("--samples")],
    "--quiet",
    "--baseline",
    "rsgd",
    "--replicas",
    "2",
    "--coupling-every",
    "5",
    "--gamma1",
    "0.0001",  # not auto (fitted to --steps, which differ below); float32-safe for 1e5 updates
    "--checkpoint-every",
    "0",
    "--eval-every",
    "0",
]


def test_replicated_sgd_stops_at_a_coupling_and_resumes_bit_exact(tmp_path):
    """Between two couplings rank 0 holds only its own replicas: a signal waits for the next
    coupling, so the checkpoint it leaves is complete."""
    out = tmp_path / "run"
    job = start_job(tmp_path, out, RSGD)
    wait_for_updates(out, 3, job)
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM, stderr
    done = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert done >= 5 and done % 5 == 0
    target = str(done + 3)
    resumed = run_mpi(2, ["-m", "sampler", "train", "--resume", str(out), "--steps", target])
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"  # baselines give the same run on any number of ranks
    assert main(["train", *RSGD, "--steps", target, "--out", str(whole)]) == 0
    assert torch.equal(
        torch.load(out / "checkpoint.pt", weights_only=True)["params"],
        torch.load(whole / "checkpoint.pt", weights_only=True)["params"],
    )
