"""``--model keras:MODULE:FACTORY``: a Keras model from the user's factory function, as a zoo entry.

``MODULE`` is an import path (the current directory is searched too) and ``FACTORY`` a function
in it that returns a built ``keras.Model``, or a pair ``(keras.Model, loss)`` (see
``models.keras.model`` for the loss). It is called with the keyword arguments ``input_shape``
(the data's shape as Keras takes it: channels-last for images, ``(28, 28, 1)`` on MNIST) and
``num_classes``, each only if it declares a parameter of that name (or ``**kwargs``).
The module and the function are looked up when the settings are checked (before any work); the
function is called when the run builds its model, after TensorFlow's threads and GPU are set
(``models.keras.runtime.configure``). This module imports TensorFlow only when used.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

from sampler.models.interface import Model
from sampler.models.keras import runtime
from sampler.models.keras.layout import keras_input_shape
from sampler.models.keras.model import KerasModel
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError
from sampler.models.spec import ModelSpec

PREFIX = "keras:"
FORM = "keras:MODULE:FACTORY"
OPTIONS = {
    "vmap": Option("bool", True, "K vectors as one tf.vectorized_map (false: a loop)"),
    "xla": Option("bool", True, "compile the TensorFlow graphs with XLA (jit_compile)"),
    "inference": Option(
        "bool",
        False,
        "run in inference mode: BatchNorm statistics frozen, dropout off (required for a "
        "model with non-trainable state)",
    ),
}
SUMMARY = "a Keras 3 model from FACTORY in MODULE (TensorFlow backend; extra 'tensorflow')"


def is_keras_name(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def load_factory(name: str) -> Callable[..., Any]:
    """The factory function that ``keras:MODULE:FACTORY`` names; ``OptionError`` otherwise."""
    owner = setting("model", name)
    parts = name[len(PREFIX) :].split(":")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise OptionError(f"{setting('model')}: a Keras model is named {FORM}, got {name!r}")
    module_name, function_name = (part.strip() for part in parts)
    try:
        runtime.import_keras()
    except (ImportError, ValueError) as error:
        raise OptionError(f"{owner}: {error}") from None
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name + ".").startswith(error.name + "."):
            raise OptionError(
                f"{owner}: no module {module_name!r} (an import path, e.g. "
                "sampler.models.keras.examples; the current directory is searched)"
            ) from None
        raise
    factory = getattr(module, function_name, None)
    if factory is None:
        raise OptionError(f"{owner}: module {module_name!r} has no {function_name!r}")
    if not callable(factory):
        raise OptionError(
            f"{owner}: {module_name}.{function_name} is a {type(factory).__name__}, not a "
            "function that returns a keras.Model"
        )
    return factory


def call_factory(
    name: str, factory: Callable[..., Any], input_shape: tuple, num_classes: int
) -> tuple[Any, Any]:
    """``(keras.Model, loss or None)`` from the factory; ``OptionError`` if it returns else."""
    keras = runtime.import_keras()
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    given = {"input_shape": tuple(input_shape), "num_classes": num_classes}
    result = factory(**{k: v for k, v in given.items() if takes_any or k in parameters})
    model, loss = result if isinstance(result, tuple) and len(result) == 2 else (result, None)
    if not isinstance(model, keras.Model):
        raise OptionError(
            f"{setting('model', name)}: the factory returned {type(result).__name__}, not a "
            "keras.Model (or a pair (keras.Model, loss))"
        )
    return model, loss


def check_shapes(name: str, model: Any, input_shape: tuple, num_classes: int) -> None:
    """The model's declared input shape and output width against the data's."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if inputs:
        declared = tuple(inputs[0].shape[1:])
        fits = len(declared) == len(input_shape) and all(
            a is None or a == b for a, b in zip(declared, input_shape)
        )
        if not fits:
            raise OptionError(
                f"{setting('model', name)}: the model takes inputs of shape {declared}, the data "
                f"have {tuple(input_shape)} (images channels-last)"
            )
    if outputs and outputs[0].shape[-1] not in (None, num_classes):
        raise OptionError(
            f"{setting('model', name)}: the model has {outputs[0].shape[-1]} outputs, the data "
            f"{num_classes} classes"
        )


def keras_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of ``keras:MODULE:FACTORY`` (checks that the factory exists)."""
    factory = load_factory(name)

    def build(
        input_shape: tuple[int, ...],
        num_classes: int,
        vmap: bool = True,
        xla: bool = True,
        inference: bool = False,
    ) -> Model:
        runtime.configure()  # the run calls prepare(device) first; others may not
        shape = keras_input_shape(input_shape)
        model, loss = call_factory(name, factory, shape, num_classes)
        check_shapes(name, model, shape, num_classes)
        try:
            return KerasModel(model, loss, inference=inference, vmap=vmap, xla=xla)
        except (TypeError, ValueError) as error:
            raise OptionError(f"{setting('model', name)}: {error}") from None

    def prepare(device: torch.device) -> None:
        runtime.configure(device)

    return ModelSpec(name, build, SUMMARY, "mnist", (1, 28, 28), 10, OPTIONS, prepare=prepare)
