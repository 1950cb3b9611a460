"""Faults a run must survive: a full disk part-way through a metrics line or a checkpoint, a
torn metrics line, SIGTERM and SIGUSR1 from a batch scheduler, kill -9, a second writer, two
default run names in one second, and runaway runs. Every interrupted run resumes bit for bit.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch

from sampler.cli.main import main
from sampler.runs import directory, lock, new_directory
from sampler.runs.directory import RunDirectory, check_plain
from sampler.runs.lock import RunLock, RunLockedError
from tests.helpers.long_run import start_long_run, wait_for_updates
from tests.helpers.mixture_runs import MIXTURE

pytestmark = pytest.mark.reliability
RUN = [*MIXTURE, "--samples", "60", "--tau", "0.05", "--batch-size", "20"]


def train(*args) -> int:
    return main(["train", *map(str, args)])


def params(out: Path) -> torch.Tensor:
    return torch.load(out / "checkpoint.pt", weights_only=True)["params"]


def steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_part_way_through_a_metrics_line_then_a_bit_exact_resume(
    tmp_path, monkeypatch, capsys
):
    whole, run = tmp_path / "whole", tmp_path / "run"
    settings = [*RUN, "--steps", 6, "--checkpoint-every", 2]
    assert train(*settings, "--out", whole) == 0
    capsys.readouterr()
    real_write, calls, fault = directory._os_write, [], []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 4:  # update 4's line: half of it reaches the disk, then ENOSPC
            real_write(fd, bytes(data[: len(data) // 2]))
            fault.append(time.perf_counter())
            raise enospc()
        return real_write(fd, data)

    monkeypatch.setattr(directory, "_os_write", full_disk)
    assert train(*settings, "--out", run) == 1
    seconds = time.perf_counter() - fault[0]
    line = one_error_line(capsys)
    assert "metrics.jsonl" in line and "No space left on device" in line
    assert f"sampler train --resume {run}" in line
    assert (run / "metrics.jsonl").read_text().endswith("\n")  # no torn line left
    assert steps(run) == [1, 2, 3]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3  # nothing lost
    monkeypatch.setattr(directory, "_os_write", real_write)  # space freed
    assert train("--resume", run, "--steps", 6, "--quiet") == 0
    assert steps(run) == list(range(1, 7)) and torch.equal(params(run), params(whole))
    print(f"\nENOSPC part-way through a metrics line: exit 1 {seconds:.3f} s after the fault")


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
    whole, run = tmp_path / "whole", tmp_path / "run"
    assert train(*RUN, "--steps", 5, "--out", whole) == 0
    assert train(*RUN, "--steps", 3, "--out", run) == 0
    with open(run / "metrics.jsonl", "a") as handle:  # killed while writing update 4's line
        handle.write('{"step": 4, "time": 0.12, "train_lo')
    assert train("--resume", run, "--steps", 5, "--quiet") == 0
    assert steps(run) == list(range(1, 6)) and torch.equal(params(run), params(whole))


def test_a_full_disk_part_way_through_a_checkpoint_then_a_bit_exact_resume(
    tmp_path, monkeypatch, capsys
):
    whole, run = tmp_path / "whole", tmp_path / "run"
    settings = [*RUN, "--steps", 6, "--checkpoint-every", 2]
    assert train(*settings, "--out", whole) == 0
    capsys.readouterr()
    real_save, calls, fault = torch.save, [], []

    def full_disk(payload, handle):
        calls.append(payload["step"])
        if len(calls) == 1:
            return real_save(payload, handle)
        buffer = io.BytesIO()
        real_save(payload, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        fault.append(time.perf_counter())
        raise enospc()

    monkeypatch.setattr(directory.torch, "save", full_disk)
    assert train(*settings, "--out", run) == 1
    seconds = time.perf_counter() - fault[0]
    line = one_error_line(capsys)
    print(f"\nENOSPC part-way through a checkpoint: exit 1 {seconds:.3f} s after the fault")
    assert "checkpoint.pt" in line and "No space left on device" in line
    assert "the previous checkpoint is kept" in line
    assert not (run / "checkpoint.pt.tmp").exists()
    monkeypatch.setattr(directory.torch, "save", real_save)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 2
    assert steps(run) == [1, 2, 3, 4]
    assert train("--resume", run, "--steps", 6, "--quiet") == 0
    assert steps(run) == list(range(1, 7)) and torch.equal(params(run), params(whole))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1"])
def test_a_signal_checkpoints_the_last_update_and_resume_is_bit_exact(name, tmp_path, capsys):
    out = tmp_path / "run"
    process = start_long_run(out, "--checkpoint-every", 0)
    wait_for_updates(out, 3, process)
    if name == "SIGTERM":  # meanwhile, a second writer is refused, naming the holder
        for argv in (["--resume", out], [*MIXTURE, "--out", out]):
            asked = time.perf_counter()
            with pytest.raises(SystemExit) as refused:
                train(*argv)
            assert refused.value.code == 2
            print(f"\nsecond writer {argv[-2]}: refused in {time.perf_counter() - asked:.3f} s")
            line = one_error_line(capsys)
            assert f"in use by pid {process.pid} on host {socket.gethostname()}" in line
    signum = getattr(signal, name)
    sent = time.perf_counter()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    seconds = time.perf_counter() - sent
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {name}; continue with: sampler train --resume {out}" in stderr
    assert "Traceback" not in stderr and not (out / "lock").exists()
    done = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert done >= 3 and steps(out) == list(range(1, done + 1))
    target = done + 2
    assert train("--resume", out, "--steps", target, "--quiet") == 0
    whole = tmp_path / "whole"
    assert train(*MIXTURE, "--samples", 2000, "--steps", target, "--out", whole) == 0
    assert torch.equal(params(out), params(whole))
    print(f"\n{name}: exit {process.returncode} {seconds:.2f} s after the signal, update {done}")


def test_the_lock_of_a_killed_run_is_stale(tmp_path):
    out = tmp_path / "run"
    process = start_long_run(out, "--checkpoint-every", 1)
    wait_for_updates(out, 2, process)
    process.kill()  # kill -9: no handler runs, the lock file stays behind
    process.communicate(timeout=60)
    assert (out / "lock").exists()
    done = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert train("--resume", out, "--steps", done + 1, "--quiet") == 0
    assert not (out / "lock").exists()


def test_a_lock_file_without_flock(tmp_path, monkeypatch):
    """File systems without flock: the file is the lock, stale when its pid is gone here."""

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock.fcntl, "flock", no_flock)
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunLockedError, match=f"in use by pid {os.getpid()}"):
        RunLock(tmp_path).acquire()
    first.release()
    assert not (tmp_path / "lock").exists()
    holder = {"host": socket.gethostname(), "pid": _dead_pid(), "started": time.time()}
    (tmp_path / "lock").write_text(json.dumps(holder))
    RunLock(tmp_path).acquire().release()  # stale: its process is gone
    (tmp_path / "lock").write_text(json.dumps({**holder, "host": "elsewhere"}))
    with pytest.raises(RunLockedError, match="on host elsewhere.*if it is gone, remove"):
        RunLock(tmp_path).acquire()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_two_default_run_names_in_one_second_differ(tmp_path, monkeypatch):
    class Frozen:
        @staticmethod
        def now(tz=None):  # the run's start time (run metadata) asks for UTC
            import datetime

            return datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(new_directory, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    assert train(*RUN, "--steps", 1) == 0
    assert train(*RUN, "--steps", 1) == 0
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == ["20240102-030405-is-linear", "20240102-030405-is-linear-2"]
    assert all((tmp_path / "runs" / n / "checkpoint.pt").is_file() for n in names)


def test_a_run_that_fails_before_writing_leaves_no_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train(*MIXTURE, "--batch-size", 401, "--steps", 1) == 1  # more than the 400 examples
    assert not any((tmp_path / "runs").iterdir())


def test_runaway_runs_warn_and_can_be_stopped(tmp_path, capsys):
    out = tmp_path / "is"
    # the literal proposals: antithetic pairs (the default on this 10-input model) keep an ESS
    # above 1 in more than half of these runaway updates
    runaway = ["--samples", 20, "--tau", "1e30", "--proposal", "literal", "--steps", 25]
    assert train(*MIXTURE, *runaway, "--out", out) == 0
    warnings = json.loads((out / "summary.json").read_text())["warnings"]
    assert {w["name"] for w in warnings} == {"ess-collapsed", "parameters-growing"}
    ess = next(w for w in warnings if w["name"] == "ess-collapsed")
    assert ess["first_update"] == 20 and ess["updates"] >= 1 and "--tau" in ess["fix"]
    assert "warning: update 1: the parameter norm grew" in capsys.readouterr().err
    sgd = tmp_path / "sgd"
    assert train(*MIXTURE, "--baseline", "sgd", "--lr", "1e30", "--steps", 3, "--out", sgd) == 0
    warnings = json.loads((sgd / "summary.json").read_text())["warnings"]
    assert [w["name"] for w in warnings] == ["parameters-growing"]
    healthy = tmp_path / "healthy"
    assert train(*RUN, "--steps", 3, "--out", healthy) == 0
    assert json.loads((healthy / "summary.json").read_text())["warnings"] == []
    capsys.readouterr()
    stopped = tmp_path / "stopped"
    argv = [*MIXTURE, "--baseline", "sgd", "--lr", "1e30", "--steps", 5, "--stop-on-divergence"]
    assert train(*argv, "--out", stopped) == 1
    err = capsys.readouterr().err
    assert "update 1: stopped by --stop-on-divergence: the parameter norm grew" in err
    assert "Traceback" not in err
    assert torch.load(stopped / "checkpoint.pt", weights_only=True)["step"] == 1
    assert not (stopped / "summary.json").exists()


def test_a_checkpoint_holds_plain_data_only(tmp_path):
    check_plain({"step": 1, "params": torch.zeros(2), "state": {"a": [1, (2.0, None)]}})
    with pytest.raises(TypeError, match="Path has no place in a checkpoint"):
        check_plain({"config": {"out": tmp_path}})
    directory = RunDirectory(tmp_path)
    with pytest.raises(TypeError):
        directory.save_checkpoint({"step": 1, "params": torch.zeros(2), "state": object()})
    assert not (tmp_path / "checkpoint.pt").exists()
