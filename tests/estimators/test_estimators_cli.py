"""Every registered estimator through ``sampler train``; warm start, switch, resume of chains."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main
from sampler.estimators import ESTIMATORS
from sampler.models.data.gaussian_mixture import make_gaussian_mixture
from sampler.models.zoo import build_mlp
from tests.helpers.method_settings import method_flags

DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "200", "--gm-test", "100"]
COMMON = ["--eval-every", "0", "--quiet"]


def train(*args: str) -> int:
    """``sampler train`` with the small settings of the method that ``args`` select."""
    return main(["train", *DATA, *COMMON, *method_flags(args), *args])


def read(path, name):
    return json.loads((path / name).read_text())


def metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_estimator_trains_through_the_cli(name, tmp_path):
    out = tmp_path / name
    assert train("--estimator", name, "--model", "mlp", "--steps", "2", "--out", str(out)) == 0
    objective = ESTIMATORS[name].objective
    assert read(out, "config.json")["objective"] == objective
    assert read(out, "summary.json")["objective"] == objective
    records = metrics(out)
    assert [r["step"] for r in records] == [1, 2]
    spec = ESTIMATORS[name]
    assert (records[0]["grad_evals"] > 0) == spec.needs_gradients


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_per_layer_tau_through_the_cli(name, tmp_path):
    out = tmp_path / name
    tau = ["--tau", "fc0=0.01,fc1=scoping:0.001,1"]
    assert (
        train("--estimator", name, "--model", "mlp", "--steps", "2", *tau, "--out", str(out)) == 0
    )
    record = metrics(out)[1]
    assert record["tau_fc0"] == 0.01 and record["tau_fc1"] == pytest.approx(0.0005)


def test_unknown_layer_is_reported_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("--model", "mlp", "--tau", "fc0=0.01,conv1=0.1", "--out", str(out)) == 1
    error = capsys.readouterr().err
    assert "--tau: unknown layer(s) conv1; the model's layers: fc0, fc1" in error
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--optimizer", "momentum"], "--optimizer momentum: needs --momentum"),
        (["--estimator", "sgld", "--chains", "0"], "--chains: must be an integer >= 1"),
        (["--chains", "2"], "--chains: an option of --estimator sgld, not of --estimator is"),
        (["--switch-after", "5", "--steps", "5"], "--switch-after: must be less than --steps"),
        (["--init-from", "/nonexistent"], "--init-from: '/nonexistent' is not a run directory"),
        (["--estimator", "sgld", "--sgld-eps", "harmonic:1"], "--sgld-eps"),
    ],
)
def test_bad_flags_are_rejected_with_the_flag_named(flags, message, capsys):
    with pytest.raises(SystemExit):
        train(*flags)
    assert message in capsys.readouterr().err


def test_sgld_chains_survive_resume(tmp_path):
    args = ["--estimator", "sgld", "--model", "linear", "--checkpoint-every", "2"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(*args, "--steps", "4", "--out", str(whole)) == 0
    assert train(*args, "--steps", "2", "--out", str(split)) == 0
    state = torch.load(split / "checkpoint.pt", weights_only=False)["state"]
    assert state["estimator"]["chains"].shape[0] == 3
    assert main(["train", "--resume", str(split), "--steps", "4", "--quiet"]) == 0
    a = torch.load(whole / "checkpoint.pt", weights_only=False)
    b = torch.load(split / "checkpoint.pt", weights_only=False)
    assert torch.equal(a["params"], b["params"])
    assert torch.equal(a["state"]["estimator"]["chains"], b["state"]["estimator"]["chains"])


def test_init_from_starts_at_the_other_runs_parameters(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert train("--baseline", "sgd", "--model", "mlp", "--steps", "3", "--out", str(first)) == 0
    assert (
        train("--model", "mlp", "--steps", "1", "--init-from", str(first), "--out", str(second))
        == 0
    )
    params = torch.load(first / "checkpoint.pt", weights_only=False)["params"]
    data = make_gaussian_mixture(dim=6, train_size=200, test_size=100)
    model = build_mlp(data.input_shape, data.num_classes)
    loss = float(model.losses(params.unsqueeze(0), data.minibatch(0, 0, 20))[0])
    assert metrics(second)[0]["train_loss"] == pytest.approx(loss, rel=1e-6)


def test_init_from_a_different_model_is_refused(tmp_path, capsys):
    first = tmp_path / "first"
    assert train("--baseline", "sgd", "--model", "linear", "--steps", "1", "--out", str(first)) == 0
    assert train("--model", "mlp", "--init-from", str(first), "--out", str(tmp_path / "b")) == 1
    assert "--init-from" in capsys.readouterr().err


def test_switch_after_runs_sgd_then_the_estimator(tmp_path):
    switched, sgd = tmp_path / "switched", tmp_path / "sgd"
    args = ["--model", "linear", "--steps", "4"]
    assert train(*args, "--estimator", "sgld", "--switch-after", "2", "--out", str(switched)) == 0
    assert train(*args, "--baseline", "sgd", "--lr", "0.01", "--out", str(sgd)) == 0
    a, b = metrics(switched), metrics(sgd)
    assert [r["phase"] for r in a] == ["sgd", "sgd", "estimator", "estimator"]
    assert [r["train_loss"] for r in a[:3]] == [r["train_loss"] for r in b[:3]]
    assert a[3]["train_loss"] != b[3]["train_loss"]
    assert read(switched, "summary.json")["objective"] == "local-entropy"


def test_help_lists_the_estimator_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--chains", "--sgld-eps", "--rm-step", "--optimizer", "--init-from", "rm-stein"):
        assert option in text
