"""End to end: the run loop on small data: the run directory it writes, learning the mixture, the
importance-sampling path without a gradient, divergence, data too small for the settings."""

from __future__ import annotations

import torch

from sampler.cli.main import main
from sampler.config.resolution import resolve_settings
from sampler.config.run_config import RunConfig
from sampler.models import Batch
from sampler.models.dense import DenseNet
from sampler.mpi import SerialComm
from sampler.problem import Problem
from sampler.setup.trainer import build_trainer
from sampler.training.loop import train
from tests.helpers.mixture_runs import cli, read_run


def test_is_run_writes_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        cli(
            "--samples",
            200,
            "--tau",
            0.05,
            "--steps",
            12,
            "--batch-size",
            20,
            "--eval-every",
            5,
            "--out",
            out,
        )
        == 0
    )
    assert "final test accuracy" in capsys.readouterr().out
    config, metrics, summary, checkpoint = read_run(out)
    assert config["estimator"] == "is" and config["objective"] == "local-entropy"
    assert [m["step"] for m in metrics] == list(range(1, 13))
    for key in (
        "time",
        "train_loss",
        "ess",
        "max_weight",
        "free_energy",
        "loss_evals",
        "grad_evals",
    ):
        assert key in metrics[0]
    assert metrics[0]["loss_evals"] == 200 and metrics[0]["grad_evals"] == 0
    assert [m["step"] for m in metrics if "test_accuracy" in m] == [5, 10, 12]
    assert summary["steps"] == 12 and summary["seconds_per_update"] > 0
    assert summary["final_test_accuracy"] == metrics[-1]["test_accuracy"]
    assert checkpoint["step"] == 12 and not (out / "checkpoint.pt.tmp").exists()


def test_sgd_baseline_learns_the_mixture(tmp_path):
    out = tmp_path / "sgd"
    assert (
        cli(
            "--baseline",
            "sgd",
            "--lr",
            0.1,
            "--momentum",
            0.9,
            "--steps",
            100,
            "--batch-size",
            20,
            "--out",
            out,
        )
        == 0
    )
    config, metrics, summary, _ = read_run(out)
    assert summary["method"] == "baseline:sgd" and metrics[0]["grad_evals"] == 1
    assert summary["final_test_accuracy"] > 1 - summary["dataset_bayes_error"] - 0.08


def test_importance_sampling_learns_the_mixture(tmp_path):
    out = tmp_path / "is"
    assert (
        cli("--samples", 300, "--tau", 0.05, "--steps", 60, "--batch-size", 50, "--out", out) == 0
    )
    _, metrics, summary, _ = read_run(out)
    assert summary["final_test_accuracy"] > 1 - summary["dataset_bayes_error"] - 0.1
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]


class GradientForbiddenModel(DenseNet):
    def loss_and_grad(self, params, batch):
        raise AssertionError("importance sampling asked for a gradient")

    def _losses(self, params, batch):
        return Forbidden.apply(super()._losses(params, batch))


class Forbidden(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values):
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        raise AssertionError("backward through the loss of the IS path")


def test_importance_sampling_never_evaluates_a_gradient(tiny_mixture):
    model = GradientForbiddenModel(10, (8,), 2)
    config = RunConfig(method_options={"samples": 64, "block_size": 16, "tau": "0.1"})
    trainer = build_trainer(resolve_settings(config))
    params = model.init_params(0)
    state = trainer.init(params)
    for k in range(3):
        problem = Problem(model, tiny_mixture.minibatch(0, k, 10))
        params, state, record = trainer.step(k, params, state, problem, SerialComm())
        assert problem.grad_evals == 0 and problem.loss_evals == 64
        assert record["grad_evals"] == 0


def test_divergence_stops_the_run_instead_of_writing_nan(tmp_path, capsys):
    assert cli("--baseline", "sgd", "--lr", 3e38, "--steps", 5, "--out", tmp_path / "r") == 1
    assert "non-finite" in capsys.readouterr().err


def test_data_that_cannot_hold_the_settings_is_a_clear_error(tmp_path, capsys):
    assert cli("--batch-size", 401, "--steps", 1, "--out", tmp_path / "a") == 1
    assert "--batch-size: must be at most the 400 training examples" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    argv = [
        "train",
        "--test-fraction",
        "0.0005",
        "--steps",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 1
    assert "--test-fraction 0.0005: leaves the test set empty" in capsys.readouterr().err


def test_python_api_matches_a_batch_type(tiny_mixture, tmp_path):
    config = RunConfig(
        data="gaussian-mixture",
        data_options={"dim": 10},
        method_options={"samples": 50},
        steps=2,
        quiet=True,
        out=str(tmp_path / "run"),
    )
    result = train(resolve_settings(config), SerialComm())
    assert result.summary["steps"] == 2
    assert isinstance(tiny_mixture.minibatch(0, 0, 5), Batch)


def test_run_health_fixes_name_flags_or_the_api_arguments():
    from sampler.models.naming import arguments
    from sampler.scheme.mc_error import MonteCarloErrorDominates
    from sampler.training.health import EssStuckAtOne, ParameterGrowth

    checks = [EssStuckAtOne(), ParameterGrowth(), *map(MonteCarloErrorDominates, ("is", "sgld"))]
    assert [check.fix for check in checks] == [
        "lower --tau or --beta, or raise --samples",
        "lower --lr or --tau",
        "raise --samples, lower --beta if the ESS is small, or use --beta auto",
        "use --sgld-average gradient (no noise where the loss is flat); with --sgld-average "
        "position raise --beta (or use --beta auto), --sgld-steps or --chains, or lower --lr",
    ]
    with arguments():
        fixes = [check.fix for check in checks]
    assert fixes[:2] == ["lower tau= or beta=, or raise samples=", "lower lr= or tau="]
    assert "--" not in " ".join(fixes) and "beta='auto'" in fixes[2]
