"""Estimators of the two-step scheme's target: a plain dict registry for ``--estimator``.

The objective follows from the estimator: ``is`` and ``sgld`` estimate the local-entropy target
``E_q[X]``, ``rm`` and ``rm-stein`` the heat-regularization root.
"""

from sampler.estimators import importance_sampling_spec, robbins_monro_spec, sgld
from sampler.estimators.base import Estimator, EstimatorSpec, StepKey

ESTIMATORS: dict[str, EstimatorSpec] = {
    "is": importance_sampling_spec.SPEC,
    "sgld": sgld.SPEC,
    "rm": robbins_monro_spec.SPEC,
    "rm-stein": robbins_monro_spec.STEIN_SPEC,
}

__all__ = ["ESTIMATORS", "Estimator", "EstimatorSpec", "StepKey"]
