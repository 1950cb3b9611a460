"""How a Keras model meets the flat-vector model interface (``models.keras.model``): the layer
slices of its trainable variables (a variable's layer is its Keras path without the variable name
and without the outer model's name, ``sequential/hidden/kernel`` -> ``hidden``), the shape Keras
receives the data in (channels-last images), and the loss it is trained on.
"""

from __future__ import annotations

from typing import Any


def keras_input_shape(input_shape: tuple[int, ...], channels_last: bool = True) -> tuple:
    """The data's ``[C, H, W]`` shape as Keras receives it: ``[H, W, C]`` when channels-last."""
    if channels_last and len(input_shape) == 3:
        return (*input_shape[1:], input_shape[0])
    return tuple(input_shape)


def layer_slices(model_name: str, paths: list[str], sizes: list[int]) -> dict[str, slice]:
    """``{layer: slice}`` in variable order; a layer's variables must be adjacent."""
    layers: dict[str, slice] = {}
    offset = 0
    for path, size in zip(paths, sizes):
        parts = path.split("/")
        if len(parts) > 1 and parts[0] == model_name:
            parts = parts[1:]
        layer = "/".join(parts[:-1]) or parts[0]
        if layer in layers and layers[layer].stop != offset:
            raise ValueError(
                f"layer {layer!r}: its variables are not adjacent in trainable_variables"
            )
        start = layers[layer].start if layer in layers else offset
        layers[layer] = slice(start, offset + size)
        offset += size
    return layers


def resolve_loss(keras: Any, loss: Any) -> Any:
    """The loss function ``(targets, outputs) -> loss`` of a ``KerasModel`` argument ``loss``."""
    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(loss, str):
        return keras.losses.get(loss)
    if not callable(loss):
        raise TypeError(
            "the loss must be a Keras loss, its name, or a function (targets, outputs) -> "
            f"loss; got {type(loss).__name__} (one loss of one output: no lists or dicts)"
        )
    return loss
