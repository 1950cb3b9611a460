"""``--beta auto``, ``--loss-scale`` and the Monte Carlo error through ``sampler train``: what
metrics.jsonl and summary.json record, resume with an automatic beta, refused settings."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main

DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "100"]
COMMON = [*DATA, "--model", "mlp", "--eval-every", "0", "--quiet"]


def train(*args) -> int:
    return main(["train", *COMMON, *[str(a) for a in args]])


def metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def summary(path):
    return json.loads((path / "summary.json").read_text())


def test_every_update_records_the_error_of_its_target_per_layer(tmp_path):
    out = tmp_path / "is"
    assert train("--samples", 64, "--block-size", 16, "--steps", 2, "--out", out) == 0
    record = metrics(out)[-1]
    for key in ("mc_se", "step_rms", "beta_eff", "beta", "mc_se_fc0", "step_rms_fc1"):
        assert key in record and record[key] > 0, key
    config = json.loads((out / "config.json").read_text())
    assert config["method_options"]["loss_scale"] == "mean"


@pytest.mark.parametrize(
    "estimator, flags",
    [
        ("is", ["--beta", "auto:0.3", "--samples", 64, "--block-size", 16]),
        ("is", ["--beta", "auto", "--beta-search", "two-pass", "--samples", 64, "--block-size", 8]),
        ("sgld", ["--beta", "auto:500", "--sgld-steps", 20, "--sgld-average", "position"]),
    ],
)
def test_resume_with_an_automatic_beta_is_bit_exact(tmp_path, estimator, flags):
    args = ["--estimator", estimator, *flags, "--checkpoint-every", 2]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(*args, "--steps", 5, "--out", whole) == 0
    assert train(*args, "--steps", 3, "--out", split) == 0
    assert main(["train", "--resume", str(split), "--steps", "5", "--quiet"]) == 0
    a = torch.load(whole / "checkpoint.pt", weights_only=False)
    b = torch.load(split / "checkpoint.pt", weights_only=False)
    assert torch.equal(a["params"], b["params"])
    assert a["state"]["estimator"]["beta"] == b["state"]["estimator"]["beta"]
    betas = [m["beta"] for m in metrics(whole)]
    assert betas == [m["beta"] for m in metrics(split)]
    assert len(set(betas)) > 1  # it did move


def test_robbins_monro_auto_beta_is_the_batch_size(tmp_path):
    out = tmp_path / "rm"
    flags = ["--rm-samples", 4, "--rm-iterations", 3, "--batch-size", 25, "--steps", 2]
    assert train("--estimator", "rm", "--beta", "auto", *flags, "--out", out) == 0
    assert [m["beta"] for m in metrics(out)] == [25.0, 25.0]


def test_a_run_dominated_by_monte_carlo_error_is_flagged(tmp_path, capsys):
    noisy, clean = tmp_path / "noisy", tmp_path / "clean"
    sgld = ["--estimator", "sgld", "--sgld-average", "position", "--beta", 1, "--sgld-steps", 10]
    sgld += ["--steps", 25]
    assert train(*sgld, "--out", noisy, "--no-quiet") == 0
    warnings = summary(noisy)["warnings"]
    assert [w["name"] for w in warnings] == ["mc-error-dominates"]
    assert "Monte Carlo error dominates" in warnings[0]["message"]
    assert "--sgld-steps" in warnings[0]["fix"]  # the settings that would fix it
    assert "Monte Carlo error dominates" in capsys.readouterr().err
    assert train("--samples", 2000, "--block-size", 500, "--steps", 25, "--out", clean) == 0
    assert summary(clean)["warnings"] == []


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--beta", "auto:0"], "--beta: auto:TARGET needs TARGET in (0, inf)"),
        (["--beta", "auto:1000"], "auto:1000: an ESS of TARGET >= 1 samples needs TARGET below"),
        (["--beta", "auto:x"], "--beta: auto:TARGET needs a number TARGET"),
        (["--beta", "auto:-3", "--estimator", "sgld"], "--beta: auto:TARGET needs TARGET in (0,"),
        (["--beta", 1, "--beta-search", "two-pass"], "--beta-search: has no effect without"),
        (["--loss-scale", "sum"], "--loss-scale: has no effect with --beta auto"),
        (["--beta-search", "twice"], "--beta-search: must be one of grid, two-pass"),
        (["--loss-scale", "median"], "--loss-scale: must be one of mean, sum"),
        (["--estimator", "rm", "--beta", "auto:5"], "auto of rm and rm-stein takes no TARGET"),
        (["--estimator", "sgld", "--beta", "auto:5"], "auto of --sgld-average gradient takes no"),
        (["--baseline", "sgd", "--loss-scale", "sum"], "--loss-scale: an option of --estimator"),
    ],
)
def test_bad_temperature_settings_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit):
        train(*flags, "--steps", 1)
    assert message in capsys.readouterr().err


def test_sgld_gradient_average_auto_beta_is_the_batch_size(tmp_path):
    out = tmp_path / "sgld"
    flags = ["--sgld-steps", 5, "--batch-size", 25, "--steps", 2, "--out", out]
    assert train("--estimator", "sgld", *flags) == 0
    assert [m["beta"] for m in metrics(out)] == [25.0, 25.0]
    assert json.loads((out / "config.json").read_text())["method_options"]["sgld_average"] == (
        "gradient"
    )


def test_sgld_auto_beta_targets_the_training_set_size(tmp_path):
    out = tmp_path / "sgld"
    flags = ["--sgld-average", "position", "--sgld-steps", 40, "--steps", 10, "--out", out]
    assert train("--estimator", "sgld", *flags) == 0
    reached = sorted(m["beta_eff"] for m in metrics(out)[-5:])
    assert 200 / 1.5 < reached[2] < 200 * 1.5, reached  # --gm-train 200
