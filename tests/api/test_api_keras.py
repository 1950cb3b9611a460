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
