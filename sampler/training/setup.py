"""From a run configuration to the trainer the run loop drives.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) ->
(params, state, record)``: either the two-step scheme around an estimator from ``ESTIMATORS``
(``--estimator``, fed to an outer optimizer ``--optimizer``), optionally after ``--switch-after``
SGD updates, or a backprop baseline from ``BASELINES`` (``--baseline``). Each is built from the
typed values of its options (``sampler.config.method_options``).
"""

from __future__ import annotations

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.sgd import SGDTrainer
from sampler.config.settings import ConfigError, RunConfig, method_values
from sampler.estimators import ESTIMATORS
from sampler.models import Model
from sampler.models.options import OptionError
from sampler.schedules import parse_schedule
from sampler.scheme.two_step import build_two_step
from sampler.scheme.warm_start import SwitchTrainer


def build_trainer(config: RunConfig, model: Model | None = None):
    """``model`` binds a per-layer ``--tau`` (or a baseline's ``--layers``) to the model's
    layers and initialises further replicas (required for those)."""
    values = method_values(config)
    if config.baseline is not None:
        run = RunContext(config.seed, config.steps, model)
        return BASELINES[config.baseline].build(values, run)
    spec = ESTIMATORS[config.estimator]
    if spec.check_model is not None and model is not None:
        try:
            spec.check_model(values, model, config.batch_size)
        except OptionError as error:
            raise ConfigError(str(error)) from None
    estimator = spec.build(values)
    trainer = build_two_step(values, estimator, config.seed, model)
    if values["switch_after"] > 0:
        sgd = SGDTrainer(parse_schedule(values["switch_lr"], "--switch-lr"))
        return SwitchTrainer(sgd, trainer, values["switch_after"])
    return trainer
