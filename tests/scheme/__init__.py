"""Tests of ``sampler.scheme``: the two-step scheme, its outer optimizers and tau."""
