"""summary.json records what a run ran on: versions, the git commit of a checkout (and no
failure outside one), host, start time, ranks and each rank's device, its peak memory and its
seconds per update."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

import numpy
import pytest
import torch

import sampler
from sampler.cli.main import main
from sampler.runs import metadata as run_metadata


def test_the_summary_records_the_run_metadata(tmp_path):
    out = tmp_path / "r"
    flags = ["--data", "gaussian-mixture", "--steps", "2", "--samples", "20", "--quiet"]
    assert main(["train", *flags, "--out", str(out)]) == 0
    metadata = json.loads((out / "summary.json").read_text())["metadata"]
    assert metadata["sampler"] == sampler.__version__
    assert metadata["torch"] == torch.__version__ and metadata["numpy"] == numpy.__version__
    assert "mpi4py" in metadata and metadata["host"]
    started = datetime.fromisoformat(metadata["started_at"])
    assert started.tzinfo is not None
    assert metadata["ranks"] == 1 and metadata["rank_devices"] == ["cpu"]
    assert metadata["rank_device_names"] == ["cpu"]
    summary = json.loads((out / "summary.json").read_text())
    (per_update,) = metadata["rank_seconds_per_update"]
    assert per_update == pytest.approx(summary["seconds_per_update"])
    (peak,) = metadata["rank_peak_memory_mb"]
    assert peak is None or peak > 10  # torch alone holds more; None where /proc is missing
    root = run_metadata.checkout_root()
    if root is None:
        assert metadata["git_commit"] is None
    else:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        assert metadata["git_commit"] == head and isinstance(metadata["git_dirty"], bool)


def test_no_commit_outside_a_checkout(tmp_path):
    package = tmp_path / "site-packages" / "sampler"
    package.mkdir(parents=True)
    assert run_metadata.checkout_root(package) is None
    assert run_metadata.git_state(package) == {"git_commit": None, "git_dirty": None}
    (tmp_path / "site-packages" / ".git").mkdir()  # a .git that git cannot read
    assert run_metadata.git_state(package)["git_commit"] is None


def test_no_failure_without_git(monkeypatch, tmp_path):
    def missing(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(run_metadata.subprocess, "run", missing)
    (tmp_path / ".git").mkdir()
    (tmp_path / "sampler").mkdir()
    assert run_metadata.git_state(tmp_path / "sampler") == {"git_commit": None, "git_dirty": None}
