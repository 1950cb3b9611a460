"""Tests of ``sampler.models``: the model interface and the model zoo."""
