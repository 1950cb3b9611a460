"""Example Keras factories for ``--model keras:sampler.models.keras.examples:NAME``.

``mlp`` is the paper's single-hidden-layer network 784-200-10 (García Trillos, Kaplan,
Sanz-Alonso, section 6; 159,010 parameters on MNIST) written in Keras: ``Flatten``, ``Dense(200,
relu)``, ``Dense(10)`` giving logits; ``linear`` its 784-10 "small dense network"; ``conv`` a
small LeNet-like network (conv 5x5-8, max-pool 2, dense 32, dense C) on channels-last images.
Each is called with the data's ``input_shape`` (channels-last) and ``num_classes`` and returns an
uncompiled model, so the loss is the default mean cross-entropy of its logits. The initializers
are seeded: building a model draws nothing from Keras' global seed generator (the run's initial
parameters come from the project's own streams anyway, ``KerasModel.init_params``).
Importing this module imports TensorFlow (the ``tensorflow`` extra).
"""

from __future__ import annotations

from typing import Any

from sampler.models.keras.runtime import import_keras

keras = import_keras()


def _dense(units: int, name: str, activation: str | None = None) -> Any:
    return keras.layers.Dense(
        units,
        activation=activation,
        name=name,
        kernel_initializer=keras.initializers.GlorotUniform(seed=0),
    )


def mlp(
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    widths: tuple[int, ...] = (200,),
) -> Any:
    """Dense ``prod(input_shape)-widths...-num_classes``, relu; layers ``hidden0..``, ``logits``."""
    layers = [keras.Input(input_shape), keras.layers.Flatten(name="flatten")]
    layers += [_dense(width, f"hidden{i}", "relu") for i, width in enumerate(widths)]
    layers.append(_dense(num_classes, "logits"))
    return keras.Sequential(layers, name="mlp")


def linear(input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10) -> Any:
    """Dense ``prod(input_shape)-num_classes``; one layer, ``logits``."""
    return mlp(input_shape, num_classes, widths=())


def conv(input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10) -> Any:
    """Conv 5x5-8 (same padding, relu), max-pool 2, dense 32 (relu), dense ``num_classes``."""
    seeded = keras.initializers.GlorotUniform(seed=0)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(
                8, 5, padding="same", activation="relu", name="conv", kernel_initializer=seeded
            ),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            _dense(32, "hidden0", "relu"),
            _dense(num_classes, "logits"),
        ],
        name="conv",
    )
