"""Fixtures of the Keras adapter's tests: the Keras module (TensorFlow's threads set first, as a
run does) and the 784-200-10 example network, built once per test module."""

from __future__ import annotations

import pytest

from tests.helpers import keras_factories


@pytest.fixture(scope="module")
def keras():
    return keras_factories.keras_module()


@pytest.fixture(scope="module")
def keras_mlp(keras):
    from sampler.models.keras import examples as keras_examples

    return keras_examples.mlp((28, 28, 1), 10)
