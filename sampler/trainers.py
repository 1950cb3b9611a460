"""From a run configuration to the trainer the run loop drives.

A trainer has ``init(params) -> state`` and ``step(k, params, state, problem, comm) ->
(params, state, record)``: either the two-step scheme around an estimator from ``ESTIMATORS``
(``--estimator``), or a backprop baseline from ``BASELINES`` (``--baseline``).
"""

from __future__ import annotations

from sampler.baselines import BASELINES
from sampler.config import RunConfig
from sampler.estimators import ESTIMATORS
from sampler.schedules import parse_schedule
from sampler.two_step import TwoStepTrainer


def build_trainer(config: RunConfig):
    if config.baseline is not None:
        return BASELINES[config.baseline](config)
    estimator = ESTIMATORS[config.estimator].build(config)
    tau = parse_schedule(config.tau, "--tau")
    lr = parse_schedule(config.lr, "--lr") if config.lr is not None else None
    return TwoStepTrainer(estimator, tau, lr, config.seed)
