"""The trainer a run loop drives, from the run's resolved settings.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) ->
(params, state, record)``: either the two-step scheme around an estimator from ``ESTIMATORS``
(``--estimator``, fed to an outer optimizer ``--optimizer``), optionally after
``--switch-after`` SGD updates, or a backprop baseline from ``BASELINES`` (``--baseline``).
Each is built from the typed values of its options (``Settings.options``).
"""

from __future__ import annotations

from sampler.baselines import BASELINES, RunContext
from sampler.baselines.sgd import SGDTrainer
from sampler.config.resolution import Settings
from sampler.config.run_config import ConfigError
from sampler.estimators import ESTIMATORS
from sampler.models import Batch, Model
from sampler.models.options import OptionError
from sampler.scheme.two_step import build_two_step
from sampler.scheme.warm_start import SwitchTrainer


def build_trainer(settings: Settings, model: Model | None = None, train: Batch | None = None):
    """``model`` binds a per-layer ``--tau`` (or a baseline's ``--layers``) to the model's
    layers and initialises further replicas (required for those); ``train``, the whole training
    set, is what focusing BP iterates on."""
    config, values = settings.config, settings.options
    baseline = settings.method.kind == "baseline"
    spec = BASELINES[config.baseline] if baseline else ESTIMATORS[config.estimator]
    if spec.check_model is not None and model is not None:
        try:
            spec.check_model(values, model, config.batch_size)
        except OptionError as error:
            raise ConfigError(str(error)) from None
    if baseline:
        return spec.build(values, RunContext(config.seed, config.steps, model, train))
    trainer = build_two_step(values, spec.build(values), config.seed, model)
    if values["switch_after"] > 0:
        sgd = SGDTrainer(values["switch_lr"])
        return SwitchTrainer(sgd, trainer, values["switch_after"])
    return trainer
