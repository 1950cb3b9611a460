"""Methods declare their own options: listing, refusal of another method's options, typed
values with defaults, the old flat config.json, and a flag that replaces the file's method."""

from __future__ import annotations

import json

import pytest

from sampler.cli.main import main
from sampler.config.method_options import all_methods, method, option_owners, resolve
from sampler.config.resolution import method_values, resolve_settings
from sampler.config.run_config import FIELDS, ConfigError
from sampler.config.sources import make_config
from sampler.models.options import OptionError
from tests.helpers.method_settings import SMALL

DATA = ["--data", "gaussian-mixture", "--gm-dim", "6", "--gm-train", "100", "--gm-test", "50"]


def test_every_method_has_small_test_settings():
    # the EvoTorch searchers are methods only where the optional extra is installed
    registered = {m.name for m in all_methods()}
    assert registered == {n for n in SMALL if not n.startswith("evotorch:") or n in registered}


def test_no_method_option_shadows_a_run_setting():
    assert not set(option_owners()) & set(FIELDS)


def test_defaults_are_filled_and_typed():
    values = resolve(method("sgld", None), {"chains": "4"}, steps=10)
    assert values["chains"] == 4 and values["sgld_steps"] == 100
    assert values["tau"] == "0.01" and values["lr"] == "anneal" and values["optimizer"] == "sgd"
    assert resolve(method("is", "sgd"), {}, steps=10) == {
        "lr": "0.01",
        "momentum": 0.0,
        "nesterov": False,
    }


@pytest.mark.parametrize(
    "chosen, given, message",
    [
        (
            ("is", None),
            {"chains": 2},
            "--chains: an option of --estimator sgld, not of --estimator is",
        ),
        (
            ("is", "sgd"),
            {"beta": 2},
            "--beta: an option of --estimator is/sgld/rm/rm-stein, not of",
        ),
        (("is", None), {"nesterov": True}, "--nesterov: an option of --baseline sgd"),
        (
            ("rm", None),
            {"samples": 5},
            "--samples: an option of --estimator is, not of --estimator rm",
        ),
        (("is", None), {"bogus": 1}, "--bogus: unknown option of --estimator is"),
        (("is", None), {"samples": "many"}, "--samples: must be int, got 'many'"),
        (("is", None), {"samples": 2.5}, "--samples: must be an integer, got 2.5"),
        (("is", None), {"optimizer": "lbfgs"}, "--optimizer: must be one of sgd, momentum"),
    ],
)
def test_bad_options_name_the_flag_and_the_owner(chosen, given, message):
    with pytest.raises(OptionError) as error:
        resolve(method(*chosen), given, steps=10)
    assert message in str(error.value)


def test_listing_shows_every_method_and_its_options(capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    for each in all_methods():
        assert f"  {each.name} " in text
    for name in option_owners():
        assert "--" + name.replace("_", "-") + ":" in text


def test_help_gives_each_owner_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    output = capsys.readouterr().out
    text = " ".join(output.split())
    # argparse may wrap at a hyphen ("rm-" / "stein"): compared without the whitespace
    assert "annealfor--estimatoris/sgld/rm/rm-stein" in "".join(output.split())
    assert "--baseline sgd/pla/plea: learning rate" in text
    assert "0.01 for --baseline sgd" in text and "%%" not in text


def test_bool_option_takes_a_negation_flag(tmp_path):
    out = tmp_path / "run"
    args = ["--baseline", "sgd", "--momentum", "0.5", "--nesterov", "--no-nesterov"]
    assert main(["train", *DATA, *args, "--steps", "1", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["method_options"]["nesterov"] is False


def test_config_json_records_every_option_of_the_method_only(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *DATA, "--estimator", "sgld", *SMALL["sgld"], "--steps", "1",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    record = json.loads((out / "config.json").read_text())
    assert set(record["method_options"]) == set(method("sgld", None).options)
    assert record["method_options"]["chains"] == 3
    assert record["data_options"] == {"dim": 6, "train_size": 100, "test_size": 50}
    for old in ("samples", "gm_dim", "tau", "test_fraction"):
        assert old not in record


def test_a_flag_replacing_the_files_method_drops_its_options(tmp_path):
    first, second = tmp_path / "sgld", tmp_path / "is"
    assert main(["train", *DATA, "--estimator", "sgld", *SMALL["sgld"], "--steps", "1",
                 "--quiet", "--out", str(first)]) == 0  # fmt: skip
    argv = ["train", "--config", str(first / "config.json"), "--estimator", "is"]
    assert main([*argv, "--samples", "20", "--out", str(second)]) == 0
    options = json.loads((second / "config.json").read_text())["method_options"]
    assert options["samples"] == 20 and "chains" not in options


def test_a_config_json_of_the_earlier_flat_layout_still_runs(tmp_path):
    """Earlier versions recorded every method's setting at the top level."""
    legacy = {
        "model": "linear", "model_options": {}, "data": "gaussian-mixture", "data_options": {},
        "data_dir": None, "test_fraction": 0.2, "data_seed": 0, "gm_dim": 6, "gm_delta": 0.25,
        "gm_train": 100, "gm_test": 50, "estimator": "is", "baseline": None, "samples": 30,
        "block_size": 100, "tau": "0.01", "beta": "1", "lr": None, "optimizer": "sgd",
        "momentum": 0.0, "nesterov": False, "chains": 1, "sgld_steps": 1000,
        "sgld_eps": "harmonic:1,1000", "rm_samples": 30, "rm_iterations": 30,
        "rm_step": "power:1,1", "init_from": None, "switch_after": 0, "switch_lr": "0.01",
        "steps": 2, "batch_size": 20, "seed": 0, "eval_every": 100, "checkpoint_every": 100,
        "out": "runs/x", "device": "auto", "quiet": True, "objective": "local-entropy",
        "num_params": 14,
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(legacy))
    out = tmp_path / "rerun"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 0
    record = json.loads((out / "config.json").read_text())
    assert record["method_options"]["samples"] == 30 and record["data_options"]["dim"] == 6


def test_gm_aliases_and_data_options_are_the_same_setting():
    by_alias = make_config({"data": "gaussian-mixture", "gm_dim": "7"})
    by_table = make_config({"data": "gaussian-mixture", "data_options": {"dim": 7}})
    resolve_settings(by_alias)
    assert by_alias.data_options == {"dim": "7"} and by_table.data_options == {"dim": 7}
    with pytest.raises(ConfigError, match="--gm-dim: an option of --data gaussian-mixture"):
        make_config({"gm_dim": 7})


def test_method_values_of_a_run_configuration():
    config = make_config({"estimator": "rm", "rm_step": "power:0.1,0.7", "tau": 0.02})
    values = method_values(config)
    assert values["rm_step"] == "power:0.1,0.7" and values["tau"] == "0.02"
