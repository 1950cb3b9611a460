"""The model zoo: a plain dict from ``--model`` name to a builder.

A builder takes the data set's ``input_shape`` and ``num_classes`` and returns an object of the
``models.interface.Model`` protocol. The paper's networks (García Trillos, Kaplan, Sanz-Alonso,
section 6): ``linear`` is its "small dense network" 784-10 (7,850 parameters on MNIST), ``mlp``
its "single hidden layer network" 784-200-10 (159,010 parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from models.dense import DenseNet
from models.interface import Model


def build_linear(input_shape: tuple[int, ...], num_classes: int) -> Model:
    return DenseNet(math.prod(input_shape), (), num_classes)


def build_mlp(input_shape: tuple[int, ...], num_classes: int, hidden: int = 200) -> Model:
    return DenseNet(math.prod(input_shape), (hidden,), num_classes, activation="relu")


MODELS: dict[str, Callable[..., Model]] = {
    "linear": build_linear,
    "mlp": build_mlp,
}
