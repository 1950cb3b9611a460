"""Tests of ``sampler.models.data``: the data sets."""
