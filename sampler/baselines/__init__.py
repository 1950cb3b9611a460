"""Backprop baselines that run through the same loop as the sampling estimators: a plain dict
registry for ``--baseline``."""

from collections.abc import Callable

from sampler.baselines.sgd import SGDTrainer
from sampler.schedules import parse_schedule


def _build_sgd(config) -> SGDTrainer:
    lr = parse_schedule(config.lr if config.lr is not None else "0.01", "--lr")
    return SGDTrainer(lr, config.momentum, config.nesterov)


BASELINES: dict[str, Callable] = {
    "sgd": _build_sgd,
}

__all__ = ["BASELINES", "SGDTrainer"]
