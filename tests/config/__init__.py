"""Tests of ``sampler.config``: the run settings and the options each training method declares."""
