"""From a run configuration to the trainer the run loop drives.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) ->
(params, state, record)``: either the two-step scheme around an estimator from ``ESTIMATORS``
(``--estimator``, fed to an outer optimizer ``--optimizer``), optionally after ``--switch-after``
SGD updates, or a backprop baseline from ``BASELINES`` (``--baseline``).
"""

from __future__ import annotations

from sampler.baselines import BASELINES
from sampler.baselines.sgd import SGDTrainer
from sampler.config import RunConfig
from sampler.estimators import ESTIMATORS
from sampler.models import Model
from sampler.outer import OuterOptimizer
from sampler.schedules import parse_schedule
from sampler.tau import TauSchedule
from sampler.two_step import TwoStepTrainer
from sampler.warm_start import SwitchTrainer


def build_trainer(config: RunConfig, model: Model | None = None):
    """``model`` binds a per-layer ``--tau`` to the model's layers (required for one)."""
    if config.baseline is not None:
        return BASELINES[config.baseline](config)
    estimator = ESTIMATORS[config.estimator].build(config)
    tau = TauSchedule(config.tau, "--tau")
    if model is not None:
        tau.bind(model.layers, model.num_params)
    lr = parse_schedule(config.lr, "--lr") if config.lr is not None else None
    optimizer = OuterOptimizer(config.optimizer, config.momentum)
    trainer = TwoStepTrainer(estimator, tau, lr, config.seed, optimizer)
    if config.switch_after > 0:
        sgd = SGDTrainer(parse_schedule(config.switch_lr, "--switch-lr"))
        return SwitchTrainer(sgd, trainer, config.switch_after)
    return trainer
