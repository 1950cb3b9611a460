"""End to end: the settings of ``sampler train``: a TOML file equals the flags, a run's
config.json reruns it, unknown keys and changes on --resume, an existing run directory, and bad
or ignored flags refused with one line before any work."""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main
from tests.helpers.mixture_runs import cli, read_run


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
            "--optimizer: an option of --estimator is/sgld/rm/rm-stein and --baseline es, not of "
            "--baseline sgd",
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
