"""Tests of ``sampler.estimators``: each estimator of the two-step target, its error, its beta."""
