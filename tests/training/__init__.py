"""Tests of ``sampler.training``: the run loop end to end, and resuming a run."""
