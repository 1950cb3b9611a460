"""Tests of ``sampler.compare``: ``sampler compare``."""
