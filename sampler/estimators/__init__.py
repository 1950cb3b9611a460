"""Estimators of the two-step scheme's target: a plain dict registry for ``--estimator``."""

from sampler.estimators import importance_sampling
from sampler.estimators.base import Estimator, EstimatorSpec, StepKey

ESTIMATORS: dict[str, EstimatorSpec] = {
    "is": importance_sampling.SPEC,
}

__all__ = ["ESTIMATORS", "Estimator", "EstimatorSpec", "StepKey"]
