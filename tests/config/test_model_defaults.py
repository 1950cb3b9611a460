"""A zoo model's own defaults for a method (``ModelSpec.trains_with``, issue 21): the settings
``--estimator is`` trains ``tiny-conv`` with unless a layer gives them. They sit under
``--config`` and the flags (each of which wins setting by setting), apply to that method only
(a baseline or another estimator on the same net keeps the global defaults), are recorded in
``config.json`` like any other setting, so that a resume without flags matches them, and reach
the Python API and ``sampler models``."""

from __future__ import annotations

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
