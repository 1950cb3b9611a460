"""The data set and the model that a run's settings name (``--data``, ``--data-dir``,
``--data-seed``, ``--data-opt``; ``--model``, ``--model-opt``), built from their registries
(``sampler.models.DATASETS``, ``sampler.models.model_spec``)."""

from __future__ import annotations

from sampler.config.run_config import ConfigError, RunConfig
from sampler.models import DATASETS, DataOptions, Dataset, Model, model_spec


def data_options(config: RunConfig) -> DataOptions:
    return DataOptions(config.data_dir, config.data_seed, dict(config.data_options))


def load_dataset(config: RunConfig) -> Dataset:
    """The data set ``--data`` with its options, on the CPU."""
    return DATASETS[config.data](data_options(config))


def build_model(
    config: RunConfig, input_shape: tuple[int, ...], num_classes: int, device=None
) -> Model:
    """The model ``--model`` with its options for data of ``input_shape`` and ``num_classes``.
    ``device``: where the run computes; a model that needs to know it before it is built
    (TensorFlow's threads and GPU) is prepared for it. A layer size beyond any index is a
    ``ConfigError`` naming the model and its options."""
    spec = model_spec(config.model)
    if spec.prepare is not None and device is not None:
        spec.prepare(device)
    try:
        return spec(input_shape, num_classes, **config.model_options)
    except (OverflowError, RuntimeError, TypeError) as error:
        if isinstance(error, TypeError) and "Overflow" not in str(error):
            raise
        options = ", ".join(f"{k}={v}" for k, v in config.model_options.items())
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ConfigError(
            f"--model {config.model} ({options}): cannot be built ({reason})"
        ) from None


def model_on(
    config: RunConfig, model: Model | None, input_shape: tuple[int, ...], num_classes: int, device
) -> Model:
    """A run's model on ``device``: the one the caller built (the Python API; a module's
    buffers go where the data are), or else the one ``--model`` names, built there."""
    if model is None:
        return build_model(config, input_shape, num_classes, device)
    return model.to(device) if hasattr(model, "to") else model
