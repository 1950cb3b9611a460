"""A zoo model's own defaults for a method (``ModelSpec.trains_with``, issue 21): the settings
``--estimator is`` trains ``tiny-conv`` with unless a layer gives them. They sit under
``--config`` and the flags (each of which wins setting by setting), apply to that method only
(a baseline or another estimator on the same net keeps the global defaults), are recorded in
``config.json`` like any other setting, so that a resume without flags matches them, and reach
the Python API and ``sampler models``. A run recorded before them resumes and reruns
(``--config``) at its own recorded settings; a record's model defaults are dropped when a flag
names another model or method (a value the user gave stays)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import sampler
from sampler.cli.listings import zoo_listing
from sampler.cli.main import main
from sampler.config.run_config import RunConfig
from sampler.config.sources import make_config, model_defaults
from sampler.models import MODELS
from sampler.models.cnn import CNN_IS_SETTINGS

GLOBAL = RunConfig()
OWN_OPTIONS = {k: v for k, v in CNN_IS_SETTINGS.items() if k != "batch_size"}


def test_tiny_conv_trains_with_its_own_is_settings_unless_given():
    config = make_config({"model": "tiny-conv"})
    assert config.batch_size == CNN_IS_SETTINGS["batch_size"] != GLOBAL.batch_size
    assert config.method_options == OWN_OPTIONS
    assert model_defaults("tiny-conv", "is") == CNN_IS_SETTINGS


def test_a_flag_or_a_config_file_wins_setting_by_setting():
    flags = make_config({"model": "tiny-conv"}, {"batch_size": 20, "samples": 500})
    assert flags.batch_size == 20 and flags.method_options["samples"] == 500
    assert flags.method_options["lr"] == CNN_IS_SETTINGS["lr"]  # not given: the model's own
    toml = make_config({"model": "tiny-conv", "tau": 0.02}, {"seed": 3})
    assert toml.method_options["tau"] == 0.02 and toml.batch_size == 40
    # the model named by a later layer brings its defaults under every layer
    late = make_config({"samples": 300}, {"model": "tiny-conv"})
    assert late.method_options["samples"] == 300 and late.batch_size == 40


@pytest.mark.parametrize("layer", [{"baseline": "sgd"}, {"estimator": "sgld"}, {"estimator": "rm"}])
def test_another_method_on_the_same_net_keeps_the_global_defaults(layer):
    config = make_config({"model": "tiny-conv", **layer})
    assert config.batch_size == GLOBAL.batch_size and config.method_options == {}


def test_models_that_declare_nothing_keep_the_global_defaults():
    for name, spec in MODELS.items():
        if not spec.trains_with:
            config = make_config({"model": name})
            assert config.batch_size == GLOBAL.batch_size and config.method_options == {}
    assert make_config({"model": "keras:no_such_module:net"}).method_options == {}


def test_config_json_records_them_and_a_bare_resume_matches(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--model", "tiny-conv", "--samples", "40", "--eval-every", "0", "--quiet"]
    assert main(["train", *flags, "--steps", "1", "--out", str(out)]) == 0
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["batch_size"] == 40 and recorded["method_options"]["samples"] == 40
    assert recorded["method_options"]["lr"] == "anneal:5,2"
    assert recorded["method_options"]["tau"] == "scoping:0.01,0.0016"
    assert main(["train", "--resume", str(out), "--steps", "2", "--quiet"]) == 0
    assert main(["train", *flags, "--steps", "3", "--resume", str(out)]) == 0
    capsys.readouterr()
    # a changed setting is still refused on resume, naming it
    with pytest.raises(SystemExit):
        main(["train", *flags, "--batch-size", "20", "--resume", str(out)])
    assert "--batch-size: cannot change on --resume (run has 40)" in capsys.readouterr().err


def test_the_python_api_and_the_listing_show_them():
    algorithm = sampler.build("tiny-conv", input_shape=(1, 28, 28), num_classes=10)
    assert algorithm.config.batch_size == 40
    assert algorithm.config.method_options["samples"] == CNN_IS_SETTINGS["samples"]
    given = sampler.build("tiny-conv", input_shape=(1, 28, 28), num_classes=10, batch_size=8)
    assert given.config.batch_size == 8
    line = next(line for line in zoo_listing().splitlines() if "own defaults" in line)
    assert "--estimator is" in line and "--batch-size 40" in line and "--lr anneal:5,2" in line


def test_a_layer_that_leaves_batch_size_unset_gets_the_models():
    assert make_config({"model": "tiny-conv", "batch_size": None}).batch_size == 40


def _old_record(out) -> None:
    """A run of ``tiny-conv`` from before the model declared its own settings (J = 1,000,
    minibatch 20, the global defaults), as a complete record."""
    flags = ["--model", "tiny-conv", "--samples", "1000", "--batch-size", "20"]
    flags += ["--beta", "auto", "--lr", "anneal", "--tau", "0.01"]
    assert (
        main(
            ["train", *flags, "--steps", "1", "--eval-every", "0", "--quiet"] + ["--out", str(out)]
        )
        == 0
    )


def test_an_old_run_resumes_and_reruns_at_its_own_recorded_settings(tmp_path):
    old = tmp_path / "old"
    _old_record(old)
    assert main(["train", "--resume", str(old), "--steps", "2", "--quiet"]) == 0
    again = tmp_path / "again"
    config = str(old / "config.json")
    rerun = ["train", "--config", config, "--seed", "1", "--steps", "1", "--out", str(again)]
    assert main([*rerun, "--quiet"]) == 0
    recorded = json.loads((again / "config.json").read_text())
    assert recorded["batch_size"] == 20 and recorded["seed"] == 1
    options = recorded["method_options"]
    assert options["samples"] == 1000 and options["lr"] == "anneal" and options["tau"] == "0.01"


@pytest.mark.parametrize(
    ("flags", "batch", "samples"),
    [
        (["--estimator", "sgld"], 20, None),
        (["--baseline", "sgd"], 20, None),
        (["--model", "mlp"], 20, 40),  # the record's own --samples 40 was the user's
        (["--seed", "2"], 40, 40),  # the same model and method: the record's values stay
    ],
)
def test_a_records_model_defaults_go_with_its_model_and_method(tmp_path, flags, batch, samples):
    first = tmp_path / "first"
    assert (
        main(
            ["train", "--model", "tiny-conv", "--samples", "40", "--steps", "1"]
            + ["--eval-every", "0", "--quiet", "--out", str(first)]
        )
        == 0
    )
    second = tmp_path / "second"
    config = str(first / "config.json")
    command = ["train", "--config", config, *flags, "--steps", "1", "--eval-every", "0"]
    assert main([*command, "--quiet", "--out", str(second)]) == 0
    recorded = json.loads((second / "config.json").read_text())
    assert recorded["batch_size"] == batch
    assert recorded["method_options"].get("samples") == samples


def test_the_listing_names_a_baselines_declaration_as_a_baseline(monkeypatch):
    spec = dataclasses.replace(MODELS["linear"], trains_with={"sgd": {"lr": 0.1}})
    monkeypatch.setitem(MODELS, "linear", spec)
    assert "its own defaults with --baseline sgd: --lr 0.1" in zoo_listing()
    assert make_config({"model": "linear", "baseline": "sgd"}).method_options == {"lr": 0.1}
