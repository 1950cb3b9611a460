"""``sampler models``: the model zoo and the data sets, with parameter counts and options.

A model's parameter count is the one it has on its default data shape (``ModelSpec.default_shape``
and ``default_classes``; the networks are built on the ``meta`` device, so this costs nothing).
A Keras model (``keras:MODULE:FACTORY``) is listed by its form and options.
"""

from __future__ import annotations

from sampler.models import DATASETS, MODELS
from sampler.models.keras import factory as keras_factory
from sampler.models.options import Option


def _options(options: dict[str, Option], indent: str) -> list[str]:
    if not options:
        return [f"{indent}(no options)"]
    return [f"{indent}{name}: {option.describe()}" for name, option in options.items()]


def zoo_listing() -> str:
    lines = ["models (--model NAME, --model-opt KEY=VALUE):"]
    for name, spec in MODELS.items():
        count = spec(spec.default_shape, spec.default_classes).num_params
        shape = "x".join(map(str, spec.default_shape))
        lines.append(
            f"  {name:<12} {count:>11,} parameters on {spec.default_data} "
            f"({shape}, {spec.default_classes} classes): {spec.summary}"
        )
        lines += _options(dict(spec.options), " " * 6)
    lines.append(f"  {keras_factory.FORM}  {keras_factory.SUMMARY}")
    lines += _options(dict(keras_factory.OPTIONS), " " * 6)
    lines.append("data sets (--data NAME, --data-opt KEY=VALUE):")
    for name, spec in DATASETS.items():
        lines.append(f"  {name:<16} {spec.summary}")
        lines += _options(dict(spec.options), " " * 6)
    return "\n".join(lines)
