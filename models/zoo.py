"""The model zoo: a plain dict from ``--model`` name to a ``ModelSpec``.

A spec is called like a builder, ``MODELS[name](input_shape, num_classes, **options)``, and
returns an object of the ``models.interface.Model`` protocol; ``options`` (``--model-opt
KEY=VALUE`` or a TOML ``[model_options]`` table, text or typed) are checked against the spec's
accepted ``options`` first. The paper's networks (García Trillos, Kaplan, Sanz-Alonso, section 6):
``linear`` is its "small dense network" 784-10 (7,850 parameters on MNIST), ``mlp`` its "single
hidden layer network" 784-200-10 (159,010 parameters). ``default_data`` and ``default_shape``
name the data a model is meant for; ``sampler models`` counts parameters on that shape. What a
spec holds is in ``models.spec`` (``ModelSpec``, importable from here too).
"""

from __future__ import annotations

import math

from sampler.models.cnn import (
    CNN_IS_SETTINGS,
    musso_cifar,
    musso_stl,
    small_conv_net,
    tiny_conv_net,
)
from sampler.models.committee import Committee
from sampler.models.dense import ACTIVATIONS, DenseNet
from sampler.models.interface import Model
from sampler.models.keras.factory import FORM, is_keras_name, keras_spec
from sampler.models.naming import setting
from sampler.models.options import Option, OptionError, at_least
from sampler.models.perceptron import Perceptron
from sampler.models.resnet import resnet18
from sampler.models.spec import ModelSpec

ACTIVATION = Option("str", "relu", "hidden activation", tuple(ACTIVATIONS))


def build_linear(input_shape: tuple[int, ...], num_classes: int) -> Model:
    return DenseNet(math.prod(input_shape), (), num_classes)


def build_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    widths: tuple[int, ...] = (200,),
    activation: str = "relu",
) -> Model:
    return DenseNet(math.prod(input_shape), tuple(widths), num_classes, activation=activation)


def build_musso_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    widths: tuple[int, ...] = (784, 784, 784, 784),
    activation: str = "relu",
) -> Model:
    return build_mlp(input_shape, num_classes, widths, activation)


def build_perceptron(input_shape, num_classes, normalize=True, gamma=5.0) -> Model:
    return Perceptron(math.prod(input_shape), num_classes, normalize, gamma)


def build_committee(input_shape, num_classes, **options) -> Model:
    return Committee(math.prod(input_shape), num_classes, **options)


def two_widths(value: tuple[int, ...]) -> tuple[int, ...]:
    """A ``check``: exactly two widths."""
    if len(value) != 2:
        raise ValueError("two comma-separated positive integers, e.g. 6,16")
    return value


MNIST = ("mnist", (1, 28, 28), 10)
CIFAR = ("cifar10", (3, 32, 32), 10)
PATTERNS = ("random-patterns", (1000,), 2)
DENSE_OPTIONS = {"activation": ACTIVATION}
VMAP = Option("bool", True, "K vectors as one vmap (false: a loop; faster for big CNNs on CPU)")

_SPECS = (
    ModelSpec("linear", build_linear, "dense in-C, the paper's 784-10", *MNIST),
    ModelSpec(
        "mlp",
        build_mlp,
        "dense in-widths-C, the paper's 784-200-10",
        *MNIST,
        {"widths": Option("ints", (200,), "hidden widths, e.g. 200 or 512,256"), **DENSE_OPTIONS},
    ),
    ModelSpec(
        "musso-mlp",
        build_musso_mlp,
        "Musso's five dense layers 784-784-784-784-784-C",
        *MNIST,
        {"widths": Option("ints", (784,) * 4, "hidden widths"), **DENSE_OPTIONS},
    ),
    ModelSpec(
        "perceptron",
        build_perceptron,
        "binary perceptron, f_gamma cross-entropy of the normalised margin (Baldassi et al.)",
        *PATTERNS,
        {
            "normalize": Option("bool", True, "spherical normalisation s = w.xi/|w|"),
            "gamma": Option("float", 5.0, "sharpness of f_gamma"),
        },
    ),
    ModelSpec(
        "committee",
        build_committee,
        "committee machine, K sign units and a majority vote (Baldassi et al.)",
        *PATTERNS,
        {
            "hidden": Option("int", 5, "number K of hidden units (odd)"),
            "tree": Option("bool", True, "disjoint input blocks (false: fully connected)"),
            "beta": Option("float", 2.0, "tanh(beta h) replaces sign(h) for gradients"),
            "omega": Option("float", 5.0, "loss scale: the gamma of f_gamma"),
            "sign_losses": Option("bool", True, "exact sign units for gradient-free losses"),
        },
    ),
    ModelSpec(
        "small-conv",
        small_conv_net,
        "LeNet-like SmallConvNet: conv5-20, pool, conv5-50, pool, dense 500",
        *MNIST,
        {"hidden": Option("int", 500, "width of the dense layer", check=at_least(1)), "vmap": VMAP},
    ),
    ModelSpec(
        "tiny-conv",
        tiny_conv_net,
        "LeNet-5-like ~5k-parameter CNN: conv5-6, pool, conv5-16, pool, dense C",
        *MNIST,
        {
            "channels": Option(
                "ints", (6, 16), "channels of the two convolutions", check=two_widths
            ),
            "vmap": VMAP,
        },
        trains_with={"is": CNN_IS_SETTINGS},
    ),
    ModelSpec(
        "musso-cifar",
        musso_cifar,
        "Musso's CIFAR-10 net: conv 64,64, pool, 128,128,128, pool, 3 dense",
        *CIFAR,
        {"dense": Option("ints", (256, 256), "hidden dense widths"), "vmap": VMAP},
    ),
    ModelSpec(
        "musso-stl",
        musso_stl,
        "Musso's STL-10 net: the CIFAR stack + conv 256,256, pool, 3 dense",
        "synthetic-images",
        (3, 96, 96),
        10,
        {"dense": Option("ints", (256, 256), "hidden dense widths"), "vmap": VMAP},
    ),
    ModelSpec(
        "resnet18",
        resnet18,
        "CIFAR ResNet-18, batch-statistics BatchNorm (vmapped)",
        *CIFAR,
        {
            "width": Option(
                "int", 64, "channels of the first stage (64: the standard net)", check=at_least(1)
            ),
            "norm": Option("str", "batch", "normalisation layers", ("batch", "none")),
            "vmap": VMAP,
        },
    ),
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def model_spec(name: str) -> ModelSpec:
    """The spec of a zoo name or of ``keras:MODULE:FACTORY``; ``OptionError`` naming ``--model``."""
    if is_keras_name(name):
        return keras_spec(name)
    if name not in MODELS:
        raise OptionError(
            f"{setting('model')}: must be one of {', '.join(MODELS)} or {FORM}, got {name!r}"
        )
    return MODELS[name]
