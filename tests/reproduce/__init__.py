"""Tests of ``sampler.reproduce``: ``sampler reproduce``."""
