"""Tests of ``sampler.runs``: the run directory, its lock, metadata and TensorBoard events."""
