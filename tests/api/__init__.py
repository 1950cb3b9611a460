"""Tests of ``sampler.api``: ``sampler.train``, ``sampler.build`` and ``export``."""
