"""``--tau-scale``: tau on each layer's own scale (``sampler.scheme.tau_scale``).

* ``init-variance`` binds ``tau_l = tau * Var(layer l of init_params(seed))``, for a plain,
  per-layer or scoping ``--tau`` alike; ``absolute`` is the unscaled tau, unchanged.
* The literal proposals drawn with it have per-layer variance ``tau_l`` (4.5 standard errors);
  the absolute tau (the wrong variant on a CNN) fails that test.
* Every estimator trains with it; it is recorded in ``config.json``, a resumed run equals an
  uninterrupted one, and ``sampler.train`` gives the command's run.
"""

from __future__ import annotations

import math

import pytest
import torch

import sampler
from sampler.cli.main import main
from sampler.estimators import StepKey
from sampler.estimators.proposals import Literal
from sampler.models.cnn import tiny_conv_net
from sampler.scheme.tau import TauSchedule
from sampler.scheme.tau_scale import layer_scales, layer_variances
from tests.helpers.mixture_runs import cli, read_run

CNN = tiny_conv_net((1, 28, 28), 10)


def test_init_variance_is_about_one_third_over_the_fan_in():
    scales = layer_scales("init-variance", CNN, 0)
    fan_in = {"conv1": 25, "conv2": 6 * 25, "fc1": 256}
    for layer, value in scales.items():
        assert value == pytest.approx(1 / (3 * fan_in[layer]), rel=0.12), layer
    assert layer_scales("absolute", CNN, 0) is None
    values = torch.tensor([2.0, 2.0, 2.0, 0.0, 4.0])
    assert layer_variances({"a": slice(0, 3), "b": slice(3, 5)}, values) == {"a": 1.0, "b": 4.0}


@pytest.mark.parametrize("spec", ["0.5", "conv1=0.1,*=scoping:1,0.1"])
def test_the_scale_multiplies_each_layers_schedule(spec):
    scales = layer_scales("init-variance", CNN, 3)
    plain = TauSchedule(spec).bind(CNN.layers, CNN.num_params)
    scaled = TauSchedule(spec).bind(CNN.layers, CNN.num_params, scales)
    for step in (0, 7):
        expected = plain(step) * torch.ones(CNN.num_params)
        for layer, part in CNN.layers.items():
            expected[part] *= scales[layer]
        assert torch.allclose(scaled(step), expected, rtol=1e-6)
        assert scaled.record(step)["tau_conv1"] == pytest.approx(float(expected[0]))
    # absolute: exactly the tau of before
    assert torch.equal(TauSchedule(spec).bind(CNN.layers, CNN.num_params, None)(7), plain(7))


def layer_variance_z(tau: torch.Tensor, claimed: torch.Tensor, samples: int = 400):
    """z-scores of each layer's pooled sample variance of literal proposals against ``claimed``."""
    center = CNN.init_params(0)
    proposal = Literal()
    proposal.prepare(StepKey(1, 0), center, tau, None)
    points = proposal.draw(StepKey(1, 0), [(0, samples)], samples, center).points
    z = {}
    for layer, part in CNN.layers.items():
        deviation = (points[:, part] - center[part]).double()
        variance = float(claimed[part][0])
        count = deviation.numel()
        # a Gaussian's squared deviation has variance 2 variance^2
        z[layer] = (float((deviation**2).mean()) - variance) / (variance * math.sqrt(2 / count))
    return z


def test_literal_proposals_have_the_stated_per_layer_variance():
    scales = layer_scales("init-variance", CNN, 0)
    scaled = TauSchedule("0.5").bind(CNN.layers, CNN.num_params, scales)(0)
    z = layer_variance_z(scaled, scaled)
    assert max(abs(v) for v in z.values()) < 4.5, z
    absolute = TauSchedule("0.5").bind(CNN.layers, CNN.num_params)(0) * torch.ones(CNN.num_params)
    wrong = layer_variance_z(absolute, scaled)
    assert max(abs(v) for v in wrong.values()) > 4.5, wrong


@pytest.mark.parametrize("estimator", ["is", "sgld", "rm", "rm-stein"])
def test_every_estimator_trains_with_it(tmp_path, estimator):
    out = tmp_path / estimator
    flags = ["--model", "mlp", "--model-opt", "widths=4", "--estimator", estimator]
    scale = ["--tau-scale", "init-variance", "--tau", 0.5]
    assert cli(*flags, *scale, "--steps", 3, "--out", out) == 0
    config, metrics, _, checkpoint = read_run(out)
    assert config["method_options"]["tau_scale"] == "init-variance"
    assert {"tau_fc0", "tau_fc1"} <= set(metrics[0])
    assert metrics[0]["tau_fc0"] != metrics[0]["tau_fc1"]
    assert torch.isfinite(checkpoint["params"]).all()


def test_a_resumed_layerwise_cnn_run_equals_an_uninterrupted_one(tmp_path):
    common = [
        "train",
        "--model",
        "tiny-conv",
        "--data",
        "synthetic-images",
        *("--data-opt", "channels=1", "--data-opt", "height=28", "--data-opt", "width=28"),
        *("--data-opt", "train_size=64", "--data-opt", "test_size=32"),
        *("--samples", "40", "--block-size", "20", "--proposal", "layerwise"),
        *("--tau-scale", "init-variance", "--tau", "0.3", "--checkpoint-every", "2"),
        "--quiet",
    ]
    assert main([*common, "--steps", "5", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", "3", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "5", "--quiet"]) == 0
    config, metrics, _, whole = read_run(tmp_path / "whole")
    *_, resumed = read_run(tmp_path / "part")
    assert torch.equal(whole["params"], resumed["params"])
    assert config["method_options"]["proposal"] == "layerwise"
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5]


def test_the_api_takes_it_and_names_a_bad_value():
    common = {"data_options": {"dim": 10, "train_size": 100, "test_size": 50}, "quiet": True}
    result = sampler.train(
        "linear",
        "gaussian-mixture",
        samples=30,
        tau=0.5,
        tau_scale="init-variance",
        steps=2,
        **common,
    )
    assert "tau_fc0" in result.metrics[0]
    with pytest.raises(ValueError, match="tau_scale"):
        sampler.train("linear", "gaussian-mixture", tau_scale="relative", steps=1, **common)


def test_build_steps_are_the_layerwise_updates_of_train():
    from sampler.models import Dataset

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=generator)
    y = (x[:, 0] > 0).long()

    def net():  # a user's initialisation draws from the global generator; kept out of the test
        with torch.random.fork_rng():
            return torch.nn.Sequential(
                torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
            )

    options = {"samples": 30, "tau": 0.5, "tau_scale": "init-variance", "seed": 3}
    options["proposal"] = "layerwise"
    result = sampler.train(net(), (x, y), steps=4, batch_size=4, quiet=True, **options)
    algorithm = sampler.build(net(), steps=4, **options)
    data = Dataset("x", x, y, x, y, 2)
    state = algorithm.init()
    for k in range(4):
        state, info = algorithm.step(state, data.minibatch(3, k, 4))
    assert torch.equal(state.params, result.params)
    assert {"tau_0", "tau_2"} <= set(info)
