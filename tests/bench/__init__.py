"""Tests of ``sampler.bench``: ``sampler bench``."""
