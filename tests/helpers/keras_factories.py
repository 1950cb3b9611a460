"""Small Keras factories for the tests (``--model keras:tests.helpers.keras_factories:NAME``).

Importing this module needs TensorFlow; it builds nothing at import time. ``keras_module()``
sets TensorFlow's threads before the first model is built (as a run does). Every initializer
and random layer is seeded, so no factory draws from a global generator.
"""

from __future__ import annotations

from typing import Any

from sampler.models.keras import runtime


def keras_module() -> Any:
    runtime.configure()
    return runtime.import_keras()


def _dense(units: int, name: str, activation: str | None = None) -> Any:
    keras = keras_module()
    seeded = keras.initializers.GlorotUniform(seed=0)
    return keras.layers.Dense(units, activation, name=name, kernel_initializer=seeded)


def tiny_mlp(input_shape=(4, 4, 1), num_classes=3) -> Any:
    """Flatten, dense 6 (tanh) ``hidden``, dense C ``logits``."""
    keras = keras_module()
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(6, "hidden", "tanh"),
            _dense(num_classes, "logits"),
        ],
        name="tiny",
    )


def small_mlp(input_shape, num_classes) -> Any:
    """Flatten, dense 32 (relu), dense C: the MNIST training tests."""
    keras = keras_module()
    layers = [keras.Input(input_shape), keras.layers.Flatten(), _dense(32, "hidden", "relu")]
    return keras.Sequential([*layers, _dense(num_classes, "logits")], name="small")


def regularised_mlp(input_shape=(4, 4, 1), num_classes=3, strength=100.0) -> Any:
    """``tiny_mlp`` with an L2 kernel regularizer on ``hidden`` and an L1 activity regularizer
    on ``logits``: ``model.losses`` holds both."""
    keras = keras_module()
    seeded = keras.initializers.GlorotUniform(seed=0)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(
                6,
                "tanh",
                name="hidden",
                kernel_initializer=seeded,
                kernel_regularizer=keras.regularizers.L2(strength),
            ),
            keras.layers.Dense(
                num_classes,
                name="logits",
                kernel_initializer=seeded,
                activity_regularizer=keras.regularizers.L1(0.01),
            ),
        ],
        name="regularised",
    )


def with_dropout(input_shape, num_classes) -> Any:
    keras = keras_module()
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(6, "hidden", "relu"),
            keras.layers.Dropout(0.5, seed=1),
            _dense(num_classes, "logits"),
        ]
    )


def with_batch_norm(input_shape=(12,), num_classes=3) -> Any:
    keras = keras_module()
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(6, "hidden"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.ReLU(),
            _dense(num_classes, "logits"),
        ]
    )


def softmax_compiled(input_shape, num_classes) -> Any:
    """Probabilities out, compiled with the (non-logit) sparse categorical cross-entropy."""
    keras = keras_module()
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(num_classes, "probabilities", "softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def flat_input(num_classes) -> Any:
    """Takes inputs of shape (784,) whatever the data are: a shape mismatch on images."""
    keras = keras_module()
    return keras.Sequential([keras.Input((784,)), _dense(num_classes, "logits")])


def not_a_model(input_shape, num_classes) -> str:
    return "a model"


NOT_CALLABLE = 3
