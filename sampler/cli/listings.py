"""``sampler models`` and ``sampler methods``: the model zoo and the data sets, the estimators
and the baselines, each with its options.

A model's parameter count is the one it has on its default data shape (``ModelSpec.default_shape``
and ``default_classes``; the networks are built on the ``meta`` device, so this costs nothing).
A Keras model (``keras:MODULE:FACTORY``) is listed by its form and options.
"""

from __future__ import annotations

from collections.abc import Mapping

from sampler.baselines import BASELINES
from sampler.config.method_options import option_flag
from sampler.estimators import ESTIMATORS
from sampler.models import DATASETS, MODELS
from sampler.models.keras import factory as keras_factory
from sampler.models.naming import as_flags
from sampler.models.options import Option
from sampler.scheme import two_step, warm_start


def _options(options: Mapping[str, Option], indent: str = " " * 6, named=str) -> list[str]:
    """One line per option, ``named`` giving how the option is written (a model's ``KEY``, a
    method's ``--flag``)."""
    if not options:
        return [f"{indent}(no options)"]
    return [f"{indent}{named(name)}: {option.describe()}" for name, option in options.items()]


def zoo_listing() -> str:
    lines = ["models (--model NAME, --model-opt KEY=VALUE):"]
    for name, spec in MODELS.items():
        count = spec(spec.default_shape, spec.default_classes).num_params
        shape = "x".join(map(str, spec.default_shape))
        lines.append(
            f"  {name:<12} {count:>11,} parameters on {spec.default_data} "
            f"({shape}, {spec.default_classes} classes): {spec.summary}"
        )
        lines += _options(spec.options)
        for method_name, settings in spec.trains_with.items():
            flags = " ".join(as_flags(settings))
            kind = "--estimator" if method_name in ESTIMATORS else "--baseline"
            lines.append(f"      its own defaults with {kind} {method_name}: {flags}")
    lines.append(f"  {keras_factory.FORM}  {keras_factory.SUMMARY}")
    lines += _options(keras_factory.OPTIONS)
    lines.append("data sets (--data NAME, --data-opt KEY=VALUE):")
    for name, spec in DATASETS.items():
        lines.append(f"  {name:<16} {spec.summary}")
        lines += _options(spec.options)
    return "\n".join(lines)


def methods_listing() -> str:
    """``sampler methods``: every estimator and baseline with its options."""
    lines = ["estimators (--estimator NAME; each also takes the two-step and warm-start options):"]
    for name, spec in ESTIMATORS.items():
        gradients = "gradients" if spec.needs_gradients else "gradient-free"
        lines.append(f"  {name:<10} {spec.objective}, {gradients}: {spec.summary}")
        lines += _options(spec.options, named=option_flag)
    lines.append("two-step scheme (every estimator):")
    lines += _options(two_step.OPTIONS, named=option_flag)
    lines.append("warm start (every estimator):")
    lines += _options(warm_start.OPTIONS, named=option_flag)
    lines.append("baselines (--baseline NAME):")
    for name, spec in BASELINES.items():
        lines.append(f"  {name:<10} {spec.summary}")
        lines += _options(spec.options, named=option_flag)
    return "\n".join(lines)
