"""End to end: the run loop and the command line on small data."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main
from sampler.config.settings import RunConfig
from sampler.models import Batch
from sampler.models.dense import DenseNet
from sampler.mpi import SerialComm
from sampler.problem import Problem
from sampler.schedules import parse_schedule
from sampler.training.loop import train
from sampler.training.setup import build_trainer

MIXTURE = [
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "10",
    "--gm-train",
    "400",
    "--gm-test",
    "200",
    "--quiet",
]


def cli(*args):
    return main(["train", *MIXTURE, *map(str, args)])


def read_run(path):
    metrics = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return (
        json.loads((path / "config.json").read_text()),
        metrics,
        json.loads((path / "summary.json").read_text()),
        torch.load(path / "checkpoint.pt", weights_only=False),
    )


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
    trainer = build_trainer(config)
    params = model.init_params(0)
    state = trainer.init(params)
    for k in range(3):
        problem = Problem(model, tiny_mixture.minibatch(0, k, 10))
        params, state, record = trainer.step(k, params, state, problem, SerialComm())
        assert problem.grad_evals == 0 and problem.loss_evals == 64
        assert record["grad_evals"] == 0


def test_toml_config_equals_flags(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'data = "gaussian-mixture"\ngm-dim = 10\ngm_train = 400\ngm-test = 200\n'
        "samples = 120\ntau = 0.05\nsteps = 4\nquiet = true\n"
    )
    assert main(["train", "--config", str(toml), "--out", str(tmp_path / "a")]) == 0
    assert cli("--samples", 120, "--tau", 0.05, "--steps", 4, "--out", tmp_path / "b") == 0
    *_, a = read_run(tmp_path / "a")
    *_, b = read_run(tmp_path / "b")
    assert torch.equal(a["params"], b["params"])
    config_a = json.loads((tmp_path / "a" / "config.json").read_text())
    config_b = json.loads((tmp_path / "b" / "config.json").read_text())
    assert {k: v for k, v in config_a.items() if k != "out"} == {
        k: v for k, v in config_b.items() if k != "out"
    }


@pytest.mark.parametrize(
    "args,message",
    [
        (["--samples", "0"], "--samples: must be an integer >= 1"),
        (["--tau", "-1"], "--tau: must be positive"),
        (["--tau", "scoping:0.1"], "--tau: 'scoping:0.1' needs 2 finite number"),
        (["--tau", "bogus:1"], "--tau: unknown schedule 'bogus'"),
        (["--lr", "abc"], "--lr: cannot read 'abc'"),
        (["--beta", "0"], "--beta: must be positive"),
        (["--test-fraction", "1.5"], "--data mnist: option test_fraction must be in (0.0, 1.0)"),
        (["--device", "tpu"], "--device: must be auto, cpu, cuda or cuda:N"),
        (["--model", "nope"], "argument --model: invalid choice: 'nope'"),
        (["--estimator", "is", "--baseline", "sgd"], "exclude each other"),
        (["--data-dir", "/nonexistent/dir"], "--data-dir: '/nonexistent/dir' is not a directory"),
        (["--resume", "/nonexistent/run"], "--resume /nonexistent/run: no config.json"),
        (["--steps", "2.5"], "argument --steps: invalid int value"),
    ],
)
def test_bad_flags_give_one_line_errors_before_any_work(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_toml_key_and_changed_setting_on_resume(tmp_path, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text("sampels = 10\n")
    with pytest.raises(SystemExit):
        main(["train", "--config", str(toml)])
    assert "unknown setting 'sampels'" in capsys.readouterr().err
    assert cli("--samples", 50, "--steps", 2, "--out", tmp_path / "r") == 0
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(tmp_path / "r"), "--samples", "60"])
    assert "--samples: cannot change on --resume" in capsys.readouterr().err


def test_existing_run_directory_is_not_overwritten(tmp_path, capsys):
    assert cli("--samples", 50, "--steps", 2, "--out", tmp_path / "r") == 0
    with pytest.raises(SystemExit) as exit_info:  # refused before any work
        cli("--samples", 50, "--steps", 2, "--out", tmp_path / "r")
    assert exit_info.value.code == 2
    assert "already holds a run" in capsys.readouterr().err


def test_divergence_stops_the_run_instead_of_writing_nan(tmp_path, capsys):
    assert cli("--baseline", "sgd", "--lr", 3e38, "--steps", 5, "--out", tmp_path / "r") == 1
    assert "non-finite" in capsys.readouterr().err


def test_schedule_scoping_values():
    tau = parse_schedule("scoping:0.1,0.5", "--tau")
    assert tau(0) == pytest.approx(0.1) and tau(2) == pytest.approx(0.1 / 2.25)


def test_python_api_matches_a_batch_type(tiny_mixture, tmp_path):
    config = RunConfig(
        data="gaussian-mixture",
        data_options={"dim": 10},
        method_options={"samples": 50},
        steps=2,
        quiet=True,
        out=str(tmp_path / "run"),
    )
    result = train(config, SerialComm())
    assert result.summary["steps"] == 2
    assert isinstance(tiny_mixture.minibatch(0, 0, 5), Batch)


def test_a_runs_config_json_reruns_it(tmp_path):
    first = tmp_path / "first"
    assert cli("--baseline", "sgd", "--lr", 0.05, "--steps", 5, "--out", first) == 0
    again = tmp_path / "again"
    argv = ["train", "--config", str(first / "config.json"), "--out", str(again)]
    assert main(argv) == 0
    *_, a = read_run(first)
    *_, b = read_run(again)
    assert torch.equal(a["params"], b["params"])
    # a flag overrides the file's method; --no-quiet undoes the file's quiet = true
    other = tmp_path / "other"
    argv = [
        "train",
        "--config",
        str(first / "config.json"),
        "--estimator",
        "is",
        "--samples",
        "50",
        "--no-quiet",
        "--out",
        str(other),
    ]
    assert main(argv) == 0
    config = json.loads((other / "config.json").read_text())
    assert config["baseline"] is None and config["estimator"] == "is" and not config["quiet"]


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


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--tau", "scoping:0.01,1", "--steps", "2000"],
            "--tau: 'scoping:0.01,1' reaches a value outside the float range at step 1999",
        ),
        (["--tau", "exp:1,1000", "--steps", "5"], "--tau: 'exp:1,1000' reaches"),
        (["--tau", "1e-320"], "must stay finite and positive"),
        (["--momentum", "0.9"], "--momentum: the two-step --optimizer sgd has none"),
        (["--tau", "scoping:0.01,1", "--steps", "200"], "reaches 1.2446e-62 at step 199"),
        (
            ["--nesterov"],
            "--nesterov: an option of --baseline sgd/esgd/rsgd/pla/plea, not of --estimator is",
        ),
        (["--baseline", "sgd", "--nesterov"], "--nesterov: needs --momentum"),
        (
            ["--baseline", "sgd", "--optimizer", "adam"],
            "--optimizer: an option of --estimator is/sgld/rm/rm-stein, not of --baseline sgd",
        ),
        (["--baseline", "sgd", "--tau", "0.1"], "--tau: an option of --estimator"),
        (["--switch-lr", "0.1"], "--switch-lr: has no effect without --switch-after"),
        (["--gm-dim", "5"], "--gm-dim: an option of --data gaussian-mixture, not of --data mnist"),
        (["--data", "gaussian-mixture", "--data-dir", "."], "--data gaussian-mixture reads no"),
        (["--model", "perceptron", "--model-opt", "gamma=nan"], "a finite number"),
    ],
)
def test_settings_that_would_be_ignored_or_break_later_are_refused(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
