"""End to end: every model of the zoo trains a few steps with every estimator and every backprop
baseline through ``sampler train --model NAME --model-opt ...`` on small synthetic data; the
sign-unit methods (LAL, eLAL, fBP, ceSGD) train their committee models and refuse the others in
one line."""

from __future__ import annotations

import json

import pytest

from sampler.baselines import BASELINES
from sampler.cli.main import main
from sampler.estimators import ESTIMATORS
from sampler.models import MODELS
from tests.helpers.method_settings import SIGN_UNIT_MODELS, TINY, method_flags

PATTERNS = ["--data", "random-patterns", "--data-opt", "n=15", "--data-opt", "alpha=2"]


def images(channels: int, size: int) -> list[str]:
    options = {"channels": channels, "height": size, "width": size, "classes": 3}
    options.update(train_size=16, test_size=8)
    flags = ["--data", "synthetic-images"]
    for key, value in options.items():
        flags += ["--data-opt", f"{key}={value}"]
    return flags


# model -> (data flags, model options): tiny networks, a couple of steps each.
RUNS = {
    "linear": (images(1, 4), []),
    "mlp": (images(1, 4), ["widths=6,5"]),
    "musso-mlp": (images(1, 4), ["widths=5,5,5,5"]),
    "perceptron": (PATTERNS, ["gamma=2"]),
    "committee": (PATTERNS, ["hidden=3", "beta=1.5"]),
    "small-conv": (images(1, 16), ["hidden=8"]),
    "tiny-conv": (images(1, 16), ["channels=2,3"]),
    "musso-cifar": (images(3, 8), ["dense=8,8"]),
    "musso-stl": (images(3, 8), ["dense=8,8"]),
    "resnet18": (images(3, 8), ["width=4"]),
}
METHODS = [("--estimator", name) for name in ESTIMATORS] + [
    ("--baseline", name) for name in BASELINES
]


def test_every_model_has_a_run():
    assert set(RUNS) == set(MODELS)


@pytest.mark.parametrize("method", METHODS, ids=[m[1] for m in METHODS])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_model_trains_a_few_steps(tmp_path, name, method, capsys):
    data, options = RUNS[name]
    flags = [*data, "--model", name, *[f for o in options for f in ("--model-opt", o)]]
    out = tmp_path / "run"
    common = ["--steps", "2", "--batch-size", "4", *method_flags(method, TINY)]
    if method[1] == "rm-stein":
        # the Stein gradient of a 10^5-10^6 parameter CNN perturbed by sqrt(tau) = 0.1 per
        # coordinate is large enough to diverge: a smaller tau keeps the perturbed nets sane
        common += ["--tau", "1e-4"]
    code = main(["train", *flags, *common, method[0], method[1], "--quiet", "--out", str(out)])
    if name not in SIGN_UNIT_MODELS.get(method[1], (name,)):  # a sign-unit method elsewhere
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and f"--baseline {method[1]}" in lines[0]
        return
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert config["model"] == name and len(metrics) == 2
    n_test = 30 if data is PATTERNS else 8  # random-patterns: the test set is the training set
    assert summary["final_test_errors"] == round((1 - summary["final_test_accuracy"]) * n_test)
    assert "test_errors" in metrics[-1] and summary["num_params"] > 0


def test_toml_option_tables_and_flags_merge(tmp_path):
    settings = tmp_path / "run.toml"
    settings.write_text(
        'model = "committee"\ndata = "teacher"\nsteps = 2\nbatch_size = 5\nsamples = 4\n'
        "quiet = true\n[model_options]\nhidden = 3\nbeta = 3.0\n"
        "[data-options]\nn = 9\nalpha = 2.0\ntest_size = 5\n"
    )
    out = tmp_path / "run"
    argv = ["train", "--config", str(settings), "--model-opt", "beta=4", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model_options"] == {"hidden": 3, "beta": 4.0}
    assert config["data_options"] == {"n": 9, "alpha": 2.0, "test_size": 5}
    assert json.loads((out / "summary.json").read_text())["num_params"] == 9


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--model", "committee", "--model-opt", "k=3"], "--model committee: unknown option 'k'"),
        (["--model", "mlp", "--model-opt", "widths"], "--model-opt: expected KEY=VALUE"),
        (["--data", "teacher", "--data-opt", "n=ten"], "--data teacher: option n must be int"),
    ],
)
def test_bad_options_are_rejected_before_any_work(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv, "--quiet"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_binary_model_on_ten_classes_is_a_clear_error(tmp_path, capsys):
    args = ["train", "--model", "perceptron", "--data", "synthetic-images", "--steps", "1"]
    assert main([*args, "--quiet", "--out", str(tmp_path / "r")]) == 1
    assert "needs a data set with 2 classes, got 10" in capsys.readouterr().err


def test_sampler_models_lists_the_zoo_with_counts_and_options(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name in MODELS:
        assert f"  {name} " in text
    for fragment in ("7,850 parameters", "159,010 parameters", "11,173,962 parameters"):
        assert fragment in text
    assert "hidden: int, default 5" in text and "teacher_seed: int, default 0" in text


@pytest.mark.parametrize("name", ["musso-cifar", "resnet18"])
def test_full_size_cifar_networks_take_an_importance_sampling_step(tmp_path, name):
    flags = [
        "--data",
        "synthetic-images",
        "--data-opt",
        "train_size=4",
        "--data-opt",
        "test_size=2",
    ]
    out = tmp_path / "run"
    common = ["--steps", "1", "--batch-size", "2", "--samples", "2", "--block-size", "2"]
    assert main(["train", *flags, "--model", name, *common, "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_params"] == {"musso-cifar": 2573514, "resnet18": 11173962}[name]


def test_resume_keeps_the_model_options(tmp_path, capsys):
    out = str(tmp_path / "run")
    flags = ["--model", "committee", "--model-opt", "hidden=3", "--data", "random-patterns"]
    flags += ["--data-opt", "n=15", "--batch-size", "4", "--samples", "8", "--quiet"]
    assert main(["train", *flags, "--steps", "2", "--out", out]) == 0
    assert main(["train", "--resume", out, "--steps", "3", "--model-opt", "hidden=3"]) == 0
    with pytest.raises(SystemExit):
        main(["train", "--resume", out, "--steps", "4", "--model-opt", "hidden=5"])
    assert "--model-opt: cannot change on --resume" in capsys.readouterr().err


def test_train_help_lists_the_option_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0 and "--model-opt KEY=VALUE" in text and "--data-opt" in text
