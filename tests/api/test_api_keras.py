"""The Python API with a keras.Model: trained, and its variables set to the final parameters;
its state_dict is keyed by the variables' paths."""

from __future__ import annotations

import pytest
import torch

import sampler

pytest.importorskip("tensorflow")

from tests.helpers import keras_factories  # noqa: E402


def test_a_keras_model_is_trained_and_loaded_back():
    keras = keras_factories.keras_module()
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    x = torch.linspace(-1, 1, 120).reshape(30, 4)
    y = (x[:, 0] > 0).long()
    result = sampler.train(
        net, (x, y), model_options={"xla": False}, baseline="sgd", lr=0.5, steps=3, quiet=True
    )
    assert result.module is net
    weights = torch.cat([torch.as_tensor(v.numpy()).reshape(-1) for v in net.trainable_variables])
    assert torch.equal(weights, result.params)
    state = result.state_dict()
    assert list(state) == [v.path for v in net.trainable_variables]
    assert [tuple(t.shape) for t in state.values()] == [(4, 3), (3,), (3, 2), (2,)]


def test_load_into_a_keras_model_of_another_architecture_is_refused_naming_what_differs():
    keras = keras_factories.keras_module()
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    algorithm = sampler.build(net, model_options={"xla": False}, baseline="sgd")
    state = algorithm.init()
    wider = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"^load_into\(module=\): variable .* has shape \(5, 3\)"):
        algorithm.load_into(wider, state)
    deeper = keras.Sequential([keras.Input((4,)), *(keras.layers.Dense(3) for _ in range(3))])
    with pytest.raises(ValueError, match=r"^load_into\(module=\): has 6 trainable variables"):
        algorithm.load_into(deeper, state)
    assert algorithm.load_into(net, state) is net
