"""Per-layer tau: ``--tau`` as one schedule or LAYER=SCHEDULE entries, bound to model layers."""

from __future__ import annotations

import pytest
import torch

from sampler.config.resolution import resolve_settings
from sampler.config.run_config import ConfigError
from sampler.config.sources import make_config
from sampler.models.dense import DenseNet
from sampler.scheme.tau import TauSchedule

NET = DenseNet(4, (3,), 2)  # fc0: 4*3 + 3 = 15 parameters, fc1: 3*2 + 2 = 8


def test_scalar_tau_is_a_scalar_tensor():
    tau = TauSchedule("scoping:0.01,1").bind(NET.layers, NET.num_params)
    assert tau(0).shape == () and float(tau(1)) == pytest.approx(0.005)
    assert tau.record(1) == {"tau": pytest.approx(0.005)}


def test_per_layer_tau_fills_each_layer_slice():
    tau = TauSchedule("fc0=0.01,fc1=scoping:0.1,1").bind(NET.layers, NET.num_params)
    vector = tau(1)
    assert vector.shape == (NET.num_params,)
    assert torch.all(vector[:15] == torch.tensor(0.01))
    assert torch.allclose(vector[15:], torch.full((8,), 0.05))
    assert tau.record(1) == {"tau_fc0": 0.01, "tau_fc1": pytest.approx(0.05)}


def test_default_entry_covers_unlisted_layers():
    vector = TauSchedule("fc1=0.001,*=0.1").bind(NET.layers, NET.num_params)(0)
    assert torch.allclose(vector[:15], torch.full((15,), 0.1))
    assert torch.allclose(vector[15:], torch.full((8,), 0.001))


def test_unknown_layer_lists_the_model_layers():
    with pytest.raises(ValueError, match="--tau: unknown layer.*fc7.*layers: fc0, fc1"):
        TauSchedule("fc0=0.01,fc7=0.1").bind(NET.layers, NET.num_params)


def test_missing_layer_without_default_is_an_error():
    with pytest.raises(ValueError, match=r"--tau: no tau for layer\(s\) fc1"):
        TauSchedule("fc0=0.01").bind(NET.layers, NET.num_params)


@pytest.mark.parametrize("spec", ["fc0=0.01,fc0=0.1", "=0.1", "fc0=-1", "fc0=foo:1"])
def test_malformed_per_layer_spec_names_the_flag(spec):
    with pytest.raises(ConfigError, match="--tau"):
        resolve_settings(make_config({"tau": spec}))


def test_toml_table_becomes_the_flag_text():
    config = make_config({"tau": {"fc0": 0.01, "fc1": "scoping:0.1,0.01"}})
    assert resolve_settings(config).options["tau"] == "fc0=0.01,fc1=scoping:0.1,0.01"


def test_toml_file_with_schedules_and_a_tau_table(tmp_path):
    from sampler.config.sources import load_toml

    path = tmp_path / "run.toml"
    path.write_text(
        'estimator = "sgld"\nsgld-eps = "harmonic:1,1000"\nbeta = 1\n'
        '[tau]\nfc0 = 0.01\n"*" = "reverse:0.001,0.01"\n'
    )
    values = resolve_settings(make_config(load_toml(str(path)))).options
    assert values["tau"] == "fc0=0.01,*=reverse:0.001,0.01" and values["beta"] == "1"
    tau = TauSchedule(values["tau"]).bind(NET.layers, NET.num_params)
    assert float(tau(1)[-1]) == pytest.approx(0.00101)
