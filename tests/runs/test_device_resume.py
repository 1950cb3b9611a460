"""A run checkpointed on one device type resumes on another: checkpoints hold CPU tensors and
the device type they were written on, and a resume on another type says, in one note, that the
continuation is valid but not bit-identical (the random streams depend on the device type).
On a machine without a GPU the GPU side is a checkpoint marked as written on ``cuda``;
``scripts/gpu_check.py`` does both directions on a real GPU."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main
from sampler.runs.directory import RunDirectory

FLAGS = ["--data", "gaussian-mixture", "--samples", "20", "--checkpoint-every", "1", "--quiet"]


def test_a_checkpoint_holds_cpu_tensors_and_its_device_type(tmp_path):
    out = tmp_path / "r"
    assert main(["train", *FLAGS, "--steps", "2", "--out", str(out)]) == 0
    checkpoint = RunDirectory(out).load_checkpoint()
    assert checkpoint["device_type"] == "cpu" and checkpoint["params"].device.type == "cpu"


def test_a_run_checkpointed_on_a_gpu_resumes_on_the_cpu(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["train", *FLAGS, "--steps", "4", "--out", str(whole)]) == 0
    assert main(["train", *FLAGS, "--steps", "2", "--out", str(split)]) == 0
    run_dir = RunDirectory(split)
    checkpoint = run_dir.load_checkpoint()
    run_dir.save_checkpoint({**checkpoint, "device_type": "cuda"})  # as a GPU run writes it
    capsys.readouterr()
    assert main(["train", "--resume", str(split), "--steps", "4", "--device", "cpu"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "resuming on cpu, the run started on cuda" in notes[0]
    summary = json.loads((split / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["device"] == "cpu"
    # the marked checkpoint's parameters are the CPU's own: the continuation is the same run here
    one = torch.load(whole / "state_dict.pt", weights_only=True)
    two = torch.load(split / "state_dict.pt", weights_only=True)
    assert all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *FLAGS, "--steps", "2", "--device", "cuda", "--out", str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["sampler train: error: --device cuda: CUDA is not available on this machine"]
    assert not out.exists()
