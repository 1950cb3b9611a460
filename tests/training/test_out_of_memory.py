"""Out of memory: sizes no machine can hold refused before any allocation, with the flag, the
bytes needed and the memory available; the memory available read from /proc/meminfo, the
cgroup (v1 and v2) and ``ulimit -v``; an allocation that still fails during the run (torch's
allocator message, an empty ``MemoryError``) one line naming the settings that size the run.

No test here allocates much: the refusals come before any allocation, and the run-time
failures are injected."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import sampler
from sampler.cli.main import main
from sampler.config import limits
from sampler.estimators import tilted_sums
from sampler.training.out_of_memory import RunOutOfMemoryError

pytestmark = pytest.mark.reliability
TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "60", "--gm-test", "40"]
ALLOCATOR = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 1120000080 bytes. Error code 12 (Cannot allocate memory)"
)


def linear() -> torch.nn.Module:
    with torch.random.fork_rng():  # its initialisation draws from torch's global generator
        torch.manual_seed(0)
        return torch.nn.Linear(4, 2)


def refusal(capsys, *argv) -> str:
    try:  # refused while the settings are read (exit 2) or once the model is built (1)
        data = [] if "--data" in argv else TINY
        code = main(["train", *data, "--steps", "2", "--quiet", *map(str, argv)])
    except SystemExit as stop:
        code = stop.code
    assert code in (1, 2)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--samples", 10**11, "--beta-search", "two-pass"], "--samples"),
        # a block's buffers hold --block-size rows even when --samples is smaller
        (["--block-size", 10**12, "--samples", 10], "--block-size"),
        (["--model", "mlp", "--model-opt", "widths=1000000000"], "--model mlp"),
        (["--model", "mlp", "--model-opt", "widths=30000000", "--samples", 100], "--block-size"),
        (
            ["--data", "random-patterns", "--model", "perceptron", "--data-opt", "n=1000000000"],
            "--data random-patterns",
        ),
        (["--data-opt", "train_size=100000000000"], "--data gaussian-mixture"),
        (["--estimator", "sgld", "--chains", 10**9], "--chains"),
    ],
)
def test_sizes_no_machine_holds_are_refused_up_front(capsys, monkeypatch, argv, named):
    def no_allocation(*args, **kwargs):
        raise AssertionError("allocated before the refusal")

    monkeypatch.setattr(tilted_sums.TiltedSums, "__init__", no_allocation)
    line = refusal(capsys, *argv)
    assert line.startswith(f"sampler train: error: {named}"), line
    assert re.search(r"\d (GB|TB|bytes)", line) and "of memory available" in line, line


def test_the_bound_counts_what_the_method_holds():
    """What importance sampling holds per parameter: d x 32 bytes, a block of B rows (its
    buffers have B rows even when J < B) x 8 bytes, the sums of 5 betas (grid) or 1 x 24."""
    values = {"samples": 10, "block_size": 100, "beta": "auto:0.5", "beta_search": "grid"}
    units = limits.memory_units(values)
    assert units == {"block_size": 100, "beta_search": 5}
    fixed = {**values, "beta": 1.0}
    assert limits.memory_units(fixed)["beta_search"] == 1


def test_the_memory_available_is_the_least_of_what_is_known(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000000 kB\nMemAvailable:  4000000 kB\n")
    v2_max, v2_now = tmp_path / "memory.max", tmp_path / "memory.current"
    v1_max, v1_now = tmp_path / "limit", tmp_path / "usage"
    monkeypatch.setattr(limits, "MEMINFO", meminfo)
    monkeypatch.setattr(limits, "CGROUP_FILES", ((v2_max, v2_now), (v1_max, v1_now)))
    monkeypatch.setattr(limits, "physical_memory", lambda: 8_192_000_000)
    monkeypatch.setattr(
        limits.resource, "getrlimit", lambda _: (limits.resource.RLIM_INFINITY,) * 2
    )
    assert limits.machine_memory() == 4_096_000_000  # MemAvailable
    v2_max.write_text("max\n")
    v1_max.write_text("9223372036854771712\n")  # v1's "no limit"
    assert limits.machine_memory() == 4_096_000_000
    v2_max.write_text("3000000000\n")
    v2_now.write_text("1000000000\n")
    assert limits.machine_memory() == 2_000_000_000  # the cgroup's limit less its usage
    v1_max.write_text("1500000000\n")
    v1_now.write_text("1400000000\n")
    assert limits.machine_memory() == 100_000_000
    monkeypatch.setattr(limits.resource, "getrlimit", lambda _: (1, 1))  # ulimit -v, exceeded
    assert limits.machine_memory() == 0


@pytest.mark.parametrize("failure", [RuntimeError(ALLOCATOR), MemoryError()])
def test_an_allocation_failure_during_the_run_is_one_line(tmp_path, capsys, monkeypatch, failure):
    def fails(self, *args, **kwargs):
        raise failure

    monkeypatch.setattr(tilted_sums.TiltedSums, "__init__", fails)
    code = main(["train", *TINY, "--steps", "2", "--quiet", "--out", str(tmp_path / "run")])
    assert code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    line = lines[0]
    assert line.startswith("sampler train: error: out of memory"), line
    if isinstance(failure, RuntimeError):
        assert "allocating 1.12 GB" in line and "DefaultCPUAllocator" not in line
    for named in ("--model linear", "--data gaussian-mixture", "--batch-size", "--samples 1000"):
        assert named in line, line
    assert "--block-size 100" in line and "of memory available" in line


def test_an_allocation_failure_in_the_api_names_its_arguments(monkeypatch):
    def fails(self, *args, **kwargs):
        raise RuntimeError(ALLOCATOR)

    monkeypatch.setattr(tilted_sums.TiltedSums, "__init__", fails)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32))
    y = torch.arange(40) % 2
    with pytest.raises(RunOutOfMemoryError) as caught:
        sampler.train(linear(), (x, y), steps=2, samples=50, batch_size=10)
    text = str(caught.value)
    assert "samples=50" in text and "batch_size=10" in text and "--" not in text, text


def test_an_error_that_is_not_about_memory_is_left_alone(tmp_path, monkeypatch):
    def fails(self, *args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(tilted_sums.TiltedSums, "__init__", fails)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        sampler.train(linear(), (torch.zeros(20, 4), torch.arange(20) % 2), steps=1, samples=5)
