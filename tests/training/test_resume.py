"""Resume: a continued run equals an uninterrupted one, after a crash, after Ctrl-C."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from sampler.cli.main import main
from tests.helpers.long_run import start_long_run, wait_for_updates
from tests.helpers.mixture_runs import cli, read_run


def test_resume_equals_an_uninterrupted_run(tmp_path):
    common = [
        "--samples",
        150,
        "--tau",
        "scoping:0.05,0.01",
        "--steps",
        10,
        "--batch-size",
        20,
        "--eval-every",
        4,
        "--checkpoint-every",
        3,
        "--lr",
        0.02,
    ]
    assert cli(*common, "--out", tmp_path / "whole") == 0
    partial = ["--steps" if a == "--steps" else a for a in common]
    partial[partial.index("--steps") + 1] = 5
    assert cli(*partial, "--out", tmp_path / "part") == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "10", "--quiet"]) == 0
    *_, whole = read_run(tmp_path / "whole")
    _, metrics, _, resumed = read_run(tmp_path / "part")
    assert torch.equal(whole["params"], resumed["params"])
    assert [m["step"] for m in metrics] == list(range(1, 11))


def test_resume_after_a_crash_drops_metrics_past_the_checkpoint(tmp_path):
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    assert cli("--samples", 100, "--steps", 6, "--out", whole) == 0
    # a run that crashed after writing the metrics of steps 5 and 6, its last checkpoint at 4
    assert cli("--samples", 100, "--steps", 4, "--out", crashed) == 0
    with open(crashed / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5, "stale": true}\n{"step": 6, "stale": true}\n')
    assert main(["train", "--resume", str(crashed), "--steps", "6", "--quiet"]) == 0
    _, metrics, _, final = read_run(crashed)
    assert [m["step"] for m in metrics] == list(range(1, 7))
    assert not any("stale" in m for m in metrics)
    *_, reference = read_run(whole)
    assert final["step"] == 6 and torch.equal(final["params"], reference["params"])


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_saves_the_last_completed_step_and_resume_finishes(tmp_path, inherited):
    """Also when the process inherited SIGINT ignored (started in the background by a script)."""
    out = tmp_path / "run"
    process = start_long_run(out, "--checkpoint-every", 0, ignore_sigint=inherited == "ignored")
    wait_for_updates(out, 3, process)
    metrics = out / "metrics.jsonl"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert f"sampler train --resume {out}" in stderr
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] >= 3
    assert len(metrics.read_text().splitlines()) >= checkpoint["step"]
    target = checkpoint["step"] + 2
    assert main(["train", "--resume", str(out), "--steps", str(target), "--quiet"]) == 0
    assert [json.loads(x)["step"] for x in metrics.read_text().splitlines()] == list(
        range(1, target + 1)
    )
    whole = tmp_path / "whole"
    assert cli("--samples", 2000, "--steps", target, "--out", whole) == 0
    assert torch.equal(
        torch.load(whole / "checkpoint.pt", weights_only=False)["params"],
        torch.load(out / "checkpoint.pt", weights_only=False)["params"],
    )
