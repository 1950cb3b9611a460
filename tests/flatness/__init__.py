"""Tests of ``sampler.flatness``: the flatness probes and ``sampler flatness``."""
