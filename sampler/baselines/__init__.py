"""Backprop baselines that run through the same loop as the sampling estimators: a plain dict
registry for ``--baseline``, each entry declaring its own options."""

from sampler.baselines import sgd
from sampler.baselines.base import BaselineSpec
from sampler.baselines.sgd import SGDTrainer

BASELINES: dict[str, BaselineSpec] = {
    "sgd": sgd.SPEC,
}

__all__ = ["BASELINES", "BaselineSpec", "SGDTrainer"]
